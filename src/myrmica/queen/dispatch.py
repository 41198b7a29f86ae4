"""Sending task attempts to ants: reserving a slot, waiting for the result, and keeping results that
arrive when nobody waits (late, or for a request another queen is about to adopt)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

from myrmica.broker.base import Broker
from myrmica.broker.messages import TaskRequest, TaskResult
from myrmica.queen.ants import AntRegistry
from myrmica.queen.ports import Interrupts, Waker

log = logging.getLogger("myrmica.queen")

RECORD_WAIT_SECONDS = 30.0
RESERVE_RETRY_FIRST = 0.005
RESERVE_RETRY_MAX = 0.5
MAX_ORPHAN_RESULTS = 10_000


class Dispatch:
    def __init__(self, broker: Broker, ants: AntRegistry, *, distributed: bool, interrupts: Interrupts,
                 waker: Waker) -> None:
        self._broker = broker
        self._ants = ants
        self._distributed = distributed
        self._interrupts = interrupts
        self._waker = waker
        self._results: dict[str, asyncio.Future[TaskResult]] = {}
        # Tasks waiting for a slot, oldest first: (method, tags, woken when a fitting slot frees).
        self._slot_waiters: deque[tuple[str, frozenset[str], asyncio.Future[None]]] = deque()
        self._fan_out_running: dict[str, set[tuple[str, str]]] = {}  # request → (task execution, ant)
        self._orphan_results: dict[str, TaskResult] = {}
        # Results handed to a supervisor and not yet stored, by "task execution id:attempt": when the
        # database went away before they were, the resumed supervisor takes them from here.
        self._unrecorded: dict[str, TaskResult] = {}
        self._recorded: dict[str, asyncio.Event] = {}

    # --- slots ----------------------------------------------------------------------------------

    def capacity_freed(self, ant_id: str = "") -> None:
        """A slot freed on ``ant_id``: the oldest task waiting for one that fits it tries again (only
        that one: waking every waiter would send them all to the broker for one slot)."""
        ant = self._ants.get(ant_id) if ant_id else None
        for index, (method, tags, waiter) in enumerate(self._slot_waiters):
            if not waiter.done() and (ant is None or ant.fits(method, tags)):
                waiter.set_result(None)
                del self._slot_waiters[index]
                break
        self._waker.wake()

    async def reserve_ant(self, method: str, tags: frozenset[str], key: str, wait_seconds: float) -> str | None:
        """The least-loaded live ant that fits, waiting for capacity up to ``wait_seconds``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        # Our own releases wake us; another queen's are not announced, so with a broker we look again
        # soon and then less often.
        pause = RESERVE_RETRY_FIRST if self._distributed else RESERVE_RETRY_MAX
        while True:
            # The broker's reservation is atomic across queens: an ant is never over-committed.
            ant_id = await self._broker.reserve([(ant.ant_id, ant.capacity)
                                                 for ant in self._ants.candidates(method, tags)], key)
            if ant_id is not None:
                self._ants.hold(ant_id, key)
                return ant_id
            if not self._ants.can_serve(method, tags) or loop.time() >= deadline:
                return None
            waiter: asyncio.Future[None] = loop.create_future()
            entry = (method, tags, waiter)
            self._slot_waiters.append(entry)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter, timeout=min(pause, max(0.0, deadline - loop.time())))
            finally:
                with contextlib.suppress(ValueError):  # woken: already out of the line
                    self._slot_waiters.remove(entry)
            pause = min(RESERVE_RETRY_MAX, pause * 2)

    async def count_shared_load(self) -> None:
        """With several queens, learn how much of each ant the others hold (one broker round trip)."""
        if self._distributed:
            live = [ant.ant_id for ant in self._ants.live()]
            self._ants.counted(await self._broker.reserved_counts(live))

    async def release_ant(self, ant_id: str, key: str, *, answered: bool = False) -> None:
        """Free the reservation; ``answered``: the ant replied, and with some brokers that freed it already."""
        self._ants.release(ant_id, key)
        try:
            if not (answered and self._broker.ant_releases):
                await self._broker.release(ant_id, key)
        finally:
            self.capacity_freed(ant_id)

    # --- attempts -------------------------------------------------------------------------------

    async def dispatch(self, ant_id: str, request: TaskRequest, wait: float) -> TaskResult | None:
        key = f"{request.task_execution_id}:{request.attempt}"
        future: asyncio.Future[TaskResult] = asyncio.get_running_loop().create_future()
        self._results[key] = future
        cancel = {"action": "CANCEL", "task_execution_id": request.task_execution_id}
        try:
            await self._broker.dispatch(ant_id, request)
            return await asyncio.wait_for(future, timeout=wait)
        except TimeoutError:
            await self._broker.control(ant_id, cancel)
            return None
        except asyncio.CancelledError:
            # The job was cancelled, paused or timed out: the ant must stop the task too.
            await asyncio.shield(self._broker.control(ant_id, cancel))
            raise
        finally:
            self._results.pop(key, None)

    async def control(self, ant_id: str, message: dict[str, Any]) -> None:
        await self._broker.control(ant_id, message)

    def recorded(self, task_execution_id: str, attempt: int) -> None:
        """The supervisor stored the outcome of this attempt: its reply may be acknowledged."""
        event = self._recorded.get(f"{task_execution_id}:{attempt}")
        if event is not None:
            event.set()

    def orphan_result(self, key: str) -> TaskResult | None:
        return self._orphan_results.pop(key, None) or self._unrecorded.get(key)

    async def attach(self, ant_id: str, key: str, wait: float) -> TaskResult | None:
        """Wait for the result of a task dispatched by a queen that died (this one adopted its request)."""
        future: asyncio.Future[TaskResult] = asyncio.get_running_loop().create_future()
        early = self._orphan_results.pop(key, None)
        if early is not None:
            return early
        self._results[key] = future
        self._ants.hold(ant_id, key)
        try:
            return await asyncio.wait_for(future, timeout=wait)
        except TimeoutError:
            return None
        finally:
            self._results.pop(key, None)

    def ant_lost(self, ant_id: str, keys: set[str]) -> None:
        """An ant stopped answering: the attempts waiting for it fail now (ERR_ANT_LOST)."""
        for key in keys:
            te_id, _, attempt = key.partition(":")
            future = self._results.get(key)
            if future is not None and not future.done():
                future.set_result(TaskResult("", te_id, int(attempt or 0), "FAILED", exit_code="-1",
                                             error_code="ERR_ANT_LOST",
                                             error_message=f"ant {ant_id} stopped answering"))

    # --- fan-out items --------------------------------------------------------------------------

    def fan_out_started(self, request_id: str, task_execution_id: str, ant_id: str) -> None:
        self._fan_out_running.setdefault(request_id, set()).add((task_execution_id, ant_id))

    def fan_out_ended(self, request_id: str, task_execution_id: str, ant_id: str) -> None:
        running = self._fan_out_running.get(request_id)
        if running is not None:
            running.discard((task_execution_id, ant_id))
            if not running:
                del self._fan_out_running[request_id]

    async def cancel_fan_out(self, request_id: str) -> None:
        for te_id, ant_id in list(self._fan_out_running.get(request_id, ())):
            await self._broker.control(ant_id, {"action": "CANCEL", "task_execution_id": te_id})

    # --- results --------------------------------------------------------------------------------

    async def on_result(self, result: TaskResult) -> None:
        key = f"{result.task_execution_id}:{result.attempt}"
        future = self._results.get(key)
        if future is not None and future.done():
            future = None
        if future is not None and not self._distributed:
            future.set_result(result)
            return
        if future is not None or (self._distributed and result.request_id in self._interrupts):
            # The broker acknowledges the reply when this returns: wait until it is recorded — by the
            # supervisor waiting for it, or by the one resumed after a database outage — so a queen
            # that dies meanwhile leaves the reply to be delivered again.
            recorded = self._recorded[key] = asyncio.Event()
            self._unrecorded[key] = result
            if future is not None:
                future.set_result(result)
            await self._until_recorded(key, result, recorded)
            return
        # A result nobody waits for: its supervisor moved on (timeout, cancel, a newer attempt) and
        # recorded the task's end itself, so this late copy must not overwrite anything — or its
        # queen died and the request is about to be adopted, so it is kept for a while for attach().
        self._orphan_results[key] = result
        while len(self._orphan_results) > MAX_ORPHAN_RESULTS:
            self._orphan_results.pop(next(iter(self._orphan_results)))
        log.info("a result for task execution %s attempt %d has no waiting supervisor (late or adopted)",
                 result.task_execution_id, result.attempt)

    async def _until_recorded(self, key: str, result: TaskResult, recorded: asyncio.Event) -> None:
        """Wait until the result is stored; while the database is away, for as long as it takes."""
        try:
            while True:
                try:
                    await asyncio.wait_for(recorded.wait(), timeout=RECORD_WAIT_SECONDS)
                    return
                except TimeoutError:
                    if result.request_id not in self._interrupts:
                        log.warning("result of %s not recorded within %.0fs; acknowledging anyway", key,
                                    RECORD_WAIT_SECONDS)
                        self._orphan_results[key] = result
                        return
        finally:
            self._recorded.pop(key, None)
            self._unrecorded.pop(key, None)
