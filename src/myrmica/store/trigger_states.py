"""Event triggers' state rows (spec §2.8): one per (owner, job type, trigger name). Every change is a
conditional update on ``version`` (or an insert the unique key lets only one queen make), so of two
queens changing the same state only one succeeds; the other reads again and sees what was done."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from myrmica.clock import utcnow
from myrmica.domain.trigger_state import TriggerState
from myrmica.store.database_lock import Database
from myrmica.store.tables import trigger_states as ts

RATE_TRIES = 50


def _state(row: Any) -> TriggerState:
    data = dict(row._mapping)
    return TriggerState(owner_key=data["owner_key"], job_type=data["job_type"], name=data["name"],
                        trigger_type=data["trigger_type"], cursor=data["cursor"], pending=list(data["pending"] or []),
                        fired_count=int(data["fired_count"] or 0), version=int(data["version"] or 0),
                        last_fired_at=data["last_fired_at"], updated_at=data["updated_at"],
                        rate_hits=tuple(float(t) for t in data.get("rate_hits") or ()))


class TriggerStateRepository:
    def __init__(self, engine: Database) -> None:
        self._engine = engine

    def _key(self, owner_key: str, job_type: str, name: str) -> Sequence[Any]:
        return (ts.c.owner_key == owner_key, ts.c.job_type == job_type, ts.c.name == name)

    async def get(self, owner_key: str, job_type: str, name: str) -> TriggerState | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(ts).where(*self._key(owner_key, job_type, name)))).first()
        return _state(row) if row is not None else None

    async def of_job(self, owner_key: str, job_type: str) -> list[TriggerState]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(ts).where(ts.c.owner_key == owner_key, ts.c.job_type == job_type)
                                       .order_by(ts.c.name))).all()
        return [_state(row) for row in rows]

    async def ensure(self, owner_key: str, job_type: str, name: str, trigger_type: str) -> TriggerState:
        """The state, made (unpolled) when there is none yet."""
        found = await self.get(owner_key, job_type, name)
        if found is not None:
            return found
        try:
            async with self._engine.begin() as conn:
                await conn.execute(ts.insert(), {"owner_key": owner_key, "job_type": job_type, "name": name,
                                                 "trigger_type": trigger_type, "cursor": None, "pending": [],
                                                 "fired_count": 0, "version": 0, "updated_at": utcnow()})
        except IntegrityError:  # another queen made it first
            pass
        made = await self.get(owner_key, job_type, name)
        assert made is not None
        return made

    async def claim(self, state: TriggerState, *, cursor: dict[str, Any] | None, pending: list[dict[str, Any]],
                    fired: int = 0) -> TriggerState | None:
        """Move ``state`` on (a new watermark, the objects now claimed) if nobody did since it was read:
        the new state, or None when another queen got there first."""
        now = utcnow()
        values: dict[str, Any] = {"cursor": cursor, "pending": pending, "version": state.version + 1,
                                  "updated_at": now, "fired_count": state.fired_count + fired}
        if fired:
            values["last_fired_at"] = now
        async with self._engine.begin() as conn:
            result = await conn.execute(update(ts).where(
                *self._key(state.owner_key, state.job_type, state.name), ts.c.version == state.version)
                .values(**values))
        if not result.rowcount:
            return None
        return TriggerState(**{**state.__dict__, **values})

    async def hit(self, owner_key: str, job_type: str, name: str, trigger_type: str, *, most: int, window: float,
                  now: float) -> bool:
        """Count one fire at ``now`` (epoch seconds) against the sliding window of ``window`` seconds: True
        when fewer than ``most`` fires fell in it (the fire is then recorded), False when the window is
        full. A conditional update on ``rate_version``, tried again when another queen counted first, so
        queens sharing the database share the window."""
        await self.ensure(owner_key, job_type, name, trigger_type)
        for _ in range(RATE_TRIES):
            async with self._engine.connect() as conn:
                row = (await conn.execute(select(ts.c.rate_hits, ts.c.rate_version)
                                          .where(*self._key(owner_key, job_type, name)))).first()
            if row is None:  # reset meanwhile
                await self.ensure(owner_key, job_type, name, trigger_type)
                continue
            hits = [float(t) for t in row.rate_hits or () if float(t) > now - window]
            if len(hits) >= most:
                return False
            async with self._engine.begin() as conn:
                result = await conn.execute(update(ts).where(
                    *self._key(owner_key, job_type, name), ts.c.rate_version == row.rate_version)
                    .values(rate_hits=[*hits, now], rate_version=row.rate_version + 1))
            if result.rowcount:
                return True
        return False  # the window is contended beyond reason: the fire is refused rather than uncounted

    async def reset(self, owner_key: str, job_type: str, name: str) -> bool:
        """Forget the state (the next poll records a new watermark): True when there was one."""
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(ts).where(*self._key(owner_key, job_type, name)))
        return bool(result.rowcount)
