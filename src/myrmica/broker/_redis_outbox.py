"""The ant's outgoing replies: log lines and results, written to Redis in order by one background task.

``send_log`` must never block, so lines wait in a bounded in-memory queue (the oldest are dropped, with a
warning, when it is full). Results travel through the same queue so a result never overtakes the log
lines written before it; the sender of a result awaits until Redis has it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from myrmica.broker._redis_support import TRANSIENT, Backoff, BrokerStopped, Fields, Link

log = logging.getLogger("myrmica.broker.redis")

MAX_QUEUED_LINES = 100_000
BATCH = 1000


@dataclass
class _Item:
    stream: str
    fields: Fields
    done: asyncio.Future[None] | None = None  # set for results: their sender awaits it
    then: Sequence[tuple[str, ...]] = ()  # commands sent right after the entry, in the same pipeline


class Outbox:
    def __init__(self, client: Redis, link: Link, closing: asyncio.Event, *,
                 max_lines: int = MAX_QUEUED_LINES, batch: int = BATCH) -> None:
        self._client = client
        self._link = link
        self._closing = closing
        self._max_lines = max_lines
        self._batch = batch
        self._queue: deque[_Item] = deque()
        self._inflight: list[_Item] = []
        self._lines = 0  # log lines in the queue (results are never dropped)
        self._dropped = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._queue) + len(self._inflight)

    def ensure_running(self) -> None:
        if self._task is not None or self._closing.is_set():
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # started by the broker's start()
        self._task = asyncio.create_task(self._run(), name="redis-broker-outbox")

    def put_log(self, stream: str, fields: Fields) -> None:
        if self._closing.is_set():
            log.debug("a log line for %s after the broker stopped; dropped", stream)
            return
        if self._lines >= self._max_lines:
            self._drop_oldest_line()
        self._queue.append(_Item(stream, fields))
        self._lines += 1
        self._wake.set()
        self.ensure_running()

    async def put_result(self, stream: str, fields: Fields, then: Sequence[tuple[str, ...]] = ()) -> None:
        """Queue a result (``then``: commands to run right after it) and wait until Redis has it."""
        if self._closing.is_set():
            raise BrokerStopped("the broker is stopped; the result was not sent")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Item(stream, fields, done, then))
        self._wake.set()
        self.ensure_running()
        await asyncio.shield(done)

    def _drop_oldest_line(self) -> None:
        for index, item in enumerate(self._queue):
            if item.done is None:
                del self._queue[index]
                self._lines -= 1
                break
        if self._dropped == 0:
            log.warning("the log queue is full (%d lines, Redis too slow or unreachable); dropping the oldest lines",
                        self._max_lines)
        self._dropped += 1

    async def drain(self, seconds: float) -> None:
        """After closing was set: let the task write what is queued, for at most ``seconds``."""
        self._wake.set()
        task = self._task
        if task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), timeout=seconds)
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._fail_all()

    def _fail_all(self) -> None:
        items = [*self._inflight, *self._queue]
        self._inflight, self._lines = [], 0
        self._queue.clear()
        lines = sum(1 for item in items if item.done is None)
        if lines:
            log.warning("redis broker stopped with %d log line(s) not sent", lines)
        for item in items:
            if item.done is not None and not item.done.done():
                item.done.set_exception(BrokerStopped("the broker stopped before the result reached Redis"))

    async def _run(self) -> None:
        backoff = Backoff()
        while True:
            if not self._inflight:
                if not self._queue:
                    if self._closing.is_set():
                        return
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                count = min(self._batch, len(self._queue))
                self._inflight = [self._queue.popleft() for _ in range(count)]
                self._lines -= sum(1 for item in self._inflight if item.done is None)
            try:
                replies = await self._write(self._inflight)
            except TRANSIENT as exc:
                self._link.failed(exc)
                if self._closing.is_set() or not await self._link.pause(backoff.next()):
                    # stopping with Redis away: one last attempt, then give up
                    with contextlib.suppress(*TRANSIENT):
                        replies = await self._write(self._inflight)
                        self._settle(replies)
                        continue
                    return
                continue
            except Exception:  # a bug or an odd reply: keep the task alive, try again later
                log.exception("writing %d replies to redis failed; retrying", len(self._inflight))
                if not await self._link.pause(backoff.next()):
                    return
                continue
            self._link.ok()
            backoff.reset()
            self._settle(replies)

    async def _write(self, items: list[_Item]) -> list[Any]:
        """Each item's entry, then its follow-up commands; the reply to each entry."""
        async with self._client.pipeline(transaction=False) as pipe:
            for item in items:
                pipe.xadd(item.stream, item.fields)
                for command in item.then:
                    pipe.execute_command(*command)
            replies = list(await pipe.execute(raise_on_error=False))
        entries: list[Any] = []
        index = 0
        for item in items:
            entries.append(replies[index])
            for command, reply in zip(item.then, replies[index + 1:index + 1 + len(item.then)], strict=False):
                if isinstance(reply, Exception):
                    log.debug("redis refused %s after a result: %s", command[0], reply)
            index += 1 + len(item.then)
        return entries

    def _settle(self, replies: list[Any]) -> None:
        if self._dropped:
            log.warning("%d log line(s) were dropped while the log queue was full", self._dropped)
            self._dropped = 0
        for item, reply in zip(self._inflight, replies, strict=False):
            if isinstance(reply, Exception):
                log.warning("redis refused a %s for %s: %s", "result" if item.done else "log line", item.stream,
                            reply)
                if item.done is not None and not item.done.done():
                    item.done.set_exception(reply)
            elif item.done is not None and not item.done.done():
                item.done.set_result(None)
        self._inflight = []
