"""The job service: what every dialect does with jobs, in core terms.

A dialect decodes its body into a core call here and turns the core records it gets back into its
own shapes; it never reaches the queen's parts or the store. Every call takes the principal and
sees only what it may: another tenant's request or definition is "not found" (``NotFoundError``),
the same answer as for an id that does not exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from myrmica.domain.definition_model import JobDefinitionSpec
from myrmica.domain.definitions import ParsedDefinition
from myrmica.domain.dot import definition_dot
from myrmica.domain.errors import ConflictError, NotFoundError
from myrmica.domain.principal import Principal
from myrmica.domain.records import (
    ApprovalRecord,
    DefinitionRecord,
    ExecutionRecord,
    FollowEvent,
    JobStatsRecord,
    LogLine,
    LogPage,
    NewRequest,
    Page,
    PageRequest,
    Quiet,
    RequestEnded,
    RequestFilter,
    RequestRecord,
    StateCount,
    Submitted,
    TaskRecord,
    WaitRecord,
)
from myrmica.domain.webhooks import DeliveryOutcome, WebhookCall
from myrmica.service.definitions import Definitions
from myrmica.service.ports import (
    Audit,
    Capacity,
    EventListener,
    EventSource,
    LogAppender,
    LogFeed,
    LogReader,
    RequestControl,
    RequestDeleter,
    RequestReader,
    Sealer,
    Submitter,
    WebhookOutbox,
)

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")
MAX_LOG_PAGE = 200_000
TEXT_PAGE = 5000  # lines per page of log_text
QUIET_SECONDS = 15.0
MAX_QUEUE_SCAN = 10_000
MAX_KNOWN = 2000
_STATS_FIELD = {"COMPLETED": "succeeded", "FAILED": "failed", "CANCELLED": "cancelled", "EXECUTING": "executing",
                "READY": "executing", "PENDING": "pending", "PAUSED": "paused",
                "MANUAL_APPROVAL_REQUIRED": "manual_approval"}


class JobService:
    def __init__(self, *, definitions: Definitions, submitter: Submitter, control: RequestControl,
                 requests: RequestReader, logs: LogReader, feed: LogFeed, audit: Audit, capacity: Capacity,
                 events: EventSource, webhooks: WebhookOutbox, deleter: RequestDeleter, sealer: Sealer,
                 admin: Principal, appender: LogAppender | None = None) -> None:
        self.definitions = definitions
        self._appender = appender
        self._submitter = submitter
        self._control = control
        self._requests = requests
        self._logs = logs
        self._feed = feed
        self._audit = audit
        self._capacity = capacity
        self._events = events
        self._webhooks = webhooks
        self._deleter = deleter
        self._sealer = sealer
        self._admin = admin  # reads a request's definition version (a public plugin's may be another tenant's)
        self._known: dict[tuple[str, str, str, str, str], DefinitionRecord] = {}  # submit_job's saved definitions

    # --- submitting -----------------------------------------------------------------------------

    async def submit(self, principal: Principal, new: NewRequest) -> Submitted:
        """A request of an existing definition (by job type and version)."""
        row, created = await self._submitter.submit(principal, new)
        return Submitted(RequestRecord.from_row(row), created)

    async def submit_job(self, principal: Principal, parsed: ParsedDefinition, *, dialect: str,
                         dialect_settings: dict[str, Any] | None = None,
                         request: NewRequest | None = None) -> Submitted:
        """A definition and a request of it in one call (Tork, Fastlane, Strait): the definition is
        upserted with its dialect tag (the same source again reuses the active version), then a
        request of exactly that version is made; ``request``'s job type and version are set here."""
        key = (principal.owner_key, dialect, parsed.spec.job_type, parsed.digest,
               json.dumps(dialect_settings, sort_keys=True, default=str))
        known = self._known.get(key)
        if known is not None:  # saved before with this very text: no upsert (a transaction) needed
            try:
                return replace(await self.submit(principal, self._of(known, request)), definition=known)
            except NotFoundError:  # deleted since
                self._known.pop(key, None)
        saved = await self.definitions.upsert(principal, parsed, dialect=dialect, dialect_settings=dialect_settings)
        definition = saved.definition
        submitted = await self.submit(principal, self._of(definition, request))
        if len(self._known) >= MAX_KNOWN:
            self._known.clear()
        self._known[key] = definition
        return replace(submitted, definition=definition, definition_created=saved.created)

    @staticmethod
    def _of(definition: DefinitionRecord, request: NewRequest | None) -> NewRequest:
        return replace(request or NewRequest(job_type=definition.job_type), job_type=definition.job_type,
                       job_version=str(definition.version))

    # --- reading --------------------------------------------------------------------------------

    async def get(self, principal: Principal, request_id: str) -> RequestRecord:
        """A request with its current (or last) execution and that execution's tasks."""
        row = await self._requests.get(request_id, principal)
        execution_id = row.get("job_execution_id") or row.get("last_job_execution_id")
        execution = await self._requests.execution(execution_id) if execution_id else None
        record = None
        if execution is not None:
            tasks = tuple(TaskRecord.from_row(t) for t in await self._requests.task_executions([execution["id"]]))
            record = ExecutionRecord.from_row(execution, tasks)
        return RequestRecord.from_row(row, record)

    async def get_task(self, principal: Principal, task_execution_id: str) -> TaskRecord:
        """One task execution, when its request is visible to the principal."""
        row = await self._requests.task_execution(task_execution_id)
        if row is not None:
            try:
                await self._requests.get(row["job_request_id"], principal)
            except NotFoundError:
                row = None
        if row is None:
            raise NotFoundError(f"task execution {task_execution_id} not found")
        return TaskRecord.from_row(row)

    async def search(self, principal: Principal, flt: RequestFilter, page: PageRequest) -> Page[RequestRecord]:
        """Newest first."""
        rows, total = await self._requests.search(principal, flt, page=page.page, page_size=page.size)
        return Page(tuple(RequestRecord.from_row(row) for row in rows), total, page.page, page.size)

    async def dead_ids(self, principal: Principal) -> list[str]:
        """Ids of finished requests, most recently changed first."""
        return await self._requests.dead_ids(principal)

    async def state_counts(self, principal: Principal, job_type: str | None = None) -> list[StateCount]:
        return [StateCount(r["job_type"], r["job_state"], r["error_code"], r["counts"], r["start_time"],
                           r["end_time"]) for r in await self._requests.stats(principal, job_type)]

    async def job_stats(self, principal: Principal, job_type: str | None = None) -> list[JobStatsRecord]:
        """Per job type: requests by outcome, the mean, shortest and longest run of the completed and of
        the failed ones, when the first started and the last ended, whether the definition is disabled,
        and the live ants' capacity (Formicary's JobStats)."""
        counts: dict[str, dict[str, int]] = {}
        first: dict[str, datetime] = {}
        last: dict[str, datetime] = {}
        for row in await self._requests.stats(principal, job_type):
            name = row["job_type"]
            entry = counts.setdefault(name, {})
            field = _STATS_FIELD.get(row["job_state"], "pending")
            entry[field] = entry.get(field, 0) + row["counts"]
            _widen(first, name, row["start_time"], min)
            _widen(last, name, row["end_time"] or row["start_time"], max)
        durations: dict[tuple[str, str], list[float]] = {}
        for job_type_name, state, started, ended in await self._requests.durations(principal, job_type):
            if job_type_name in counts and state in ("COMPLETED", "FAILED"):
                durations.setdefault((job_type_name, state), []).append((ended - started).total_seconds())
        capacity = self._capacity.live_capacity()
        out = []
        for name in sorted(counts):
            ok = durations.get((name, "COMPLETED"), [])
            bad = durations.get((name, "FAILED"), [])
            out.append(JobStatsRecord(
                job_type=name, **counts[name],
                succeeded_job_average_secs=statistics.fmean(ok) if ok else 0.0,
                succeeded_job_max_secs=max(ok, default=0.0), succeeded_job_min_secs=min(ok, default=0.0),
                failed_job_average_secs=statistics.fmean(bad) if bad else 0.0,
                failed_job_max_secs=max(bad, default=0.0), failed_job_min_secs=min(bad, default=0.0),
                first_job_at=first.get(name), last_job_at=last.get(name),
                job_disabled=await self._disabled(principal, name), ants_capacity=capacity))
        return out

    async def _disabled(self, principal: Principal, job_type: str) -> bool:
        try:
            return (await self.definitions.get(principal, job_type)).disabled
        except NotFoundError:  # requests of a deleted definition
            return False

    async def definition_stats(self, principal: Principal, id_or_type: str) -> JobStatsRecord:
        definition = await self.definitions.get(principal, id_or_type)
        found = await self.job_stats(principal, definition.job_type)
        return found[0] if found else JobStatsRecord(job_type=definition.job_type, job_disabled=definition.disabled,
                                                     ants_capacity=self._capacity.live_capacity())

    async def wait_time(self, principal: Principal, request_id: str) -> WaitRecord:
        """Where a PENDING request stands among its job key's (its owner's and job type's) waiting
        requests, and a guess of its wait from the completed runs' mean and the live ants' slots."""
        row = await self._requests.get(request_id, principal)
        record = RequestRecord.from_row(row)
        stats = await self.job_stats(principal, record.job_type)
        if record.job_state != "PENDING":
            return WaitRecord(record, 0, 0.0, stats[0] if stats else None)
        # As Formicary: others' requests (a public plugin's other submitters, say) are neither counted nor shown.
        mine = (record.owner_key, record.job_type)
        rank = (record.job_priority, -record.created_at.timestamp())
        ahead = sum(1 for r in await self._requests.due(record.scheduled_at, MAX_QUEUE_SCAN)
                    if (r["owner_key"], r["job_type"]) == mine
                    and (r["job_priority"], -r["created_at"].timestamp()) > rank)
        average = stats[0].succeeded_job_average_secs if stats else 0.0
        capacity = max(1, self._capacity.live_capacity())
        return WaitRecord(record, ahead + 1, average * (ahead + 1) / capacity, stats[0] if stats else None)

    async def request_dot(self, principal: Principal, request_id: str) -> str:
        """The request's task graph in DOT, each task coloured by its state in the current (or last) run."""
        row = await self._requests.get(request_id, principal)
        definition = await self.definitions.get(self._admin, row["job_definition_id"])
        states: dict[str, str] = {}
        execution_id = row.get("job_execution_id") or row.get("last_job_execution_id")
        if execution_id:
            for task in await self._requests.task_executions([execution_id]):
                if task.get("parent_task_id") is None:
                    states[task["task_type"]] = task["task_state"]
        return definition_dot(JobDefinitionSpec.model_validate(definition.spec), states)

    async def wait(self, principal: Principal, request_id: str, *, timeout_seconds: float) -> RequestRecord:
        """The request once it has ended, or as it is when ``timeout_seconds`` have passed (woken by its
        end and by its new lines, here or on another queen — no polling)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_seconds
        row = await self._requests.get(request_id, principal)
        event = self._feed.follow(request_id)
        try:
            while row["job_state"] not in TERMINAL and loop.time() < deadline:
                event.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout=max(0.0, deadline - loop.time()))
                row = await self._requests.get(request_id, principal)
        finally:
            self._feed.unfollow(request_id, event)
        return RequestRecord.from_row(row)

    # --- steering -------------------------------------------------------------------------------

    async def cancel(self, principal: Principal, request_id: str) -> RequestRecord:
        """Cancels it and the children it forked that cascade; 409 when it has ended."""
        row = await self._control.cancel(principal, request_id)
        await self._audit.record("JOB_REQUEST_CANCELLED", principal, target_id=request_id, job_type=row["job_type"])
        return RequestRecord.from_row(row)

    async def pause(self, principal: Principal, request_id: str) -> RequestRecord:
        """Stops an EXECUTING request's walk; it resumes by itself at its ``scheduled_at``."""
        row = await self._control.pause(principal, request_id)
        await self._audit.record("JOB_REQUEST_PAUSED", principal, target_id=request_id, job_type=row["job_type"])
        return RequestRecord.from_row(row)

    async def restart(self, principal: Principal, request_id: str, *, hard: bool = False,
                      version: str = "") -> RequestRecord:
        """A FAILED, CANCELLED or PAUSED request runs again (a soft restart reuses completed tasks)."""
        return RequestRecord.from_row(await self._control.restart(principal, request_id, hard=hard, version=version))

    async def delete(self, principal: Principal, request_id: str) -> RequestRecord:
        """An ended request, gone with its runs and logs; 409 while it may still run."""
        record = RequestRecord.from_row(await self._requests.get(request_id, principal))
        if record.job_state not in TERMINAL:
            raise ConflictError(f"request {request_id} is {record.job_state}; cancel it before deleting it",
                                field="job_state")
        await self._deleter.delete_requests([request_id])
        await self._audit.record("JOB_REQUEST_DELETED", principal, target_id=request_id, job_type=record.job_type)
        return record

    async def delete_definition_and_requests(self, principal: Principal, id_or_type: str) -> DefinitionRecord:
        """A definition (every version) and every request of it, live ones cancelled first (a Tork
        scheduled job and its instances)."""
        definition = await self.definitions.get(principal, id_or_type)
        await self.definitions.delete(principal, definition.id)
        ids = await self._deleter.ids_of_type(definition.owner_key, definition.job_type)
        for request_id in ids:
            row = await self._requests.get(request_id)
            if row["job_state"] not in TERMINAL:
                with contextlib.suppress(ConflictError, NotFoundError):
                    await self._control.cancel(self._admin, request_id)
        await self._deleter.delete_requests(ids)
        return definition

    async def trigger(self, principal: Principal, request_id: str) -> RequestRecord:
        """A PENDING request scheduled for later is due now."""
        return RequestRecord.from_row(await self._control.trigger(principal, request_id))

    async def retarget(self, principal: Principal, job_type: str) -> int:
        """The definition's requests that have not started yet run its active version instead of the one
        they were made of; how many moved."""
        return await self._control.retarget(principal, job_type)

    async def release(self, principal: Principal, request_id: str) -> bool:
        """A BLOCKED request (held by an unmet dependency) is due now; False when it was not BLOCKED."""
        return await self._control.release(principal, request_id)

    async def post_log(self, principal: Principal, request_id: str, message: str, *, task_type: str = "",
                       task_execution_id: str = "", stream: str = "stdout") -> None:
        """A log line for one of the caller's requests (masked like a task's, then stored)."""
        await self.get(principal, request_id)
        if self._appender is None:
            raise ConflictError("this server takes no log lines")
        for line in message.splitlines() or [""]:
            self._appender.posted(request_id, task_execution_id, task_type, stream, line)
        await self._feed.flush()

    async def approval(self, principal: Principal, request_id: str, task_type: str) -> ApprovalRecord:
        """Where the votes on a MANUAL task stand (awaiting or decided), with its policy."""
        return await self._control.approval(principal, request_id, task_type)

    async def pending_approvals(self, principal: Principal, limit: int = 1000) -> list[ApprovalRecord]:
        """Every MANUAL task the caller's requests wait on, oldest request first."""
        rows, _ = await self._requests.search(principal, RequestFilter(states=frozenset({"MANUAL_APPROVAL_REQUIRED"})),
                                              page=0, page_size=limit)
        pending: list[ApprovalRecord] = []
        for request in sorted(rows, key=lambda r: r["created_at"]):
            execution = request.get("job_execution_id")
            tasks = await self._requests.task_executions([execution]) if execution else []
            for task in tasks:
                if task["task_state"] == "MANUAL_APPROVAL_REQUIRED":
                    with contextlib.suppress(NotFoundError):  # decided between the two reads
                        pending.append(await self._control.approval(principal, request["id"], task["task_type"]))
        return pending

    async def vote(self, principal: Principal, request_id: str, task_type: str, decision: str,
                   comments: str = "") -> ApprovalRecord:
        """APPROVED or REJECTED on a task awaiting manual approval."""
        return await self._control.vote(principal, request_id, task_type, decision, comments)

    async def approve(self, principal: Principal, request_id: str, task_type: str,
                      comments: str = "") -> ApprovalRecord:
        return await self.vote(principal, request_id, task_type, "APPROVED", comments)

    async def reject(self, principal: Principal, request_id: str, task_type: str, comments: str) -> ApprovalRecord:
        return await self.vote(principal, request_id, task_type, "REJECTED", comments)

    def seal_secrets(self, values: Mapping[str, Any]) -> dict[str, str]:
        """Values encrypted with the server's key, for a definition's settings to keep (the engine opens
        them: a cron request's ``secret_params``, see queen/cron.py)."""
        return {str(name): self._sealer.encrypt(str(value)) for name, value in values.items()}

    # --- events and webhooks ----------------------------------------------------------------------

    def subscribe(self, listener: EventListener, wants: Callable[[DefinitionRecord], bool]) -> None:
        """``listener`` hears the events (``JobEvent``) of the requests of each definition ``wants`` accepts.
        Events come after the change was stored, in order, on the queen where it happened."""
        self._events.subscribe_records(listener, wants)

    async def send_webhook(self, call: WebhookCall) -> str:
        """Store a webhook call and have it delivered by its retry policy (at least once, never silently
        dropped: it ends DELIVERED or FAILED). Returns its id."""
        return await self._webhooks.send(call)

    async def webhook_outcomes(self, principal: Principal, request_id: str) -> list[DeliveryOutcome]:
        """The webhook calls stored about a request the caller sees, oldest first."""
        await self._requests.get(request_id, principal)
        return await self._webhooks.outcomes(request_id)

    # --- logs -----------------------------------------------------------------------------------

    async def logs(self, principal: Principal, request_id: str, *, task_type: str | None = None, after_id: int = 0,
                   limit: int = MAX_LOG_PAGE) -> LogPage:
        """A page of a request's lines in order (every line printed so far is readable)."""
        await self._requests.get(request_id, principal)
        await self._feed.flush()
        limit = max(0, min(limit, MAX_LOG_PAGE))
        rows = await self._logs.read(request_id, task_type=task_type, after_id=after_id, limit=limit + 1)
        more = len(rows) > limit
        lines = tuple(LogLine.from_row(row) for row in rows[:limit])
        return LogPage(request_id, lines, more, lines[-1].id if lines else after_id)

    async def log_text(self, principal: Principal, request_id: str, streams: tuple[str, ...], *,
                       page: int = TEXT_PAGE) -> AsyncGenerator[list[tuple[str, str]], None]:
        """The request's lines of these streams as ``(stream, line)`` pages, in order, read ``page`` at a
        time (a big log is never held whole). The visibility check happens here, before the first page."""
        await self._requests.get(request_id, principal)
        await self._feed.flush()
        return self._text_pages(request_id, streams, max(1, page))

    async def _text_pages(self, request_id: str, streams: tuple[str, ...],
                          page: int) -> AsyncGenerator[list[tuple[str, str]], None]:
        after = 0
        while True:
            rows = await self._logs.read_text(request_id, streams=streams, after_id=after, limit=page)
            if rows:
                after = rows[-1][0]
                yield [(stream, line) for _, stream, line in rows]
            if len(rows) < page:
                return

    async def follow(self, principal: Principal, request_id: str, *, task_type: str | None = None,
                     after_id: int = 0, quiet_seconds: float = QUIET_SECONDS) -> AsyncGenerator[FollowEvent, None]:
        """The request's lines as they come, then ``RequestEnded`` once it has ended and every line was
        given; ``Quiet`` after ``quiet_seconds`` without news. The visibility check happens here, before
        the first event, so a caller can answer "not found" before it starts a stream."""
        await self._requests.get(request_id, principal)
        return self._follow(request_id, task_type, after_id, quiet_seconds)

    async def _follow(self, request_id: str, task_type: str | None, after_id: int,
                      quiet_seconds: float) -> AsyncGenerator[FollowEvent, None]:
        last = after_id
        event = self._feed.follow(request_id)
        try:
            while True:
                event.clear()
                rows = await self._logs.read(request_id, task_type=task_type, after_id=last)
                for row in rows:
                    last = row["id"]
                    yield LogLine.from_row(row)
                if rows:
                    continue
                state = (await self._requests.get(request_id))["job_state"]
                if state in TERMINAL:
                    await self._feed.flush()
                    for row in await self._logs.read(request_id, task_type=task_type, after_id=last):
                        last = row["id"]
                        yield LogLine.from_row(row)
                    yield RequestEnded(state)
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout=quiet_seconds)
                if not event.is_set():
                    yield Quiet()
        finally:
            self._feed.unfollow(request_id, event)


def _widen(bounds: dict[str, datetime], key: str, value: datetime | None,
           pick: Callable[[datetime, datetime], datetime]) -> None:
    if value is not None:
        bounds[key] = pick(bounds[key], value) if key in bounds else value
