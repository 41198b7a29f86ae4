"""Core records in the native API's shapes (seeds/000 models, snake_case; durations in nanoseconds)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from myrmica.domain.durations import parse_duration, to_nanos
from myrmica.domain.records import (
    ApprovalRecord,
    DefinitionRecord,
    ExecutionRecord,
    JobStatsRecord,
    LogLine,
    RequestRecord,
    StateCount,
    TaskRecord,
)

_TASK_DURATIONS = ("delay_between_retries", "timeout")
_NESTED_DURATIONS = {
    "retry_backoff_policy": ("min", "max"),
    "approval_policy": ("sla_deadline",),
    "artifacts": ("expires_after",),
    "cache": ("expires_after",),
}


def iso(value: datetime | None) -> str | None:
    """RFC 3339 in UTC; a naive time (SQLite's aggregates give those) is taken as UTC."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat().replace("+00:00", "Z")


def _durations_to_nanos(doc: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    out = dict(doc)
    for key in keys:
        value = out.get(key)
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            out[key] = to_nanos(parse_duration(value) if isinstance(value, str) else float(value))
    for key, inner in _NESTED_DURATIONS.items():
        if isinstance(out.get(key), dict):
            out[key] = _durations_to_nanos(out[key], inner)
    return out


def task_json(task: dict[str, Any], record: DefinitionRecord, order: int) -> dict[str, Any]:
    """A TaskDefinition. Tasks are part of their definition version (no rows of their own): the id is
    the version's id and the task's place in it, the times are the version's."""
    out = _durations_to_nanos(task, _TASK_DURATIONS)
    out["id"] = f"{record.id}-{order}"
    out["job_definition_id"] = record.id
    out["task_order"] = order
    out["created_at"] = iso(record.created_at)
    out["updated_at"] = iso(record.updated_at)
    out.pop("execution_method", None)
    return out


def definition_json(record: DefinitionRecord, *, with_tasks: bool = True) -> dict[str, Any]:
    spec = dict(record.spec)
    body = _durations_to_nanos(spec, ("timeout", "delay_between_retries", "pause_time"))
    body.pop("tasks", None)
    out: dict[str, Any] = {
        **body,
        "id": record.id,
        "job_type": record.job_type,
        "version": record.version,
        "sem_version": record.sem_version,
        "active": record.active,
        "disabled": record.disabled,
        "max_concurrency": record.max_concurrency,
        "public_plugin": record.public_plugin,
        "platform": record.platform,
        "description": record.description,
        "tags": ",".join(record.tags),
        "methods": ",".join(record.methods),
        "cron_trigger": record.cron_trigger,
        "organization_id": record.organization_id or "",
        "user_id": record.user_id or "",
        "dialect": record.dialect,
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
    }
    if with_tasks:
        out["tasks"] = [task_json(task, record, i) for i, task in enumerate(spec.get("tasks", []))]
    return out


def config_json(row: dict[str, Any], job_definition_id: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "job_definition_id": job_definition_id,
        "name": row["name"],
        "type": row["kind"],
        "value": row["value"],
        "secret": row["secret"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


def _context_rows(values: dict[str, Any], owner_field: str, owner_id: str) -> list[dict[str, Any]]:
    rows = []
    for name, value in sorted(values.items()):
        if name.startswith("__"):
            continue
        kind = "bool" if isinstance(value, bool) else "int" if isinstance(value, int) else \
            "float64" if isinstance(value, float) else "string" if isinstance(value, str) else "json"
        rows.append({"name": name, "kind": kind, "value": value if isinstance(value, str) else json_text(value),
                     "secret": False, owner_field: owner_id})
    return rows


def json_text(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def task_execution_json(task: TaskRecord, children: list[TaskRecord] | None = None) -> dict[str, Any]:
    out = {
        "id": task.id, "job_execution_id": task.job_execution_id, "task_type": task.task_type,
        "method": task.method, "task_state": task.task_state, "allow_failure": task.allow_failure,
        "exit_code": task.exit_code, "exit_message": task.exit_message, "error_code": task.error_code,
        "error_message": task.error_message, "failed_command": task.failed_command, "comments": task.comments,
        "ant_id": task.ant_id, "ant_host": task.ant_host, "retried": task.retried,
        "contexts": _context_rows(dict(task.contexts), "task_execution_id", task.id),
        "artifacts": [], "task_order": task.task_order, "count_services": 0, "cost_factor": task.cost_factor,
        "started_at": iso(task.started_at), "ended_at": iso(task.ended_at), "updated_at": iso(task.updated_at),
        "stdout": list(task.stdout),
    }
    if task.item_index is not None:
        out["item_index"] = task.item_index
    if children:
        out["items"] = [task_execution_json(child) for child in children]
    return out


def execution_json(execution: ExecutionRecord) -> dict[str, Any]:
    top = [t for t in execution.tasks if t.parent_task_id is None]
    by_parent: dict[str, list[TaskRecord]] = {}
    for t in execution.tasks:
        if t.parent_task_id:
            by_parent.setdefault(t.parent_task_id, []).append(t)
    return {
        "id": execution.id, "job_request_id": execution.job_request_id, "job_type": execution.job_type,
        "job_version": execution.job_version, "job_state": execution.job_state,
        "organization_id": execution.organization_id or "", "user_id": execution.user_id or "",
        "current_task": execution.current_task, "exit_code": execution.exit_code,
        "exit_message": execution.exit_message, "error_code": execution.error_code,
        "error_message": execution.error_message,
        "contexts": _context_rows(dict(execution.contexts), "job_execution_id", execution.id),
        "tasks": [task_execution_json(t, sorted(by_parent.get(t.id, []), key=lambda c: c.item_index or 0))
                  for t in top],
        "started_at": iso(execution.started_at), "ended_at": iso(execution.ended_at),
        "updated_at": iso(execution.updated_at), "cpu_secs": execution.cpu_secs,
    }


def request_json(record: RequestRecord, *, with_execution: bool = False) -> dict[str, Any]:
    params = dict(record.params)
    for name in record.secret_names:
        params[name] = "****"
    execution = execution_json(record.execution) if with_execution and record.execution is not None else None
    return {
        "id": record.id, "parent_id": record.parent_id or "", "user_key": record.user_key or "",
        "job_definition_id": record.job_definition_id, "job_execution_id": record.job_execution_id or "",
        "last_job_execution_id": record.last_job_execution_id or "",
        "organization_id": record.organization_id or "", "user_id": record.user_id or "", "permissions": 0,
        "description": record.description, "platform": record.platform, "job_type": record.job_type,
        "job_version": record.job_version, "job_state": record.job_state, "job_group": record.job_group,
        "job_priority": record.job_priority, "timeout": 0, "schedule_attempts": record.schedule_attempts,
        "retried": record.retried, "paused_count": record.paused_count, "cron_triggered": record.cron_triggered,
        "quick_search": "", "error_code": record.error_code, "error_message": record.error_message,
        "current_task": record.current_task, "scheduled_at": iso(record.scheduled_at),
        # A paused request resumes by itself at its scheduled_at (Myrmica's field, not Formicary's).
        "resumes_at": iso(record.scheduled_at) if record.job_state == "PAUSED" else None,
        "created_at": iso(record.created_at), "updated_at": iso(record.updated_at),
        "started_at": iso(record.started_at), "ended_at": iso(record.ended_at),
        "hard_restart": record.hard_restart, "cascade_cancel": record.cascade_cancel, "params": params,
        "execution": execution,
    }


def approval_json(record: ApprovalRecord) -> dict[str, Any]:
    body = asdict(record)
    body["votes"] = [asdict(vote) for vote in record.votes]
    return body


def log_line_json(line: LogLine) -> dict[str, Any]:
    return {"id": line.id, "task_execution_id": line.task_execution_id, "task_type": line.task_type,
            "stream": line.stream, "line": line.line, "created_at": iso(line.created_at)}


def _millis(secs: float) -> int:
    return round(secs * 1000)


def job_stats_json(stats: JobStatsRecord) -> dict[str, Any]:
    """Formicary's JobStats (latencies in milliseconds, as Formicary keeps them) beside Myrmica's own
    counts and seconds (``succeeded``, ``succeeded_job_average_secs``, ...)."""
    done = stats.succeeded + stats.failed
    return {
        **asdict(stats), "first_job_at": iso(stats.first_job_at), "last_job_at": iso(stats.last_job_at),
        "job_key": {"job_type": stats.job_type},
        "succeeded_jobs": stats.succeeded, "failed_jobs": stats.failed, "paused_jobs": stats.paused,
        "executing_jobs": stats.executing,
        "succeeded_jobs_percentage": stats.succeeded * 100 // done if done else 0,
        "succeeded_jobs_average_latency": stats.succeeded_job_average_secs * 1000,
        "succeeded_jobs_min_latency": _millis(stats.succeeded_job_min_secs),
        "succeeded_jobs_max_latency": _millis(stats.succeeded_job_max_secs),
        "failed_jobs_average_latency": stats.failed_job_average_secs * 1000,
        "failed_jobs_min_latency": _millis(stats.failed_job_min_secs),
        "failed_jobs_max_latency": _millis(stats.failed_job_max_secs),
        "ants_available": stats.ants_capacity > 0,
        "ant_unavailable_error": "" if stats.ants_capacity > 0 else "no live ant has capacity",
    }


def state_count_json(count: StateCount, scope_organization_id: str, scope_user_id: str) -> dict[str, Any]:
    """Formicary's JobCounts: the two ``*_string`` fields (Formicary's SQLite spellings, the typo
    included) carry the same times; the scope is whose requests were counted ("" for all)."""
    start, end = iso(count.start_time), iso(count.end_time)
    return {**asdict(count), "start_time": start, "end_time": end, "start_time_stirng": start or "",
            "end_time_string": end or "", "organization_id": scope_organization_id, "user_id": scope_user_id}
