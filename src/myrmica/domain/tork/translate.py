"""A decoded, validated Tork job as Myrmica's core definition model, plus what the core cannot run yet.

What maps (spec/tork.md §1.3, §2): the top-level tasks become a chain of core tasks
``task-1 → task-2 → …`` (each one's ``on_completed`` names the next; a failed task fails the job,
as in Tork); a task with ``run`` becomes a SHELL task whose one script line is
``bash -c '<run>'`` (Tork's shell runtime runs ``run`` with bash), ``env`` its environment,
``timeout`` its timeout, ``retry.limit`` its retry count with no delay (Tork re-queues at once), the
job's ``defaults`` (``timeout``, ``retry.limit``) applied where the task left them empty, as Tork's
scheduler does. ``image`` is ignored (the DOCKER executor is not there yet), and said so in
``settings``. ``inputs`` become the request's params, ``secrets`` its secret params.

The definition's ``templates`` is ``expr``: the core renders Tork's ``{{ … }}`` (expr-lang) in each
task's ``env`` values, ``var`` (the core's ``result_var``) and ``if`` (``run_if``: exactly ``false``
skips the task) when the task is created, against ``inputs``, ``secrets``, ``tasks`` and ``job``,
and never in ``run``. Every task's ``$TORK_OUTPUT`` names a fresh file whose content becomes its
result (the core's ``output_file_env``); ``files`` are written into its working directory; the
job's ``output`` is rendered when it completes into its result.

What does not map is listed in :attr:`CoreJob.needs` — one name per engine feature the job uses and
the core lacks (see ``ENGINE_GAPS``). A caller that cannot run such a job must refuse it, not run
it differently. Composite tasks (``parallel``/``each``/``subjob``) get a placeholder node in the
chain (SHELL, no script) so the core spec keeps Tork's positions; they are always in ``needs``.

The core definition is stored as JSON (``raw``), never as the Tork text. The Tork job as
submitted is kept in ``settings["job"]`` (``GET /tork/jobs/{id}`` answers ``tasks`` from it).
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from myrmica.domain.definition_model import JobDefinitionSpec
from myrmica.domain.definitions import ParsedDefinition
from myrmica.templating.expr import has_expression

DIALECT = "tork"
OUTPUT_ENV = "TORK_OUTPUT"  # the file a task writes its result to
MAX_CONCURRENCY = 1_000_000

# Each need, and what the engine must add for it (also in the README and /work/notes/tork-engine-gaps.md).
ENGINE_GAPS: dict[str, str] = {
    "pre-post": "pre tasks, then the task, then post tasks on the same ant, each in its own fresh directory "
                "with its own env; any failure fails the task; the task's timeout covers all three",
    "parallel": "a parallel group: children created with the parent's position, all started at once, the "
                "parent completed when every child completed, and failed when one fails",
    "each": "a fan-out over each.list evaluated as an expression at scheduling, one child per item with "
            "<var> = {index: \"<i>\", value: item} in its context, at most `concurrency` at a time",
    "subjob": "a child job built from the subjob's tasks (its own inputs, secrets, output, webhooks), the "
              "parent task completed with the child's result; cancelling either cancels the other",
    "subjob-detached": "a detached child job: the parent task completes as soon as the child is created",
    "queue": "a templated task queue (`queue: '{{ … }}'`): a plain queue is an ant tag, a templated one is known "
             "only when the task is created",
    "task-priority": "a per-task priority (Tork: 0-9, the queue message priority)",
    "container": "the DOCKER executor for image, cmd, entrypoint, mounts, networks, limits, registry, "
                 "sidecars, gpus and workdir",
    "permissions": "job permissions filtering the job list by user and role",
}

_CONTAINER_FIELDS = ("cmd", "entrypoint", "mounts", "networks", "limits", "registry", "sidecars", "gpus",
                     "workdir")


@dataclass(frozen=True)
class CoreJob:
    document: dict[str, Any]  # a JobDefinitionSpec document
    params: dict[str, str]
    secret_params: dict[str, str]
    settings: dict[str, Any]  # the definition's dialect settings
    needs: tuple[str, ...] = field(default=())  # keys of ENGINE_GAPS, sorted


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "job"


def job_type(job: dict[str, Any], source: str) -> str:
    """One core definition per distinct Tork source: readable name plus a digest of the text."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    return f"tork-{_slug(str(job.get('name', '')))[:80]}-{digest}"


