"""Ends of requests: who waits for them, and what follows one (metrics, followers, other queens, the
scheduler, the next cron request)."""

from __future__ import annotations

import asyncio

from myrmica.clock import utcnow
from myrmica.domain.records import ENDED
from myrmica.metrics import Metrics
from myrmica.queen.context import RunContext
from myrmica.queen.ports import Background, CronFollowUp, Events, LogWriter, Publisher, Waker


class EndWatchers:
    """Events set when a request ends (here or, through ``ended`` events, on another queen)."""

    def __init__(self) -> None:
        self._watchers: dict[str, set[asyncio.Event]] = {}

    def ended(self, request_id: str) -> None:
        for event in self._watchers.get(request_id, ()):
            event.set()

    def watch_ends(self, request_ids: list[str]) -> asyncio.Event:
        event = asyncio.Event()
        for request_id in request_ids:
            self._watchers.setdefault(request_id, set()).add(event)
        return event

    def unwatch_ends(self, request_ids: list[str], event: asyncio.Event) -> None:
        for request_id in request_ids:
            watchers = self._watchers.get(request_id)
            if watchers is not None:
                watchers.discard(event)
                if not watchers:
                    del self._watchers[request_id]


class RequestEndings:
    def __init__(self, *, metrics: Metrics, logs: LogWriter, watchers: EndWatchers, waker: Waker,
                 publisher: Publisher, background: Background, cron: CronFollowUp, events: Events,
                 distributed: bool) -> None:
        self._metrics = metrics
        self._logs = logs
        self._watchers = watchers
        self._waker = waker
        self._publisher = publisher
        self._background = background
        self._cron = cron
        self._events = events
        self._distributed = distributed
        self._to_announce: list[str] = []

    def request_ended(self, run: RunContext, state: str) -> None:
        self._metrics.requests_finished.labels(state).inc()
        self._logs.notify(run.request_id)
        self._watchers.ended(run.request_id)
        if self._distributed:
            self._announce(run.request_id)
        self._waker.wake()
        self._events.emit(ENDED, {**run.request, "job_state": state, "ended_at": utcnow()}, run.definition)
        if run.request.get("cron_triggered"):
            self._background.spawn(self._cron.after_cron_run(run.definition))

    def request_suspended(self, run: RunContext, state: str) -> None:
        self._logs.notify(run.request_id)
        self._waker.wake()

    def _announce(self, request_id: str) -> None:
        """Tell the other queens (their log followers and waiters); the ends of one loop turn go together."""
        self._to_announce.append(request_id)
        if len(self._to_announce) == 1:
            self._background.spawn(self._announce_all())

    async def _announce_all(self) -> None:
        await asyncio.sleep(0)
        ids, self._to_announce = self._to_announce, []
        await self._publisher.publish({"type": "ended", "request_ids": ids})
