"""A decoded, validated Tork job as Myrmica's core definition model, plus what the core cannot run yet.

What maps (spec/tork.md §1.3, §2): the top-level tasks become a chain of core tasks
``task-1 → task-2 → …`` (each one's ``on_completed`` names the next; a failed task fails the job,
as in Tork); a task with ``run`` becomes a SHELL task whose one script line is
``bash -c '<run>'`` (Tork's shell runtime runs ``run`` with bash), ``env`` its environment,
``timeout`` its timeout, ``retry.limit`` its retry count with no delay (Tork re-queues at once), the
job's ``defaults`` (``timeout``, ``retry.limit``) applied where the task left them empty, as Tork's
scheduler does. ``inputs`` become the request's params, ``secrets`` its secret params, the tasks'
highest ``priority`` the request's ``job_priority`` (``settings["priority"]``: the core has no per-task
priority). A task with ``image`` is a DOCKER task of that image running ``sh -c '<run>'`` when
``image_runtime`` is DOCKER_RUNTIME, a SHELL task ignoring it when SHELL_RUNTIME, else a need. On
DOCKER, the task's ``entrypoint`` replaces ``sh -c`` before ``run``; each ``mounts`` item of
``type: volume`` is a Docker volume made for the task's container (``container.mounts``), so its pre/post
lines, run in that container, share it; the volume is removed with the container; ``tmpfs`` is a tmpfs
of that container; ``bind`` a bind mount (``container.volumes``), allowed only under the ant's
``docker_bind_allowed`` directories (Tork's ``mounts.bind.allowed`` + ``sources``); ``workdir`` the
container's working directory; ``limits.cpus``/``memory`` its NanoCPUs and memory (pre/post share them,
as Tork's reuse the main task's mounts and limits).

Composites map onto the core's (``domain/composite.py``): ``parallel`` → a parallel group whose
children are ``<type>.1``, ``<type>.2`` …; ``each`` → a fan-out of ``<type>.each`` over the
expression ``each.list`` (``item_var`` = ``each.var``, ``max_parallel`` = ``concurrency``, failing
fast); ``subjob`` → a FORK_JOB with an inline child job, itself a Tork job translated here (``detached``
as is). ``pre``/``post`` become script lines before and after the ``run`` line (:func:`_aux_line`). A
templated ``queue`` becomes the core's ``queue`` (rendered at task creation into a tag).

The definition's ``templates`` is ``expr``: the core renders Tork's ``{{ … }}`` (expr-lang) in each
task's ``env`` values, ``var`` (the core's ``result_var``) and ``if`` (``run_if``: exactly ``false``
skips the task) when the task is created, against ``inputs``, ``secrets``, ``tasks`` and ``job``,
and never in ``run``. Every task's ``$TORK_OUTPUT`` names a fresh file whose content becomes its
result (the core's ``output_file_env``); ``files`` are written into its working directory; the
job's ``output`` is rendered when it completes into its result.

What does not map is listed in :attr:`CoreJob.needs` — one name per engine feature the job uses and
the core lacks (see ``ENGINE_GAPS``). A caller that cannot run such a job must refuse it, not run
it differently.

The core definition is stored as JSON (``raw``), never as the Tork text. The Tork job as
submitted is kept in ``settings["job"]`` (``GET /tork/jobs/{id}`` answers ``tasks`` from it).
"""

from __future__ import annotations

import base64
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

# Each need, and what the engine must add for it (also in the README).
ENGINE_GAPS: dict[str, str] = {
    "image": "a Docker engine for tasks with `image` (the server's docker_host setting), or the setting "
             "tork_image_on_shell to run them on the shell runtime, ignoring `image`",
    "container": "container fields the DOCKER executor does not take from a Tork task: cmd, networks, "
                 "registry, sidecars, gpus, and entrypoint, mounts, workdir or limits without a Docker engine or "
                 "on a pre/post task",
    "permissions": "job permissions filtering the job list by user and role",
}

_CONTAINER_FIELDS = ("cmd", "entrypoint", "mounts", "networks", "limits", "registry", "sidecars", "gpus",
                     "workdir")
