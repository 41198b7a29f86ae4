"""The webhook sender against a real HTTP receiver on 127.0.0.1 and a real database (SQLite and
PostgreSQL): retries on 429 and 5xx by the call's policy (zero back-off, or a fake clock), no retry on
other statuses, network errors retried until the attempts run out, and a call a dead sender left in
flight delivered by another sender once its lease lapses. No sleeps: each pass is driven directly."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from myrmica.domain.webhooks import DELIVERED, FAILED, PENDING, SENDING, RetryPolicy, WebhookCall
from myrmica.queen.webhooks import WebhookSender
from myrmica.security.crypto import SecretBox
from myrmica.store.store import Store, open_store
from tests.support.http_stub import http_stub


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = await open_store(database_url, SecretBox("webhook-test-key"))
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def sender(store: Store) -> AsyncIterator[tuple[WebhookSender, Clock]]:
    clock = Clock()
    sending = WebhookSender(store.webhooks, queen_id="queen-a", now=clock)
    try:
        yield sending, clock
    finally:
        await sending.close()


def call(url: str, **policy: float) -> WebhookCall:
    return WebhookCall(url=f"{url}/hook", body=json.dumps({"state": "COMPLETED"}),
                       headers={"Content-Type": "application/json; charset=UTF-8", "X-Token": "t0k3n"},
                       policy=RetryPolicy(**policy), source="req-1", event="job.StateChange")  # type: ignore[arg-type]


async def test_429_and_5xx_are_retried_until_a_2xx(store: Store, sender: tuple[WebhookSender, Clock]) -> None:
    sending, _ = sender
    with http_stub(statuses=[429, 500, 503]) as receiver:
        delivery_id = await sending.send(call(receiver.url, backoff_secs=0))
        assert await sending.deliver_due() == 4  # three failures, then the 200 — one pass, no waiting
        assert [s.path for s in receiver.seen] == ["/hook"] * 4
        first = receiver.seen[0]
        assert json.loads(first.body) == {"state": "COMPLETED"} and first.headers["X-Token"] == "t0k3n"
        assert first.headers["Content-Type"] == "application/json; charset=UTF-8"
    done = await store.webhooks.get(delivery_id)
    assert done is not None and (done.state, done.attempts, done.last_status) == (DELIVERED, 4, 201)


async def test_the_attempts_run_out_on_5xx(store: Store, sender: tuple[WebhookSender, Clock]) -> None:
    sending, _ = sender
    with http_stub(statuses=[502] * 10) as receiver:
        delivery_id = await sending.send(call(receiver.url, backoff_secs=0))
        await sending.deliver_due()
        assert len(receiver.seen) == 5  # Tork's five attempts
    done = await store.webhooks.get(delivery_id)
    assert done is not None and (done.state, done.attempts, done.last_status, done.last_error) == (
        FAILED, 5, 502, "HTTP 502")
    assert sending.failed == 1


async def test_a_4xx_is_not_retried(store: Store, sender: tuple[WebhookSender, Clock]) -> None:
    sending, _ = sender
    with http_stub(statuses=[400, 400]) as receiver:
        delivery_id = await sending.send(call(receiver.url, backoff_secs=0))
        await sending.deliver_due()
        assert len(receiver.seen) == 1
    done = await store.webhooks.get(delivery_id)
    assert done is not None and (done.state, done.last_status) == (FAILED, 400)


async def test_the_back_off_follows_the_clock(store: Store, sender: tuple[WebhookSender, Clock]) -> None:
    sending, clock = sender
    with http_stub(statuses=[503, 429]) as receiver:
        delivery_id = await sending.send(call(receiver.url))  # Tork's 2 s × attempt
        assert await sending.deliver_due() == 1
        assert await store.webhooks.next_due_at() == clock.now + timedelta(seconds=2)
        clock.advance(1.9)
        assert await sending.deliver_due() == 0
        clock.advance(0.1)
        assert await sending.deliver_due() == 1  # the 429; the next one 4 s later
        clock.advance(3.9)
        assert await sending.deliver_due() == 0
        clock.advance(0.1)
        assert await sending.deliver_due() == 1
        assert len(receiver.seen) == 3
    done = await store.webhooks.get(delivery_id)
    assert done is not None and (done.state, done.attempts) == (DELIVERED, 3)


async def test_no_answer_is_retried(store: Store, sender: tuple[WebhookSender, Clock]) -> None:
    sending, _ = sender
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        delivery_id = await sending.send(call(f"http://127.0.0.1:{port}", backoff_secs=0, attempts=3))
        await sending.deliver_due()
    done = await store.webhooks.get(delivery_id)
    assert done is not None and (done.state, done.attempts, done.last_status) == (FAILED, 3, 0)
    assert "no answer" in done.last_error


async def test_a_call_left_in_flight_by_a_dead_sender_is_delivered_by_another(
        store: Store, sender: tuple[WebhookSender, Clock]) -> None:
    sending, clock = sender
    with http_stub() as receiver:
        delivery_id = await sending.send(call(receiver.url))
        # queen-b claims it and dies before any answer is recorded
        assert len(await store.webhooks.claim("queen-b", now=clock.now, lease_seconds=60)) == 1
        assert await sending.deliver_due() == 0
        assert (await store.webhooks.get(delivery_id)).state == SENDING  # type: ignore[union-attr]
        clock.advance(61)
        assert await sending.deliver_due() == 1
        assert len(receiver.seen) == 1
    done = await store.webhooks.get(delivery_id)
    assert done is not None and done.state == DELIVERED


async def test_two_senders_attempt_each_call_once(store: Store, sender: tuple[WebhookSender, Clock]) -> None:
    sending, clock = sender
    other = WebhookSender(store.webhooks, queen_id="queen-b", now=clock)
    try:
        with http_stub() as receiver:
            for _ in range(6):
                await sending.send(call(receiver.url))
            counts = await asyncio.gather(sending.deliver_due(), other.deliver_due())
            assert sum(counts) == 6 and len(receiver.seen) == 6
    finally:
        await other.close()
    assert all(d.state == DELIVERED for d in await store.webhooks.of_source("req-1"))
    assert PENDING not in {d.state for d in await store.webhooks.of_source("req-1")}
