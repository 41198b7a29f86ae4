"""Log lines, stored in order per request and task execution."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_, select

from myrmica.store.database_lock import Database
from myrmica.store.rows import as_dicts
from myrmica.store.tables import log_lines


class LogRepository:
    def __init__(self, engine: Database) -> None:
        self._engine = engine

    async def append(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            async with self._engine.begin() as conn:
                await conn.execute(log_lines.insert(), list(rows))

    async def read(self, request_id: str, *, task_type: str | None = None, after_id: int = 0,
                   limit: int = 10_000) -> list[dict[str, Any]]:
        query = (select(log_lines).where(log_lines.c.job_request_id == request_id, log_lines.c.id > after_id)
                 .order_by(log_lines.c.id).limit(limit))
        if task_type:  # a task's lines, and the markers between the request's runs
            query = query.where(or_(log_lines.c.task_type == task_type, log_lines.c.stream == "marker"))
        async with self._engine.connect() as conn:
            return as_dicts(await conn.execute(query))

    async def read_text(self, request_id: str, *, streams: Sequence[str], after_id: int = 0,
                        limit: int = 10_000) -> list[tuple[int, str, str]]:
        """``(id, stream, line)`` of the request's lines of these streams, in order: only the columns a
        reader of the text needs, as tuples (a reader of a big log pays per row)."""
        query = (select(log_lines.c.id, log_lines.c.stream, log_lines.c.line)
                 .where(log_lines.c.job_request_id == request_id, log_lines.c.id > after_id,
                        log_lines.c.stream.in_(list(streams)))
                 .order_by(log_lines.c.id).limit(limit))
        async with self._engine.connect() as conn:
            result: Any = await conn.execute(query)
            return [(int(row[0]), str(row[1]), str(row[2])) for row in result]
