"""Request and task states, their groups, error codes and the request transition guard (spec §1.6).

Myrmica adds one request state to Formicary's: ``BLOCKED`` (held by an unmet dependency on another
job; see DESIGN.md). It belongs to the ``WAITING`` query group.

Transitions (:func:`can_transition`) follow Formicary's ``CanTransitionTo`` table, extended with the
paths Formicary performs by direct SQL, so that every state change Myrmica makes goes through one
guarded compare-and-set:

* ``PENDING → READY`` and ``READY → EXECUTING`` (Myrmica never uses ``STARTED``; it stays valid for
  compatibility: ``READY → STARTED → EXECUTING``);
* ``EXECUTING → PENDING`` (``RESTART_JOB`` re-queues the request — Formicary refuses this, §10.4);
* ``MANUAL_APPROVAL_REQUIRED → PENDING`` (approved) or ``→ FAILED`` (rejected);
* any non-terminal state ``→ CANCELLED``;
* ``FAILED | CANCELLED | PAUSED → PENDING`` (restart) and ``PAUSED → READY`` (resume);
* orphan re-queue: every :data:`ORPHANABLE` state ``→ PENDING``;
* ``PENDING → BLOCKED`` and ``BLOCKED → PENDING | READY | FAILED`` (dependency met or failed).

A state never "transitions" to itself: :func:`can_transition` returns False for ``x → x``.
"""

from __future__ import annotations

from enum import StrEnum


class RequestState(StrEnum):
    PENDING = "PENDING"
    READY = "READY"
    STARTED = "STARTED"
    EXECUTING = "EXECUTING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    PAUSED = "PAUSED"
    MANUAL_APPROVAL_REQUIRED = "MANUAL_APPROVAL_REQUIRED"
    BLOCKED = "BLOCKED"


class TaskState(StrEnum):
    """States of a task execution. A skipped task is COMPLETED with exit code ``SKIPPED``."""

    READY = "READY"
    EXECUTING = "EXECUTING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    PAUSED = "PAUSED"
    MANUAL_APPROVAL_REQUIRED = "MANUAL_APPROVAL_REQUIRED"
    CANCELLED = "CANCELLED"


class ExitCode:
    """Exit codes with a meaning of their own (besides numbers and HTTP statuses)."""

    SKIPPED = "SKIPPED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"


_S = RequestState

TERMINAL: frozenset[RequestState] = frozenset({_S.COMPLETED, _S.FAILED, _S.CANCELLED})
CAN_FINALIZE: frozenset[RequestState] = TERMINAL | {_S.PAUSED, _S.MANUAL_APPROVAL_REQUIRED}
RESTARTABLE: frozenset[RequestState] = frozenset({_S.FAILED, _S.CANCELLED, _S.PAUSED})
CANCELLABLE: frozenset[RequestState] = frozenset(s for s in RequestState if s not in TERMINAL)
APPROVABLE: frozenset[RequestState] = frozenset({_S.MANUAL_APPROVAL_REQUIRED})
ORPHANABLE: frozenset[RequestState] = frozenset({_S.READY, _S.STARTED, _S.EXECUTING})

STATE_GROUPS: dict[str, frozenset[RequestState]] = {
    "RUNNING": frozenset({_S.STARTED, _S.EXECUTING}),
    "WAITING": frozenset({_S.PENDING, _S.PAUSED, _S.MANUAL_APPROVAL_REQUIRED, _S.READY, _S.BLOCKED}),
    "DONE": TERMINAL,
    "HISTORY": TERMINAL,
}


def states_for_filter(value: str) -> set[str]:
    """The states a ``job_state`` query value stands for: a group name or one exact state.

    Case-insensitive; raises ValueError for anything else.
    """
    key = value.strip().upper()
    if key in STATE_GROUPS:
        return {str(state) for state in STATE_GROUPS[key]}
    if key in RequestState.__members__:
        return {key}
    choices = ", ".join([*STATE_GROUPS, *RequestState.__members__])
    raise ValueError(f"unknown job state {value!r}; expected one of {choices}")


