"""Named leases in the database: one holder at a time, taken over when the holder stops renewing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from myrmica.clock import utcnow
from myrmica.store.database_lock import Database
from myrmica.store.tables import leases


class LeaseRepository:
    def __init__(self, engine: Database) -> None:
        self._engine = engine

    async def acquire(self, name: str, holder: str, seconds: float) -> bool:
        """Take or renew the lease; True while ``holder`` has it."""
        now = utcnow()
        until = now + timedelta(seconds=seconds)
        async with self._engine.begin() as conn:
            result = await conn.execute(update(leases).where(
                leases.c.name == name, or_(leases.c.holder == holder, leases.c.expires_at < now))
                .values(holder=holder, expires_at=until))
            if result.rowcount:
                return True
        try:
            async with self._engine.begin() as conn:
                await conn.execute(leases.insert(), {"name": name, "holder": holder, "expires_at": until})
            return True
        except IntegrityError:
            return False

    async def holder(self, name: str) -> str | None:
        async with self._engine.connect() as conn:
            value = (await conn.execute(select(leases.c.holder).where(leases.c.name == name,
                                                                      leases.c.expires_at >= utcnow()))).scalar()
        return str(value) if value is not None else None

    async def release(self, name: str, holder: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(update(leases).where(leases.c.name == name, leases.c.holder == holder)
                               .values(expires_at=utcnow() - timedelta(seconds=1)))
