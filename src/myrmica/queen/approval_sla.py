"""Approval SLAs (spec §1.8, §2.7): a MANUAL task whose ``approval_policy.sla_deadline`` has passed since it
began waiting gets its ``timeout_action`` at the next check (every ``approval_sla_check_secs``, by the
leading queen): ``AUTO_APPROVE`` or ``AUTO_REJECT`` as the reserved voter ``system:sla-timeout``, or
``ESCALATE`` (the default) — marked once (task contexts ``ApprovalEscalated``, ``ApprovalEscalatedAt``),
audited, an email with ``escalation_message`` to each ``escalation_recipients``, and it goes on waiting.

The time comes from ``now`` (a callable), so a test moves the clock instead of sleeping.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from myrmica.clock import utcnow
from myrmica.domain.definition_model import JobDefinitionSpec
from myrmica.domain.principal import Principal
from myrmica.store.store import Store

log = logging.getLogger("myrmica.queen.sla")


class SlaVoter(Protocol):
    async def sla_vote(self, request_id: str, task_execution_id: str, decision: str, comments: str) -> bool: ...


Escalate = Callable[[str, str, str], Awaitable[None]]  # (recipient, subject, body)


class ApprovalSla:
    def __init__(self, store: Store, voter: SlaVoter, admin: Principal, *, escalate: Escalate | None = None,
                 now: Callable[[], datetime] = utcnow) -> None:
        self._store = store
        self._voter = voter
        self._admin = admin
        self._escalate = escalate
        self.now = now

    async def check(self) -> list[tuple[str, str]]:
        """Handle every breached deadline now: (task execution id, action taken)."""
        now = self.now()
        done: list[tuple[str, str]] = []
        specs: dict[str, JobDefinitionSpec] = {}
        for row in await self._store.requests.awaiting_approval():
            definition_id = str(row["job_definition_id"])
            spec = specs.get(definition_id)
            if spec is None:
                try:
                    definition = await self._store.definitions.get(self._admin, definition_id)
                except Exception:  # a definition deleted meanwhile: nothing to apply
                    continue
                spec = specs[definition_id] = JobDefinitionSpec.model_validate(definition["spec"])
            task = spec.task(str(row["task_type"]))
            policy = task.approval_policy if task is not None else None
            if policy is None or policy.sla_deadline <= 0:
                continue
            if row["started_at"] + timedelta(seconds=policy.sla_deadline) > now:
                continue
            action = policy.timeout_action.upper()
            if action in ("AUTO_APPROVE", "AUTO_REJECT"):
                decision = "APPROVED" if action == "AUTO_APPROVE" else "REJECTED"
                if await self._voter.sla_vote(str(row["job_request_id"]), str(row["id"]), decision,
                                              f"approval SLA of {policy.sla_deadline:g}s passed: {action}"):
                    await self._store.audit.record("APPROVAL_SLA_BREACHED", self._admin,
                                                   target_id=str(row["job_request_id"]), job_type=spec.job_type,
                                                   message=str(row["task_type"]))
                    await self._store.audit.record("APPROVAL_AUTO_RESOLVED", self._admin,
                                                   target_id=str(row["job_request_id"]), job_type=spec.job_type,
                                                   message=f"{row['task_type']}: {decision}")
                    done.append((str(row["id"]), action))
            elif not (row.get("contexts") or {}).get("ApprovalEscalated"):
                await self._escalate_row(row, spec.job_type, policy.escalation_recipients,
                                         policy.escalation_message, now)
                done.append((str(row["id"]), "ESCALATE"))
        return done

    async def _escalate_row(self, row: dict[str, Any], job_type: str, recipients: list[str], message: str,
                            now: datetime) -> None:
        contexts = {**(row.get("contexts") or {}), "ApprovalEscalated": True, "ApprovalEscalatedAt": now.isoformat()}
        if not await self._store.requests.update_task_execution(str(row["id"]), ["MANUAL_APPROVAL_REQUIRED"],
                                                                 contexts=contexts):
            return  # decided meanwhile
        request_id = str(row["job_request_id"])
        await self._store.audit.record("APPROVAL_SLA_BREACHED", self._admin, target_id=request_id, job_type=job_type,
                                       message=str(row["task_type"]))
        await self._store.audit.record("APPROVAL_ESCALATED", self._admin, target_id=request_id, job_type=job_type,
                                       message=f"{row['task_type']} → {', '.join(recipients) or 'nobody'}")
        text = message or f"The approval of {row['task_type']} in request {request_id} ({job_type}) is overdue."
        if self._escalate is not None:
            for recipient in recipients:
                try:
                    await self._escalate(recipient, f"[myrmica] approval overdue: {job_type} {row['task_type']}",
                                         text)
                except Exception as exc:  # the mail server's own errors: the escalation stays recorded
                    log.warning("request %s: escalation to %s failed: %s", request_id, recipient, exc)
