"""The webhook outbox: calls stored before they are sent, claimed under a lease, ended once.

Every change is a compare-and-set: a claim takes a due PENDING row, or a SENDING row whose sender's
lease lapsed (that sender died mid-attempt); an attempt's outcome is written only by the sender that
holds the lease. Headers are stored encrypted (they may carry a secret, e.g. a bearer token).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from myrmica.clock import utcnow
from myrmica.domain.webhooks import DELIVERED, FAILED, PENDING, SENDING, Attempt, RetryPolicy, WebhookCall
from myrmica.ids import new_id
from myrmica.security.crypto import SecretBox
from myrmica.store.database_lock import Database
from myrmica.store.rows import as_dict, as_dicts
from myrmica.store.tables import webhook_deliveries as table


@dataclass(frozen=True)
class Delivery:
    """One stored call, as a sender sees it (headers decrypted)."""

    id: str
    call: WebhookCall
    state: str
    attempts: int
    next_attempt_at: datetime
    last_status: int
    last_error: str
    updated_at: datetime | None = None
    history: tuple[Attempt, ...] = ()  # every attempt, oldest first


MAX_ATTEMPTS_KEPT = 100  # of a call's attempt log (the oldest go first)


class WebhookRepository:
    def __init__(self, engine: Database, box: SecretBox) -> None:
        self._engine = engine
        self._box = box

    async def add(self, call: WebhookCall, *, now: datetime | None = None, dedup_key: str | None = None) -> str:
        """Store ``call``; with a ``dedup_key`` already stored, nothing is (the first one's id is returned)."""
        async with self._engine.begin() as conn:
            return await self.add_in(conn, call, now=now, dedup_key=dedup_key)

    async def add_in(self, conn: Any, call: WebhookCall, *, now: datetime | None = None,
                     dedup_key: str | None = None) -> str:
        """``add`` within the caller's transaction."""
        moment = now or utcnow()
        signing = self._box.encrypt(json.dumps({"scheme": call.signature, "secret": call.signing_secret})) \
            if call.signature else None
        row = {"id": new_id(), "source": call.source[:100], "event": call.event[:100], "method": call.method,
               "url": call.url, "headers": self._box.encrypt(json.dumps(dict(call.headers))), "body": call.body,
               "policy": call.policy.to_json(), "state": PENDING, "attempts": 0, "next_attempt_at": moment,
               "lease_owner": None, "lease_expires_at": None, "last_status": 0, "last_error": "",
               "created_at": moment, "updated_at": moment, "dedup_key": dedup_key, "signing": signing}
        if dedup_key is None:
            await conn.execute(table.insert(), row)
            return str(row["id"])
        dialect = postgresql if self._engine.name == "postgresql" else sqlite
        await conn.execute(dialect.insert(table).values(**row).on_conflict_do_nothing(index_elements=["dedup_key"]))
        stored = (await conn.execute(select(table.c.id).where(table.c.dedup_key == dedup_key))).scalar()
        return str(stored)

    def _delivery(self, row: dict[str, Any]) -> Delivery:
        try:
            headers = json.loads(self._box.decrypt(row["headers"]))
        except ValueError:
            headers = {}
        signing: dict[str, Any] = {}
        if row.get("signing"):
            try:
                signing = json.loads(self._box.decrypt(row["signing"]))
            except ValueError:
                signing = {}
        call = WebhookCall(url=row["url"], body=row["body"], headers=headers, method=row["method"],
                           policy=RetryPolicy.from_json(row["policy"] or {}), source=row["source"], event=row["event"],
                           signature=str(signing.get("scheme") or ""), signing_secret=str(signing.get("secret") or ""))
        return Delivery(id=row["id"], call=call, state=row["state"], attempts=row["attempts"],
                        next_attempt_at=row["next_attempt_at"], last_status=row["last_status"],
                        last_error=row["last_error"], updated_at=row.get("updated_at"),
                        history=tuple(_attempts(row.get("attempt_log"))))

    @staticmethod
    def _due(now: datetime) -> Any:
        return or_(and_(table.c.state == PENDING, table.c.next_attempt_at <= now),
                   and_(table.c.state == SENDING, table.c.lease_expires_at < now))

    async def claim(self, owner: str, *, now: datetime, lease_seconds: float, limit: int = 50) -> list[Delivery]:
        """Due calls, each taken by a conditional update (another sender may win some)."""
        async with self._engine.connect() as conn:
            candidates = as_dicts(await conn.execute(
                select(table.c.id, table.c.state, table.c.lease_owner).where(self._due(now))
                .order_by(table.c.next_attempt_at).limit(limit)))
        until = now + timedelta(seconds=lease_seconds)
        won = []
        async with self._engine.begin() as conn:
            for candidate in candidates:
                result = await conn.execute(
                    update(table).where(table.c.id == candidate["id"], table.c.state == candidate["state"],
                                        self._due(now))
                    .values(state=SENDING, lease_owner=owner, lease_expires_at=until, updated_at=now))
                if result.rowcount:
                    won.append(candidate["id"])
        if not won:
            return []
        async with self._engine.connect() as conn:
            rows = as_dicts(await conn.execute(select(table).where(table.c.id.in_(won))))
        return [self._delivery(row) for row in rows]

    async def attempted(self, delivery_id: str, owner: str, *, now: datetime, status: int | None, error: str,
                        state: str, next_attempt_at: datetime | None = None, body: str = "",
                        headers: dict[str, str] | None = None) -> bool:
        """One attempt's outcome (``state``: DELIVERED, FAILED, or PENDING again at ``next_attempt_at``),
        written only while ``owner`` still holds the call, and appended to its attempt log (with the
        start of the answer's ``body`` and its ``headers``)."""
        attempt = Attempt(at=now, status=status or 0, error=error[:2000], state=state, body=body[:1000],
                          headers=dict(list((headers or {}).items())[:50]))
        values: dict[str, Any] = {"state": state, "attempts": table.c.attempts + 1, "last_status": status or 0,
                                  "last_error": error[:2000], "lease_owner": None, "lease_expires_at": None,
                                  "updated_at": now}
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        holds = (table.c.id == delivery_id, table.c.state == SENDING, table.c.lease_owner == owner)
        async with self._engine.begin() as conn:
            # Only the lease's holder writes the row, so reading its log first cannot lose an attempt.
            logged = (await conn.execute(select(table.c.attempt_log).where(*holds))).scalar()
            values["attempt_log"] = [*(logged or []), attempt.to_json()][-MAX_ATTEMPTS_KEPT:]
            result = await conn.execute(update(table).where(*holds).values(**values))
        return bool(result.rowcount)

    async def get(self, delivery_id: str) -> Delivery | None:
        async with self._engine.connect() as conn:
            row = as_dict((await conn.execute(select(table).where(table.c.id == delivery_id))).first())
        return self._delivery(row) if row is not None else None

    async def of_source(self, source: str) -> list[Delivery]:
        async with self._engine.connect() as conn:
            rows = as_dicts(await conn.execute(select(table).where(table.c.source == source)
                                               .order_by(table.c.created_at, table.c.id)))
        return [self._delivery(row) for row in rows]

    async def next_due_at(self) -> datetime | None:
        """The earliest next attempt of a waiting call, or the earliest lapse of a sender's lease."""
        async with self._engine.connect() as conn:
            pending = (await conn.execute(select(table.c.next_attempt_at).where(table.c.state == PENDING)
                                          .order_by(table.c.next_attempt_at).limit(1))).scalar()
            leased = (await conn.execute(select(table.c.lease_expires_at).where(table.c.state == SENDING)
                                         .order_by(table.c.lease_expires_at).limit(1))).scalar()
        found = [as_aware(v) for v in (pending, leased) if v is not None]
        return min(found) if found else None

    async def purge(self, before: datetime, states: Sequence[str] = (DELIVERED, FAILED)) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(table).where(table.c.state.in_(list(states)),
                                                            table.c.updated_at < before))
        return int(result.rowcount or 0)


def as_aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=utcnow().tzinfo)


def _attempts(logged: Any) -> list[Attempt]:
    out = []
    for item in logged if isinstance(logged, list) else []:
        try:
            out.append(Attempt.from_json(item))
        except (KeyError, TypeError, ValueError):
            continue
    return out
