"""Core records as Tork jobs and tasks: the definition's Tork job (cached by definition id: versions
never change) joined with the request, its execution's task rows and their results."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from myrmica.api.tork import shapes
from myrmica.api.tork.errors import JOB_NOT_FOUND
from myrmica.api.tork.ids import from_tork
from myrmica.domain.errors import NotFoundError
from myrmica.domain.principal import Principal
from myrmica.domain.records import RequestRecord, TaskRecord
from myrmica.domain.tork.translate import DIALECT, task_types
from myrmica.service.jobs import JobService

MAX_CACHED = 4000
_settings: dict[str, Mapping[str, Any]] = {}

MASKED = "[****]"  # how the engine writes a secret's value in logs and results
RESULT = "result"  # a task's result, in its contexts
RESULTS = "tasks"  # the results a job kept by ``var``, in its execution's contexts


async def settings_of(jobs: JobService, principal: Principal, definition_id: str) -> Mapping[str, Any] | None:
    """The Tork settings of a definition version, or None when it is not a Tork job's."""
    found = _settings.get(definition_id)
    if found is None:
        try:
            definition = await jobs.definitions.get(principal, definition_id)
        except NotFoundError:
            return None
        found = dict(definition.dialect_settings or {}) if definition.dialect == DIALECT else {}
        if len(_settings) >= MAX_CACHED:
            _settings.clear()
        _settings[definition_id] = found
    return found or None


async def tork_request(jobs: JobService, principal: Principal, tork_id: str
                       ) -> tuple[RequestRecord, Mapping[str, Any]]:
    """A Tork job's request (with its execution) and settings; "job not found" otherwise."""
    core_id = from_tork(tork_id, JOB_NOT_FOUND)
    try:
        record = await jobs.get(principal, core_id)
    except NotFoundError:
        raise NotFoundError(JOB_NOT_FOUND) from None
    settings = await settings_of(jobs, principal, record.job_definition_id)
    if settings is None:
        raise NotFoundError(JOB_NOT_FOUND)
    return record, settings


def all_tasks_done(record: RequestRecord, task_count: int) -> bool:
    """Every top-level task completed (or was skipped): Tork's ``position > len(tasks)``."""
    if record.execution is None or task_count == 0:
        return False
    done = {shapes.position_of(t.task_type) for t in record.execution.tasks
            if t.parent_task_id is None and t.task_state == "COMPLETED"}
    return all(position in done for position in range(1, task_count + 1))


def row(record: Any) -> dict[str, Any]:
    """A record's fields as the shapes read them."""
    return dict(vars(record))


def request_row(record: RequestRecord) -> dict[str, Any]:
    """The request's fields; once it has ended, its current task is the last top-level one that ran
    (the core clears it; Tork's ``position`` stays where the job stopped)."""
    fields = row(record)
    if not record.current_task and record.execution is not None:
        positions = [shapes.position_of(t.task_type) for t in record.execution.tasks if t.parent_task_id is None]
        if positions:
            fields["current_task"] = f"task-{max(positions)}"
    return fields


def needs_execution(record: RequestRecord) -> bool:
    """A listed job whose position only its execution tells (it ended, not COMPLETED)."""
    return record.job_state in ("FAILED", "CANCELLED") and record.execution is None


def unmasked(text: str) -> str:
    """A secret the engine masked (``[****]``) reads as Tork's ``[REDACTED]``."""
    return text.replace(MASKED, shapes.REDACTED)


def task_result(task: TaskRecord) -> str:
    value = task.contexts.get(RESULT) if isinstance(task.contexts, Mapping) else None
    return unmasked(value) if isinstance(value, str) else ""


def job_result(record: RequestRecord) -> str:
    execution = record.execution
    return unmasked(execution.result) if execution is not None else ""


def summary(record: RequestRecord, settings: Mapping[str, Any]) -> dict[str, Any]:
    return shapes.job_summary(request_row(record), settings, result=job_result(record))


def full_job(record: RequestRecord, settings: Mapping[str, Any], *, redact: bool = True) -> dict[str, Any]:
    tasks = list(record.execution.tasks) if record.execution is not None else []
    kept = record.execution.contexts.get(RESULTS) if record.execution is not None else None
    return shapes.job(request_row(record), settings, [row(t) for t in tasks], result=job_result(record),
                      task_results={t.id: task_result(t) for t in tasks if task_result(t)}, redact=redact,
                      context_tasks={k: unmasked(v) for k, v in kept.items() if isinstance(v, str)}
                      if isinstance(kept, dict) else None)


def task_view(task: TaskRecord, settings: Mapping[str, Any], job_tasks: tuple[TaskRecord, ...] = ()
              ) -> dict[str, Any]:
    """One task as Tork's Task (``job_tasks``: its job's rows, which a composite's fields count)."""
    job = settings.get("job") if isinstance(settings.get("job"), dict) else {}
    definition = task_types(list((job or {}).get("tasks") or [])).get(task.task_type)
    shaped = shapes.task(row(task), definition, result=task_result(task), children=[row(t) for t in job_tasks])
    secrets = dict((job or {}).get("secrets") or {})
    redacted: dict[str, Any] = shapes.redact_secrets(shaped, secrets)
    return redacted
