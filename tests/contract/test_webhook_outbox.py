"""The webhook outbox on SQLite and PostgreSQL: calls stored with their headers encrypted, claimed by
one sender at a time, re-claimed once a dead sender's lease lapses, outcomes written only by the holder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from myrmica.domain.webhooks import DELIVERED, FAILED, PENDING, SENDING, RetryPolicy, WebhookCall
from myrmica.store.store import Store
from myrmica.store.tables import webhook_deliveries

T0 = datetime(2030, 1, 1, tzinfo=UTC)
CALL = WebhookCall(url="http://127.0.0.1:9/hook", body='{"state": "COMPLETED"}',
                   headers={"Authorization": "Bearer very-secret-token"}, policy=RetryPolicy(attempts=3),
                   source="01REQUEST", event="job.StateChange")


async def test_a_call_is_stored_with_its_headers_encrypted(store: Store) -> None:
    delivery_id = await store.webhooks.add(CALL, now=T0)
    async with store.db.connect() as conn:
        raw = (await conn.execute(select(webhook_deliveries.c.headers))).scalar()
    assert "very-secret-token" not in str(raw)
    stored = await store.webhooks.get(delivery_id)
    assert stored is not None and stored.call == CALL and stored.state == PENDING and stored.attempts == 0


async def test_one_sender_claims_a_due_call(store: Store) -> None:
    delivery_id = await store.webhooks.add(CALL, now=T0)
    assert await store.webhooks.claim("early", now=T0 - timedelta(seconds=1), lease_seconds=60) == []
    first = await store.webhooks.claim("a", now=T0, lease_seconds=60)
    assert [d.id for d in first] == [delivery_id] and first[0].call.headers == CALL.headers
    assert await store.webhooks.claim("b", now=T0 + timedelta(seconds=59), lease_seconds=60) == []
    assert (await store.webhooks.get(delivery_id)).state == SENDING  # type: ignore[union-attr]


async def test_a_lapsed_lease_is_taken_over_and_the_old_holder_writes_nothing(store: Store) -> None:
    delivery_id = await store.webhooks.add(CALL, now=T0)
    await store.webhooks.claim("dead", now=T0, lease_seconds=60)
    later = T0 + timedelta(seconds=61)
    assert [d.id for d in await store.webhooks.claim("alive", now=later, lease_seconds=60)] == [delivery_id]
    assert not await store.webhooks.attempted(delivery_id, "dead", now=later, status=200, error="", state=DELIVERED)
    assert await store.webhooks.attempted(delivery_id, "alive", now=later, status=200, error="", state=DELIVERED)
    done = await store.webhooks.get(delivery_id)
    assert done is not None and (done.state, done.attempts, done.last_status) == (DELIVERED, 1, 200)
    assert await store.webhooks.claim("x", now=later + timedelta(days=1), lease_seconds=60) == []


async def test_a_retry_waits_for_its_time(store: Store) -> None:
    delivery_id = await store.webhooks.add(CALL, now=T0)
    await store.webhooks.claim("a", now=T0, lease_seconds=60)
    again = T0 + timedelta(seconds=2)
    assert await store.webhooks.attempted(delivery_id, "a", now=T0, status=503, error="HTTP 503", state=PENDING,
                                          next_attempt_at=again)
    assert await store.webhooks.next_due_at() == again
    assert await store.webhooks.claim("a", now=T0 + timedelta(seconds=1), lease_seconds=60) == []
    claimed = await store.webhooks.claim("a", now=again, lease_seconds=60)
    assert [(d.attempts, d.last_status, d.last_error) for d in claimed] == [(1, 503, "HTTP 503")]


async def test_ended_calls_are_purged_and_listed_by_source(store: Store) -> None:
    kept = await store.webhooks.add(CALL, now=T0)
    ended = await store.webhooks.add(CALL, now=T0)
    await store.webhooks.claim("a", now=T0, lease_seconds=60)
    await store.webhooks.attempted(ended, "a", now=T0, status=400, error="HTTP 400", state=FAILED)
    await store.webhooks.attempted(kept, "a", now=T0, status=None, error="no answer", state=PENDING,
                                   next_attempt_at=T0)
    assert {d.id for d in await store.webhooks.of_source("01REQUEST")} == {kept, ended}
    assert await store.webhooks.purge(T0 + timedelta(seconds=1)) == 1
    assert [d.id for d in await store.webhooks.of_source("01REQUEST")] == [kept]


async def test_every_attempt_is_logged_with_the_answer(store: Store) -> None:
    delivery_id = await store.webhooks.add(CALL, now=T0)
    await store.webhooks.claim("a", now=T0, lease_seconds=60)
    assert await store.webhooks.attempted(delivery_id, "a", now=T0, status=None, error="ConnectError: no answer",
                                          state=PENDING, next_attempt_at=T0)
    later = T0 + timedelta(seconds=5)
    await store.webhooks.claim("b", now=later, lease_seconds=60)
    assert not await store.webhooks.attempted(delivery_id, "a", now=later, status=200, error="", state=DELIVERED)
    assert await store.webhooks.attempted(delivery_id, "b", now=later, status=201, error="", state=DELIVERED,
                                          body="x" * 5000, headers={"X-Seen": "yes"})
    done = await store.webhooks.get(delivery_id)
    assert done is not None and done.attempts == 2
    assert [(a.at, a.status, a.error, a.state, len(a.body), dict(a.headers)) for a in done.history] == \
        [(T0, 0, "ConnectError: no answer", PENDING, 0, {}), (later, 201, "", DELIVERED, 1000, {"X-Seen": "yes"})]
