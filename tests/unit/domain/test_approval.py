from __future__ import annotations

from typing import Any

import pytest

from myrmica.domain.approval import SYSTEM_VOTER, Vote, can_vote, decide
from myrmica.domain.definition_model import ApprovalPolicy

NONE: frozenset[str] = frozenset()


def policy(**fields: Any) -> ApprovalPolicy:
    return ApprovalPolicy.model_validate(fields)


def yes(voter: str) -> Vote:
    return Vote(voter, "APPROVED", "", NONE)


def no(voter: str) -> Vote:
    return Vote(voter, "REJECTED", "not now", NONE)


# --- can_vote -------------------------------------------------------------------------------------


def test_no_policy_lets_anyone_vote() -> None:
    assert can_vote(None, "alice", NONE) is None


def test_open_policy() -> None:
    assert can_vote(policy(min_approvals=2), "alice", NONE) is None


def test_reserved_and_empty_voter() -> None:
    for p in (None, policy()):
        reason = can_vote(p, SYSTEM_VOTER, frozenset({"Admin"}))
        assert reason is not None and "reserved" in reason
        assert can_vote(p, "  ", NONE) is not None


def test_allowed_users() -> None:
    p = policy(allowed_users="alice, bob")
    assert can_vote(p, "alice", NONE) is None
    assert can_vote(p, "bob", NONE) is None
    reason = can_vote(p, "carol", frozenset({"Admin"}))
    assert reason is not None and "alice" in reason and "carol" in reason


def test_allowed_roles() -> None:
    p = policy(allowed_roles="Admin,Security")
    assert can_vote(p, "carol", frozenset({"admin"})) is None
    assert can_vote(p, "carol", frozenset({"Security", "Dev"})) is None
    reason = can_vote(p, "carol", frozenset({"Dev"}))
    assert reason is not None and "roles" in reason
    assert can_vote(p, "carol", NONE) is not None


def test_users_or_roles() -> None:
    p = policy(allowed_users=["alice"], allowed_roles=["Admin"])
    assert can_vote(p, "alice", NONE) is None
    assert can_vote(p, "dave", frozenset({"Admin"})) is None
    assert can_vote(p, "dave", NONE) is not None


# --- decide ---------------------------------------------------------------------------------------


def test_no_votes_is_pending() -> None:
    assert decide(None, []) == "PENDING"
    assert decide(policy(min_approvals=3), []) == "PENDING"


def test_default_one_approval() -> None:
    assert decide(None, [yes("alice")]) == "APPROVED"
    assert decide(policy(), [yes("alice")]) == "APPROVED"


def test_quorum() -> None:
    p = policy(min_approvals=2)
    assert decide(p, [yes("alice")]) == "PENDING"
    assert decide(p, [yes("alice"), yes("bob")]) == "APPROVED"


def test_repeat_vote_counts_once() -> None:
    p = policy(min_approvals=2)
    assert decide(p, [yes("alice"), yes("alice")]) == "PENDING"
    # The first vote of a voter stands.
    assert decide(p, [yes("alice"), no("alice"), yes("bob")]) == "APPROVED"


def test_decisions_are_case_insensitive() -> None:
    assert decide(None, [Vote("alice", "approved", "", NONE)]) == "APPROVED"
    assert decide(None, [Vote("alice", "maybe", "", NONE)]) == "PENDING"


def test_any_rejection_rejects_without_policy_or_user_list() -> None:
    assert decide(None, [no("alice")]) == "REJECTED"
    assert decide(policy(min_approvals=2), [yes("alice"), no("bob")]) == "REJECTED"
    assert decide(policy(min_approvals=2, allowed_roles="Admin"), [no("bob")]) == "REJECTED"


def test_require_unanimous() -> None:
    p = policy(min_approvals=1, allowed_users="alice,bob,carol", require_unanimous=True)
    assert decide(p, [no("bob")]) == "REJECTED"
    assert decide(p, [yes("alice"), no("bob")]) == "REJECTED"


def test_rejection_with_user_list_waits_while_quorum_is_reachable() -> None:
    p = policy(min_approvals=2, allowed_users="alice,bob,carol")
    assert decide(p, [no("bob")]) == "PENDING"  # alice + carol could still approve
    assert decide(p, [yes("alice"), no("bob")]) == "PENDING"  # carol could still approve
    assert decide(p, [yes("alice"), no("bob"), yes("carol")]) == "APPROVED"
    assert decide(p, [no("bob"), no("carol")]) == "REJECTED"  # only alice left: 0 + 1 < 2
    assert decide(p, [yes("alice"), no("bob"), no("carol")]) == "REJECTED"


def test_quorum_reached_wins_over_a_rejection_with_user_list() -> None:
    p = policy(min_approvals=1, allowed_users="alice,bob")
    assert decide(p, [no("bob"), yes("alice")]) == "APPROVED"


@pytest.mark.parametrize("decision", ["APPROVED", "REJECTED"])
def test_sla_system_vote_decides(decision: str) -> None:
    p = policy(min_approvals=3, allowed_users="alice,bob,carol")
    votes = [yes("alice"), Vote(SYSTEM_VOTER, decision, "SLA breached", NONE)]
    assert decide(p, votes) == decision
