"""The webhook sender: every queen delivers the outbox's due calls, each under a lease.

``send`` stores a call (``store/webhooks.py``) and wakes the loop; the loop claims due calls (new
ones, those whose back-off has passed, and those a dead sender left SENDING once its lease lapsed),
sends each, and records the outcome by the call's :class:`RetryPolicy`: DELIVERED on a 2xx, PENDING
again after ``delay_after(attempt)`` on a retryable outcome (no answer, 429, 5xx), FAILED otherwise
or when the attempts run out. A FAILED call stays in the table with its last status and error, and
a warning is logged (naming the URL's host and the event, never headers or body).

Several queens may run senders on one database: the claim is a compare-and-set, so each attempt is
made by one of them. A queen that dies mid-attempt leaves the call SENDING; its lease lapses and
another queen retries it (so a receiver may, rarely, see a call twice: at-least-once delivery).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from myrmica.clock import utcnow
from myrmica.domain.webhooks import (
    DELIVERED,
    FAILED,
    PENDING,
    STRAIT_V1,
    DeliveryOutcome,
    WebhookCall,
    strait_headers,
)
from myrmica.store.outage import OutageLog
from myrmica.store.webhooks import Delivery, WebhookRepository, as_aware

log = logging.getLogger("myrmica.queen.webhooks")

SAFETY_POLL_SECONDS = 5.0  # other queens' new calls, lapsed leases
LEASE_MARGIN_SECONDS = 30.0
MAX_IN_FLIGHT = 20
KEEP_ENDED = timedelta(days=7)
PURGE_EVERY_SECONDS = 3600.0


class WebhookSender:
    def __init__(self, repository: WebhookRepository, *, queen_id: str,
                 now: Callable[[], datetime] = utcnow, client: httpx.AsyncClient | None = None) -> None:
        self._repository = repository
        self._queen_id = queen_id
        self._now = now
        self._client = client
        self._own_client = client is None
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._purged = 0.0
        self.delivered = 0
        self.failed = 0

    async def send(self, call: WebhookCall) -> str:
        """Store the call and have it sent; returns its id."""
        delivery_id = await self._repository.add(call, now=self._now())
        self._wake.set()
        return delivery_id

    async def outcomes(self, source: str) -> list[DeliveryOutcome]:
        """The calls stored about ``source`` (a request id), oldest first, and how far each got."""
        return [DeliveryOutcome(url=d.call.url, event=d.call.event, state=d.state, attempts=d.attempts,
                                status=d.last_status, error=d.last_error,
                                at=as_aware(d.updated_at or d.next_attempt_at), history=d.history,
                                body_start=d.call.body[:10])
                for d in await self._repository.of_source(source)]

    def wake(self) -> None:
        """Calls were stored by someone else (the run keeper): look now."""
        self._wake.set()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False)
        return self._client

    async def close(self) -> None:
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    # --- the loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        outage = OutageLog(log, "webhooks")
        while True:
            self._wake.clear()  # before the pass: a call stored during it wakes the next wait
            try:
                await self.deliver_due()
                wait = await self._seconds_to_next()
                outage.ok()
            except Exception as exc:
                outage.failed(exc)
                wait = SAFETY_POLL_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _seconds_to_next(self) -> float:
        loop_time = asyncio.get_running_loop().time()
        if loop_time - self._purged >= PURGE_EVERY_SECONDS:
            self._purged = loop_time
            await self._repository.purge(self._now() - KEEP_ENDED)
        due = await self._repository.next_due_at()
        if due is None:
            return SAFETY_POLL_SECONDS
        return max(0.0, min(SAFETY_POLL_SECONDS, (due - self._now()).total_seconds()))

    async def deliver_due(self) -> int:
        """One pass: claim what is due and make one attempt of each (concurrently). Returns how many."""
        total = 0
        while True:
            now = self._now()
            claimed = await self._repository.claim(self._queen_id, now=now, lease_seconds=self._lease_seconds())
            if not claimed:
                return total
            total += len(claimed)
            await asyncio.gather(*(self._attempt(delivery) for delivery in claimed))

    @staticmethod
    def _lease_seconds() -> float:
        return 300.0 + LEASE_MARGIN_SECONDS  # longer than any attempt's timeout (at most 300 s)

    async def _attempt(self, delivery: Delivery) -> None:
        call = delivery.call
        attempt = delivery.attempts + 1
        status: int | None = None
        error = ""
        answer: dict[str, Any] = {}  # the start of the answer's body and its headers, for the attempt log
        headers = dict(call.headers)
        if call.signature == STRAIT_V1:
            headers.update(strait_headers(call.signing_secret, call.body, self._now().timestamp()))
            headers.update({"X-Strait-Delivery-ID": delivery.id,
                            "X-Strait-Attempt": f"{attempt}/{call.policy.attempts}",
                            "X-Strait-Idempotency-Key": f"{delivery.id}:{attempt}"})
        async with self._slots:
            try:
                response = await self._http().request(
                    call.method, call.url, content=call.body.encode(), headers=headers,
                    timeout=call.policy.timeout_secs)
                status = response.status_code
                answer = {"body": _text(response), "headers": {k.decode("latin-1"): v.decode("latin-1")
                                                                for k, v in response.headers.raw}}
                if not 200 <= status < 300:
                    error = f"HTTP {status}"
            except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
                error = f"{type(exc).__name__}: no answer"
        now = self._now()
        if status is not None and 200 <= status < 300:
            await self._repository.attempted(delivery.id, self._queen_id, now=now, status=status, error="",
                                             state=DELIVERED, **answer)
            self.delivered += 1
            return
        if call.policy.retryable(status) and attempt < call.policy.attempts:
            again = now + timedelta(seconds=call.policy.delay_after(attempt))
            await self._repository.attempted(delivery.id, self._queen_id, now=now, status=status, error=error,
                                             state=PENDING, next_attempt_at=again, **answer)
            self._wake.set()
            return
        await self._repository.attempted(delivery.id, self._queen_id, now=now, status=status, error=error,
                                         state=FAILED, **answer)
        self.failed += 1
        log.warning("webhook %s (%s) to %s failed after %d attempt(s): %s", delivery.id, call.event or "call",
                    urlsplit(call.url).hostname, attempt, error)


def _text(response: httpx.Response) -> str:
    """The start of an answer's body, as text (never an error: an undecodable body is replaced)."""
    try:
        return response.content[:1000].decode(response.charset_encoding or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return response.content[:1000].decode("utf-8", errors="replace")
