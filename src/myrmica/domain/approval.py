"""Votes on MANUAL tasks: who may vote and what the votes decide (spec §1.8, §2.7).

Rules:

* The voter id ``system:sla-timeout`` is reserved for the SLA sweep; people cannot use it. A vote
  from it (``AUTO_APPROVE``/``AUTO_REJECT``) decides on its own, whatever the policy says.
* With a policy that sets ``allowed_users`` and/or ``allowed_roles``, the voter must be one of the
  users (exact id) or hold one of the roles (case-insensitive); there is no implicit admin override.
  A policy that sets neither is open: anyone may vote.
* **Myrmica decision:** a MANUAL task *without* ``approval_policy`` can be voted on by anyone, with
  the default rules (one approval approves, any rejection rejects). Formicary refuses every vote in
  that case (403, spec §10.7), which leaves such a task impossible to approve.
* A voter's first vote counts; repeats are ignored (voting again is idempotent).
* Decision: REJECTED when ``require_unanimous`` and any rejection; APPROVED once approvals reach
  ``min_approvals`` (default 1); REJECTED when any rejection exists and there is no policy, or no
  ``allowed_users`` list, or approvals + the allowed users who have not voted yet
  ``< min_approvals`` (quorum is out of reach); else PENDING.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from myrmica.domain.definition_model import ApprovalPolicy

SYSTEM_VOTER = "system:sla-timeout"
APPROVED = "APPROVED"
REJECTED = "REJECTED"
PENDING = "PENDING"


@dataclass(frozen=True)
class Vote:
    voter: str
    decision: str
    comments: str = ""
    roles: frozenset[str] = field(default_factory=frozenset)


def can_vote(policy: ApprovalPolicy | None, voter: str, roles: frozenset[str]) -> str | None:
    """Why ``voter`` may not vote on a task with this policy, or None when the vote is allowed."""
    voter = voter.strip()
    if not voter:
        return "a vote needs a voter id"
    if voter == SYSTEM_VOTER:
        return f"the voter id {SYSTEM_VOTER!r} is reserved for approval SLA handling"
    if policy is None:
        return None
    users = {user.strip() for user in policy.allowed_users if user.strip()}
    allowed_roles = {role.strip().lower() for role in policy.allowed_roles if role.strip()}
    if not users and not allowed_roles:
        return None
    if voter in users:
        return None
    if allowed_roles & {role.strip().lower() for role in roles}:
        return None
    wanted: list[str] = []
    if users:
        wanted.append(f"one of the users {', '.join(sorted(users))}")
    if allowed_roles:
        wanted.append(f"a holder of one of the roles {', '.join(sorted(policy.allowed_roles))}")
    return f"{voter} may not vote on this approval; the policy allows {' or '.join(wanted)}"


def decide(policy: ApprovalPolicy | None, votes: list[Vote]) -> str:
    """``APPROVED``, ``REJECTED`` or ``PENDING`` for these votes under this policy."""
    first: dict[str, str] = {}
    for vote in votes:
        voter = vote.voter.strip()
        decision = vote.decision.strip().upper()
        if voter and voter not in first and decision in (APPROVED, REJECTED):
            first[voter] = decision
    if SYSTEM_VOTER in first:
        return first[SYSTEM_VOTER]
    approvals = sum(1 for decision in first.values() if decision == APPROVED)
    rejections = len(first) - approvals
    min_approvals = policy.min_approvals if policy is not None else 1
    if rejections and policy is not None and policy.require_unanimous:
        return REJECTED
    if approvals >= min_approvals:
        return APPROVED
    if not rejections:
        return PENDING
    if policy is None or not policy.allowed_users:
        return REJECTED
    users = {user.strip() for user in policy.allowed_users if user.strip()}
    remaining = len(users - set(first))
    return REJECTED if approvals + remaining < min_approvals else PENDING
