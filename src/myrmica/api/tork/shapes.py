"""Tork's JSON shapes from core records (spec/tork.md §3): JobSummary, Job, Task and the page envelope.

Keys are camelCase; empty values are left out as Go's ``omitempty`` does (``""``, ``0``, ``false``,
``null``, ``[]``, ``{}``), except ``position`` (always there) and a Job's ``tasks`` and
``execution`` (always there, maybe null). Times are RFC 3339 UTC with Go's trimmed fraction
(``2023-09-05T01:33:08.4136Z``). Ids are Tork's 32-hex form of the core ids.

``position`` is the 1-based index of the current top-level task (core task ``task-N``), 0 while
PENDING and ``taskCount + 1`` once COMPLETED; ``progress`` is ``round2((position - 1) / taskCount
× 100)`` (100 when COMPLETED), as Tork computes it after each completion.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from myrmica.api.tork.ids import to_tork
from myrmica.api.tork.states import job_state, task_error, task_state
from myrmica.domain.errors import NotFoundError
from myrmica.domain.states import ErrorCode
from myrmica.domain.tork.translate import task_types

REDACTED = "[REDACTED]"
_SECRET_KEY = re.compile(r"SECRET|PASSWORD|ACCESS_KEY", re.IGNORECASE)
_TASK_TYPE = re.compile(r"task-(\d+)(?:\..+)?")  # a composite's children share its position
GUEST = {"username": "guest", "name": "Guest"}


def tork_time(moment: datetime | None) -> str | None:
    """Go's RFC 3339 with nanoseconds, trailing zeros trimmed (no fraction at all when it is zero)."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def omit_empty(fields: Mapping[str, Any], keep: Iterable[str] = ()) -> dict[str, Any]:
    kept = set(keep)
    return {k: v for k, v in fields.items() if k in kept or not (v is None or v is False or v == 0 and
                                                                   not isinstance(v, str) or v in ("", [], {}))}


def position_of(task_type: str) -> int:
    match = _TASK_TYPE.fullmatch(task_type or "")
    return int(match.group(1)) if match else 0


def _settings_job(settings: Mapping[str, Any]) -> dict[str, Any]:
    job = settings.get("job")
    return job if isinstance(job, dict) else {}


def job_position(request: Mapping[str, Any], task_count: int) -> int:
    state = job_state(dict(request))
    if state == "PENDING":
        return 0
    if state == "COMPLETED":
        return task_count + 1
    return max(1, position_of(str(request.get("current_task", ""))))


def job_progress(position: int, task_count: int, state: str) -> float:
    if state == "COMPLETED":
        return 100.0
    if task_count <= 0 or position <= 1:
        return 0.0
    return math.floor((position - 1) / task_count * 10000 + 0.5) / 100  # Go's math.Round(x*100)/100


def job_summary(request: Mapping[str, Any], settings: Mapping[str, Any], *, result: str = "",
                created_by: Mapping[str, Any] | None = None) -> dict[str, Any]:
    job = _settings_job(settings)
    count = len(job.get("tasks") or [])
    state = job_state(dict(request))
    position = job_position(request, count)
    ended = request.get("ended_at")
    return omit_empty({
        "id": to_tork(str(request["id"])),
        "createdBy": dict(created_by or GUEST),
        "parentId": to_tork(str(request["parent_id"])) if request.get("parent_id") else None,
        "inputs": dict(job.get("inputs") or {}),
        "name": job.get("name", ""),
        "description": job.get("description", ""),
        "tags": list(job.get("tags") or []),
        "state": state,
        "createdAt": tork_time(request.get("created_at")),
        "startedAt": tork_time(request.get("started_at")),
        "completedAt": tork_time(ended) if state == "COMPLETED" else None,
        "failedAt": tork_time(ended) if state == "FAILED" else None,
        "position": position,
        "taskCount": count,
        "result": result,
        # Tork stores no job error when a task fails (spec §0.8), only when its output fails to evaluate.
        "error": str(request.get("error_message") or "") if request.get("error_code") == ErrorCode.ERR_JOB_OUTPUT
        else "",
        "progress": job_progress(position, count, state),
    }, keep=("position",))


def _composite(row: Mapping[str, Any], definition: Mapping[str, Any], children: list[Mapping[str, Any]]
               ) -> dict[str, Any]:
    """A composite's Tork fields as its rows show them: ``parallel.completions``, ``each.size``,
    ``completions`` and ``index`` (how many items were started), ``subjob.id``."""
    mine = [c for c in children if c.get("parent_task_id") == row["id"]]
    done = sum(1 for c in mine if task_state(dict(c)) in ("COMPLETED", "SKIPPED"))
    if "parallel" in definition:
        return {"parallel": omit_empty({**dict(definition["parallel"] or {}), "completions": done})}
    if "each" in definition:
        started = sum(1 for c in mine if str(c.get("task_state")) not in ("READY", "PENDING"))
        return {"each": omit_empty({**dict(definition["each"] or {}), "size": len(mine), "completions": done,
                                    "index": started})}
    if "subjob" in definition:
        contexts = row.get("contexts") if isinstance(row.get("contexts"), Mapping) else {}
        forked = (contexts or {}).get(f"{row.get('task_type')}.ForkedJobID")
        return {"subjob": omit_empty({**dict(definition["subjob"] or {}),
                                      "id": to_tork(str(forked)) if forked else None})}
    return {}


