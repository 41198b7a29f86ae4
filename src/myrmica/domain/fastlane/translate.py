"""A Fastlane job as a core definition: one DOCKER task that runs the command in the image.

A Fastlane job (task id + job id) is a definition tagged ``fastlane`` whose job type is
``fastlane-<job uuid>``; each of its executions is a request of it (a retry or a cron occurrence is a
new request, as Fastlane makes a new execution). The definition's settings keep what Fastlane shows of
the job (task id, job id, image, command, metadata); a PUT that changes the job makes a new version
and later executions run it.

The task: ``container.image`` is the image as submitted (``repo:tag``, ``latest`` when none),
``script`` the command (one line, run with ``sh -c`` in the container), ``environment`` the envs,
``timeout`` min(timeout, hard limit); the container is named ``fastlane-job-<execution id>``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from myrmica.domain.definition_model import JobDefinitionSpec
from myrmica.domain.definitions import ParsedDefinition
from myrmica.domain.fastlane.payload import Payload, split_image

DIALECT = "fastlane"
JOB_TYPE_PREFIX = "fastlane-"
TASK_TYPE = "run"
CONTAINER_PREFIX = "fastlane-job-"
MAX_CONCURRENCY = 1_000_000  # Fastlane has no per-job limit


def job_type(job_id: str) -> str:
    return f"{JOB_TYPE_PREFIX}{job_id}"


def settings_of(task_id: str, job_id: str, payload: Payload) -> dict[str, Any]:
    return {"task_id": task_id, "job_id": job_id, "image": payload.image, "command": payload.command,
            "metadata": payload.metadata}


def definition_of(task_id: str, job_id: str, payload: Payload) -> ParsedDefinition:
    repo, tag = split_image(payload.image)
    # The settings' digest is in the description: a definition whose text is unchanged keeps its
    # settings, so a PUT that changes only the metadata (webhooks, retries) must change the text.
    shown = hashlib.sha256(json.dumps(settings_of(task_id, job_id, payload), sort_keys=True,
                                      default=str).encode()).hexdigest()[:12]
    document: dict[str, Any] = {
        "job_type": job_type(job_id),
        "description": f"Fastlane job {job_id} of task {task_id} ({shown})",
        "templates": "expr",  # only environment values would be rendered: payload.py refuses '{{' in them
        "max_concurrency": MAX_CONCURRENCY,
        "tasks": [{
            "task_type": TASK_TYPE,
            "method": "DOCKER",
            "container": {"image": f"{repo}:{tag}", "name_prefix": CONTAINER_PREFIX},
            "script": [payload.command],
            "working_dir": "/",  # the image's root, not the job directory (Fastlane runs in the image)
            "environment": dict(payload.metadata["envs"]),
            "timeout": f"{int(payload.metadata['timeout'])}s",
        }],
    }
    if payload.cron:
        document["cron_trigger"] = payload.cron
    raw = json.dumps(document, sort_keys=True)
    spec = JobDefinitionSpec.model_validate(document)
    return ParsedDefinition(spec=spec, raw=raw, format="json", digest=hashlib.sha256(raw.encode()).hexdigest())
