"""The engine of a queen: scheduling, supervising, dispatching to ants, and the operations the API calls."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any

from myrmica.ant.executors.factory import build_executors
from myrmica.ant.worker import Ant
from myrmica.api.context import AppContext
from myrmica.broker.base import Broker
from myrmica.broker.memory import MemoryBroker
from myrmica.broker.messages import TaskRequest, TaskResult
from myrmica.clock import utcnow
from myrmica.config import Settings, docker_options
from myrmica.domain.definition_model import JobDefinitionSpec
from myrmica.ids import new_id
from myrmica.metrics import Metrics
from myrmica.queen.ant_process import EmbeddedAntProcess
from myrmica.queen.ants import AntRegistry
from myrmica.queen.context import LEASE_SECONDS, RunContext
from myrmica.queen.cron import CronKeeper
from myrmica.queen.logs import LogSink
from myrmica.queen.operations import Operations
from myrmica.queen.runs import RunFactory
from myrmica.queen.scheduler import Scheduler
from myrmica.queen.supervisor import JobSupervisor
from myrmica.queen.tasklets import Tasklets
from myrmica.store.outage import OutageLog
from myrmica.store.store import Store

log = logging.getLogger("myrmica.queen")

HOUSEKEEPING_SECONDS = 2.0
# After a database outage every lease has lapsed, live queens' too: each waits this long before it
# adopts another queen's requests, so that the live ones renew theirs first.
ADOPTION_GRACE_SECONDS = 3 * HOUSEKEEPING_SECONDS
CRON_SWEEP_SECONDS = 60.0
LEADER_LEASE = "leader"
LEADER_LEASE_SECONDS = 10.0
RECORD_WAIT_SECONDS = 30.0
RESERVE_RETRY_FIRST = 0.005
RESERVE_RETRY_MAX = 0.5


class Engine:
    def __init__(self, settings: Settings, broker: Broker | None = None) -> None:
        self.settings = settings
        self.queen_id = f"queen-{socket.gethostname()}-{os.getpid()}-{new_id()[-6:]}"
        self.broker: Broker = broker or self._broker_for(settings)
        self.distributed = not isinstance(self.broker, MemoryBroker)
        self.rng = random.Random()
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self.supervisors: dict[str, JobSupervisor] = {}
        self._results: dict[str, asyncio.Future[TaskResult]] = {}
        # Tasks waiting for a slot, oldest first: (method, tags, woken when a fitting slot frees).
        self._slot_waiters: deque[tuple[str, frozenset[str], asyncio.Future[None]]] = deque()
        self._background: list[asyncio.Task[None]] = []
        self.embedded_ant: Ant | EmbeddedAntProcess | None = None
        self.fan_out_running: dict[str, set[tuple[str, str]]] = {}  # request → (task execution, ant)
        self._end_watchers: dict[str, set[asyncio.Event]] = {}
        self._spawned: set[asyncio.Task[None]] = set()
        self._cron_swept = 0.0
        self._specs: dict[str, JobDefinitionSpec] = {}
        self._orphan_results: dict[str, TaskResult] = {}
        # Results handed to a supervisor and not yet stored, by "task execution id:attempt": when the
        # database went away before they were, the resumed supervisor takes them from here.
        self._unrecorded: dict[str, TaskResult] = {}
        self._interrupted: set[str] = set()  # requests whose supervisor stopped when the database went away
        self._recorded: dict[str, asyncio.Event] = {}
        self._adopt_others_after = 0.0  # loop time; see ADOPTION_GRACE_SECONDS
        self._adopted_queens: set[str] = set()
        self._ends_to_announce: list[str] = []
        self.leader = False

    def _broker_for(self, settings: Settings) -> Broker:
        if not settings.broker_url:
            return MemoryBroker()
        from myrmica.broker.redis import RedisBroker

        return RedisBroker(settings.broker_url, queen_id=self.queen_id)

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.store: Store = ctx.store
        self.metrics: Metrics = ctx.metrics
        self.ants = AntRegistry(self.store.ants)
        self.logs = LogSink(self.store.logs, max_bytes_per_task=self.settings.max_log_bytes_per_task)
        self.tasklets = Tasklets(self)
        self.scheduler = Scheduler(self)
        self.runs = RunFactory(self)
        self.operations = Operations(self)
        self.cron = CronKeeper(self)
        for hooks in ("definition_saved_hooks", "definition_changed_hooks"):
            ctx.services.setdefault(hooks, []).append(self._definition_changed)
        self.broker.subscribe(on_result=self._on_result, on_log=self.logs.add,
                              on_registration=self.ants.on_registration, logs_stored=self.logs.stored)
        self.broker.on_event(self._on_event)
        if self.distributed:
            self.logs.on_flushed = lambda ids: self._spawn(self.publish({"type": "logs", "request_ids": ids}))
        await self.broker.start()
        self.logs.start()
        ctx.services["engine"] = self
        ctx.services.setdefault("health_checks", {})["broker"] = (
            "redis" if self.distributed else "in-process", self.broker.ping)
        if self.settings.embedded_ant:
            await self._start_embedded_ant()
        await self.recover()
        await self.cron.sweep()
        self._background = [asyncio.create_task(self.scheduler.run(), name="scheduler"),
                            asyncio.create_task(self._housekeeping(), name="housekeeping")]

    async def _start_embedded_ant(self) -> None:
        """In-process memory broker: the ant gets its own process (and core); with Redis it runs here."""
        settings = self.settings
        ant_id = settings.ant_id or (f"embedded-{socket.gethostname()}-{settings.port}" if self.distributed
                                     else "embedded-ant")
        work_root = settings.data_dir / "work"
        if not self.distributed and settings.embedded_ant_process:
            process = EmbeddedAntProcess(self.broker, {
                "ant_id": ant_id, "methods": list(settings.ant_methods), "tags": list(settings.ant_tags),
                "capacity": settings.ant_capacity, "work_root": str(work_root),
                "max_log_bytes": settings.max_log_bytes_per_task, "max_timeout_secs": settings.max_task_timeout_secs,
                "keep_work_seconds": settings.ant_keep_work_hours * 3600, "log_level": settings.log_level,
                "docker": {"host": settings.docker_host, "image_map": list(settings.docker_image_map),
                           "bind_allowed": list(settings.docker_bind_allowed)}})
            await process.start()
            self.embedded_ant = process
            return
        executors = build_executors(settings.ant_methods, work_root=work_root, ant_id=f"{self.queen_id}-ant",
                                    max_log_bytes=settings.max_log_bytes_per_task,
                                    max_timeout_secs=settings.max_task_timeout_secs,
                                    docker=docker_options(settings))
        ant = self.embedded_ant = Ant(ant_id, self.broker, executors, capacity=settings.ant_capacity,
                                      tags=settings.ant_tags, embedded=True, work_root=work_root,
                                      keep_work_seconds=settings.ant_keep_work_hours * 3600)
        await ant.start()
        await self.ants.on_registration(ant.registration())  # known at once, not at next poll

    async def stop(self) -> None:
        for task in self._background:
            task.cancel()
        for supervisor in list(self.supervisors.values()):
            supervisor.stop_reason = "shutdown"
            if supervisor.task is not None:
                supervisor.task.cancel()
        if self.supervisors:
            await asyncio.wait([s.task for s in self.supervisors.values() if s.task is not None], timeout=10)
        if isinstance(self.embedded_ant, Ant):
            await self.embedded_ant.stop(drain_seconds=0)
        elif self.embedded_ant is not None:
            await self.embedded_ant.stop()
        await self.logs.stop()
        await self.broker.stop()

    # --- supervisors ----------------------------------------------------------------------------

    def launch(self, run: RunContext) -> None:
        supervisor = JobSupervisor(self, run)
        self.supervisors[run.request_id] = supervisor
        supervisor.task = asyncio.create_task(supervisor.supervise(), name=f"job-{run.request_id}")

    def supervisor_done(self, supervisor: JobSupervisor) -> None:
        if self.supervisors.get(supervisor.run.request_id) is supervisor:
            del self.supervisors[supervisor.run.request_id]

    def request_ended(self, run: RunContext, state: str) -> None:
        self.metrics.requests_finished.labels(state).inc()
        self.logs.notify(run.request_id)
        self.ended(run.request_id)
        if self.distributed:
            self._announce_end(run.request_id)
        self.scheduler.wake()
        if run.request.get("cron_triggered"):
            self._spawn(self._next_cron(run.request["job_type"], run.definition))

    def _announce_end(self, request_id: str) -> None:
        """Tell the other queens (their log followers and waiters); the ends of one loop turn go together."""
        self._ends_to_announce.append(request_id)
        if len(self._ends_to_announce) == 1:
            self._spawn(self._announce_ends())

    async def _announce_ends(self) -> None:
        await asyncio.sleep(0)
        ids, self._ends_to_announce = self._ends_to_announce, []
        await self.publish({"type": "ended", "request_ids": ids})

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    async def _next_cron(self, job_type: str, definition: dict[str, Any]) -> None:
        try:
            current = await self.store.definitions.get(self.ctx.admin, definition["id"])
            if not current["active"]:
                current = await self.store.definitions.active_of(definition["owner_key"], job_type)
            await self.cron.ensure_next(current)
        except Exception:
            log.exception("could not create the next cron request of %s", job_type)

    def ended(self, request_id: str) -> None:
        for event in self._end_watchers.get(request_id, ()):
            event.set()

    def watch_ends(self, request_ids: list[str]) -> asyncio.Event:
        event = asyncio.Event()
        for request_id in request_ids:
            self._end_watchers.setdefault(request_id, set()).add(event)
        return event

    def unwatch_ends(self, request_ids: list[str], event: asyncio.Event) -> None:
        for request_id in request_ids:
            watchers = self._end_watchers.get(request_id)
            if watchers is not None:
                watchers.discard(event)
                if not watchers:
                    del self._end_watchers[request_id]

    async def _definition_changed(self, definition: dict[str, Any]) -> None:
        self.operations.forget_definitions()
        await self.cron.definition_changed(definition)

    async def cancel_fan_out(self, request_id: str) -> None:
        for te_id, ant_id in list(self.fan_out_running.get(request_id, ())):
            await self.broker.control(ant_id, {"action": "CANCEL", "task_execution_id": te_id})

    async def request_cancelled_elsewhere(self, request: dict[str, Any]) -> None:
        """A request cancelled while no supervisor of ours runs it (waiting, paused, or on approval)."""
        if request.get("job_execution_id"):
            for row in await self.store.requests.task_executions([request["job_execution_id"]]):
                if row["task_state"] in ("EXECUTING", "READY", "MANUAL_APPROVAL_REQUIRED", "PAUSED"):
                    await self.store.requests.update_task_execution(
                        row["id"], [row["task_state"]], task_state="CANCELLED", error_code="ERR_JOB_CANCELLED",
                        ended_at=utcnow())
        self.ended(request["id"])
        await self.publish({"type": "cancel", "request_id": request["id"]})
        await self.publish({"type": "ended", "request_id": request["id"]})

    async def pause_elsewhere(self, request: dict[str, Any]) -> None:
        """The supervisor runs on another queen: ask it (every queen hears the event)."""
        await self.publish({"type": "pause", "request_id": request["id"]})

    def request_suspended(self, run: RunContext, state: str) -> None:
        self.logs.notify(run.request_id)
        self.scheduler.wake()

    # --- dispatch -------------------------------------------------------------------------------

    def capacity_freed(self, ant_id: str = "") -> None:
        """A slot freed on ``ant_id``: the oldest task waiting for one that fits it tries again (only
        that one: waking every waiter would send them all to the broker for one slot)."""
        ant = self.ants.get(ant_id) if ant_id else None
        for index, (method, tags, waiter) in enumerate(self._slot_waiters):
            if not waiter.done() and (ant is None or ant.fits(method, tags)):
                waiter.set_result(None)
                del self._slot_waiters[index]
                break
        self.scheduler.wake()

    async def reserve_ant(self, method: str, tags: frozenset[str], key: str, wait_seconds: float) -> str | None:
        """The least-loaded live ant that fits, waiting for capacity up to ``wait_seconds``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        # Our own releases wake us; another queen's are not announced, so with a broker we look again
        # soon and then less often.
        pause = RESERVE_RETRY_FIRST if self.distributed else RESERVE_RETRY_MAX
        while True:
            # The broker's reservation is atomic across queens: an ant is never over-committed.
            ant_id = await self.broker.reserve([(ant.ant_id, ant.capacity)
                                                for ant in self.ants.candidates(method, tags)], key)
            if ant_id is not None:
                self.ants.hold(ant_id, key)
                return ant_id
            if not self.ants.can_serve(method, tags) or loop.time() >= deadline:
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
        if self.distributed:
            live = [ant.ant_id for ant in self.ants.live()]
            self.ants.counted(await self.broker.reserved_counts(live))

    async def release_ant(self, ant_id: str, key: str, *, answered: bool = False) -> None:
        """Free the reservation; ``answered``: the ant replied, and with some brokers that freed it already."""
        self.ants.release(ant_id, key)
        try:
            if not (answered and self.broker.ant_releases):
                await self.broker.release(ant_id, key)
        finally:
            self.capacity_freed(ant_id)

    async def dispatch(self, ant_id: str, request: TaskRequest, wait: float) -> TaskResult | None:
        key = f"{request.task_execution_id}:{request.attempt}"
        future: asyncio.Future[TaskResult] = asyncio.get_running_loop().create_future()
        self._results[key] = future
        cancel = {"action": "CANCEL", "task_execution_id": request.task_execution_id}
        try:
            await self.broker.dispatch(ant_id, request)
            return await asyncio.wait_for(future, timeout=wait)
        except TimeoutError:
            await self.broker.control(ant_id, cancel)
            return None
        except asyncio.CancelledError:
            # The job was cancelled, paused or timed out: the ant must stop the task too.
            await asyncio.shield(self.broker.control(ant_id, cancel))
            raise
        finally:
            self._results.pop(key, None)

    def recorded(self, task_execution_id: str, attempt: int) -> None:
        """The supervisor stored the outcome of this attempt: its reply may be acknowledged."""
        event = self._recorded.get(f"{task_execution_id}:{attempt}")
        if event is not None:
            event.set()

    def orphan_result(self, key: str) -> TaskResult | None:
        return self._orphan_results.pop(key, None) or self._unrecorded.get(key)

    async def _until_recorded(self, key: str, result: TaskResult, recorded: asyncio.Event) -> None:
        """Wait until the result is stored; while the database is away, for as long as it takes."""
        try:
            while True:
                try:
                    await asyncio.wait_for(recorded.wait(), timeout=RECORD_WAIT_SECONDS)
                    return
                except TimeoutError:
                    if result.request_id not in self._interrupted:
                        log.warning("result of %s not recorded within %.0fs; acknowledging anyway", key,
                                    RECORD_WAIT_SECONDS)
                        self._orphan_results[key] = result
                        return
        finally:
            self._recorded.pop(key, None)
            self._unrecorded.pop(key, None)

    def interrupt(self, request_id: str, exc: BaseException) -> None:
        """A supervisor stopped because the database went away: resume its request when it answers."""
        log.warning("request %s paused its walk: the database is unreachable (%s); it resumes when the database "
                    "answers", request_id, type(exc).__name__)
        self._interrupted.add(request_id)

    async def attach(self, ant_id: str, key: str, wait: float) -> TaskResult | None:
        """Wait for the result of a task dispatched by a queen that died (this one adopted its request)."""
        future: asyncio.Future[TaskResult] = asyncio.get_running_loop().create_future()
        early = self._orphan_results.pop(key, None)
        if early is not None:
            return early
        self._results[key] = future
        self.ants.hold(ant_id, key)
        try:
            return await asyncio.wait_for(future, timeout=wait)
        except TimeoutError:
            return None
        finally:
            self._results.pop(key, None)

    async def _on_result(self, result: TaskResult) -> None:
        key = f"{result.task_execution_id}:{result.attempt}"
        future = self._results.get(key)
        if future is not None and future.done():
            future = None
        if future is not None and not self.distributed:
            future.set_result(result)
            return
        if future is not None or (self.distributed and result.request_id in self._interrupted):
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
        while len(self._orphan_results) > 10_000:
            self._orphan_results.pop(next(iter(self._orphan_results)))
        log.info("a result for task execution %s attempt %d has no waiting supervisor (late or adopted)",
                 result.task_execution_id, result.attempt)

    # --- housekeeping ---------------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        outage = OutageLog(log, "housekeeping")
        while True:
            await asyncio.sleep(HOUSEKEEPING_SECONDS)
            try:
                await self.housekeeping_pass()
                outage.ok()
            except Exception as exc:
                outage.failed(exc)
                if outage.down:
                    self._adopt_others_after = asyncio.get_running_loop().time() + ADOPTION_GRACE_SECONDS

    async def housekeeping_pass(self) -> None:
        await self._expire_ants()
        self.metrics.ants_live.set(len(self.ants.live()))
        lease_until = utcnow() + timedelta(seconds=LEASE_SECONDS)
        await self.store.requests.renew_leases(self.queen_id, [*self.supervisors, *self._interrupted], lease_until)
        was_leader = self.leader
        self.leader = await self.store.leases.acquire(LEADER_LEASE, self.queen_id, LEADER_LEASE_SECONDS)
        if self.leader and not was_leader:
            log.info("%s leads cron and housekeeping", self.queen_id)
        await self.recover()
        loop_time = asyncio.get_running_loop().time()
        if self.leader and loop_time - self._cron_swept >= CRON_SWEEP_SECONDS:
            self._cron_swept = loop_time
            await self.cron.sweep()

    async def _expire_ants(self) -> None:
        for ant_id, keys in self.ants.expire():
            for key in keys:
                te_id, _, attempt = key.partition(":")
                future = self._results.get(key)
                if future is not None and not future.done():
                    future.set_result(TaskResult("", te_id, int(attempt or 0), "FAILED", exit_code="-1",
                                                 error_code="ERR_ANT_LOST",
                                                 error_message=f"ant {ant_id} stopped answering"))
            await self.broker.forget_ant(ant_id)

    async def recover(self) -> None:
        """Adopt requests left READY/EXECUTING by a queen that is gone (or by this one before a crash).

        One SQLite file has one server, so at start every such request is this server's to resume;
        on PostgreSQL a request is adopted once its queen stopped renewing its lease.
        """
        now = utcnow()
        alive = [self.queen_id] if self.store.backend == "sqlite" else None
        mine = set(self._interrupted)
        others = asyncio.get_running_loop().time() >= self._adopt_others_after
        rows = await self.store.requests.orphans(owner_alive=alive, now=now, mine=mine, owner=self.queen_id,
                                                 others=others)
        self._interrupted -= mine - {row["id"] for row in rows}  # ended, or another queen's now
        for row in rows:
            self._interrupted.discard(row["id"])
            if row["id"] in self.supervisors:
                continue
            lease_until = now + timedelta(seconds=LEASE_SECONDS)
            old_owner = row.get("lease_owner")
            if await self.store.requests.adopt(row["id"], old_owner, self.queen_id, lease_until):
                log.warning("resuming request %s (%s) left %s by %s", row["id"], row["job_type"], row["job_state"],
                            old_owner or "no queen")
                if old_owner and old_owner != self.queen_id and old_owner not in self._adopted_queens:
                    self._adopted_queens.add(old_owner)
                    await self.broker.adopt_replies(old_owner)
                await self.scheduler.resume_orphan({**row, "lease_owner": self.queen_id})

    # --- events between queens ------------------------------------------------------------------

    async def publish(self, event: dict[str, Any]) -> None:
        try:
            await self.broker.publish_event(event)
        except Exception:
            log.exception("could not publish %s", event.get("type"))

    async def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        request_id = str(event.get("request_id") or "")
        if kind == "logs":
            for rid in event.get("request_ids") or []:
                self.logs.notify(str(rid))
        elif kind == "ended":
            for rid in event.get("request_ids") or [request_id]:
                self.ended(str(rid))
                self.logs.notify(str(rid))
        elif kind in ("cancel", "pause"):
            supervisor = self.supervisors.get(request_id)
            if supervisor is not None and supervisor.task is not None and supervisor.stop_reason is None:
                supervisor.stop_reason = kind
                supervisor.task.cancel()

    # --- helpers for templates ------------------------------------------------------------------

    def template_functions(self, run: RunContext) -> dict[str, Callable[..., Any]]:
        def count_by_type_and_state(job_type: str, states: str = "", *more: str) -> int:
            return int(run.counts.get(f"{job_type}|{states}", 0))

        return {"CountByJobTypeAndState": count_by_type_and_state}

    def spec_of(self, definition: dict[str, Any]) -> JobDefinitionSpec:
        """The parsed spec of a definition version; versions never change, so it is cached by id."""
        spec = self._specs.get(definition["id"])
        if spec is None:
            if len(self._specs) > 2000:
                self._specs.clear()
            spec = self._specs[definition["id"]] = JobDefinitionSpec.model_validate(definition["spec"])
        return spec