_DOCKER_FIELDS = ("entrypoint", "mounts", "workdir", "limits")  # taken from a task (not its pre/post) on DOCKER
_MOUNT_TYPES = ("volume", "bind", "tmpfs")
_KINDS = ("parallel", "each", "subjob")
SHELL_RUNTIME = "shell"  # where a task with `image` runs: on the shell runtime, `image` ignored
DOCKER_RUNTIME = "docker"  # in a container of its image, on the DOCKER executor

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


def _set(value: Any) -> bool:
    """A field Tork counts as given: ``limits`` with no cpus/memory is empty (the shell runtime takes it)."""
    if isinstance(value, dict):
        return any(bool(v) for v in value.values())
    return bool(value)


def _task_needs(task: dict[str, Any], needs: set[str], image_runtime: str | None) -> None:
    auxes = [aux for aux in (*(task.get("pre") or ()), *(task.get("post") or ())) if isinstance(aux, dict)]
    if image_runtime is None and any(t.get("image") for t in (task, *auxes)):
        needs.add("image")
    if any(_set(t.get(key)) for t in (task, *auxes) for key in _CONTAINER_FIELDS if key not in _DOCKER_FIELDS):
        needs.add("container")
    if any(_set(aux.get(key)) for aux in auxes for key in _DOCKER_FIELDS):
        needs.add("container")
    if any(_set(task.get(key)) for key in _DOCKER_FIELDS):
        docker = image_runtime == DOCKER_RUNTIME and bool(task.get("image"))
        if not docker or any(not isinstance(m, dict) or m.get("type") not in _MOUNT_TYPES
                             for m in task.get("mounts") or ()):
            needs.add("container")
    children = list((task.get("parallel") or {}).get("tasks", []))
    if "each" in task:
        children.append(task["each"].get("task") or {})
    children += list((task.get("subjob") or {}).get("tasks", []))
    for child in children:
        _task_needs(child, needs, image_runtime)


def needs_of(job: dict[str, Any], image_runtime: str | None = None) -> tuple[str, ...]:
    needs: set[str] = set()
    for task in job.get("tasks", []):
        _task_needs(apply_defaults(task, job.get("defaults")), needs, image_runtime)
    if job.get("permissions"):
        needs.add("permissions")
    return tuple(sorted(needs))


def task_types(tasks: list[dict[str, Any]], prefix: str = "task-") -> dict[str, dict[str, Any]]:
    """The core ``task_type`` of every Tork task of a job, with its Tork definition (defaults applied
    by the caller): ``task-N`` for the N-th top-level task, ``<parent>.<i>`` for the i-th child of a
    parallel group and ``<parent>.each`` for an each's task (a sub-job's tasks are its own job's)."""
    found: dict[str, dict[str, Any]] = {}

    def visit(task: dict[str, Any], name: str) -> None:
        found[name] = task
        for index, child in enumerate((task.get("parallel") or {}).get("tasks", []), start=1):
            visit(child, f"{name}.{index}")
        if "each" in task:
            visit(task["each"].get("task") or {}, f"{name}.each")

    for position, task in enumerate(tasks, start=1):
        visit(task, f"{prefix}{position}")
    return found


def _aux_line(index: str, aux: dict[str, Any], environment: dict[str, str], shell: str = "bash") -> str:
    """A pre/post task as one script line: Tork runs it in a fresh directory of its own, with only its
    own ``env`` (plus PATH and HOME) and its own ``$TORK_OUTPUT``, its files written there."""
    names = []
    for name, value in (aux.get("env") or {}).items():
        hidden = f"TORK_AUX{index}_{name}"
        environment[hidden] = str(value)  # rendered by the core with the task's environment
        names.append(f"{name}=\"${hidden}\"")
    files = "".join(f" && printf %s {shlex.quote(base64.b64encode(str(body).encode()).decode())} | base64 -d > "
                    f"{shlex.quote(str(path))} && chmod a-w {shlex.quote(str(path))}"
                    for path, body in (aux.get("files") or {}).items())
    run = f"{shell} -c " + shlex.quote(str(aux.get("run") or ""))
    return (f'd="$(mktemp -d)" && cd "$d"{files} && env -i PATH="$PATH" HOME="$HOME" TORK_OUTPUT="$d/stdout" '
            f'TORK_PROGRESS="$d/progress" {" ".join(names)} {run}; rc=$?; cd / && rm -rf "$d"; exit $rc')


