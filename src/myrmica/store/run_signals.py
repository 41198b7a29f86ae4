"""What a run's own code reported (SDK heartbeat, checkpoint, progress, result) and what its end owes
(its end webhook), one ``run_signals`` row per request; every change a single statement or a
compare-and-set.

An end webhook is the outbox's other half: it is stored with the run, in the transaction that creates it, and
``end_notices`` finds the runs that ended while it is still WANTED. ``notice_stored`` puts the
delivery into the webhook outbox and flips WANTED → SENT in one transaction, under a unique
``dedup_key``: a queen that dies between a run's end and that transaction leaves it WANTED for the next
sweep (never lost), and two queens sweeping at once store it once (never twice).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from myrmica.clock import utcnow
from myrmica.domain.webhooks import WebhookCall
from myrmica.security.crypto import SecretBox
from myrmica.store.database_lock import Database
from myrmica.store.rows import as_dict, as_dicts
from myrmica.store.tables import job_requests as jr
from myrmica.store.tables import run_signals as table
from myrmica.store.tables import strait_runs
from myrmica.store.webhooks import WebhookRepository

WANTED = "WANTED"
SENT = "SENT"
ENDED = ("COMPLETED", "FAILED", "CANCELLED")


class RunSignalRepository:
    def __init__(self, engine: Database, box: SecretBox, webhooks: WebhookRepository) -> None:
        self._engine = engine
        self._box = box
        self._webhooks = webhooks

    def _upsert(self, request_id: str, now: datetime, **values: Any) -> Any:
        dialect = postgresql if self._engine.name == "postgresql" else sqlite
        stmt = dialect.insert(table).values(request_id=request_id, created_at=now, updated_at=now, **values)
        return stmt.on_conflict_do_update(index_elements=["request_id"],
                                          set_={"updated_at": now, **{k: stmt.excluded[k] for k in values}})

    async def _write(self, request_id: str, **values: Any) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(self._upsert(request_id, utcnow(), **values))

    def end_notice_row(self, request_id: str, end_webhook: dict[str, Any], now: datetime) -> tuple[Any, dict[str, Any]]:
        """The insert of a new run's WANTED end notice, to be stored with the run (RequestRepository.create)."""
        return insert(table), {"request_id": request_id, "end_webhook": self._box.encrypt(json.dumps(end_webhook)),
                               "end_notice": WANTED, "created_at": now, "updated_at": now}

    async def want_end_notice(self, request_id: str, end_webhook: dict[str, Any]) -> None:
        """The run's end webhook (its URL, secret and shape), stored encrypted, WANTED once it ends."""
        await self._write(request_id, end_webhook=self._box.encrypt(json.dumps(end_webhook)), end_notice=WANTED)

    async def heartbeat(self, request_id: str, at: datetime) -> None:
        await self._write(request_id, heartbeat_at=at)

    async def checkpoint(self, request_id: str, data: str, at: datetime) -> None:
        await self._write(request_id, checkpoint=data, checkpoint_at=at)

    async def progress(self, request_id: str, value: Any) -> None:
        await self._write(request_id, progress=value)

    async def result(self, request_id: str, value: Any) -> None:
        await self._write(request_id, result=value)

    async def get(self, request_id: str) -> dict[str, Any] | None:
        """The row, its end webhook decrypted (None: the run has no signals)."""
        async with self._engine.connect() as conn:
            row = as_dict((await conn.execute(select(table).where(table.c.request_id == request_id))).first())
        if row is not None:
            row["end_webhook"] = self._webhook(row.get("end_webhook"))
        return row

    def _webhook(self, stored: str | None) -> dict[str, Any] | None:
        if not stored:
            return None
        try:
            value = json.loads(self._box.decrypt(stored))
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    async def stale_heartbeats(self, before: datetime, limit: int = 100) -> list[str]:
        """EXECUTING requests whose last SDK heartbeat is older than ``before``."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(table.c.request_id).join(jr, jr.c.id == table.c.request_id)
                .where(table.c.heartbeat_at < before, jr.c.job_state == "EXECUTING").limit(limit))
            return [str(r[0]) for r in rows]

    async def expired_waiting(self, now: datetime, limit: int = 100) -> list[str]:
        """Strait runs still waiting to start (PENDING) whose ``expires_at`` passed."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(strait_runs.c.request_id).join(jr, jr.c.id == strait_runs.c.request_id)
                .where(strait_runs.c.expires_at < now, jr.c.job_state == "PENDING").limit(limit))
            return [str(r[0]) for r in rows]

    async def end_notices(self, limit: int = 100) -> list[dict[str, Any]]:
        """Ended requests whose end webhook is still WANTED: the request row with ``signals`` (the
        run_signals row, webhook decrypted)."""
        async with self._engine.connect() as conn:
            rows = as_dicts(await conn.execute(
                select(jr, table.c.end_webhook.label("_end_webhook"), table.c.result.label("_sdk_result"),
                       table.c.progress.label("_progress"))
                .join(table, table.c.request_id == jr.c.id)
                .where(and_(table.c.end_notice == WANTED, jr.c.job_state.in_(ENDED))).limit(limit)))
        for row in rows:
            row["end_webhook"] = self._webhook(row.pop("_end_webhook"))
        return rows

    async def notice_stored(self, request_id: str, call: WebhookCall | None, *, dedup_key: str,
                            now: datetime | None = None) -> bool:
        """Store ``call`` in the outbox (unless a delivery with ``dedup_key`` is there already) and mark the
        notice SENT, in one transaction; ``call`` None marks it SENT only. False: another sweep did it."""
        moment = now or utcnow()
        async with self._engine.begin() as conn:
            flipped = await conn.execute(update(table).where(table.c.request_id == request_id,
                                                             table.c.end_notice == WANTED)
                                         .values(end_notice=SENT, updated_at=moment))
            if not flipped.rowcount:
                return False
            if call is not None:
                await self._webhooks.add_in(conn, call, now=moment, dedup_key=dedup_key)
        return True
