"""Core records in the native API's shapes (seeds/000 models, snake_case; durations in nanoseconds)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from myrmica.domain.durations import to_nanos

_TASK_DURATIONS = ("delay_between_retries", "timeout")
_NESTED_DURATIONS = {
    "retry_backoff_policy": ("min", "max"),
    "approval_policy": ("sla_deadline",),
    "artifacts": ("expires_after",),
    "cache": ("expires_after",),
}


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _durations_to_nanos(doc: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    out = dict(doc)
    for key in keys:
        if isinstance(out.get(key), int | float):
            out[key] = to_nanos(float(out[key]))
    for key, inner in _NESTED_DURATIONS.items():
        if isinstance(out.get(key), dict):
            out[key] = _durations_to_nanos(out[key], inner)
    return out


def task_json(task: dict[str, Any], job_definition_id: str, order: int) -> dict[str, Any]:
    out = _durations_to_nanos(task, _TASK_DURATIONS)
    out["job_definition_id"] = job_definition_id
    out["task_order"] = order
    out.pop("execution_method", None)
    return out


def definition_json(row: dict[str, Any], *, with_tasks: bool = True) -> dict[str, Any]:
    spec: dict[str, Any] = row["spec"]
    body = _durations_to_nanos(spec, ("timeout", "delay_between_retries", "pause_time"))
    body.pop("tasks", None)
    out: dict[str, Any] = {
        **body,
        "id": row["id"],
        "job_type": row["job_type"],
        "version": row["version"],
        "sem_version": row["sem_version"],
        "active": row["active"],
        "disabled": row["disabled"],
        "max_concurrency": row["max_concurrency"],
        "public_plugin": row["public_plugin"],
        "platform": row["platform"],
        "description": row["description"],
        "tags": row["tags"],
        "methods": row["methods"],
        "cron_trigger": row["cron_trigger"],
        "organization_id": row["organization_id"] or "",
        "user_id": row["user_id"] or "",
        "dialect": row["dialect"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }
    if with_tasks:
        out["tasks"] = [task_json(task, row["id"], i) for i, task in enumerate(spec.get("tasks", []))]
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