def _script(task: dict[str, Any], core: dict[str, Any], image_runtime: str | None) -> None:
    """The task's script: its pre tasks, then its ``run``, then its post tasks, one line each (the first
    failing line fails the task: Tork's worker stops at the first error, and the task's timeout covers
    all three)."""
    docker = image_runtime == DOCKER_RUNTIME and bool(task.get("image"))
    shell = "sh" if docker else "bash"  # Tork's docker runtime runs `run` with sh -c, its shell runtime with bash
    entrypoint = [str(part) for part in task.get("entrypoint") or ()] if docker else []
    # Tork runs `run` as the last argument of the task's entrypoint (default sh -c).
    main = f"{shlex.join(entrypoint) if entrypoint else shell + ' -c'} " + shlex.quote(str(task.get("run") or ""))
    environment: dict[str, str] = {}
    lines = [_aux_line(f"PRE{i}", aux, environment, shell) for i, aux in enumerate(task.get("pre") or ())]
    posts = [_aux_line(f"POST{i}", aux, environment, shell) for i, aux in enumerate(task.get("post") or ())]
    hidden = [f"-u {name}" for name in environment]
    if task.get("run") or lines or posts:
        enter = _enter(task) if docker else ""
        lines.append(enter + (f"env {' '.join(hidden)} {main}" if hidden else main))
    lines += posts
    if lines:
        core["script"] = lines
    if task.get("env") or environment:
        core["environment"] = {**dict(task.get("env") or {}), **environment}  # {{ }} rendered by the core
    if docker:
        core["method"] = "DOCKER"
        core["container"] = _container(task)


def _enter(task: dict[str, Any]) -> str:
    """Tork's ``workdir``: the main command runs there, with the task's ``files`` copied in (as Tork's
    docker runtime copies them into the working directory); pre/post lines keep their own."""
    if not task.get("workdir"):
        return ""
    workdir = shlex.quote(str(task["workdir"]))
    files = " ".join(shlex.quote(str(name)) for name in task.get("files") or {})
    copy = f"cp -p -- {files} {workdir}/ && " if files else ""
    return f"mkdir -p {workdir} && {copy}cd {workdir} && "


