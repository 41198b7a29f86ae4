"""Queue triggers' consumers (spec §2.8): a trigger's ``topic`` is the Redis stream
``formicary-queue-{topic}`` (Formicary's name for a persistent topic outside Pulsar), read by the leading
queen only (spec §1.7: trigger subscribers are leader-only; a queen that loses the lease stops reading, the
next leader starts, first claiming what queens left pending).

``shared`` (spec §1.2): ``true`` (the default) is a competing consumer — the trigger reads through the
consumer group ``group`` (else ``myrmica-trigger-{job_type}-{name}``), sharing its messages with any other
consumer of that group (another trigger naming it, an outside worker). ``false`` is "every subscriber gets
every message": the trigger has a group of its own (``{group}:{owner}:{job_type}:{name}``), so it sees each
message whatever else reads the stream.

Where a new group starts: a shared group at the stream's beginning — the stream is a persistent queue, so
messages queued before the trigger existed are handled; a trigger's own (``shared: false``) group at the
stream's end when it is first made — a subscription sees what is published from then on, as an S3
trigger's first poll only records a watermark. Either way the group's position is kept by Redis, so what
arrives while no queen leads (a take-over, a restart) is read afterwards.

A message is acked only after its request is stored (or it was filtered out or rate-limited), so a queen
that dies in between leaves it pending: the same queen reads its own pending entries again when it
starts, a new leader claims every queen's pending entries when it takes over, and any entry idle for
``CLAIM_IDLE_MS`` is claimed. The request's ``user_key`` is the entry's id, so handling one twice makes one
request.

Only where there is a Redis (``trigger_queue_url``, else ``broker_url``): an embedded server without one
has no queue triggers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from myrmica.domain.records import DefinitionRecord
from myrmica.queen.trigger_readers import Listing, ReaderKey, TriggerReaders

CLAIM_IDLE_MS = 30_000
BATCH = 100
log = logging.getLogger("myrmica.queen.queue_triggers")

Handler = Callable[[DefinitionRecord, dict[str, Any], str, dict[str, str]], Awaitable[None]]


def stream_of(topic: str) -> str:
    return f"formicary-queue-{topic}"


def shared(trigger: dict[str, Any]) -> bool:
    value = trigger.get("shared", True)
    return value if isinstance(value, bool) else str(value).strip().lower() not in ("false", "no", "0", "off")


def group_of(definition: DefinitionRecord, trigger: dict[str, Any]) -> str:
    if not shared(trigger):
        return f"{trigger.get('group') or 'myrmica-trigger'}:{definition.owner_key}:{definition.job_type}:" \
               f"{trigger.get('name')}"
    return str(trigger.get("group") or f"myrmica-trigger-{definition.job_type}-{trigger.get('name')}")


def group_start(trigger: dict[str, Any]) -> str:
    """Where a new group begins: a shared one at the stream's first entry, a trigger's own at its end."""
    return "0" if shared(trigger) else "$"


def queen_consumer(name: str) -> bool:
    return name.startswith("queen-")


class QueueTriggers(TriggerReaders):
    what = "queue-triggers"

    def __init__(self, url: str, *, consumer: str, listing: Listing, handle: Handler,
                 leading: Callable[[], bool] = lambda: True, tick_secs: float = 1.0, block_ms: int = 1000) -> None:
        super().__init__(listing=listing, leading=leading, tick_secs=tick_secs)
        self._url = url
        self._consumer = consumer
        self._handle = handle
        self._block_ms = block_ms
        self._client: Any = None
        self.handled = 0  # messages acked (for tests and metrics)

    async def run(self) -> None:
        import redis.asyncio as aioredis

        self._client = aioredis.from_url(self._url, decode_responses=True)
        try:
            await super().run()
        finally:
            await self._client.aclose()

    def _key(self, definition: DefinitionRecord, trigger: dict[str, Any]) -> ReaderKey:
        return (definition.owner_key, definition.job_type, str(trigger.get("name")),
                f"{trigger.get('topic')}|{group_of(definition, trigger)}")

    async def _read(self, definition: DefinitionRecord, trigger: dict[str, Any]) -> None:
        from redis.exceptions import ResponseError

        stream, group = stream_of(str(trigger["topic"])), group_of(definition, trigger)
        # one consumer per queen and trigger: two triggers sharing a group compete like any two consumers
        consumer = f"{self._consumer}:{definition.owner_key}:{definition.job_type}:{trigger.get('name')}"
        await self._create_group(stream, group, group_start(trigger))
        await self._take_over(definition, trigger, stream, group, consumer)
        start = "0"  # this consumer's own pending entries first (a restart), then new ones
        loop = asyncio.get_running_loop()
        claimed_at = loop.time()
        while True:
            try:
                if loop.time() - claimed_at >= CLAIM_IDLE_MS / 1000:
                    claimed_at = loop.time()
                    answer = await self._client.xautoclaim(stream, group, consumer, CLAIM_IDLE_MS,
                                                           start_id="0", count=BATCH)
                    await self._entries(definition, trigger, stream, group, answer[1])
                reply = await self._client.xreadgroup(group, consumer, {stream: start}, count=BATCH,
                                                      block=None if start == "0" else self._block_ms)
                entries = reply[0][1] if reply else []
                if start == "0" and not entries:
                    start = ">"
                    continue
                await self._entries(definition, trigger, stream, group, entries)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away, a request not stored: not acked, read again later
                log.warning("queue trigger %s of %s failed", trigger.get("name"), definition.job_type, exc_info=True)
                start = "0"
                await asyncio.sleep(self._tick)
                if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):  # the stream was deleted
                    with contextlib.suppress(Exception):
                        await self._create_group(stream, group, group_start(trigger))

    async def _take_over(self, definition: DefinitionRecord, trigger: dict[str, Any], stream: str, group: str,
                         consumer: str) -> None:
        """A new leader's first act: the entries other queens (earlier leaders) read and did not ack are
        claimed and handled now, not after ``CLAIM_IDLE_MS``. An outside consumer's are left alone."""
        while True:
            pending = await self._client.xpending_range(stream, group, min="-", max="+", count=BATCH)
            theirs = [str(p["message_id"]) for p in pending
                      if queen_consumer(str(p["consumer"])) and not str(p["consumer"]).startswith(self._consumer + ":")]
            if not theirs:
                return
            claimed = await self._client.xclaim(stream, group, consumer, 0, theirs)
            await self._entries(definition, trigger, stream, group, claimed)
            if len(pending) < BATCH:
                return

    async def _create_group(self, stream: str, group: str, start: str) -> None:
        from redis.exceptions import ResponseError

        try:
            await self._client.xgroup_create(stream, group, id=start, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _entries(self, definition: DefinitionRecord, trigger: dict[str, Any], stream: str, group: str,
                       entries: list[Any]) -> None:
        for entry_id, fields in entries:
            if fields is None:  # deleted from the stream meanwhile
                await self._client.xack(stream, group, entry_id)
                continue
            await self._handle(definition, trigger, str(entry_id), dict(fields))
            await self._client.xack(stream, group, entry_id)
            self.handled += 1
