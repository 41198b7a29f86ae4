"""Events of requests and their tasks, for the dialects that listen (webhooks).

A listener subscribes with a test of the definition (``wants``): the hub asks it synchronously and
builds an event only for a definition some listener wants, so requests nobody listens to cost a
dictionary lookup. Events go through one queue and one consumer, so a listener hears them in the
order they happened on this queen. A listener's error is logged, never raised into the engine.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from myrmica.clock import utcnow
from myrmica.domain.principal import Principal
from myrmica.domain.records import DefinitionRecord, JobEvent, RequestRecord, TaskRecord
from myrmica.store.store import Store

log = logging.getLogger("myrmica.queen.events")

EventListener = Callable[[JobEvent], Awaitable[None]]
DefinitionTest = Callable[[Mapping[str, Any]], bool]
RecordTest = Callable[[DefinitionRecord], bool]
MAX_RECORDS = 64


class EventHub:
    def __init__(self, store: Store, admin: Principal) -> None:
        self._store = store
        self._admin = admin
        self._listeners: list[tuple[EventListener, DefinitionTest | None, RecordTest | None]] = []
        # The record of each definition row lately seen, by the row's identity (the supervisor and the
        # scheduler pass the same row for every event of a request): built once, not once per event and test.
        self._records: dict[int, tuple[Mapping[str, Any], DefinitionRecord]] = {}
        self._queue: asyncio.Queue[tuple[EventListener, JobEvent]] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None

    def subscribe(self, listener: EventListener, wants: DefinitionTest) -> None:
        self._listeners.append((listener, wants, None))

    def subscribe_records(self, listener: EventListener, wants: RecordTest) -> None:
        """``subscribe`` with a test of the definition's record (the job service's listeners)."""
        self._listeners.append((listener, None, wants))

    def _record(self, definition: Mapping[str, Any]) -> DefinitionRecord:
        known = self._records.get(id(definition))
        if known is not None and known[0] is definition:
            return known[1]
        if len(self._records) >= MAX_RECORDS:
            self._records.clear()
        record = DefinitionRecord.from_row(definition)
        self._records[id(definition)] = (definition, record)  # the row kept: its id is not reused meanwhile
        return record

    @property
    def listening(self) -> bool:
        return bool(self._listeners)

    def emit(self, cause: str, request: Mapping[str, Any], definition: Mapping[str, Any],
             task: Mapping[str, Any] | None = None) -> None:
        if not self._listeners:
            return
        wanted = [listener for listener, on_row, on_record in self._listeners
                  if (on_row(definition) if on_row is not None
                      else on_record is not None and on_record(self._record(definition)))]
        if not wanted:
            return
        event = JobEvent(cause=cause, request=RequestRecord.from_row(request), definition=self._record(definition),
                         task=TaskRecord.from_row(task) if task is not None else None, at=utcnow(),
                         secrets=self._opened(request.get("secret_params")))
        for listener in wanted:
            self._queue.put_nowait((listener, event))
        if self._consumer is None or self._consumer.done():
            self._consumer = asyncio.create_task(self._consume(), name="job-events")

    def _opened(self, sealed: Any) -> dict[str, str]:
        if not isinstance(sealed, dict):
            return {}
        try:
            return {str(k): self._store.box.decrypt(str(v)) for k, v in sealed.items()}
        except ValueError:
            return {}

    async def emit_loading(self, cause: str, request: Mapping[str, Any]) -> None:
        """``emit`` for a caller that has the request but not its definition (read only when someone listens)."""
        if not self._listeners:
            return
        try:
            definition = await self._store.definitions.get(self._admin, str(request["job_definition_id"]))
        except Exception:
            log.warning("no event for request %s: its definition could not be read", request.get("id"))
            return
        self.emit(cause, request, definition)

    async def _consume(self) -> None:
        while not self._queue.empty():
            listener, event = self._queue.get_nowait()
            try:
                await listener(event)
            except Exception:
                log.exception("a listener of %s events failed on request %s", event.cause, event.request.id)

    async def drain(self) -> None:
        """Wait until every event emitted so far was heard (tests, shutdown)."""
        while self._consumer is not None and not self._consumer.done():
            await asyncio.shield(self._consumer)

    async def stop(self) -> None:
        if self._consumer is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._consumer), timeout=5.0)
            except TimeoutError:
                self._consumer.cancel()