def _container(task: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = {"image": str(task["image"])}
    mounts = task.get("mounts") or ()
    # A Docker volume or tmpfs each, made for the task's container (so shared by its pre/post lines).
    made = [{"type": str(m["type"]), "target": str(m.get("target") or "")} for m in mounts if m["type"] != "bind"]
    if made:
        container["mounts"] = made
    binds = [f"{m['source']}:{m.get('target') or m['source']}" for m in mounts if m["type"] == "bind"]
    if binds:
        container["volumes"] = binds
    limits = task.get("limits") or {}
    if limits.get("cpus"):
        container["cpu_limit"] = str(limits["cpus"])
    if limits.get("memory"):
        container["memory_limit"] = str(limits["memory"])
    return container


def _priority(task: dict[str, Any]) -> int:
    found = int(task.get("priority") or 0)
    children = list((task.get("parallel") or {}).get("tasks", []))
    if "each" in task:
        children.append(task["each"].get("task") or {})
    for child in children:
        found = max(found, _priority(child))
    return found


def _core_task(name: str, task: dict[str, Any], image_runtime: str | None, next_task: str = "") -> dict[str, Any]:
    core: dict[str, Any] = {"task_type": name, "method": "SHELL"}
    if task.get("description"):
        core["description"] = str(task["description"])[:500]
    if task.get("var"):
        core["result_var"] = str(task["var"])
    if "if" in task:
        core["run_if"] = str(task["if"])
    if "parallel" in task:
        core["parallel"] = [_core_task(f"{name}.{i}", child, image_runtime)
                            for i, child in enumerate(task["parallel"].get("tasks", []), start=1)]
    elif "each" in task:
        each = task["each"]
        core["fan_out"] = {"items": str(each.get("list", "")), "item_var": str(each.get("var") or "item"),
                           "max_parallel": int(each.get("concurrency") or 0), "fail_fast": True,
                           "task": _core_task(f"{name}.each", each.get("task") or {}, image_runtime)}
    elif "subjob" in task:
        core["method"] = "FORK_JOB"
        core["child_job"] = _child_job(task["subjob"], image_runtime)
    else:
        _script(task, core, image_runtime)
        core["output_file_env"] = OUTPUT_ENV
        if task.get("files"):
            core["files"] = dict(task["files"])
        queue = str(task.get("queue") or "")
        if queue and has_expression(queue):
            core["queue"] = queue  # rendered when the task is created, then an ant tag
        elif queue and queue != "default":
            core["tags"] = [queue.lower()]  # Tork's queue: run on an ant with this tag (api/tork/queues.py)
        if task.get("timeout"):
            core["timeout"] = task["timeout"]
        limit = (task.get("retry") or {}).get("limit", 0)
        if limit:
            core["retry"] = limit
            core["delay_between_retries"] = "1ns"  # Tork retries at once; 0 would mean the core's 1-2 s
    if next_task:
        core["on_completed"] = next_task
    return core


def _child_job(subjob: dict[str, Any], image_runtime: str | None) -> dict[str, Any]:
    """A sub-job as the core's inline child job: a Tork job of its own (its tasks, output, autoDelete,
    webhooks), its ``inputs`` and ``secrets`` the child request's params, rendered at the fork."""
    job = {key: value for key, value in subjob.items() if key != "detached"}
    child = to_core(job, json.dumps(job, sort_keys=True), image_runtime=image_runtime)
    secrets = dict(subjob.get("secrets") or {})
    settings = {**child.settings, "job": {**job, **({"secrets": {k: "[REDACTED]" for k in secrets}} if secrets
                                                     else {})},
                "webhooks": job.get("webhooks"), "subjob": True}
    return {"definition": child.document, "dialect": DIALECT, "dialect_settings": settings,
            "params": dict(subjob.get("inputs") or {}), "secret_params": secrets,
            "detached": bool(subjob.get("detached"))}


def to_core(job: dict[str, Any], source: str, *, image_runtime: str | None = None) -> CoreJob:
    """The core definition document, request params and dialect settings of a validated Tork job.
    ``image_runtime``: where tasks with ``image`` run (DOCKER_RUNTIME, SHELL_RUNTIME), or None: nowhere
    (they are then a need)."""
    tasks = [apply_defaults(task, job.get("defaults")) for task in job.get("tasks", [])]
    document: dict[str, Any] = {
        "job_type": job_type(job, source),
        "description": str(job.get("description", "")),
        "templates": "expr",  # Tork's {{ }} are expr-lang, in exactly the fields Tork templates; never `run`
        "max_concurrency": MAX_CONCURRENCY,  # Tork has no per-job limit
        **({"output": str(job["output"])} if job.get("output") else {}),
        "tasks": [_core_task(f"task-{i + 1}", task, image_runtime, f"task-{i + 2}" if i + 1 < len(tasks) else "")
                  for i, task in enumerate(tasks)],
    }
    after = (job.get("autoDelete") or {}).get("after")
    if after:  # Tork's autoDelete: a COMPLETED job is deleted that long after it ended (core delete_after)
        document["delete_after"] = after
    settings: dict[str, Any] = {
        "job": job,
        "task_names": {name: str(task.get("name", "")) for name, task in task_types(tasks).items()},
        "image_ignored": image_runtime == SHELL_RUNTIME and any(t.get("image") for t in task_types(tasks).values()),
        "priority": max((_priority(task) for task in tasks), default=0),
    }
    return CoreJob(document=document, params=dict(job.get("inputs") or {}),
                   secret_params=dict(job.get("secrets") or {}), settings=settings,
                   needs=needs_of(job, image_runtime))


def parsed_definition(core: CoreJob) -> ParsedDefinition:
    """The core definition as the job service stores it: its JSON text and the validated spec."""
    raw = json.dumps(core.document, sort_keys=True)
    spec = JobDefinitionSpec.model_validate(core.document)
    return ParsedDefinition(spec=spec, raw=raw, format="json", digest=hashlib.sha256(raw.encode()).hexdigest())
