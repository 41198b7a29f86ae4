"""A ``POST /jobs`` body from bytes to a core job, in Tork's order: content type, strict decode,
validation, translation — and a refusal naming what this engine cannot run yet (never a silent
change of meaning). Nothing is stored before this returns."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from typing import Any

from myrmica.domain.tork.decode import JOB_CONTENT_TYPES, BadInput, body_format, decode
from myrmica.domain.tork.translate import DOCKER_RUNTIME, ENGINE_GAPS, SHELL_RUNTIME, CoreJob, apply_defaults, to_core
from myrmica.domain.tork.validate import PermissionCheck, validate_job
from myrmica.templating.expr import ExprError, evaluate, tork_context

NOT_A_LIST = "each.list does not evaluate to a list"  # Tork's words (queen/dialects.py says them at run time)
_LATER = re.compile(r"\b(tasks|job|randomInt)\b")  # what only the run knows (or may differ each time)


def image_runtime(docker_configured: bool, image_on_shell: bool) -> str | None:
    """Where tasks with ``image`` run: DOCKER when the server has a Docker engine, else the shell
    runtime when the setting says so, else nowhere (such a job is refused, naming the gap)."""
    if docker_configured:
        return DOCKER_RUNTIME
    return SHELL_RUNTIME if image_on_shell else None


def _top_each_lists(job: dict[str, Any]) -> Iterator[str]:
    """The ``each.list`` of each each task outside another each and outside a sub-job (their lists
    see an item or a context that exists only at run time)."""
    def visit(task: dict[str, Any]) -> Iterator[str]:
        if "each" in task:
            yield str(task["each"].get("list", ""))
        for child in (task.get("parallel") or {}).get("tasks", []):
            yield from visit(child)

    for task in job.get("tasks", []):
        yield from visit(apply_defaults(task, job.get("defaults")))


def check_each_lists(job: dict[str, Any]) -> None:
    """An ``each.list`` that can be evaluated now (it reads only ``inputs`` and ``secrets``) must give a
    list: else the 400 Tork's scheduler would turn into a FAILED task. Evaluation errors are left to
    the run, which fails the task with them, as Tork does."""
    env = tork_context(inputs=dict(job.get("inputs") or {}), secrets=dict(job.get("secrets") or {}))
    for text in _top_each_lists(job):
        if _LATER.search(text):
            continue
        try:
            value = evaluate(text, env)
        except ExprError:
            continue
        if not isinstance(value, list | tuple):
            raise BadInput(NOT_A_LIST)


def unsupported(core: CoreJob, supported: Collection[str]) -> BadInput | None:
    """A 400 listing each need of ``core`` outside ``supported`` with what it would take, or None."""
    missing = [need for need in core.needs if need not in supported]
    if not missing:
        return None
    reasons = "; ".join(f"{need} ({ENGINE_GAPS[need]})" for need in missing)
    return BadInput(f"not supported by this server yet: {reasons}")


def read_job(body: str | bytes, content_type: str | None, *, supported: Collection[str] = (),
             accepted: tuple[str, ...] = JOB_CONTENT_TYPES,
             permission_exists: PermissionCheck | None = None, images: str | None = None) -> CoreJob:
    """``images``: where tasks with ``image`` run (:func:`image_runtime`)."""
    fmt = body_format(content_type, accepted)
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    job = decode(text, fmt)
    validate_job(job, permission_exists=permission_exists)
    check_each_lists(job)
    core = to_core(job, text, image_runtime=images)
    refusal = unsupported(core, supported)
    if refusal is not None:
        raise refusal
    return core
