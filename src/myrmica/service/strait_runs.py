"""Strait runs over core requests (spec/strait.md §4, §6, §8): trigger with its checks in order, bulk
trigger, read, list, cancel, the health of a job, and dependencies released when an upstream run ends.

A run is a core request of the job's definition: its payload the param ``payload``, its priority the
request's priority, its start the request's ``scheduled_at``, its idempotency key the request's
``user_key`` (``strait:<job>:<key>``: the core's unique index makes a race of two queens return one run,
and the core clears it when the run ends, so a key is reusable once its run is terminal), its
concurrency key the request's ``job_group``; a run waiting for a dependency is created ``BLOCKED``.
The rest (payload hash, tags, metadata, TTL) is a ``strait_runs`` row.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from myrmica.clock import utcnow
from myrmica.domain.errors import ConflictError, NotFoundError
from myrmica.domain.principal import Principal
from myrmica.domain.records import ENDED, JobEvent, NewRequest, PageRequest, RequestFilter, RequestRecord
from myrmica.domain.strait import translate
from myrmica.domain.strait.errors import StraitError, bad, conflict, not_found, too_many
from myrmica.domain.strait.health import health, window
from myrmica.domain.strait.statuses import CORE_STATES, TERMINAL, is_terminal, run_status
from myrmica.domain.strait.trigger import Prepared, Trigger, prepare
from myrmica.ids import new_id
from myrmica.service.strait import StraitJob, StraitJobs, actor

Mint = Callable[[str, datetime], str]
HEALTH_PAGE = 500
MAX_HEALTH_RUNS = 20_000
MAX_UPSTREAM_RUNS = 50
MAX_LABEL = 200  # the core's longest label (the run's tags, for search)


@dataclass(frozen=True)
class Triggered:
    id: str
    status: str
    idempotency_hit: bool
    created: bool
    payload_hash: str = ""
    run_token: str = ""
    run: dict[str, Any] | None = None  # the full run, for a new one

    def body(self) -> dict[str, Any]:
        if self.idempotency_hit:
            return {"id": self.id, "status": self.status, "idempotency_hit": True}
        out = dict(self.run or {"id": self.id, "status": self.status})
        out.update({"payload_hash": self.payload_hash, "idempotency_hit": False})
        if self.created:
            out["run_token"] = self.run_token
        return out


def _system(record: RequestRecord) -> Principal:
    """The run's owner, for the engine's own follow-ups (dependency release)."""
    return Principal(user_id=record.user_id or "", username="system:dependencies",
                     organization_id=record.organization_id)


@dataclass(frozen=True)
class Quotas:
    """A project's quotas (spec/strait.md §6 step 6): runs queued (or delayed), and runs dequeued or
    executing, at most (0: no limit)."""

    max_queued: int = 0
    max_executing: int = 0


QUEUED_STATES = ("PENDING", "PAUSED")
EXECUTING_STATES = ("READY", "STARTED", "EXECUTING")


class StraitRuns:
    def __init__(self, jobs: StraitJobs, mint: Mint, quotas: Quotas | None = None) -> None:
        self._jobs = jobs
        self.quotas = quotas or Quotas()
        self._service = jobs.jobs
        self._store = jobs.store
        self._mint = mint

    # --- trigger --------------------------------------------------------------------------------

    async def trigger(self, principal: Principal, job: StraitJob, trigger: Trigger, key: str, *,
                      triggered_by: str = "manual", batch_id: str = "", dependencies: bool = True,
                      where: str = "payload") -> Triggered | dict[str, Any]:
        """§6's checks in order; a dict for a dry run."""
        if not job.config["enabled"] or job.definition.disabled:
            raise bad("job is disabled", "enabled")
        now = utcnow()
        prepared = prepare(job.config, trigger, now=now, where=where)
        if trigger.dry_run:
            return await self._dry_run(job, prepared, now)
        if key:
            hit = await self._live_with_key(principal, job, key)
            if hit is not None:
                return hit
        await self._project_quotas(job)
        await self._rate_limit(job, now)
        rate_keys = rate_key_values(job.config["rate_limit_keys"], prepared.payload, trigger.tags)
        await self._rate_limit_keys(job, rate_keys, now)
        request_id = new_id()
        window_secs = int(job.config["dedup_window_secs"])
        if window_secs > 0:
            held = await self._store.claim_dedup(job.id, prepared.payload_hash, request_id, now=now,
                                                 since=now - timedelta(seconds=window_secs))
            if held is not None:
                try:
                    record = await self._service.get(principal, held)
                    status = self._status(record, await self._store.run(held), now)
                except NotFoundError:  # its trigger (here or on another queen) is making it right now
                    status = "queued"
                return Triggered(held, status, False, False, prepared.payload_hash)
        try:
            return await self._create(principal, job, trigger, prepared, key, request_id, now,
                                      triggered_by=triggered_by, batch_id=batch_id, dependencies=dependencies,
                                      rate_keys=rate_keys)
        except BaseException:
            if window_secs > 0:
                await self._store.drop_dedup(job.id, prepared.payload_hash, request_id)
            raise

    async def _create(self, principal: Principal, job: StraitJob, trigger: Trigger, prepared: Prepared, key: str,
                      request_id: str, now: datetime, *, triggered_by: str, batch_id: str,
                      dependencies: bool, rate_keys: dict[str, str]) -> Triggered:
        blocked = False
        if dependencies and prepared.scheduled_at is None:
            blocked = not await self.satisfied(principal, job.id, key or prepared.dependency_key)
        tags = {**job.config["tags"], **trigger.tags}
        metadata = {**job.config["default_run_metadata"], **trigger.metadata}
        if prepared.dependency_key:
            metadata.setdefault("dependency_key", prepared.dependency_key)
        row = {"request_id": request_id, "job_id": job.id, "owner_key": job.project_id,
               "payload_hash": prepared.payload_hash, "idempotency_key": key or None,
               "concurrency_key": trigger.concurrency_key, "dependency_key": prepared.dependency_key or None,
               "info": {"tags": tags, "metadata": metadata, "triggered_by": triggered_by, "batch_id": batch_id,
                        "job_version": job.version, "job_version_id": job.meta.get("version_id", ""),
                        "created_by": actor(principal), "rate_keys": rate_keys},
               "scheduled_at": prepared.scheduled_at, "expires_at": prepared.expires_at, "created_at": now}
        new = NewRequest(
            job_type=job.job_type, job_version=str(job.version), params={translate.PAYLOAD_PARAM: prepared.payload},
            job_priority=trigger.priority, scheduled_at=prepared.scheduled_at,
            user_key=f"strait:{job.id}:{key}" if key else None, description=job.config["name"],
            job_group=translate.concurrency_group(job.project_id, trigger.concurrency_key),
            labels=tuple(f"{k}={v}"[:MAX_LABEL] for k, v in sorted(tags.items()))[:50], request_id=request_id,
            blocked=blocked, dialect_row=row)  # the run's row stored with its request, in one commit
        try:
            submitted = await self._service.submit(principal, new)
        except ConflictError as exc:  # disabled meanwhile
            raise bad("job is disabled" if "disabled" in exc.message else exc.message, "enabled") from None
        record = submitted.request
        if not submitted.created:  # another trigger with this key won the race
            winner = await self._store.run(record.id)
            return Triggered(record.id, self._status(record, winner, now), True, False)
        if blocked and await self.satisfied(principal, job.id, key or prepared.dependency_key):
            # the upstream ended between the check and the insert, before this run could hear of it
            await self._service.release(principal, record.id)
            record = await self._service.get(principal, record.id)
        token = self._mint(record.id, prepared.expires_at)
        view = run_view(record, row, job.id, now)
        return Triggered(record.id, view["status"], False, True, prepared.payload_hash, token, view)

    async def _dry_run(self, job: StraitJob, prepared: Prepared, now: datetime) -> dict[str, Any]:
        warnings = []
        if int(job.config["dedup_window_secs"]) > 0:
            warnings.append("a run with the same payload within the dedup window would be returned instead")
        return {"job": job.view(), "payload_hash": prepared.payload_hash, "payload": prepared.payload,
                "scheduled_at": prepared.scheduled_at or now, "expires_at": prepared.expires_at,
                "validation_warnings": warnings}

    async def _live_with_key(self, principal: Principal, job: StraitJob, key: str) -> Triggered | None:
        now = utcnow()
        for row in await self._store.runs_of_job(job.id, key=key, idempotency_only=True, limit=5):
            with contextlib.suppress(NotFoundError):
                record = await self._service.get(principal, row["request_id"])
                status = self._status(record, row, now)
                if not is_terminal(status):
                    return Triggered(record.id, status, True, False)
        return None

    async def _project_quotas(self, job: StraitJob) -> None:
        """429 when the project already has its quota of queued, or of executing, runs."""
        quotas = self.quotas
        if quotas.max_queued <= 0 and quotas.max_executing <= 0:
            return
        wanted = (QUEUED_STATES if quotas.max_queued > 0 else ()) + \
            (EXECUTING_STATES if quotas.max_executing > 0 else ())
        counts = await self._store.live_counts(job.project_id, wanted)
        queued = sum(counts.get(state, 0) for state in QUEUED_STATES)
        executing = sum(counts.get(state, 0) for state in EXECUTING_STATES)
        if 0 < quotas.max_queued <= queued:
            raise too_many(f"project quota exceeded: {queued} runs queued (max {quotas.max_queued})", 1)
        if 0 < quotas.max_executing <= executing:
            raise too_many(f"project quota exceeded: {executing} runs executing (max {quotas.max_executing})", 1)

    async def _rate_limit(self, job: StraitJob, now: datetime) -> None:
        limit, window_secs = int(job.config["rate_limit_max"]), int(job.config["rate_limit_window_secs"])
        if limit <= 0 or window_secs <= 0:
            return
        since = now - timedelta(seconds=window_secs)
        count, oldest = await self._store.count_since(job.id, since)
        if count >= limit:
            wait = (oldest + timedelta(seconds=window_secs) - now).total_seconds() if oldest else window_secs
            raise too_many("job rate limit exceeded", int(wait) + 1)

    async def _rate_limit_keys(self, job: StraitJob, values: dict[str, str], now: datetime) -> None:
        """Each named limit: at most ``max`` runs per ``window_secs`` sharing this trigger's value of it."""
        for limit in job.config["rate_limit_keys"]:
            name = limit["name"]
            if name not in values:
                continue
            since = now - timedelta(seconds=int(limit["window_secs"]))
            same = [row for row in await self._store.runs_since(job.id, since)
                    if (row.get("info") or {}).get("rate_keys", {}).get(name) == values[name]]
            if len(same) >= int(limit["max"]):
                oldest = min(row["created_at"] for row in same)
                wait = (oldest + timedelta(seconds=int(limit["window_secs"])) - now).total_seconds()
                raise too_many(f"rate limit exceeded for key {name}", int(wait) + 1)

    async def bulk(self, principal: Principal, job: StraitJob, items: list[Trigger]) -> dict[str, Any]:
        """Each item triggered in order (no dependency check, as Strait); the first 4xx aborts the rest."""
        if not job.config["enabled"] or job.definition.disabled:
            raise bad("job is disabled", "enabled")
        now = utcnow()
        for index, item in enumerate(items):  # every item's payload checked before any run is made
            prepare(job.config, item, now=now, where=f"items[{index}].payload")
        batch_id = new_id()
        results = []
        created = 0
        for index, item in enumerate(items):
            outcome = await self.trigger(principal, job, item, item.idempotency_key, triggered_by="batch",
                                         batch_id=batch_id, dependencies=False, where=f"items[{index}].payload")
            assert isinstance(outcome, Triggered)  # bulk items take no dry_run
            created += outcome.created
            results.append({"id": outcome.id, "status": outcome.status, "run_token": outcome.run_token,
                            "idempotency_hit": outcome.idempotency_hit})
        return {"batch_id": batch_id, "results": results, "total": len(items), "created": created}

    # --- reading --------------------------------------------------------------------------------

    @staticmethod
    def _status(record: RequestRecord, row: dict[str, Any] | None, now: datetime) -> str:
        scheduled = row.get("scheduled_at") if row else (record.scheduled_at if record.cron_triggered else None)
        return run_status(record.job_state, record.error_code, scheduled_at=scheduled, now=now)

    async def get(self, principal: Principal, run_id: str) -> dict[str, Any]:
        record = await self._request(principal, run_id)
        row = await self._store.run(record.id)
        return run_view(record, row, _job_id(record), utcnow())

    async def _request(self, principal: Principal, run_id: str) -> RequestRecord:
        try:
            record = await self._service.get(principal, run_id)
        except NotFoundError:
            raise not_found("run not found") from None
        if not record.job_type.startswith(translate.JOB_TYPE_PREFIX):
            raise not_found("run not found")
        return record

    async def list_runs(self, principal: Principal, job: StraitJob, *, status: str = "", cursor: str = "",
                   limit: int = 50) -> tuple[list[dict[str, Any]], str]:
        if status and status not in CORE_STATES and status not in TERMINAL:
            raise bad(f"invalid status: {status}", "status")
        page = int(cursor) if cursor.isdigit() and len(cursor) < 7 else 0
        if cursor and not (cursor.isdigit() and len(cursor) < 7):
            raise bad("invalid cursor", "cursor")
        states = frozenset(CORE_STATES.get(status, ("FAILED",))) if status else frozenset()
        limit = max(1, min(limit, 200))
        found = await self._service.search(principal, RequestFilter(job_type=job.job_type, states=states),
                                           PageRequest(page, limit))
        rows = await self._store.runs([r.id for r in found.items])
        now = utcnow()
        views = [run_view(r, rows.get(r.id), job.id, now) for r in found.items]
        if status:
            views = [v for v in views if v["status"] == status]
        more = (page + 1) * limit < found.total
        return views, (str(page + 1) if more else "")

    async def cancel(self, principal: Principal, run_id: str) -> dict[str, Any]:
        record = await self._request(principal, run_id)
        try:
            await self._service.cancel(principal, record.id)
        except ConflictError:
            raise conflict("run is already in a terminal state", "status") from None
        return await self.get(principal, record.id)

    async def health(self, principal: Principal, job: StraitJob, name: str | None) -> dict[str, Any]:
        label, span = window(name)
        now = utcnow()
        since = now - span
        runs: list[tuple[str, float | None]] = []
        page = 0
        while len(runs) < MAX_HEALTH_RUNS:
            found = await self._service.search(principal, RequestFilter(job_type=job.job_type),
                                               PageRequest(page, HEALTH_PAGE))
            recent = [r for r in found.items if r.created_at >= since]
            for record in recent:
                duration = (record.ended_at - record.started_at).total_seconds() \
                    if record.ended_at and record.started_at else None
                runs.append((run_status(record.job_state, record.error_code, scheduled_at=None, now=now), duration))
            if len(recent) < len(found.items) or len(found.items) < HEALTH_PAGE:
                break
            page += 1
        return {"job_id": job.id, "window": label, "since": since, **health(runs)}

    # --- dependencies ---------------------------------------------------------------------------

    async def satisfied(self, principal: Principal, job_id: str, key: str) -> bool:
        """Every dependency met by the latest ended run of its upstream job (of ``key``, when given)."""
        for dependency in await self._store.dependencies(job_id):
            if not await self._met(principal, dependency, key):
                return False
        return True

    async def _met(self, principal: Principal, dependency: dict[str, Any], key: str) -> bool:
        now = utcnow()
        for row in await self._store.runs_of_job(dependency["depends_on_job_id"], key=key, limit=MAX_UPSTREAM_RUNS):
            try:
                record = await self._service.get(principal, row["request_id"])
            except NotFoundError:
                continue
            status = self._status(record, row, now)
            if not is_terminal(status):
                continue
            condition = dependency["condition"]
            if condition == "completed":
                return status == "completed"
            if condition == "failed":
                return status not in ("completed", "canceled")
            return True
        return False

    async def sweep_waiting(self, admin: Principal, limit: int = 500) -> int:
        """Every waiting run (any project) whose dependencies are met now is released: the safety net for an
        upstream end whose event was lost (its queen died before it was heard). How many were released."""
        found = await self._service.search(admin, RequestFilter(dialect=translate.DIALECT,
                                                                states=frozenset({"BLOCKED"})), PageRequest(0, limit))
        rows = await self._store.runs([r.id for r in found.items])
        released = 0
        for record in found.items:
            row = rows.get(record.id) or {}
            principal = _system(record)
            key = row.get("idempotency_key") or row.get("dependency_key") or ""
            if await self.satisfied(principal, _job_id(record), key):
                with contextlib.suppress(NotFoundError, StraitError):
                    released += await self._service.release(principal, record.id)
        return released

    async def on_event(self, event: JobEvent) -> None:
        """An upstream run ended: its dependents' waiting runs are checked again and released."""
        if event.cause != ENDED:
            return
        upstream = event.definition.job_type.removeprefix(translate.JOB_TYPE_PREFIX)
        principal = _system(event.request)
        for dependency in await self._store.dependents(upstream):
            job_type = translate.job_type_of(dependency["job_id"])
            found = await self._service.search(principal, RequestFilter(job_type=job_type,
                                                                        states=frozenset({"BLOCKED"})),
                                               PageRequest(0, 500))
            rows = await self._store.runs([r.id for r in found.items])
            for record in found.items:
                row = rows.get(record.id) or {}
                key = row.get("idempotency_key") or row.get("dependency_key") or ""
                if await self.satisfied(principal, dependency["job_id"], key):
                    with contextlib.suppress(NotFoundError, StraitError):
                        await self._service.release(principal, record.id)


