"""The scheduler: wakes on submit, on a finished request and when a delayed request comes due.

Each pass takes the due PENDING/PAUSED requests by priority then age, checks what decides whether
one may start now (definition enabled, concurrency, an ant for every method and tag), claims the
startable ones with a compare-and-set, and launches a supervisor for each claim it won.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from myrmica.clock import utcnow
from myrmica.config import Settings
from myrmica.domain.composite import leaf_tasks
from myrmica.domain.graph import first_task
from myrmica.domain.methods import QUEEN_METHODS
from myrmica.domain.principal import Principal
from myrmica.domain.states import ErrorCode
from myrmica.domain.walk import is_filtered
from myrmica.metrics import Metrics
from myrmica.queen.ants import AntRegistry
from myrmica.queen.context import LEASE_SECONDS, RunContext
from myrmica.queen.logs import stamp
from myrmica.queen.ports import Launcher, LogWriter, SharedLoad, SpecSource
from myrmica.queen.render import RenderError, render_job_field
from myrmica.queen.runs import RunFactory
from myrmica.store.outage import OutageLog
from myrmica.store.store import Store

if TYPE_CHECKING:
    from myrmica.domain.definition_model import JobDefinitionSpec

log = logging.getLogger("myrmica.queen.scheduler")

BATCH = 500
MIN_BATCH = 20
BUSY_PAUSE_SECONDS = 0.002
STARVED_GATHER_SECONDS = 0.01
STARVED_GATHER_DISTRIBUTED_SECONDS = 0.025
SAFETY_POLL_SECONDS = 1.0
STARVED_POLL_SECONDS = 0.05
NOT_READY_MAX_WAIT = 30.0
LIMITS_CACHE_SECONDS = 1.0


def first_ant_task(spec: JobDefinitionSpec) -> tuple[str, frozenset[str]] | None:
    """The (method, tags) of the first task when an ant runs it."""
    task = spec.task(first_task(spec))
    if task is None or task.execution_method in QUEEN_METHODS or task.fan_out is not None or task.parallel \
            or task.child_job is not None:
        return None
    return task.execution_method.value, frozenset(task.tags)


class Doorbell:
    """What wakes the scheduler: a submit, a finished request, a freed slot (anyone may ring)."""

    def __init__(self, ants: AntRegistry) -> None:
        self._ants = ants
        self.event = asyncio.Event()
        self.starved = False  # the last pass left requests waiting for ant capacity

    def wake(self) -> None:
        self.event.set()

    def wake_for_new(self, spec: JobDefinitionSpec) -> None:
        """A request was submitted. While every ant is full and its first task needs one, a pass
        could not start it: the next freed slot wakes the scheduler anyway (``capacity_freed``)."""
        if self.starved and first_ant_task(spec) is not None and self._ants.spare_capacity() == 0:
            return
        self.event.set()


class Scheduler:
    def __init__(self, *, store: Store, settings: Settings, ants: AntRegistry, doorbell: Doorbell,
                 load: SharedLoad, runs: RunFactory, launcher: Launcher, specs: SpecSource, logs: LogWriter,
                 metrics: Metrics, admin: Principal, queen_id: str, distributed: bool) -> None:
        self._store = store
        self._settings = settings
        self._ants = ants
        self._doorbell = doorbell
        self._wake = doorbell.event
        self._load = load
        self._runs = runs
        self._launcher = launcher
        self._specs = specs
        self._logs = logs
        self._metrics = metrics
        self._admin = admin
        self._queen_id = queen_id
        self._distributed = distributed
        self._definitions: dict[str, tuple[dict[str, Any], JobDefinitionSpec]] = {}
        self._limits: dict[str, tuple[int, float]] = {}  # "user:ID" / "org:ID" → (limit, valid until)

    def wake(self) -> None:
        self._doorbell.wake()


    async def run(self) -> None:
        outage = OutageLog(log, "scheduling")
        while True:
            self._wake.clear()
            try:
                more = await self.tick()
                idle = 0.0 if more or self._wake.is_set() else await self._idle_wait()
                outage.ok()
            except Exception as exc:
                outage.failed(exc)
                more, idle = False, SAFETY_POLL_SECONDS
                self._wake.clear()  # a wake-up cannot help before the next poll
            if more or self._wake.is_set():
                # Busy: let a few more submits and finished tasks gather, so one pass serves them all —
                # longer while due requests wait for ant slots: each pass then fills more of them.
                await asyncio.sleep(self._gather_seconds())
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=idle)

    def _gather_seconds(self) -> float:
        if not self._doorbell.starved:
            return BUSY_PAUSE_SECONDS
        # With many queens a pass costs several round trips to PostgreSQL and Redis: fewer, fuller ones.
        return STARVED_GATHER_DISTRIBUTED_SECONDS if self._distributed else STARVED_GATHER_SECONDS

    async def _idle_wait(self) -> float:
        if self._doorbell.starved:  # due requests wait for ant capacity: a slot we free wakes us; another queen's
            return STARVED_POLL_SECONDS if self._distributed else SAFETY_POLL_SECONDS
        next_at = await self._store.requests.next_due_at()
        if next_at is None:
            return SAFETY_POLL_SECONDS
        return max(0.0, min(SAFETY_POLL_SECONDS, (next_at - utcnow()).total_seconds()))

    async def definition(self, definition_id: str) -> tuple[dict[str, Any], JobDefinitionSpec]:
        cached = self._definitions.get(definition_id)
        if cached is None:
            row = await self._store.definitions.get(self._admin, definition_id)
            cached = (row, self._specs.spec_of(row))
            if len(self._definitions) > 1000:
                self._definitions.clear()
            self._definitions[definition_id] = cached
        return cached

    async def tick(self) -> bool:
        """One pass; True when it filled a whole batch (so there may be more due right now)."""
        store = self._store
        now = utcnow()
        await self._load.count_shared_load()
        spare = self._ants.spare_capacity()
        due = await store.requests.due(now, max(MIN_BATCH, min(BATCH, spare)))
        self._doorbell.starved = False
        if not due:
            return False
        free: dict[tuple[str, frozenset[str]], int] = {}
        active = await store.requests.active_counts()
        by_user: dict[str, int] | None = None
        by_org: dict[str, int] | None = None
        by_group: dict[str, int] | None = None
        startable: list[tuple[dict[str, Any], dict[str, Any], JobDefinitionSpec]] = []
        for request in due:
            if await self._expired(request, now):
                continue
            try:
                definition, spec = await self.definition(request["job_definition_id"])
            except Exception as exc:
                await store.requests.finish(request["id"], None, [request["job_state"]], "FAILED",
                                            request_values={"error_code": ErrorCode.ERR_VALIDATION,
                                                            "error_message": f"definition unavailable: {exc}"})
                continue
            current = await self._active_definition(definition)
            if current is not None and current["disabled"]:
                await self._not_ready(request, f"job type {request['job_type']} is disabled")
                continue
            # Spec §1.7 step 3: skip_if is decided before concurrency and ants, so a filtered request
            # never waits for (or reserves) an ant.
            if self._has_skip_if(definition, spec) and await self._filtered(request, definition, spec):
                continue
            limit = (current or definition)["max_concurrency"]
            key = (request["owner_key"], request["job_type"])
            if request["job_state"] == "PENDING" and active.get(key, 0) >= limit:
                await self._not_ready(request, f"{active.get(key, 0)} of {limit} allowed requests of "
                                               f"{request['job_type']} are running")
                continue
            group = request.get("job_group") or ""
            if group and spec.group_concurrency > 0:
                by_group = by_group if by_group is not None else await store.requests.active_counts_by("job_group")
                if by_group.get(group, 0) >= spec.group_concurrency:
                    await self._not_ready(request, f"{spec.group_concurrency} requests of group {group} are running")
                    continue
            if request.get("user_id"):
                user_limit = await self._limit("user", request["user_id"])
                if user_limit > 0:
                    by_user = by_user if by_user is not None else await store.requests.active_counts_by("user_id")
                    if by_user.get(request["user_id"], 0) >= user_limit:
                        await self._not_ready(request, f"the user's {user_limit} concurrent requests are running")
                        continue
            if request.get("organization_id"):
                org_limit = await self._limit("org", request["organization_id"])
                if org_limit > 0:
                    by_org = by_org if by_org is not None else \
                        await store.requests.active_counts_by("organization_id")
                    if by_org.get(request["organization_id"], 0) >= org_limit:
                        await self._not_ready(request, f"the organization's {org_limit} concurrent requests "
                                                       f"are running")
                        continue
            needs = [(t.execution_method.value, frozenset(t.tags)) for t in leaf_tasks(spec.tasks)
                     if t.execution_method not in QUEEN_METHODS]
            missing = self._ants.missing(needs)
            if missing:
                await self._not_ready(request, missing)
                continue
            first = first_ant_task(spec)
            if first is not None:
                # Start only what the ants can take now; the rest waits, untouched, until capacity frees.
                if first not in free:
                    free[first] = self._ants.free_for(*first)
                if free[first] <= 0:
                    self._doorbell.starved = True
                    continue
                free[first] -= 1
            active[key] = active.get(key, 0) + 1
            if by_group is not None and group:
                by_group[group] = by_group.get(group, 0) + 1
            if by_user is not None and request.get("user_id"):
                by_user[request["user_id"]] = by_user.get(request["user_id"], 0) + 1
            if by_org is not None and request.get("organization_id"):
                by_org[request["organization_id"]] = by_org.get(request["organization_id"], 0) + 1
            startable.append((request, definition, spec))
        if startable:
            lease_until = utcnow() + timedelta(seconds=LEASE_SECONDS)
            fresh: list[tuple[dict[str, Any], dict[str, Any], JobDefinitionSpec]] = []
            others: list[tuple[dict[str, Any], dict[str, Any], JobDefinitionSpec]] = []
            for item in startable:
                (fresh if self._fresh(*item) else others).append(item)
            if fresh:
                await self._start_fresh(fresh, lease_until)
            won = set(await store.requests.claim([(r["id"], r["job_state"]) for r, _, _ in others],
                                                 self._queen_id, lease_until)) if others else set()
            for request, definition, spec in others:
                if request["id"] in won:
                    await self._start(request, definition, spec, filter_decided=True)
        return len(due) >= BATCH

    async def _expired(self, request: dict[str, Any], now: datetime) -> bool:
        """A first run picked up after its ``expires_at`` fails ERR_EXPIRED, not run (Fastlane's expiration)."""
        expires = request.get("expires_at")
        if expires is None or request["job_state"] != "PENDING" or request.get("last_job_execution_id"):
            return False
        if (expires if expires.tzinfo else expires.replace(tzinfo=UTC)) >= now:
            return False
        await self._store.requests.finish(
            request["id"], None, ["PENDING"], "FAILED",
            request_values={"error_code": ErrorCode.ERR_EXPIRED,
                            "error_message": f"expired: due before {stamp(expires)}, picked up at {stamp(now)}"})
        return True

    @staticmethod
    def _fresh(request: dict[str, Any], definition: dict[str, Any], spec: JobDefinitionSpec) -> bool:
        """A first run with nothing to resume or reuse (its skip_if is decided): it can start in the pass's
        one transaction."""
        return (request["job_state"] == "PENDING" and not request.get("job_execution_id")
                and not request.get("last_job_execution_id"))

    @staticmethod
    def _has_skip_if(definition: dict[str, Any], spec: JobDefinitionSpec) -> bool:
        return bool(spec.skip_if) or (spec.templates == "go" and "skip_if" in definition["raw_source"])

    async def _filtered(self, request: dict[str, Any], definition: dict[str, Any], spec: JobDefinitionSpec) -> bool:
        """Whether the request's ``skip_if`` renders true; if so it ends FAILED ERR_FILTERED_JOB (spec §2.1)."""
        try:
            run = await self._runs.inputs(request, definition, spec)
        except Exception:
            log.exception("could not read the inputs of request %s", request["id"])
            return False  # starting it fails it the same way, with the reason
        try:
            text = spec.skip_if or render_job_field(definition["raw_source"], "skip_if",
                                                    {**spec.job_variables, **run.configs, **run.params},
                                                    self._specs.template_functions(run))
        except RenderError as exc:
            text = ""
            log.warning("skip_if of %s failed to render: %s", request["id"], run.hide_secrets(str(exc)))
        if not is_filtered(text):
            return False
        await self._store.requests.finish(request["id"], request.get("job_execution_id"), [request["job_state"]],
                                          "FAILED", request_values={"error_code": ErrorCode.ERR_FILTERED_JOB,
                                                                    "error_message": "filtered by skip_if"})
        return True

    async def _start_fresh(self, items: list[tuple[dict[str, Any], dict[str, Any], JobDefinitionSpec]],
                           lease_until: datetime) -> None:
        """PENDING → EXECUTING with a new execution, for every fresh request of this pass at once."""
        runs = []
        for request, definition, spec in items:
            try:
                runs.append(await self._runs.prepare(request, definition, spec))
            except Exception as exc:
                log.exception("could not prepare request %s", request["id"])
                await self._store.requests.finish(request["id"], None, ["PENDING"], "FAILED",
                                                   request_values={"error_code": ErrorCode.ERR_JOB_EXECUTE,
                                                                   "error_message": f"could not start: {exc}"})
        won = set(await self._store.requests.start_fresh(
            [(run.request_id, run.new_execution) for run in runs if run.new_execution is not None],
            self._queen_id, lease_until))
        for run in runs:
            if run.request_id in won:
                self._launch(run)

    async def _active_definition(self, definition: dict[str, Any]) -> dict[str, Any] | None:
        if definition["active"]:
            return definition
        try:
            return await self._store.definitions.active_of(definition["owner_key"], definition["job_type"])
        except Exception:
            return None

    async def _limit(self, kind: str, ident: str) -> int:
        """A user's or organization's concurrency limit, read at most once a second (like definitions)."""
        key = f"{kind}:{ident}"
        now = time.monotonic()
        cached = self._limits.get(key)
        if cached is None or cached[1] <= now:
            accounts = self._store.accounts
            limit = int((await accounts.user(ident))["max_concurrency"]) if kind == "user" else \
                await accounts.org_concurrency(ident)
            if len(self._limits) > 10_000:
                self._limits.clear()
            cached = self._limits[key] = (limit, now + LIMITS_CACHE_SECONDS)
        return cached[0]

    async def _not_ready(self, request: dict[str, Any], reason: str) -> None:
        attempts = int(request["schedule_attempts"]) + 1
        if attempts > self._settings.max_schedule_attempts:
            await self._store.requests.finish(
                request["id"], request.get("job_execution_id"), [request["job_state"]], "FAILED",
                request_values={"error_code": ErrorCode.ERR_ANT_RESOURCES, "schedule_attempts": attempts,
                                "error_message": f"not schedulable after {attempts - 1} attempts: {reason}"})
            return
        priority = int(request["job_priority"])
        if attempts % 5 == 0 and priority > 5:
            priority -= 1
        delay = min(NOT_READY_MAX_WAIT, attempts * 0.5)
        await self._store.requests.defer(request["id"], request["job_state"], reason=reason,
                                               scheduled_at=utcnow() + timedelta(seconds=delay), attempts=attempts,
                                               priority=priority)

    # --- starting -------------------------------------------------------------------------------

    async def _start(self, request: dict[str, Any], definition: dict[str, Any], spec: JobDefinitionSpec,
                     *, filter_decided: bool = False) -> None:
        if not filter_decided and self._has_skip_if(definition, spec) and \
                await self._filtered(request, definition, spec):
            return
        try:
            run = await self._runs.prepare(request, definition, spec)
        except Exception as exc:
            log.exception("could not prepare request %s", request["id"])
            await self._store.requests.finish(request["id"], None, ["READY"], "FAILED",
                                               request_values={"error_code": ErrorCode.ERR_JOB_EXECUTE,
                                                               "error_message": f"could not start: {exc}"})
            return
        if not await self._runs.begin(run):
            return
        if request["job_state"] == "PAUSED":  # the state it was claimed from
            self._logs.marker(request["id"], f"resumed at {stamp(utcnow())}")
        self._launch(run)

    def _launch(self, run: RunContext) -> None:
        waited = (utcnow() - run.request["created_at"]).total_seconds()
        self._metrics.submit_to_start.observe(max(0.0, waited))
        self._launcher.launch(run)

    async def resume_orphan(self, request: dict[str, Any]) -> None:
        definition, spec = await self.definition(request["job_definition_id"])
        if request["job_state"] == "EXECUTING":
            ok = await self._store.requests.transition(request["id"], ["EXECUTING"], job_state="READY")
            if not ok:
                return
            request = {**request, "job_state": "READY"}
        await self._start(request, definition, spec)

