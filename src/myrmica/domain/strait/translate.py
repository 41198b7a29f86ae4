"""A Strait job as a core definition (spec/strait.md §3, §5; /work/notes/STRAIT.md).

One definition per job, ``job_type`` = ``strait-<job id>`` (stable when the slug changes), tagged
``strait``; each saved configuration is a new core version (the Strait ``version`` is in
``job_variables`` so an update that changes nothing else still makes one). It has ONE task, an
``HTTP_ENDPOINT`` call of ``endpoint_url`` with the job's timeout, its attempts as core retries and
its retry strategy, fallback and payload in the task's ``endpoint`` block (the executor's).

``max_concurrency`` is the core definition's concurrency limit (0: none), ``max_concurrency_per_key``
its ``group_concurrency`` (requests sharing a ``job_group`` = project + concurrency key), ``cron`` its
``cron_trigger``.
"""

from __future__ import annotations

from typing import Any

from myrmica.domain.definitions import ParsedDefinition, parsed_document
from myrmica.domain.methods import TaskMethod

DIALECT = "strait"
JOB_TYPE_PREFIX = "strait-"
TASK = "call"
PAYLOAD_PARAM = "payload"
UNLIMITED = 1_000_000
ENDPOINT_METHOD = "HTTP_ENDPOINT"


def job_type_of(job_id: str) -> str:
    return JOB_TYPE_PREFIX + job_id


def endpoint_task(job_id: str, job: dict[str, Any]) -> dict[str, Any]:
    """The one task: the executor's shape (STRAIT.md, strait-http's section)."""
    if ENDPOINT_METHOD not in TaskMethod.__members__:  # an engine without the endpoint executor: a plain POST
        return {"task_type": TASK, "method": "HTTP_POST_JSON", "url": job["endpoint_url"],
                "timeout": f"{int(job['timeout_secs'])}s", "retry": max(0, int(job["max_attempts"]) - 1)}
    return {
        "task_type": TASK, "method": ENDPOINT_METHOD, "url": job["endpoint_url"],
        "timeout": f"{int(job['timeout_secs'])}s", "retry": max(0, int(job["max_attempts"]) - 1),
        "endpoint": {"fallback_url": job.get("fallback_endpoint_url") or "", "payload_param": PAYLOAD_PARAM,
                     "job_id": job_id, "retry_strategy": job.get("retry_strategy") or "exponential",
                     "retry_delays_secs": list(job.get("retry_delays_secs") or [])},
    }


def core_document(job_id: str, job: dict[str, Any], version: int) -> dict[str, Any]:
    return {
        "job_type": job_type_of(job_id),
        "description": job["name"],
        "max_concurrency": int(job["max_concurrency"]) or UNLIMITED,
        "group_concurrency": int(job.get("max_concurrency_per_key") or 0),
        "cron_trigger": job.get("cron") or "",
        "job_variables": {"strait_version": str(version)},
        "tasks": [endpoint_task(job_id, job)],
    }


def parsed_definition(job_id: str, job: dict[str, Any], version: int) -> ParsedDefinition:
    return parsed_document(core_document(job_id, job, version))


def concurrency_group(project: str, key: str) -> str:
    """The core ``job_group`` of a run with a concurrency key ("" without one)."""
    return f"strait:{project}:{key}" if key else ""
