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
from collections.abc import AsyncIterator
from typing import Any

from myrmica.broker.base import Broker
from myrmica.broker.messages import LogLine, TaskRequest, TaskResult

log = logging.getLogger("myrmica.broker.pipe")

LINE_LIMIT = 64 * 1024 * 1024


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), default=str).encode() + b"\n"


class PipeAntSide:
    """The ant's end (in the child process): an :class:`~myrmica.broker.base.AntSide` over the stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    def _send(self, kind: str, value: dict[str, Any]) -> None:
        if not self._writer.is_closing():
            self._writer.write(encode({"k": kind, "v": value}))

    async def _drain(self) -> None:
        with contextlib.suppress(ConnectionError):  # the queen is gone: the ant is about to stop anyway
            await self._writer.drain()

    async def register(self, registration: dict[str, Any]) -> None:
        self._send("reg", registration)
        await self._drain()

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
        self._send("res", result.to_dict())
        await self._drain()

    def send_log(self, line: LogLine) -> None:
        self._send("log", line.to_dict())


class PipeQueenBridge:
    """The queen's end: forwards the ant's inbox of the in-process broker to the child, and the
    child's registrations, log lines and results back into that broker."""

    def __init__(self, broker: Broker, ant_id: str, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self._broker = broker
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
                if kind == "log":
                    self._broker.send_log(LogLine.from_dict(value))
                elif kind == "res":
                    await self._broker.send_result(TaskResult.from_dict(value))
                elif kind == "reg":
                    await self._broker.register(value)
                    self.registered.set()
            except Exception:
                log.exception("a message from the embedded ant could not be handled")
