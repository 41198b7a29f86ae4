"""Tork's log parts (``TaskLogPart``) from the core's log lines.

Tork's worker ships a task's output once a second as one part (``number`` 1, 2, … per task); the
core keeps every line with its time. A part here is a task's lines of one second, numbered from 1 in
order. Pages are newest first: a job's log by task position, then part number, both descending.
``q`` keeps the parts whose contents hold it, in any case (Tork: PostgreSQL full-text search).
The engine's own lines (retries, markers) are not task output and are left out. Secrets, masked
when the lines were stored, read ``[REDACTED]``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from myrmica.api.tork import shapes
from myrmica.api.tork.ids import to_tork
from myrmica.api.tork.views import unmasked
from myrmica.domain.principal import Principal
from myrmica.domain.records import LogLine
from myrmica.service.jobs import JobService

DEFAULT_SIZE = 25
MAX_SIZE = 100
OUTPUT_STREAMS = ("stdout", "stderr")


def parts_of(lines: list[LogLine]) -> list[dict[str, Any]]:
    """The parts of these lines, newest first (task position, then number, descending)."""
    by_task: dict[str, list[LogLine]] = {}
    for line in lines:
        if line.stream in OUTPUT_STREAMS and line.task_execution_id:
            by_task.setdefault(line.task_execution_id, []).append(line)
    parts: list[tuple[tuple[int, str, int], dict[str, Any]]] = []
    for task_id, task_lines in by_task.items():
        groups: list[list[LogLine]] = []
        for line in task_lines:
            if groups and groups[-1][0].created_at.replace(microsecond=0) == line.created_at.replace(microsecond=0):
                groups[-1].append(line)
            else:
                groups.append([line])
        position = shapes.position_of(task_lines[0].task_type)
        tork_task = to_tork(task_id)
        for number, group in enumerate(groups, start=1):
            contents = unmasked("".join(line.line + "\n" for line in group))
            part = {"id": hashlib.md5(f"{task_id}:{number}".encode(), usedforsecurity=False).hexdigest(),
                    "number": number, "taskId": tork_task, "contents": contents,
                    "createdAt": shapes.tork_time(group[0].created_at)}
            parts.append(((position, task_id, number), part))
    parts.sort(key=lambda item: item[0], reverse=True)
    return [part for _, part in parts]


async def log_page(jobs: JobService, principal: Principal, request_id: str, query: Mapping[str, str], *,
                   task_execution_id: str | None = None) -> dict[str, Any]:
    number, size = shapes.page_params(query.get("page"), query.get("size"), default_size=DEFAULT_SIZE,
                                      max_size=MAX_SIZE)
    page = await jobs.logs(principal, request_id)
    lines = [line for line in page.lines if task_execution_id is None or line.task_execution_id == task_execution_id]
    parts = parts_of(lines)
    q = (query.get("q") or "").lower()
    if q:
        parts = [part for part in parts if q in part["contents"].lower()]
    start = (number - 1) * size
    return shapes.page(parts[start:start + size], number, size, len(parts))