class ErrorCode:
    """Error codes recorded on failed requests and tasks (spec §1.6), plus Myrmica's own."""

    ERR_JOB_EXECUTE = "ERR_JOB_EXECUTE"
    ERR_QUOTA_EXCEEDED = "ERR_QUOTA_EXCEEDED"
    ERR_JOB_SCHEDULE = "ERR_JOB_SCHEDULE"
    ERR_JOB_CANCELLED = "ERR_JOB_CANCELLED"
    ERR_ANTS_UNAVAILABLE = "ERR_ANTS_UNAVAILABLE"
    ERR_TASK_EXECUTE = "ERR_TASK_EXECUTE"
    ERR_INVALID_NEXT_TASK = "ERR_INVALID_NEXT_TASK"
    ERR_CONTAINER_NOT_FOUND = "ERR_CONTAINER_NOT_FOUND"
    ERR_CONTAINER_STOPPED_FAILED = "ERR_CONTAINER_STOPPED_FAILED"
    ERR_MARSHALING_FAILED = "ERR_MARSHALING_FAILED"
    ERR_ANT_EXECUTION_FAILED = "ERR_ANT_EXECUTION_FAILED"
    ERR_VALIDATION = "ERR_VALIDATION"
    ERR_FILTERED_JOB = "ERR_FILTERED_JOB"
    ERR_ANT_RESOURCES = "ERR_ANT_RESOURCES"
    ERR_FATAL = "ERR_FATAL"
    ERR_RESTART_JOB = "ERR_RESTART_JOB"
    ERR_PAUSE_JOB = "ERR_PAUSE_JOB"
    ERR_MANUAL_APPROVAL_REQUIRED = "ERR_MANUAL_APPROVAL_REQUIRED"
    ERR_MANUAL_REJECTION = "ERR_MANUAL_REJECTION"
    ERR_RESTART_TASK = "ERR_RESTART_TASK"
    ERR_TASK_TIMED_OUT = "ERR_TASK_TIMED_OUT"
    # Myrmica's additions.
    ERR_ANT_LOST = "ERR_ANT_LOST"  # the ant running the task vanished mid-task
    ERR_TEMPLATE = "ERR_TEMPLATE"  # a template failed to render at run time
    ERR_JOB_OUTPUT = "ERR_JOB_OUTPUT"  # the job's ``output`` (expr templates) failed to render at completion
    # HTTP_ENDPOINT failures, by class (ant/executors/endpoint.py); the first three are never retried.
    ERR_ENDPOINT_CLIENT = "ERR_ENDPOINT_CLIENT"  # a 4xx other than 401, 403, 429
    ERR_ENDPOINT_AUTH = "ERR_ENDPOINT_AUTH"  # 401 or 403
    ERR_ENDPOINT_REFUSED = "ERR_ENDPOINT_REFUSED"  # the target is private, loopback or link-local (SSRF guard)
    ERR_ENDPOINT_RATE_LIMITED = "ERR_ENDPOINT_RATE_LIMITED"  # 429
    ERR_ENDPOINT_SERVER = "ERR_ENDPOINT_SERVER"  # 5xx
    ERR_ENDPOINT_CONNECTION = "ERR_ENDPOINT_CONNECTION"  # refused, reset, no such host
    # Ends decided outside the executor: an SDK fail (service/run_callbacks.py); the run keeper's
    # (queen/run_keeper.py) are the Strait dialect's ERR_STRAIT_CRASHED and ERR_STRAIT_EXPIRED.
    ERR_SDK_FAILED = "ERR_SDK_FAILED"  # the run's own code reported a failure (SDK fail)
    ERR_EXPIRED = "ERR_EXPIRED"  # picked up after its ``expires_at``: not run

    @classmethod
    def all(cls) -> frozenset[str]:
        return frozenset(v for k, v in vars(cls).items() if k.startswith("ERR_") and isinstance(v, str))


_TRANSITIONS: dict[RequestState, frozenset[RequestState]] = {
    _S.PENDING: frozenset({_S.READY, _S.FAILED, _S.BLOCKED}),
    _S.BLOCKED: frozenset({_S.PENDING, _S.READY, _S.FAILED}),
    _S.READY: frozenset({_S.STARTED, _S.EXECUTING, _S.FAILED, _S.PENDING, _S.PAUSED}),
    _S.STARTED: frozenset({_S.EXECUTING, _S.FAILED, _S.PENDING}),
    _S.EXECUTING: frozenset(
        {_S.FAILED, _S.COMPLETED, _S.PAUSED, _S.MANUAL_APPROVAL_REQUIRED, _S.PENDING}
    ),
    _S.PAUSED: frozenset({_S.READY, _S.FAILED, _S.PENDING}),
    _S.MANUAL_APPROVAL_REQUIRED: frozenset({_S.READY, _S.PENDING, _S.FAILED}),
    _S.FAILED: frozenset({_S.PENDING}),
    _S.CANCELLED: frozenset({_S.PENDING}),
    _S.COMPLETED: frozenset(),
}


def can_transition(from_state: str, to_state: str) -> bool:
    """Whether a request may move from ``from_state`` to ``to_state`` (see the module docstring)."""
    try:
        source, target = RequestState(from_state), RequestState(to_state)
    except ValueError:
        return False
    if source == target:
        return False
    if target == _S.CANCELLED:
        return source in CANCELLABLE
    return target in _TRANSITIONS[source]
