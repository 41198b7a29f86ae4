"""Core records in the native API's shapes (seeds/000 models, snake_case; durations in nanoseconds)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from myrmica.domain.durations import parse_duration, to_nanos

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
        value = out.get(key)
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            out[key] = to_nanos(parse_duration(value) if isinstance(value, str) else float(value))
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


def task_execution_json(row: dict[str, Any], children: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    out = {
        "id": row["id"], "job_execution_id": row["job_execution_id"], "task_type": row["task_type"],
        "method": row["method"], "task_state": row["task_state"], "allow_failure": row["allow_failure"],
        "exit_code": row["exit_code"], "exit_message": row["exit_message"], "error_code": row["error_code"],
        "error_message": row["error_message"], "failed_command": row["failed_command"], "comments": row["comments"],
        "ant_id": row["ant_id"], "ant_host": row["ant_host"], "retried": row["retried"],
        "contexts": _context_rows(row.get("contexts") or {}, "task_execution_id", row["id"]),
        "artifacts": [], "task_order": row["task_order"], "count_services": 0, "cost_factor": row["cost_factor"],
        "started_at": iso(row["started_at"]), "ended_at": iso(row["ended_at"]), "updated_at": iso(row["updated_at"]),
        "stdout": row.get("stdout") or [],
    }
    if row.get("item_index") is not None:
        out["item_index"] = row["item_index"]
    if children:
        out["items"] = [task_execution_json(child) for child in children]
    return out


def execution_json(execution: dict[str, Any], tasks: list[dict[str, Any]]) -> dict[str, Any]:
    contexts = (execution.get("contexts") or {}).get("contexts", {})
    top = [t for t in tasks if t.get("parent_task_id") is None]
    by_parent: dict[str, list[dict[str, Any]]] = {}
    for t in tasks:
        if t.get("parent_task_id"):
            by_parent.setdefault(t["parent_task_id"], []).append(t)
    return {
        "id": execution["id"], "job_request_id": execution["job_request_id"], "job_type": execution["job_type"],
        "job_version": execution["job_version"], "job_state": execution["job_state"],
        "organization_id": execution["organization_id"] or "", "user_id": execution["user_id"] or "",
        "current_task": execution["current_task"], "exit_code": execution["exit_code"],
        "exit_message": execution["exit_message"], "error_code": execution["error_code"],
        "error_message": execution["error_message"],
        "contexts": _context_rows(contexts, "job_execution_id", execution["id"]),
        "tasks": [task_execution_json(t, sorted(by_parent.get(t["id"], []), key=lambda c: c["item_index"] or 0))
                  for t in top],
        "started_at": iso(execution["started_at"]), "ended_at": iso(execution["ended_at"]),
        "updated_at": iso(execution["updated_at"]), "cpu_secs": execution["cpu_secs"],
    }


def request_json(row: dict[str, Any], execution: dict[str, Any] | None = None) -> dict[str, Any]:
    stored = row.get("params")
    params = dict(stored) if isinstance(stored, dict) else {}  # (a row written past the API may hold anything)
    for name in row.get("secret_params") or {}:
        params[name] = "****"
    return {
        "id": row["id"], "parent_id": row["parent_id"] or "", "user_key": row["user_key"] or "",
        "job_definition_id": row["job_definition_id"], "job_execution_id": row["job_execution_id"] or "",
        "last_job_execution_id": row["last_job_execution_id"] or "",
        "organization_id": row["organization_id"] or "", "user_id": row["user_id"] or "", "permissions": 0,
        "description": row["description"], "platform": row["platform"], "job_type": row["job_type"],
        "job_version": row["job_version"], "job_state": row["job_state"], "job_group": row["job_group"],
        "job_priority": row["job_priority"], "timeout": 0, "schedule_attempts": row["schedule_attempts"],
        "retried": row["retried"], "paused_count": row["paused_count"], "cron_triggered": row["cron_triggered"],
        "quick_search": "", "error_code": row["error_code"], "error_message": row["error_message"],
        "current_task": row["current_task"], "scheduled_at": iso(row["scheduled_at"]),
        # A paused request resumes by itself at its scheduled_at (Myrmica's field, not Formicary's).
        "resumes_at": iso(row["scheduled_at"]) if row["job_state"] == "PAUSED" else None,
        "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"]),
        "started_at": iso(row.get("started_at")), "ended_at": iso(row.get("ended_at")),
        "hard_restart": row["hard_restart"], "cascade_cancel": row["cascade_cancel"], "params": params,
        "execution": execution,
    }