def rate_key_values(limits: list[dict[str, Any]], payload: Any, tags: dict[str, str]) -> dict[str, str]:
    """The value of each named rate limit for a trigger: the payload's top-level field of that name (a
    string, number or boolean), else the trigger's tag; a trigger with neither is not counted under it."""
    values: dict[str, str] = {}
    for limit in limits:
        name = limit["name"]
        value = payload.get(name) if isinstance(payload, dict) else None
        if isinstance(value, str | int | float | bool):
            values[name] = str(value)[:256]
        elif name in tags:
            values[name] = tags[name]
    return values


def _job_id(record: RequestRecord) -> str:
    return record.job_type.removeprefix(translate.JOB_TYPE_PREFIX)


def run_view(record: RequestRecord, row: dict[str, Any] | None, job_id: str, now: datetime) -> dict[str, Any]:
    """The seed's JobRun object."""
    info = dict((row or {}).get("info") or {})
    task = record.execution.tasks[0] if record.execution and record.execution.tasks else None
    contexts = dict(task.contexts) if task is not None else {}
    scheduled = row.get("scheduled_at") if row else (record.scheduled_at if record.cron_triggered else None)
    status = run_status(record.job_state, record.error_code, scheduled_at=scheduled, now=now)
    payload = record.params.get(translate.PAYLOAD_PARAM, {})
    return {
        "id": record.id, "job_id": job_id, "project_id": record.owner_key, "status": status,
        "attempt": task.attempt + 1 if task is not None else 1, "payload": payload,
        "result": contexts.get("result"), "metadata": info.get("metadata", {}),
        "error": record.error_message if record.job_state in ("FAILED", "CANCELLED") else "",
        "triggered_by": info.get("triggered_by") or ("cron" if record.cron_triggered else "manual"),
        "scheduled_at": scheduled, "started_at": record.started_at, "finished_at": record.ended_at,
        "heartbeat_at": None, "next_retry_at": None, "expires_at": (row or {}).get("expires_at"),
        "parent_run_id": record.parent_id, "priority": record.job_priority,
        "idempotency_key": (row or {}).get("idempotency_key") or "",
        "job_version": int(record.job_version) if record.job_version.isdigit() else info.get("job_version", 0),
        "workflow_step_run_id": "", "max_attempts_override": 0, "timeout_secs_override": 0, "retry_backoff": "",
        "retry_initial_delay_secs": 0, "retry_max_delay_secs": 0,
        "execution_trace": contexts.get("execution_trace") or {}, "debug_mode": False, "continuation_of": "",
        "lineage_depth": 0, "tags": info.get("tags", {}), "job_version_id": info.get("job_version_id", ""),
        "created_by": info.get("created_by", "system:cron" if record.cron_triggered else ""),
        "batch_id": info.get("batch_id", ""), "concurrency_key": (row or {}).get("concurrency_key", ""),
        "created_at": record.created_at,
    }
