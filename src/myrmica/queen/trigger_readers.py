"""One reader task per trigger the leading queen should be reading, kept in step with the stored
definitions every tick (a trigger added, changed or removed, the lease won or lost) and all stopped when the
queen stops. Queue triggers' stream consumers and S3 notification queues' pollers are both such readers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from myrmica.domain.records import DefinitionRecord

Listing = Callable[[], Awaitable[list[tuple[DefinitionRecord, dict[str, Any]]]]]
ReaderKey = tuple[str, str, str, str]
log = logging.getLogger("myrmica.queen.trigger_readers")


class TriggerReaders:
    """Subclasses say what tells two readers apart (``_key``: a changed key restarts the reader) and what
    a reader does (``_read``, which runs until it is cancelled)."""

    what = "trigger-readers"  # names the log line and the tasks

    def __init__(self, *, listing: Listing, leading: Callable[[], bool], tick_secs: float) -> None:
        self._listing = listing
        self._leading = leading
        self._tick = tick_secs
        self._readers: dict[ReaderKey, asyncio.Task[None]] = {}

    def _key(self, definition: DefinitionRecord, trigger: dict[str, Any]) -> ReaderKey:
        raise NotImplementedError

    async def _read(self, definition: DefinitionRecord, trigger: dict[str, Any]) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self._refresh()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.warning("%s: refreshing the readers failed", self.what, exc_info=True)
                await asyncio.sleep(self._tick)
        finally:
            for task in self._readers.values():
                task.cancel()
            for task in self._readers.values():
                with contextlib.suppress(BaseException):
                    await task

    async def _refresh(self) -> None:
        wanted = {self._key(d, t): (d, t) for d, t in (await self._listing() if self._leading() else [])}
        for key in list(self._readers):
            if key not in wanted or self._readers[key].done():
                self._readers.pop(key).cancel()
        for key, (definition, trigger) in wanted.items():
            if key not in self._readers:
                self._readers[key] = asyncio.create_task(self._read(definition, trigger),
                                                         name=f"{self.what}-{key[1]}-{key[2]}")