def apply_defaults(task: dict[str, Any], defaults: dict[str, Any] | None) -> dict[str, Any]:
    """Tork's scheduler: job defaults fill a regular task's empty fields (and its parallel/each children)."""
    if not defaults:
        return task
    out = dict(task)
    if "parallel" in out:
        out["parallel"] = {**out["parallel"],
                           "tasks": [apply_defaults(t, defaults) for t in out["parallel"].get("tasks", [])]}
        return out
    if "each" in out:
        out["each"] = {**out["each"], "task": apply_defaults(out["each"].get("task", {}), defaults)}
        return out
    if "subjob" in out:
        return out
    if defaults.get("queue") and not out.get("queue"):
        out["queue"] = defaults["queue"]
    if defaults.get("timeout") and not out.get("timeout"):
        out["timeout"] = defaults["timeout"]
    limit = (defaults.get("retry") or {}).get("limit", 0)
    if limit and not (out.get("retry") or {}).get("limit"):
        out["retry"] = {**(out.get("retry") or {}), "limit": limit}
    if defaults.get("priority") and not out.get("priority"):
        out["priority"] = defaults["priority"]
    limits = defaults.get("limits") or {}
    if limits:
        mine = dict(out.get("limits") or {})
        for key in ("cpus", "memory"):
            if limits.get(key) and not mine.get(key):
                mine[key] = limits[key]
        out["limits"] = mine
    return out


def _task_needs(task: dict[str, Any], needs: set[str]) -> None:
    for kind in ("parallel", "each", "subjob"):
        if kind in task:
            needs.add(kind)
    if (task.get("subjob") or {}).get("detached"):
        needs.add("subjob-detached")
    if task.get("pre") or task.get("post"):
        needs.add("pre-post")
    if task.get("queue") and has_expression(str(task["queue"])):
        needs.add("queue")  # a templated queue is known only when the task is created
    if task.get("priority"):
        needs.add("task-priority")
    if any(task.get(key) for key in _CONTAINER_FIELDS):
        needs.add("container")
    children = list((task.get("parallel") or {}).get("tasks", []))
    if "each" in task:
        children.append(task["each"].get("task") or {})
    children += list((task.get("subjob") or {}).get("tasks", []))
    for child in children:
        _task_needs(child, needs)


def needs_of(job: dict[str, Any]) -> tuple[str, ...]:
    needs: set[str] = set()
    for task in job.get("tasks", []):
        _task_needs(apply_defaults(task, job.get("defaults")), needs)
    if job.get("permissions"):
        needs.add("permissions")
    return tuple(sorted(needs))


def _core_task(position: int, task: dict[str, Any], last: bool) -> dict[str, Any]:
    core: dict[str, Any] = {"task_type": f"task-{position}", "method": "SHELL"}
    if task.get("description"):
        core["description"] = str(task["description"])[:500]
    if not any(kind in task for kind in ("parallel", "each", "subjob")):
        if task.get("run"):
            core["script"] = ["bash -c " + shlex.quote(str(task["run"]))]
        if task.get("env"):
            core["environment"] = dict(task["env"])  # its {{ expressions }} are rendered by the core
        core["output_file_env"] = OUTPUT_ENV
        if task.get("var"):
            core["result_var"] = str(task["var"])
        if "if" in task:
            core["run_if"] = str(task["if"])
        if task.get("files"):
            core["files"] = dict(task["files"])
        queue = str(task.get("queue") or "")
        if queue and queue != "default" and not has_expression(queue):
            core["tags"] = [queue.lower()]  # Tork's queue: run on an ant with this tag (api/tork/queues.py)
        if task.get("timeout"):
            core["timeout"] = task["timeout"]
        limit = (task.get("retry") or {}).get("limit", 0)
        if limit:
            core["retry"] = limit
            core["delay_between_retries"] = "1ns"  # Tork retries at once; 0 would mean the core's 1-2 s
    if not last:
        core["on_completed"] = f"task-{position + 1}"
    return core


def to_core(job: dict[str, Any], source: str) -> CoreJob:
    """The core definition document, request params and dialect settings of a validated Tork job."""
    tasks = [apply_defaults(task, job.get("defaults")) for task in job.get("tasks", [])]
    document: dict[str, Any] = {
        "job_type": job_type(job, source),
        "description": str(job.get("description", "")),
        "templates": "expr",  # Tork's {{ }} are expr-lang, in exactly the fields Tork templates; never `run`
        "max_concurrency": MAX_CONCURRENCY,  # Tork has no per-job limit
        **({"output": str(job["output"])} if job.get("output") else {}),
        "tasks": [_core_task(i + 1, task, i == len(tasks) - 1) for i, task in enumerate(tasks)],
    }
    after = (job.get("autoDelete") or {}).get("after")
    if after:  # Tork's autoDelete: a COMPLETED job is deleted that long after it ended (core delete_after)
        document["delete_after"] = after
    settings: dict[str, Any] = {
        "job": job,
        "task_names": {f"task-{i + 1}": str(task.get("name", "")) for i, task in enumerate(tasks)},
        "image_ignored": any(task.get("image") for task in tasks),
    }
    return CoreJob(document=document, params=dict(job.get("inputs") or {}),
                   secret_params=dict(job.get("secrets") or {}), settings=settings, needs=needs_of(job))


def parsed_definition(core: CoreJob) -> ParsedDefinition:
    """The core definition as the job service stores it: its JSON text and the validated spec."""
    raw = json.dumps(core.document, sort_keys=True)
    spec = JobDefinitionSpec.model_validate(core.document)
    return ParsedDefinition(spec=spec, raw=raw, format="json", digest=hashlib.sha256(raw.encode()).hexdigest())
