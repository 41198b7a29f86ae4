"""The in-process broker of the embedded server: asyncio queues, no serialisation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from myrmica.broker.base import EventHandler, LogHandler, LogsStored, RegistrationHandler, ResultHandler
from myrmica.broker.messages import LogLine, TaskRequest, TaskResult

log = logging.getLogger("myrmica.broker")


class MemoryBroker:
    ant_releases = False
    def __init__(self) -> None:
        self._inboxes: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._on_result: ResultHandler | None = None
        self._on_log: LogHandler | None = None
        self._logs_stored: LogsStored | None = None
        self._on_registration: RegistrationHandler | None = None
        self._event_handlers: list[EventHandler] = []
        self._reservations: dict[str, set[str]] = {}

    def _inbox(self, ant_id: str) -> asyncio.Queue[dict[str, Any]]:
        return self._inboxes.setdefault(ant_id, asyncio.Queue())

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for inbox in self._inboxes.values():
            inbox.put_nowait({"action": "STOP"})

    async def ping(self) -> None:
        return None

    # queen side
    async def dispatch(self, ant_id: str, request: TaskRequest) -> None:
        self._inbox(ant_id).put_nowait({"action": "EXECUTE", "request": request})

    async def control(self, ant_id: str, message: dict[str, Any]) -> None:
        self._inbox(ant_id).put_nowait(message)

    def subscribe(self, *, on_result: ResultHandler, on_log: LogHandler,
                  on_registration: RegistrationHandler, logs_stored: LogsStored | None = None) -> None:
        # In one process a line is lost only with the process that holds it: nothing to acknowledge.
        self._on_result, self._on_log, self._on_registration = on_result, on_log, on_registration
        self._logs_stored = logs_stored

    async def settle_logs(self) -> None:
        """Until the lines handed over so far are stored (or could not be): the embedded ant's pipe
        awaits it between batches, so a flood of lines waits in the ant rather than in the queen."""
        if self._logs_stored is not None:
            await self._logs_stored()

    def on_event(self, handler: EventHandler) -> None:
        self._event_handlers.append(handler)

    async def publish_event(self, event: dict[str, Any]) -> None:
        for handler in self._event_handlers:
            await handler(event)

    async def reserve(self, choices: Sequence[tuple[str, int]], key: str) -> str | None:
        for ant_id, _ in choices:
            if key in self._reservations.get(ant_id, ()):
                return ant_id
        for ant_id, capacity in choices:
            held = self._reservations.setdefault(ant_id, set())
            if len(held) < capacity:
                held.add(key)
                return ant_id
        return None

    async def release(self, ant_id: str, key: str) -> None:
        self._reservations.get(ant_id, set()).discard(key)

    async def reserved_counts(self, ant_ids: Sequence[str]) -> dict[str, int]:
        return {ant_id: len(self._reservations.get(ant_id, ())) for ant_id in ant_ids}

    async def adopt_replies(self, queen_id: str) -> None:
        return None  # one process: every reply already comes here

    async def forget_ant(self, ant_id: str) -> None:
        self._reservations.pop(ant_id, None)
        self._inboxes.pop(ant_id, None)

    # ant side
    async def register(self, registration: dict[str, Any]) -> None:
        if self._on_registration is not None:
            await self._on_registration(registration)

    async def messages(self, ant_id: str) -> AsyncIterator[dict[str, Any]]:
        inbox = self._inbox(ant_id)
        while True:
            message = await inbox.get()
            if message.get("action") == "STOP":
                return
            yield message

    async def ack(self, ant_id: str, message: dict[str, Any]) -> None:
        return None

    async def send_result(self, result: TaskResult, answering: dict[str, Any] | None = None) -> None:
        if self._on_result is None:
            log.warning("a task result arrived with no queen listening: %s", result.task_execution_id)
            return
        await self._on_result(result)

    def send_log(self, line: LogLine) -> None:
        if self._on_log is not None:
            self._on_log(line)
