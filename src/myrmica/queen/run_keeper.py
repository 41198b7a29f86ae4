"""The run keeper, every second on every queen (each change a compare-and-set, so queens may race):

* a run whose SDK heartbeat is older than :data:`STALE_SECONDS` while it executes is ended FAILED
  ``ERR_STRAIT_CRASHED`` ("heartbeat lost": Strait's ``crashed``);
* a Strait run still waiting to start (PENDING) past its ``expires_at`` is ended FAILED
  ``ERR_STRAIT_EXPIRED`` ("run expired");
* a run that ended while its end webhook is WANTED gets its delivery stored in the webhook outbox
  (store/run_signals.py: one transaction, a unique key) and the sender is woken.

A run claimed by a queen that died (Strait's stuck ``dequeued``) is the core's: housekeeping adopts
READY/EXECUTING requests whose lease lapsed and resumes them (queen/housekeeping.py).
A new run of a Strait job with a ``webhook_url`` is marked WANTED in the transaction that creates it
(queen/operations.py); the keeper listens to Strait definitions' events, and a run's end wakes it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from myrmica.clock import utcnow
from myrmica.domain.records import ENDED, JobEvent
from myrmica.domain.run_webhooks import completion_call, dedup_key
from myrmica.queen.ports import RunEnding
from myrmica.store.outage import OutageLog
from myrmica.store.store import Store

log = logging.getLogger("myrmica.queen.run_keeper")

KEEPER_SECONDS = 1.0
STALE_SECONDS = 60.0  # Strait's STALE_THRESHOLD
CRASHED = "ERR_STRAIT_CRASHED"
EXPIRED = "ERR_STRAIT_EXPIRED"


class RunKeeper:
    def __init__(self, *, store: Store, ender: RunEnding, wake_sender: Callable[[], None]) -> None:
        self._store = store
        self._ender = ender
        self._wake_sender = wake_sender
        self._wake = asyncio.Event()
        self.stale_seconds = STALE_SECONDS

    async def on_event(self, event: JobEvent) -> None:
        if event.cause == ENDED:
            self._wake.set()

    async def run(self) -> None:
        outage = OutageLog(log, "run keeper")
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=KEEPER_SECONDS)
            self._wake.clear()
            try:
                await self.keep()
                outage.ok()
            except Exception as exc:
                outage.failed(exc)

    async def keep(self) -> None:
        await self.reap_stale()
        await self.expire()
        await self.notify_ends()

    async def reap_stale(self) -> int:
        before = utcnow() - timedelta(seconds=self.stale_seconds)
        ended = 0
        for request_id in await self._store.run_signals.stale_heartbeats(before):
            if await self._ender.end_run(request_id, "FAILED", error_code=CRASHED, error_message="heartbeat lost"):
                log.warning("run %s: heartbeat lost", request_id)
                ended += 1
        return ended

    async def expire(self) -> int:
        ended = 0
        for request_id in await self._store.run_signals.expired_waiting(utcnow()):
            if await self._ender.end_run(request_id, "FAILED", from_states=("PENDING",), error_code=EXPIRED,
                                         error_message="run expired"):
                ended += 1
        return ended

    async def notify_ends(self) -> int:
        stored = 0
        for row in await self._store.run_signals.end_notices():
            notice = row.get("end_webhook") or {}
            call = None
            if notice.get("url"):
                secret = self._store.box.decrypt(notice["secret_sealed"]) if notice.get("secret_sealed") else ""
                attempt, result = await self._last_attempt(row)
                call = completion_call(notice, row, secret=secret, attempt=attempt, result=result, now=utcnow())
            if await self._store.run_signals.notice_stored(row["id"], call, dedup_key=dedup_key(row["id"])):
                stored += call is not None
        if stored:
            self._wake_sender()
        return stored

    async def _last_attempt(self, request: dict[str, Any]) -> tuple[int, Any]:
        """The run's attempt number (1-based) and result: an SDK ``complete``'s, else its task's answer."""
        execution_id = request.get("job_execution_id") or request.get("last_job_execution_id")
        rows = await self._store.requests.task_executions([execution_id]) if execution_id else []
        last = rows[-1] if rows else None
        attempt = int(last.get("attempt") or 0) + 1 if last else 1
        result = request.get("_sdk_result")
        if result is None and last is not None:
            result = (last.get("contexts") or {}).get("result")
        return attempt, result
