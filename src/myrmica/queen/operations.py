"""What users do to requests: submit, cancel, pause, restart, trigger, vote. Each is a guarded change."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import replace
from datetime import datetime
from typing import Any

from myrmica.clock import utcnow
from myrmica.domain.approval import SYSTEM_VOTER, Vote, can_vote, decide
from myrmica.domain.definition_model import ApprovalPolicy, JobDefinitionSpec
from myrmica.domain.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from myrmica.domain.numbers import INT32_MAX, INT32_MIN, check_name, is_decimal, strict_int
from myrmica.domain.principal import Principal
from myrmica.domain.records import ENDED, RESTARTED, SUBMITTED, ApprovalRecord, NewRequest, VoteRecord, labels_text
from myrmica.domain.run_webhooks import wanted_notice
from myrmica.domain.states import ErrorCode, ExitCode
from myrmica.domain.task_env import check_names
from myrmica.ids import new_id
from myrmica.metrics import Metrics
from myrmica.queen.logs import stamp
from myrmica.queen.ports import EndWatch, Events, LogWriter, Publisher, SpecSource, SupervisorLookup, Waker
from myrmica.store.audit import audit_row
from myrmica.store.store import Store

log = logging.getLogger("myrmica.queen.operations")

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")
NON_TERMINAL = ("PENDING", "READY", "STARTED", "EXECUTING", "PAUSED", "MANUAL_APPROVAL_REQUIRED", "BLOCKED")
MAX_FORK_PARENTS = 10
MAX_CASCADE_DEPTH = 20
DEFINITION_CACHE_SECONDS = 1.0
MAX_USER_KEY = 300


def _text(value: str, field: str, max_length: int) -> str:
    if len(value) > max_length:
        raise ValidationError(f"{field} may be at most {max_length} characters, not {len(value)}", field=field)
    return value


MAX_LABELS = 100
MAX_LABEL_LENGTH = 200


class Operations:
    def __init__(self, *, store: Store, specs: SpecSource, metrics: Metrics, waker: Waker,
                 supervisors: SupervisorLookup, watchers: EndWatch, publisher: Publisher, logs: LogWriter,
                 events: Events, admin: Principal) -> None:
        self._store = store
        self._specs = specs
        self._metrics = metrics
        self._waker = waker
        self._supervisors = supervisors
        self._watchers = watchers
        self._publisher = publisher
        self._logs = logs
        self._events = events
        self._admin = admin
        self._definitions: dict[tuple[str, str | None, bool, str], tuple[asyncio.Future[dict[str, Any]], float]] = {}

    def forget_definitions(self, *_: Any) -> None:
        self._definitions.clear()

    async def _definition(self, principal: Principal, job_type: str, version: str) -> dict[str, Any]:
        store = self._store
        if not version or version == "latest":
            # A short cache: submits of one job type in a burst need not read its definition each time.
            # Changes through this server clear it at once; through another queen they show within a second.
            # Concurrent submits share one read (the future is cached), not one read each.
            key = (principal.user_id, principal.organization_id, principal.admin, job_type)
            cached = self._definitions.get(key)
            now = time.monotonic()
            if cached is None or cached[1] <= now or (cached[0].done() and cached[0].exception() is not None):
                if len(self._definitions) > 1000:
                    self._definitions.clear()
                reading = asyncio.ensure_future(store.definitions.get(principal, job_type))
                cached = self._definitions[key] = (reading, now + DEFINITION_CACHE_SECONDS)
            return await asyncio.shield(cached[0])
        if is_decimal(version):
            number = strict_int(version.lstrip("0") or "0", "job_version", minimum=1, maximum=INT32_MAX)
            # A version never changes: the same short cache (a dialect submits its definitions by version).
            key = (principal.user_id, principal.organization_id, principal.admin, f"{job_type}@{number}")
            cached = self._definitions.get(key)
            now = time.monotonic()
            if cached is None or cached[1] <= now or (cached[0].done() and cached[0].exception() is not None):
                if len(self._definitions) > 1000:
                    self._definitions.clear()
                reading = asyncio.ensure_future(store.definitions.get(principal, job_type, version=number))
                cached = self._definitions[key] = (reading, now + DEFINITION_CACHE_SECONDS)
            return await asyncio.shield(cached[0])
        for row in await store.definitions.versions(principal, job_type):
            if row["sem_version"] == version or row["id"] == version:
                return row
        raise NotFoundError(f"job definition {job_type!r} has no version {version!r}", field="job_version")

    async def submit(self, principal: Principal, new: NewRequest, *, parent: dict[str, Any] | None = None,
                     cron_at: datetime | None = None, request_id: str | None = None) -> tuple[dict[str, Any], bool]:
        """A PENDING request. ``request_id``: the id to give it, chosen (and stored) by a parent that forks it
        beforehand, so a fork cut off by a restart finds its child instead of making a second one."""
        job_type = check_name(new.job_type, "job_type")
        params = dict(new.params)
        secret_params = dict(new.secret_params)
        check_names(params, "params")
        check_names(secret_params, "secret_params")
        definition = await self._definition(principal, job_type, new.job_version)
        active = definition if definition["active"] else await self._store.definitions.get(principal, job_type)
        if active["disabled"]:
            raise ConflictError(f"job type {job_type!r} is disabled; enable it to submit requests", field="job_type")
        spec = self._specs.spec_of(definition)
        missing = [name for name in spec.required_params if name not in params and name not in secret_params]
        if missing:
            configs, _ = await self._store.job_configs.plaintext(definition["owner_key"], definition["job_type"])
            missing = [name for name in missing if name not in configs]
        if missing:
            raise ValidationError(f"missing required params: {', '.join(missing)}", field="params")
        forks = [k for k in params if k.startswith("ParentJobType_")]
        if len(forks) > MAX_FORK_PARENTS or any(params[k] == job_type for k in forks if parent is None):
            raise ValidationError("refused: this request would fork itself (fork bomb guard)", field="params")
        priority = new.job_priority
        if isinstance(priority, bool) or not isinstance(priority, int) or not INT32_MIN <= priority <= INT32_MAX:
            raise ValidationError(f"job_priority must be an integer between {INT32_MIN} and {INT32_MAX}",
                                  field="job_priority")
        if len(new.labels) > MAX_LABELS or any(len(str(label)) > MAX_LABEL_LENGTH for label in new.labels):
            raise ValidationError(f"at most {MAX_LABELS} labels (tags) of at most {MAX_LABEL_LENGTH} characters each",
                                  field="tags")
        now = utcnow()
        scheduled = cron_at or new.scheduled_at or now
        scheduled = max(scheduled, now) if cron_at is None else scheduled
        key = new.user_key or None
        if key is not None and len(key) > MAX_USER_KEY:
            raise ValidationError(f"user_key must be a string of at most {MAX_USER_KEY} characters",
                                  field="user_key")
        row: dict[str, Any] = {
            "id": request_id or new.request_id or new_id(), "parent_id": parent["id"] if parent else None,
            "user_key": key,
            "job_definition_id": definition["id"], "job_execution_id": None, "last_job_execution_id": None,
            # The submitter's, even of another tenant's public plugin (whose configs still apply: runs.py).
            "owner_key": principal.owner_key, "organization_id": principal.organization_id,
            "user_id": principal.user_id, "description": _text(new.description, "description", 10_000),
            "platform": _text(new.platform, "platform", 100) or definition["platform"] or "",
            "job_type": definition["job_type"],
            "job_version": str(definition["sem_version"] or definition["version"]),
            "job_state": "BLOCKED" if new.blocked else "PENDING",
            "job_group": _text(new.job_group, "job_group", 100), "job_priority": priority, "schedule_attempts": 0,
            "retried": 0, "paused_count": 0, "cron_triggered": cron_at is not None, "error_code": "",
            "error_message": "", "current_task": "", "hard_restart": False, "cascade_cancel": parent is not None,
            "params": params, "labels": labels_text(tuple(new.labels)),
            "secret_params": {k: self._store.box.encrypt(str(v)) for k, v in secret_params.items()} or None,
            "lease_owner": None, "lease_expires_at": None, "scheduled_at": scheduled, "started_at": None,
            "ended_at": None, "created_at": now, "updated_at": now,
            **({"expires_at": new.expires_at} if new.expires_at is not None else {}),
        }
        audit = audit_row("JOB_REQUEST_CREATED", principal, target_id=row["id"], job_type=row["job_type"])
        extra = []
        notice = wanted_notice(definition.get("dialect_settings"), definition["job_type"], principal.owner_key) \
            if definition.get("dialect") == "strait" else None
        if notice is not None:  # its end owes a webhook: marked in the same transaction (queen/run_keeper.py)
            extra.append(self._store.run_signals.end_notice_row(row["id"], notice, now))
        if new.dialect_row is not None and definition.get("dialect") == "strait":  # one commit, not two
            extra.append(self._store.strait.run_row({**new.dialect_row, "request_id": row["id"]}))
        result = await self._store.requests.create(row, audit, extra)
        if result.created:
            self._metrics.requests_submitted.inc()
            self._waker.wake_for_new(spec)
            self._events.emit(SUBMITTED, result.request, definition)
        return result.request, result.created

    async def cancel(self, principal: Principal | None, request_id: str) -> dict[str, Any]:
        store = self._store
        request = await store.requests.get(request_id, principal)
        if request["job_state"] in TERMINAL:
            raise ConflictError(f"request {request_id} is already {request['job_state']}; it cannot be cancelled",
                                field="job_state")
        await self._cancel_one(request)
        queue = deque([(request_id, 0)])
        while queue:
            parent_id, depth = queue.popleft()
            if depth >= MAX_CASCADE_DEPTH:
                continue
            for child in await store.requests.children(parent_id):
                if child["job_state"] not in TERMINAL and child["cascade_cancel"]:
                    await self._cancel_one(child)
                queue.append((child["id"], depth + 1))
        return await store.requests.get(request_id)

    async def cancel_child(self, request_id: str) -> None:
        """A child request its parent's composite or fork gives up on (no-op once it has ended)."""
        with contextlib.suppress(ConflictError, NotFoundError):
            await self.cancel(None, request_id)

    async def _cancel_one(self, request: dict[str, Any]) -> None:
        store = self._store
        ok = await store.requests.finish(
            request["id"], request.get("job_execution_id"), NON_TERMINAL, "CANCELLED",
            request_values={"error_code": ErrorCode.ERR_JOB_CANCELLED, "error_message": "cancelled by request",
                            "user_key": None})
        if not ok:
            return
        supervisor = self._supervisors.get(request["id"])
        if supervisor is not None and supervisor.task is not None:
            supervisor.stop_reason = "cancel"
            supervisor.task.cancel()
        else:
            await self._cancelled_elsewhere(request)
        self._metrics.requests_finished.labels("CANCELLED").inc()
        self._logs.notify(request["id"])

    async def _cancelled_elsewhere(self, request: dict[str, Any]) -> None:
        """A request cancelled while no supervisor of ours runs it (waiting, paused, or on approval)."""
        if request.get("job_execution_id"):
            for row in await self._store.requests.task_executions([request["job_execution_id"]]):
                if row["task_state"] in ("EXECUTING", "READY", "MANUAL_APPROVAL_REQUIRED", "PAUSED"):
                    await self._store.requests.update_task_execution(
                        row["id"], [row["task_state"]], task_state="CANCELLED", error_code="ERR_JOB_CANCELLED",
                        ended_at=utcnow())
        self._watchers.ended(request["id"])
        await self._events.emit_loading(ENDED, {**request, "job_state": "CANCELLED", "ended_at": utcnow()})
        await self._publisher.publish({"type": "cancel", "request_id": request["id"]})
        await self._publisher.publish({"type": "ended", "request_id": request["id"]})

    async def pause(self, principal: Principal, request_id: str) -> dict[str, Any]:
        request = await self._store.requests.get(request_id, principal)
        supervisor = self._supervisors.get(request_id)
        if request["job_state"] != "EXECUTING":
            raise ConflictError(f"only an EXECUTING request can be paused; {request_id} is {request['job_state']}",
                                field="job_state")
        if supervisor is None or supervisor.task is None:
            # The supervisor runs on another queen: ask it (every queen hears the event).
            await self._publisher.publish({"type": "pause", "request_id": request["id"]})
        else:
            supervisor.stop_reason = "pause"
            supervisor.task.cancel()
            await supervisor.task
        return await self._store.requests.get(request_id)

    async def restart(self, principal: Principal, request_id: str, *, hard: bool, version: str) -> dict[str, Any]:
        store = self._store
        request = await store.requests.get(request_id, principal)
        if request["job_state"] not in ("FAILED", "CANCELLED", "PAUSED"):
            raise ConflictError(f"only a FAILED, CANCELLED or PAUSED request can be restarted; {request_id} is "
                                f"{request['job_state']}", field="job_state")
        definition_id = request["job_definition_id"]
        if version or hard:
            definition_id = (await self._definition(principal, request["job_type"], version or "latest"))["id"]
        if request["job_state"] == "PAUSED" and request.get("job_execution_id"):
            await store.requests.update_execution(request["job_execution_id"], job_state="CANCELLED",
                                                  ended_at=utcnow())
        ok = await store.requests.transition(
            request_id, [request["job_state"]], job_state="PENDING", job_definition_id=definition_id,
            last_job_execution_id=request.get("job_execution_id") or request.get("last_job_execution_id"),
            job_execution_id=None, error_code="", error_message="", schedule_attempts=0,
            retried=int(request["retried"]) + 1, scheduled_at=utcnow(), hard_restart=hard, ended_at=None,
            current_task="", lease_owner=None)
        if not ok:
            current = await store.requests.get(request_id)
            raise ConflictError(f"request {request_id} changed to {current['job_state']} meanwhile", field="job_state")
        await store.audit.record("JOB_REQUEST_RESTARTED", principal, target_id=request_id, job_type=request["job_type"])
        self._logs.marker(request_id, f"restarted{' (hard)' if hard else ''} at {stamp(utcnow())}; it was "
                                            f"{request['job_state']}")
        self._waker.wake()
        restarted = await store.requests.get(request_id)
        await self._events.emit_loading(RESTARTED, restarted)
        return restarted

    async def trigger(self, principal: Principal, request_id: str) -> dict[str, Any]:
        store = self._store
        request = await store.requests.get(request_id, principal)
        if request["job_state"] != "PENDING":
            raise ConflictError(f"only a PENDING request can be triggered; {request_id} is {request['job_state']}",
                                field="job_state")
        await store.requests.transition(request_id, ["PENDING"], scheduled_at=utcnow())
        await store.audit.record("JOB_REQUEST_TRIGGERED", principal, target_id=request_id, job_type=request["job_type"])
        self._waker.wake()
        return await store.requests.get(request_id)

    async def retarget(self, principal: Principal, job_type: str) -> int:
        """The job type's requests that have not started yet follow its active version (Strait's
        ``latest`` version policy); how many moved."""
        definition = await self._store.definitions.get(principal, job_type)
        return await self._store.requests.retarget(definition["owner_key"], definition["job_type"], definition["id"],
                                                   str(definition["sem_version"] or definition["version"]))

    async def release(self, principal: Principal, request_id: str) -> bool:
        """A BLOCKED request whose dependency is met becomes PENDING (due now); False when it was not BLOCKED."""
        await self._store.requests.get(request_id, principal)
        ok = await self._store.requests.transition(request_id, ["BLOCKED"], job_state="PENDING", scheduled_at=utcnow())
        if ok:
            self._waker.wake()
        return ok

    async def vote(self, principal: Principal, request_id: str, task_type: str, decision: str,
                   comments: str) -> ApprovalRecord:
        store = self._store
        request = await store.requests.get(request_id, principal)
        decision = decision.strip().upper()
        if decision not in (ExitCode.APPROVED, ExitCode.REJECTED):
            raise ValidationError("decision must be APPROVED or REJECTED", field="decision")
        if request["job_state"] != "MANUAL_APPROVAL_REQUIRED":
            raise ConflictError(f"request {request_id} is {request['job_state']}, not awaiting approval",
                                field="job_state")
        rows = await store.requests.task_executions([request["job_execution_id"]])
        row = next((r for r in rows if r["task_type"] == task_type and r["task_state"] == "MANUAL_APPROVAL_REQUIRED"),
                   None)
        if row is None:
            raise NotFoundError(f"task {task_type!r} of request {request_id} is not awaiting approval",
                                field="task_type")
        if decision == ExitCode.REJECTED and not comments.strip():
            raise ValidationError("a rejection needs comments saying why", field="comments")
        definition = await store.definitions.get(self._admin, request["job_definition_id"])
        task = JobDefinitionSpec.model_validate(definition["spec"]).task(task_type)
        policy = task.approval_policy if task is not None else None
        refusal = can_vote(policy, principal.user_id, principal.roles | ({"Admin"} if principal.admin else set()))
        if refusal is not None and can_vote(policy, principal.username, principal.roles) is not None:
            raise PermissionDeniedError(refusal, field="voter")
        return await self._record_vote(principal, request, row, task_type, policy, principal.user_id, decision,
                                       comments)

    async def sla_vote(self, request_id: str, task_execution_id: str, decision: str, comments: str) -> bool:
        """An approval SLA's AUTO_APPROVE / AUTO_REJECT: the reserved system voter decides alone (a request
        no longer waiting, or a task already decided, is left as it is: False)."""
        store = self._store
        request = await store.requests.get(request_id, self._admin)
        if request["job_state"] != "MANUAL_APPROVAL_REQUIRED":
            return False
        row = await store.requests.task_execution(task_execution_id)
        if row is None or row["task_state"] != "MANUAL_APPROVAL_REQUIRED":
            return False
        definition = await store.definitions.get(self._admin, request["job_definition_id"])
        task = JobDefinitionSpec.model_validate(definition["spec"]).task(row["task_type"])
        policy = task.approval_policy if task is not None else None
        await self._record_vote(self._admin, request, row, row["task_type"], policy, SYSTEM_VOTER, decision, comments)
        return True

    async def _record_vote(self, principal: Principal, request: dict[str, Any], row: dict[str, Any], task_type: str,
                           policy: ApprovalPolicy | None, voter: str, decision: str, comments: str) -> ApprovalRecord:
        store = self._store
        request_id = request["id"]
        await store.approvals.cast(request_id, row["id"], task_type, voter, decision, comments)
        votes = [Vote(v["voter"], v["decision"], v["comments"]) for v in await store.approvals.votes(row["id"])]
        outcome = decide(policy, votes)
        if outcome == "PENDING":
            return self.approval_status(request, row, votes, policy_min=policy.min_approvals if policy else 1,
                                        outcome=outcome)
        approved = outcome == ExitCode.APPROVED
        voters = ", ".join(sorted({v.voter for v in votes if v.decision == outcome}))
        await store.requests.update_task_execution(
            row["id"], ["MANUAL_APPROVAL_REQUIRED"], task_state="COMPLETED" if approved else "FAILED",
            exit_code=outcome, error_code="" if approved else ErrorCode.ERR_MANUAL_REJECTION,
            exit_message=f"{'Approved' if approved else 'Rejected'} by {voters}", comments=comments,
            error_message="" if approved else f"rejected by {voters}: {comments}", ended_at=utcnow())
        await store.requests.transition(request_id, ["MANUAL_APPROVAL_REQUIRED"], job_state="PENDING",
                                        scheduled_at=utcnow(), error_code="", error_message="")
        self._logs.marker(request_id, f"{task_type} {outcome.lower()} by {voters} at {stamp(utcnow())}")
        await store.audit.record("APPROVAL_QUORUM_REACHED" if approved else "APPROVAL_REJECTED", principal,
                                 target_id=request_id, job_type=request["job_type"], message=task_type)
        self._waker.wake()
        return self.approval_status(request, row, votes, policy_min=policy.min_approvals if policy else 1,
                                    outcome=outcome)

    async def approval(self, principal: Principal, request_id: str, task_type: str) -> ApprovalRecord:
        """Where the votes on a MANUAL task of the request stand (spec §1.8's approval status), awaiting
        or decided; 404 when the request's run has no such task."""
        store = self._store
        request = await store.requests.get(request_id, principal)
        executions = [e for e in (request.get("job_execution_id"), request.get("last_job_execution_id")) if e]
        rows = [r for r in await store.requests.task_executions(executions) if r["task_type"] == task_type]
        waiting = [r for r in rows if r["task_state"] == "MANUAL_APPROVAL_REQUIRED"]
        decided = [r for r in rows if r["exit_code"] in (ExitCode.APPROVED, ExitCode.REJECTED)]
        candidates = waiting or decided
        if not candidates:
            raise NotFoundError(f"task {task_type!r} of request {request_id} has not asked for approval",
                                field="task_type")
        row = candidates[0]
        definition = await store.definitions.get(self._admin, request["job_definition_id"])
        task = JobDefinitionSpec.model_validate(definition["spec"]).task(task_type)
        policy = task.approval_policy if task is not None else None
        votes = [Vote(v["voter"], v["decision"], v["comments"]) for v in await store.approvals.votes(row["id"])]
        outcome = row["exit_code"] if row in decided else decide(policy, votes)
        record = self.approval_status(request, row, votes, policy_min=policy.min_approvals if policy else 1,
                                      outcome=outcome)
        return replace(record, policy=policy.model_dump(exclude_none=True) if policy is not None else None)

    @staticmethod
    def approval_status(request: dict[str, Any], row: dict[str, Any], votes: list[Vote], *, policy_min: int,
                        outcome: str) -> ApprovalRecord:
        return ApprovalRecord(
            task_execution_id=row["id"], job_request_id=request["id"], task_type=row["task_type"],
            approvals_received=sum(v.decision == ExitCode.APPROVED for v in votes),
            rejections_received=sum(v.decision == ExitCode.REJECTED for v in votes),
            min_approvals_required=policy_min, quorum_reached=outcome == ExitCode.APPROVED,
            rejected=outcome == ExitCode.REJECTED, decision=outcome,
            votes=tuple(VoteRecord(v.voter, v.decision, v.comments) for v in votes))
