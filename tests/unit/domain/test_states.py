from __future__ import annotations

import pytest

from myrmica.domain.states import (
    CANCELLABLE,
    ORPHANABLE,
    RESTARTABLE,
    STATE_GROUPS,
    TERMINAL,
    ErrorCode,
    RequestState,
    TaskState,
    can_transition,
    states_for_filter,
)

S = RequestState


def test_sets() -> None:
    assert {S.COMPLETED, S.FAILED, S.CANCELLED} == TERMINAL
    assert {S.FAILED, S.CANCELLED, S.PAUSED} == RESTARTABLE
    assert set(RequestState) - TERMINAL == CANCELLABLE
    assert S.PAUSED in CANCELLABLE and S.MANUAL_APPROVAL_REQUIRED in CANCELLABLE and S.BLOCKED in CANCELLABLE
    assert {S.READY, S.STARTED, S.EXECUTING} == ORPHANABLE
    assert STATE_GROUPS["DONE"] == STATE_GROUPS["HISTORY"] == TERMINAL
    assert STATE_GROUPS["RUNNING"] == {S.STARTED, S.EXECUTING}
    assert S.BLOCKED in STATE_GROUPS["WAITING"]


def test_task_states_have_no_skipped() -> None:
    assert "SKIPPED" not in TaskState.__members__
    assert {str(s) for s in TaskState} == {
        "READY", "EXECUTING", "COMPLETED", "FAILED", "PAUSED", "MANUAL_APPROVAL_REQUIRED", "CANCELLED"
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("running", {"STARTED", "EXECUTING"}),
        ("WAITING", {"PENDING", "PAUSED", "MANUAL_APPROVAL_REQUIRED", "READY", "BLOCKED"}),
        ("Done", {"COMPLETED", "FAILED", "CANCELLED"}),
        ("history", {"COMPLETED", "FAILED", "CANCELLED"}),
        ("failed", {"FAILED"}),
        (" manual_approval_required ", {"MANUAL_APPROVAL_REQUIRED"}),
    ],
)
def test_states_for_filter(value: str, expected: set[str]) -> None:
    assert states_for_filter(value) == expected


def test_states_for_filter_unknown() -> None:
    with pytest.raises(ValueError, match="unknown job state"):
        states_for_filter("SLEEPING")


def test_error_codes() -> None:
    codes = ErrorCode.all()
    for name in ("ERR_JOB_EXECUTE", "ERR_QUOTA_EXCEEDED", "ERR_JOB_SCHEDULE", "ERR_JOB_CANCELLED",
                 "ERR_ANTS_UNAVAILABLE", "ERR_TASK_EXECUTE", "ERR_INVALID_NEXT_TASK",
                 "ERR_CONTAINER_NOT_FOUND",
                 "ERR_CONTAINER_STOPPED_FAILED", "ERR_MARSHALING_FAILED", "ERR_ANT_EXECUTION_FAILED",
                 "ERR_VALIDATION", "ERR_FILTERED_JOB", "ERR_ANT_RESOURCES", "ERR_FATAL", "ERR_RESTART_JOB",
                 "ERR_PAUSE_JOB", "ERR_MANUAL_APPROVAL_REQUIRED", "ERR_MANUAL_REJECTION", "ERR_RESTART_TASK",
                 "ERR_TASK_TIMED_OUT", "ERR_ANT_LOST", "ERR_TEMPLATE", "ERR_JOB_OUTPUT",
                 "ERR_ENDPOINT_CLIENT", "ERR_ENDPOINT_AUTH", "ERR_ENDPOINT_REFUSED", "ERR_ENDPOINT_RATE_LIMITED",
                 "ERR_ENDPOINT_SERVER", "ERR_ENDPOINT_CONNECTION", "ERR_SDK_FAILED", "ERR_EXPIRED"):
        assert name in codes
        assert getattr(ErrorCode, name) == name
    assert len(codes) == 32


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("PENDING", "READY"), ("READY", "EXECUTING"), ("READY", "STARTED"), ("STARTED", "EXECUTING"),
        ("EXECUTING", "COMPLETED"), ("EXECUTING", "FAILED"), ("EXECUTING", "PAUSED"),
        ("EXECUTING", "MANUAL_APPROVAL_REQUIRED"), ("EXECUTING", "PENDING"),
        ("MANUAL_APPROVAL_REQUIRED", "PENDING"), ("MANUAL_APPROVAL_REQUIRED", "FAILED"),
        ("MANUAL_APPROVAL_REQUIRED", "READY"),
        ("FAILED", "PENDING"), ("CANCELLED", "PENDING"), ("PAUSED", "PENDING"), ("PAUSED", "READY"),
        ("PENDING", "FAILED"), ("PAUSED", "FAILED"), ("READY", "FAILED"), ("READY", "PENDING"),
        ("READY", "PAUSED"), ("STARTED", "PENDING"),
        ("PENDING", "BLOCKED"), ("BLOCKED", "PENDING"), ("BLOCKED", "FAILED"),
    ],
)
def test_allowed(source: str, target: str) -> None:
    assert can_transition(source, target)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("COMPLETED", "PENDING"), ("COMPLETED", "FAILED"), ("FAILED", "COMPLETED"), ("PENDING", "EXECUTING"),
        ("PENDING", "COMPLETED"), ("EXECUTING", "READY"), ("CANCELLED", "READY"), ("PENDING", "PENDING"),
        ("FAILED", "CANCELLED"), ("COMPLETED", "CANCELLED"), ("CANCELLED", "CANCELLED"),
        ("PENDING", "NOPE"), ("NOPE", "PENDING"),
    ],
)
def test_refused(source: str, target: str) -> None:
    assert not can_transition(source, target)


def test_any_non_terminal_can_be_cancelled() -> None:
    for state in RequestState:
        assert can_transition(state, "CANCELLED") == (state not in TERMINAL)
