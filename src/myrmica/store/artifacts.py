"""Artifact rows: what the artifact store keeps, whose it is, which task made it, when it expires.

A cache has one row per key: saving it again replaces the row (its bytes were replaced under the same
key). Deleting rows and objects is two steps: a row is marked expired first (``expire_rows``), then
the sweep deletes the object and only then the row, so no object is left without a row to find it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, select, update

from myrmica.clock import utcnow
from myrmica.domain.principal import Principal
from myrmica.store.database_lock import Database
from myrmica.store.rows import as_dict, as_dicts
from myrmica.store.tables import artifacts as table

# The filters of GET /api/artifacts (spec §5) and the columns they compare.
FILTERS = ("name", "group", "kind", "job_request_id", "task_type", "sha256", "content_type", "content_length",
           "task_execution_id", "job_execution_id")


def visible_to(principal: Principal) -> ColumnElement[bool]:
    if principal.admin:
        return table.c.id.is_not(None)
    return table.c.owner_key == principal.owner_key


class ArtifactRepository:
    def __init__(self, engine: Database) -> None:
        self._engine = engine

    async def add(self, row: dict[str, Any]) -> None:
        """A new row; a row with the same key (a cache saved again) is replaced, in one transaction."""
        async with self._engine.begin() as conn:
            await conn.execute(delete(table).where(table.c.key == row["key"]))
            await conn.execute(table.insert(), row)

    async def get(self, principal: Principal, id_or_sha256: str) -> dict[str, Any] | None:
        """By id, else the newest with that SHA-256 (Formicary's download resolves by SHA-256)."""
        async with self._engine.connect() as conn:
            found = (await conn.execute(select(table).where(table.c.id == id_or_sha256,
                                                            visible_to(principal)))).first()
            if found is None and len(id_or_sha256) == 64:
                found = (await conn.execute(select(table).where(table.c.sha256 == id_or_sha256.lower(),
                                                                visible_to(principal))
                                            .order_by(table.c.created_at.desc()).limit(1))).first()
            return as_dict(found) if found is not None else None

    async def search(self, principal: Principal, filters: dict[str, Any], *, page: int, page_size: int
                     ) -> tuple[list[dict[str, Any]], int]:
        where = [visible_to(principal)]
        for name, value in filters.items():
            where.append(table.c[name] == value)
        clause = and_(*where)
        async with self._engine.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(table).where(clause))).scalar()
            rows = await conn.execute(select(table).where(clause)
                                      .order_by(table.c.created_at.desc(), table.c.id.desc())
                                      .offset(page * page_size).limit(page_size))
            return as_dicts(rows), int(total or 0)

    async def of_tasks(self, request_id: str, task_types: Sequence[str], kind: str = "TASK_ARTIFACTS"
                       ) -> dict[str, dict[str, Any]]:
        """The newest artifact of each of ``task_types`` in request ``request_id`` (task type → row)."""
        if not task_types:
            return {}
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(table).where(table.c.job_request_id == request_id,
                                                          table.c.task_type.in_(list(task_types)),
                                                          table.c.kind == kind)
                                      .order_by(table.c.created_at, table.c.id))
            newest: dict[str, dict[str, Any]] = {}
            for row in as_dicts(rows):
                newest[str(row["task_type"])] = row
            return newest

    async def of_request(self, request_id: str) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(table).where(table.c.job_request_id == request_id)
                                      .order_by(table.c.created_at, table.c.id))
            return as_dicts(rows)

    async def by_ids(self, principal: Principal, ids: Sequence[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(table).where(table.c.id.in_(list(ids)), visible_to(principal)))
            return as_dicts(rows)

    async def expire_rows(self, where: ColumnElement[bool], now: datetime | None = None) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(update(table).where(where, table.c.expires_at > (now or utcnow()))
                                        .values(expires_at=now or utcnow()))
            return int(result.rowcount or 0)

    async def expire(self, principal: Principal, artifact_id: str) -> dict[str, Any] | None:
        """Mark one artifact expired now (the object goes with the next sweep); the row, or None."""
        row = await self.get(principal, artifact_id)
        if row is None or row["id"] != artifact_id:
            return None
        now = utcnow()
        async with self._engine.begin() as conn:
            await conn.execute(update(table).where(table.c.id == artifact_id).values(expires_at=now, updated_at=now))
        return row

    async def expire_requests(self, request_ids: Sequence[str]) -> int:
        if not request_ids:
            return 0
        return await self.expire_rows(table.c.job_request_id.in_(list(request_ids)))

    async def expired(self, now: datetime, limit: int = 1000) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(table).where(table.c.expires_at <= now)
                                      .order_by(table.c.expires_at).limit(limit))
            return as_dicts(rows)

    async def remove(self, artifact_id: str, key: str) -> bool:
        """The row, once its object is deleted (a compare-and-set on the key: a cache saved again since
        has a new row under the same key, which stays)."""
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(table).where(table.c.id == artifact_id, table.c.key == key))
            return bool(result.rowcount)
