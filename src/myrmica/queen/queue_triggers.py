"""Queue triggers' consumers (spec §2.8): a trigger's ``topic`` is the Redis stream
``formicary-queue-{topic}`` (Formicary's name for a persistent topic outside Pulsar), read by one
consumer group per trigger (``group``, else ``myrmica-trigger-{job_type}-{name}``) in which each queen is
a consumer. A message is acked only after its request is stored (or it was filtered out), so a queen that
dies in between leaves it pending: the same queen reads its own pending entries again when it starts,
and any queen claims entries idle for ``CLAIM_IDLE_MS``. The request's ``user_key`` is the entry's id,
so handling one twice makes one request. The group starts at the stream's beginning: messages already
on the stream when the trigger is first seen are handled too.

Only where there is a Redis (``trigger_queue_url``, else ``broker_url``): an embedded server without one
has no queue triggers. ``shared: false`` is not honoured (every queen handling every message would make
one request per message anyway, by the ``user_key``); it is one competing-consumer group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from myrmica.domain.records import DefinitionRecord

CLAIM_IDLE_MS = 30_000
BATCH = 100
log = logging.getLogger("myrmica.queen.queue_triggers")

Handler = Callable[[DefinitionRecord, dict[str, Any], str, dict[str, str]], Awaitable[None]]
Listing = Callable[[], Awaitable[list[tuple[DefinitionRecord, dict[str, Any]]]]]


def stream_of(topic: str) -> str:
    return f"formicary-queue-{topic}"


def group_of(definition: DefinitionRecord, trigger: dict[str, Any]) -> str:
    return str(trigger.get("group") or f"myrmica-trigger-{definition.job_type}-{trigger.get('name')}")


class QueueTriggers:
    def __init__(self, url: str, *, consumer: str, listing: Listing, handle: Handler, tick_secs: float = 1.0,
                 block_ms: int = 1000) -> None:
        self._url = url
        self._consumer = consumer
        self._listing = listing
        self._handle = handle
        self._tick = tick_secs
        self._block_ms = block_ms
        self._client: Any = None
        self._readers: dict[tuple[str, str, str, str], asyncio.Task[None]] = {}
        self.handled = 0  # messages acked (for tests and metrics)

    async def run(self) -> None:
        import redis.asyncio as aioredis

        self._client = aioredis.from_url(self._url, decode_responses=True)
        try:
            while True:
                try:
                    await self._refresh()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.warning("reading queue triggers failed", exc_info=True)
                await asyncio.sleep(self._tick)
        finally:
            for task in self._readers.values():
                task.cancel()
            for task in self._readers.values():
                with contextlib.suppress(BaseException):
                    await task
            await self._client.aclose()

    async def _refresh(self) -> None:
        wanted: dict[tuple[str, str, str, str], tuple[DefinitionRecord, dict[str, Any]]] = {}
        for definition, trigger in await self._listing():
            key = (definition.owner_key, definition.job_type, str(trigger.get("name")),
                   f"{trigger.get('topic')}|{group_of(definition, trigger)}")
            wanted[key] = (definition, trigger)
        for key in list(self._readers):
            if key not in wanted or self._readers[key].done():
                self._readers.pop(key).cancel()
        for key, (definition, trigger) in wanted.items():
            if key not in self._readers:
                self._readers[key] = asyncio.create_task(self._read(definition, trigger),
                                                         name=f"queue-trigger-{key[1]}-{key[2]}")

    async def _read(self, definition: DefinitionRecord, trigger: dict[str, Any]) -> None:
        from redis.exceptions import ResponseError

        stream, group = stream_of(str(trigger["topic"])), group_of(definition, trigger)
        await self._create_group(stream, group)
        start = "0"  # this consumer's own pending entries first (a restart), then new ones
        loop = asyncio.get_running_loop()
        claimed_at = loop.time()
        while True:
            try:
                if loop.time() - claimed_at >= CLAIM_IDLE_MS / 1000:
                    claimed_at = loop.time()
                    answer = await self._client.xautoclaim(stream, group, self._consumer, CLAIM_IDLE_MS,
                                                           start_id="0", count=BATCH)
                    await self._entries(definition, trigger, stream, group, answer[1])
                reply = await self._client.xreadgroup(group, self._consumer, {stream: start}, count=BATCH,
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
                        await self._create_group(stream, group)

    async def _create_group(self, stream: str, group: str) -> None:
        from redis.exceptions import ResponseError

        try:
            await self._client.xgroup_create(stream, group, id="0", mkstream=True)
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
