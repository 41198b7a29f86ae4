"""The queen↔ant transport protocol. ``memory`` runs it in-process; ``redis`` across machines."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol

from myrmica.broker.messages import LogLine, TaskRequest, TaskResult

ResultHandler = Callable[[TaskResult], Awaitable[None]]
LogHandler = Callable[[LogLine], None]
# Awaited before log lines are acknowledged to their sender: True once every line handed over is stored.
LogsStored = Callable[[], Awaitable[bool]]
RegistrationHandler = Callable[[dict[str, Any]], Awaitable[None]]


EventHandler = Callable[[dict[str, Any]], Awaitable[None]]


class QueenSide(Protocol):
    """What a queen uses: send work and control messages to ants; receive results, logs, registrations.

    Events reach every queen (the sender too): cancel/pause of a request whose supervisor runs
    elsewhere, new log lines, ended requests. Reservations of an ant's capacity are atomic across
    queens.
    """

    async def dispatch(self, ant_id: str, request: TaskRequest) -> None: ...

    async def control(self, ant_id: str, message: dict[str, Any]) -> None: ...

    def subscribe(self, *, on_result: ResultHandler, on_log: LogHandler,
                  on_registration: RegistrationHandler, logs_stored: LogsStored | None = None) -> None: ...

    def on_event(self, handler: EventHandler) -> None: ...

    async def publish_event(self, event: dict[str, Any]) -> None: ...

    ant_releases: bool  # an ant's reply frees its reservation: the queen releases only unanswered tasks

    async def reserve(self, choices: Sequence[tuple[str, int]], key: str) -> str | None:
        """Atomically reserve ``key`` on the first of ``choices`` (ant id, capacity) that holds fewer
        reservations than its capacity, or that holds ``key`` already; that ant's id, or None."""
        ...

    async def release(self, ant_id: str, key: str) -> None: ...

    async def reserved_counts(self, ant_ids: Sequence[str]) -> dict[str, int]:
        """How many reservations each ant holds, from every queen."""
        ...

    async def adopt_replies(self, queen_id: str) -> None: ...

    async def forget_ant(self, ant_id: str) -> None: ...


class AntSide(Protocol):
    """What an ant uses: announce itself, take its messages, send back logs and results."""

    async def register(self, registration: dict[str, Any]) -> None: ...

    def messages(self, ant_id: str) -> AsyncIterator[dict[str, Any]]: ...

    async def ack(self, ant_id: str, message: dict[str, Any]) -> None:
        """The message is done with (for EXECUTE: its result was sent); it will not be delivered again."""
        ...

    async def send_result(self, result: TaskResult, answering: dict[str, Any] | None = None) -> None:
        """Send a result. ``answering``: the EXECUTE message it answers, acknowledged with it; a broker
        whose ``ant_releases`` is true also frees the ant's reservation of the task then."""
        ...

    def send_log(self, line: LogLine) -> None:
        """Never blocks: a log line is queued and delivered in order."""
        ...


class Broker(QueenSide, AntSide, Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def ping(self) -> None: ...
