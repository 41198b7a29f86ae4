"""Ant registrations: what each worker can run, its capacity, load and heartbeat."""

from __future__ import annotations

import contextlib
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from myrmica.clock import utcnow
from myrmica.store.database_lock import Database
from myrmica.store.rows import as_dict, as_dicts
from myrmica.store.tables import ant_blacklist, ants


class AntRepository:
    def __init__(self, engine: Database) -> None:
        self._engine = engine

    async def upsert(self, row: dict[str, Any]) -> None:
        async with self._engine.begin() as conn:
            result = await conn.execute(update(ants).where(ants.c.ant_id == row["ant_id"]).values(**row))
            if not result.rowcount:
                await conn.execute(ants.insert(), row)

    async def all(self) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            return as_dicts(await conn.execute(select(ants).order_by(ants.c.ant_id)))

    async def get(self, ant_id: str) -> dict[str, Any] | None:
        async with self._engine.connect() as conn:
            return as_dict((await conn.execute(select(ants).where(ants.c.ant_id == ant_id))).first())


    async def blacklisted(self) -> set[str]:
        """Ants no queen schedules to."""
        async with self._engine.connect() as conn:
            return {row[0] for row in await conn.execute(select(ant_blacklist.c.ant_id))}

    async def set_blacklisted(self, ant_id: str, blacklisted: bool) -> None:
        if not blacklisted:
            async with self._engine.begin() as conn:
                await conn.execute(delete(ant_blacklist).where(ant_blacklist.c.ant_id == ant_id))
            return
        if ant_id in await self.blacklisted():
            return
        with contextlib.suppress(IntegrityError):  # another queen added it meanwhile (its transaction is over)
            async with self._engine.begin() as conn:
                await conn.execute(ant_blacklist.insert(), {"ant_id": ant_id, "created_at": utcnow()})
