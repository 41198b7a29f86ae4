"""Log lines from ants: masked, bounded per task, written in batches, and pushed to followers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from myrmica.broker.messages import LogLine
from myrmica.domain.masking import mask_terms, secret_terms
from myrmica.store.logs import LogRepository
from myrmica.store.outage import OutageLog

log = logging.getLogger("myrmica.queen.logs")

FLUSH_SECONDS = 0.05
FLUSH_LINES = 500
OUTAGE_FLUSH_SECONDS = 1.0  # while the database does not answer
MAX_HELD_LINES = 200_000  # held through an outage; past this the oldest are dropped
SYSTEM_SLACK = 64 * 1024  # bytes of system lines kept past max_bytes_per_task
MARKER = "marker"  # the stream of a line between two runs of a request (paused, resumed, restarted …)


def stamp(moment: datetime) -> str:
    """A time in a marker line: to the second, in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class LogSink:
    def __init__(self, repository: LogRepository, *, max_bytes_per_task: int) -> None:
        self._repository = repository
        self._max_bytes = max_bytes_per_task
        self._buffer: list[dict[str, Any]] = []
        self._outage = OutageLog(log, "storing log lines")
        self._secrets: dict[str, list[str]] = {}  # request id → what to mask (domain/masking.py)
        self._bytes: dict[str, int] = defaultdict(int)  # task execution id → bytes kept
        self._truncated: set[str] = set()
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._wake = asyncio.Event()
        self._flushing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.on_flushed: Callable[[list[str]], None] | None = None  # other queens' followers hear of new lines

    def start(self) -> None:
        self._task = asyncio.create_task(self._flusher(), name="log-flusher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.flush()

    def set_secrets(self, request_id: str, secrets: list[str]) -> None:
        if secrets:
            self._secrets[request_id] = secret_terms(secrets)

    def forget(self, request_id: str, task_execution_ids: list[str]) -> None:
        self._secrets.pop(request_id, None)
        for te_id in task_execution_ids:
            self._bytes.pop(te_id, None)
            self._truncated.discard(te_id)

    def add(self, line: LogLine) -> None:
        terms = self._secrets.get(line.request_id)
        text = mask_terms(line.line, terms) if terms else line.line
        key = line.task_execution_id
        if key in self._truncated:
            return
        self._bytes[key] += len(text) + 1
        # The ant cuts a task's output at the same bound and then says so in one system line: that line
        # (and the executor's few others) may pass the bound by a little.
        limit = self._max_bytes + SYSTEM_SLACK if line.stream == "system" else self._max_bytes
        if self._bytes[key] > limit:
            self._truncated.add(key)
            text, stream = f"[log truncated after {self._max_bytes} bytes]", "system"
        else:
            stream = line.stream
        self._buffer.append({"job_request_id": line.request_id, "task_execution_id": key,
                             "task_type": line.task_type, "stream": stream, "line": text,
                             "created_at": datetime.fromtimestamp(line.at, UTC)})
        if len(self._buffer) >= FLUSH_LINES:
            self._wake.set()

    def system(self, request_id: str, task_execution_id: str, task_type: str, text: str) -> None:
        self.add(LogLine(request_id, task_execution_id, task_type, "system", text,
                         datetime.now(UTC).timestamp()))

    def posted(self, request_id: str, task_execution_id: str, task_type: str, stream: str, text: str) -> None:
        """A line sent to ``POST /api/logs`` (Formicary's log events): stored like a task's own."""
        self.add(LogLine(request_id, task_execution_id, task_type, stream, text, datetime.now(UTC).timestamp()))

    def marker(self, request_id: str, text: str) -> None:
        """A line between two runs of a request: no task's (``task_type`` empty), never truncated.

        Readers show it as a boundary (the CLI prints ``── text ──``); a task filter keeps it.
        """
        self._buffer.append({"job_request_id": request_id, "task_execution_id": "", "task_type": "",
                             "stream": MARKER, "line": text, "created_at": datetime.now(UTC)})

    async def flush(self) -> None:
        """Store what is buffered; when it returns, every line added before the call is stored (a flush
        already under way is waited for, so a reader that flushes first never misses a line)."""
        async with self._flushing:
            batch, self._buffer = self._buffer, []
            if not batch:
                return
            try:
                await self._repository.append(batch)
            except Exception as exc:
                self._outage.failed(exc)
                self._buffer[:0] = batch
                if len(self._buffer) > MAX_HELD_LINES:
                    dropped = len(self._buffer) - MAX_HELD_LINES
                    del self._buffer[:dropped]
                    log.warning("dropped the %d oldest log lines held while they could not be stored", dropped)
                return
            self._outage.ok()
        request_ids = sorted({row["job_request_id"] for row in batch})
        for request_id in request_ids:
            self.notify(request_id)
        if self.on_flushed is not None:
            self.on_flushed(request_ids)

    async def stored(self) -> bool:
        """Store what is buffered; True when every line added before the call is in the database."""
        await self.flush()
        return not self._outage.down

    async def store_lines_of(self, request_id: str) -> None:
        """Before a request's end is written: its lines first, so that a reader who sees the end (on
        another queen, which cannot flush this buffer) finds every line."""
        if self._flushing.locked() or any(row["job_request_id"] == request_id for row in self._buffer):
            await self.flush()

    def notify(self, request_id: str) -> None:
        for event in self._waiters.get(request_id, ()):
            event.set()

    def follow(self, request_id: str) -> asyncio.Event:
        event = asyncio.Event()
        self._waiters[request_id].add(event)
        return event

    def unfollow(self, request_id: str, event: asyncio.Event) -> None:
        waiters = self._waiters.get(request_id)
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                del self._waiters[request_id]

    async def _flusher(self) -> None:
        while True:
            if self._outage.down:  # not woken by every new line: the database gets a second to come back
                await asyncio.sleep(OUTAGE_FLUSH_SECONDS)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=FLUSH_SECONDS)
            self._wake.clear()
            await self.flush()
