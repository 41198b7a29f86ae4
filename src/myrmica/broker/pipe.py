"""The transport between a queen and its embedded ant when that ant runs in a child process.

One socket pair, one JSON object per line each way. Queen → ant: the messages of the ant's inbox
(``EXECUTE`` with its request, ``CANCEL``, ``TERMINATE``). Ant → queen: ``reg`` (registration and
heartbeat), ``log`` and ``res`` (result), in the order the ant produced them, so a task's log lines
always arrive before its result. When the queen goes away the ant sees the end of the stream, stops
its running tasks and exits; nothing outlives the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from myrmica.broker.base import Broker
from myrmica.broker.messages import LogLine, TaskRequest, TaskResult

log = logging.getLogger("myrmica.broker.pipe")

LINE_LIMIT = 64 * 1024 * 1024  # the longest message a reader takes (a batch is far below it)
BATCH_BYTES = 256 * 1024  # log lines per ``logs`` message, by text size
LINE_OVERHEAD = 160  # what a line costs in the outbox and on the stream besides its text (ids, keys)
HIGH_WATER = 4 * 1024 * 1024  # outbox bytes past which readers of task output pause …
LOW_WATER = 1024 * 1024  # … until it is back under this
HARD_LIMIT = 64 * 1024 * 1024  # past this, lines are dropped (a sender that ignores the backpressure)
SETTLE_LINES = 10_000  # the queen stores what it holds after this many lines, before reading more
CLOSE_SECONDS = 5.0


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), default=str).encode() + b"\n"


class PipeAntSide:
    """The ant's end (in the child process): an :class:`~myrmica.broker.base.AntSide` over the stream.

    Everything the ant sends goes through one ordered outbox written by one task, which awaits the
    stream's drain after each write: consecutive log lines travel as one ``logs`` message of at most
    ``BATCH_BYTES``, and a result or registration waits behind the lines sent before it. ``send_log``
    never blocks; the outbox's size is the ant's backpressure (``log_full`` / ``log_room``), which the
    executors reading a task's output honour, so a task that floods stdout is slowed to the pace the
    queen stores lines at instead of filling memory. Past ``HARD_LIMIT`` (an executor that does not
    honour it) lines are dropped and counted.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._outbox: deque[tuple[str, Any, int, asyncio.Future[None] | None]] = deque()
        self._queued = 0  # estimated bytes of the log lines in the outbox
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._sender: asyncio.Task[None] | None = None
        self._gone = False
        self.dropped = 0

    def _put(self, kind: str, value: Any, size: int = 0, done: asyncio.Future[None] | None = None) -> None:
        if self._gone:
            if done is not None and not done.done():
                done.set_result(None)
            return
        self._outbox.append((kind, value, size, done))
        self._wake.set()
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send_all(), name="ant-pipe-out")

    async def _send(self, kind: str, value: dict[str, Any]) -> None:
        done = asyncio.get_running_loop().create_future()
        self._put(kind, value, 0, done)
        await done

    async def _send_all(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._outbox:
                    await self._write_next()
        except (ConnectionError, RuntimeError):  # the queen is gone: the ant is about to stop anyway
            self._close_outbox()

    async def _write_next(self) -> None:
        kind, value, size, done = self._outbox.popleft()
        if kind != "log":
            try:
                self._write(encode({"k": kind, "v": value}))
                await self._writer.drain()
            finally:  # sent, or never will be: its sender goes on either way
                if done is not None and not done.done():
                    done.set_result(None)
            return
        lines, sent = [value], size
        while self._outbox and self._outbox[0][0] == "log" and sent < BATCH_BYTES:
            _, more, more_size, _ = self._outbox.popleft()
            lines.append(more)
            sent += more_size
        self._write(encode({"k": "logs", "v": lines}))
        await self._writer.drain()
        self._queued -= sent
        if self._queued <= LOW_WATER:
            self._room.set()

    def _write(self, data: bytes) -> None:
        if self._writer.is_closing():
            raise ConnectionError("the stream to the queen is closed")
        self._writer.write(data)

    def _close_outbox(self) -> None:
        self._gone = True
        for _, _, _, done in self._outbox:
            if done is not None and not done.done():
                done.set_result(None)
        self._outbox.clear()
        self._queued = 0
        self._room.set()

    def log_full(self) -> bool:
        return self._queued > HIGH_WATER

    async def log_room(self) -> None:
        await self._room.wait()

    async def register(self, registration: dict[str, Any]) -> None:
        await self._send("reg", registration)

    async def messages(self, ant_id: str) -> AsyncIterator[dict[str, Any]]:
        while True:
            line = await self._reader.readline()
            if not line:
                return  # the queen is gone
            try:
                message = json.loads(line)
            except ValueError:
                log.warning("ant %s: a malformed line from the queen was dropped", ant_id)
                continue
            if isinstance(message, dict):
                yield message

    async def ack(self, ant_id: str, message: dict[str, Any]) -> None:
        return None

    async def send_result(self, result: TaskResult, answering: dict[str, Any] | None = None) -> None:
        await self._send("res", result.to_dict())

    def send_log(self, line: LogLine) -> None:
        size = len(line.line) + LINE_OVERHEAD
        if self._queued + size > HARD_LIMIT:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100_000 == 0:
                log.warning("%d log lines dropped: the pipe to the queen is %d bytes behind", self.dropped,
                            self._queued)
            return
        self._queued += size
        if self._queued > HIGH_WATER:
            self._room.clear()
        self._put("log", line.to_dict(), size)

    async def close(self) -> None:
        """Send what is queued (for a while), then close the stream."""
        if self._sender is not None and self._outbox:
            done = asyncio.get_running_loop().create_future()
            self._put("end", {}, 0, done)  # the queen ignores an unknown kind
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done, timeout=CLOSE_SECONDS)
        if self._sender is not None:
            self._sender.cancel()
        with contextlib.suppress(Exception):
            self._writer.close()


class PipeQueenBridge:
    """The queen's end: forwards the ant's inbox of the in-process broker to the child, and the
    child's registrations, log lines and results back into that broker."""

    def __init__(self, broker: Broker, ant_id: str, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, *, settle: Callable[[], Awaitable[object]] | None = None) -> None:
        self._broker = broker
        self._settle = settle  # stores the lines handed over; awaited every SETTLE_LINES (backpressure)
        self._unsettled = 0
        self._ant_id = ant_id
        self._reader = reader
        self._writer = writer
        self.registered = asyncio.Event()

    async def outbound(self) -> None:
        async for message in self._broker.messages(self._ant_id):
            request = message.get("request")
            if isinstance(request, TaskRequest):
                message = {**message, "request": request.to_dict()}
            self._writer.write(encode(message))
        self.close()

    def close(self) -> None:
        """The end of the stream: the ant stops its tasks and exits."""
        self._writer.close()

    async def inbound(self) -> None:
        while True:
            line = await self._reader.readline()
            if not line:
                return
            try:
                message = json.loads(line)
                kind, value = message["k"], message["v"]
                if kind == "logs":
                    for item in value:
                        self._broker.send_log(LogLine.from_dict(item))
                    self._unsettled += len(value)
                    if self._settle is not None and self._unsettled >= SETTLE_LINES:
                        self._unsettled = 0
                        await self._settle()  # meanwhile the ant's lines wait in the stream, then in the ant
                elif kind == "log":
                    self._broker.send_log(LogLine.from_dict(value))
                elif kind == "res":
                    await self._broker.send_result(TaskResult.from_dict(value))
                elif kind == "reg":
                    await self._broker.register(value)
                    self.registered.set()
            except Exception:
                log.exception("a message from the embedded ant could not be handled")