def task(row: Mapping[str, Any], definition: Mapping[str, Any] | None = None, *, result: str = "",
         children: list[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """One execution row: the Tork task as defined, with the row's id, state, times and outcome
    (``children``: the job's rows, among them a composite's children)."""
    state = task_state(dict(row))
    base = {k: v for k, v in (definition or {}).items() if k not in ("parallel", "each", "subjob")}
    base.update(_composite(row, definition or {}, list(children or ())))
    ended = row.get("ended_at")
    started = tork_time(row.get("started_at"))
    retry = dict(base.get("retry") or {})
    if retry and row.get("attempt"):
        retry["attempts"] = int(row["attempt"])
    out = {
        "id": to_tork(str(row["id"])),
        "jobId": to_tork(str(row["job_request_id"])),
        "parentId": to_tork(str(row["parent_task_id"])) if row.get("parent_task_id") else None,
        "position": position_of(str(row.get("task_type", ""))),
        **base,
        "state": state,
        "createdAt": started,
        "scheduledAt": started,
        "startedAt": started,
        "completedAt": tork_time(ended) if state in ("COMPLETED", "SKIPPED") else None,
        "failedAt": tork_time(ended) if state == "FAILED" else None,
        "retry": retry or None,
        "queue": base.get("queue") or "default",
        "nodeId": row.get("ant_id") or None,
        "error": task_error(dict(row)),
        "result": result,
    }
    return omit_empty(out, keep=("position",))


def job(request: Mapping[str, Any], settings: Mapping[str, Any], rows: list[Mapping[str, Any]], *,
        result: str = "", task_results: Mapping[str, str] | None = None,
        created_by: Mapping[str, Any] | None = None, redact: bool = True,
        context_tasks: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The full Job: the summary plus ``tasks`` as submitted, ``execution``, ``context`` and the rest."""
    spec = _settings_job(settings)
    definitions = list(spec.get("tasks") or [])
    results = dict(task_results or {})
    execution = []
    by_type = task_types(definitions)
    for row in sorted(rows, key=lambda r: (position_of(str(r.get("task_type", ""))), str(r.get("started_at")))):
        definition = by_type.get(str(row.get("task_type", "")))
        execution.append(task(row, definition, result=results.get(str(row["id"]), ""), children=rows))
    summary = job_summary(request, settings, result=result, created_by=created_by)
    tasks_results = {}
    for index, definition in enumerate(definitions):
        var = definition.get("var")
        if var:
            value = next((results.get(str(r["id"]), "") for r in rows
                          if position_of(str(r.get("task_type", ""))) == index + 1 and results.get(str(r["id"]))), "")
            if value:
                tasks_results[var] = value
    if context_tasks is not None:  # the job's own record of its results (var names as evaluated)
        tasks_results = {str(k): v for k, v in context_tasks.items() if isinstance(v, str) and v}
    context = omit_empty({"job": {"id": summary["id"], "name": spec.get("name", "")},
                          "inputs": dict(spec.get("inputs") or {}), "secrets": dict(spec.get("secrets") or {}),
                          "tasks": tasks_results})
    full = {
        **summary,
        "tasks": definitions or None,
        "execution": execution or None,
        "context": context,
        "output": spec.get("output", ""),
        "defaults": spec.get("defaults"),
        "webhooks": spec.get("webhooks"),
        "permissions": spec.get("permissions"),
        "autoDelete": spec.get("autoDelete"),
        "deleteAt": tork_time(request.get("delete_at")),
        "secrets": dict(spec.get("secrets") or {}),
    }
    shaped = omit_empty(full, keep=("position", "tasks", "execution"))
    return redact_secrets(shaped, dict(spec.get("secrets") or {})) if redact else shaped


def redact_secrets(value: Any, secrets: Mapping[str, str], key: str = "") -> Any:
    """Tork's read redaction: the ``secrets`` map itself, values under SECRET/PASSWORD/ACCESS_KEY keys,
    and every secret value found inside a string become ``[REDACTED]``."""
    if isinstance(value, dict):
        if key == "secrets":
            return {k: REDACTED for k in value}
        return {k: redact_secrets(v, secrets, k) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_secrets(v, secrets, key) for v in value]
    if isinstance(value, str):
        if key and _SECRET_KEY.search(key):
            return REDACTED
        for secret in sorted((s for s in secrets.values() if s), key=len, reverse=True):
            value = value.replace(secret, REDACTED)
        return value
    return value


# --- pages ----------------------------------------------------------------------------------------

def page_params(page: str | None, size: str | None, *, default_size: int = 10, max_size: int = 20
                ) -> tuple[int, int]:
    """``page`` (default 1, below 1 → 1) and ``size`` (clamped 1..max_size); a non-integer is Tork's 404."""
    page_text = page if page not in (None, "") else "1"
    size_text = size if size not in (None, "") else str(default_size)
    try:
        number = int(str(page_text), 10)
    except ValueError:
        raise NotFoundError(f"invalid page number: {page_text}") from None
    try:
        count = int(str(size_text), 10)
    except ValueError:
        raise NotFoundError(f"invalid size: {size_text}") from None
    return max(1, number), min(max(1, count), max_size)


def page(items: list[Any], number: int, size: int, total: int) -> dict[str, Any]:
    """Tork's envelope: ``size`` is how many items came back; ``totalPages`` uses the requested size."""
    return {"items": items, "number": number, "size": len(items),
            "totalPages": math.ceil(total / size) if size > 0 else 0, "totalItems": total}
