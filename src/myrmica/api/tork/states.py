"""Tork's state names (spec/tork.md §1.4) from core request and task states and error codes.

Jobs: ``PENDING`` (queued) → ``SCHEDULED`` (taken by the scheduler, no task started yet) →
``RUNNING`` → ``COMPLETED | FAILED | CANCELLED``. The core's own waiting states (``BLOCKED``) read
as ``PENDING``; a paused or approval-waiting request (never made by a Tork job) as ``RUNNING``,
since it is neither finished nor cancellable in Tork's terms otherwise.

Tasks: a core task row exists from the moment it is dispatched, so ``READY`` is ``SCHEDULED``;
``EXECUTING`` is ``RUNNING``; a COMPLETED task with exit code ``SKIPPED`` is ``SKIPPED``; a task
that failed because its job was cancelled is ``CANCELLED``.

Error texts: a core timeout is Tork's ``context deadline exceeded``; a SHELL task's non-zero exit is
the shell runtime's ``error executing command: exit status N``.
"""

from __future__ import annotations

from typing import Any

from myrmica.domain.states import ErrorCode, ExitCode

JOB_STATES = ("PENDING", "SCHEDULED", "RUNNING", "CANCELLED", "COMPLETED", "FAILED", "RESTART")
TASK_STATES = ("CREATED", "PENDING", "SCHEDULED", "RUNNING", "CANCELLED", "STOPPED", "COMPLETED", "FAILED",
               "SKIPPED")
ACTIVE_TASK_STATES = frozenset({"CREATED", "PENDING", "SCHEDULED", "RUNNING"})
CANCELLABLE_JOB_STATES = frozenset({"RUNNING", "SCHEDULED"})
RESTARTABLE_JOB_STATES = frozenset({"FAILED", "CANCELLED"})

_JOB = {
    "PENDING": "PENDING",
    "BLOCKED": "PENDING",
    "READY": "SCHEDULED",
    "STARTED": "RUNNING",
    "EXECUTING": "RUNNING",
    "PAUSED": "RUNNING",
    "MANUAL_APPROVAL_REQUIRED": "RUNNING",
    "COMPLETED": "COMPLETED",
    "FAILED": "FAILED",
    "CANCELLED": "CANCELLED",
}

_TASK = {
    "READY": "SCHEDULED",
    "EXECUTING": "RUNNING",
    "PAUSED": "SCHEDULED",
    "MANUAL_APPROVAL_REQUIRED": "RUNNING",
    "COMPLETED": "COMPLETED",
    "FAILED": "FAILED",
    "CANCELLED": "CANCELLED",
}

TIMEOUT_ERROR = "context deadline exceeded"
TEMPLATE_PREFIX = "template error: "  # the core's words before a template's error


def core_states_of(tork_state: str) -> frozenset[str]:
    """The core request states shown as this Tork job state."""
    return frozenset(core for core, tork in _JOB.items() if tork == tork_state)


def job_state(request: dict[str, Any]) -> str:
    return _JOB.get(str(request.get("job_state", "")), "PENDING")


def task_state(task: dict[str, Any]) -> str:
    state = _TASK.get(str(task.get("task_state", "")), "PENDING")
    if state == "COMPLETED" and task.get("exit_code") == ExitCode.SKIPPED:
        return "SKIPPED"
    if state == "FAILED" and task.get("error_code") == ErrorCode.ERR_JOB_CANCELLED:
        return "CANCELLED"
    return state


def task_error(task: dict[str, Any]) -> str:
    """The ``error`` of a failed task as Tork words it ("" for a task that did not fail)."""
    if task.get("task_state") != "FAILED":
        return ""
    if task.get("error_code") == ErrorCode.ERR_TASK_TIMED_OUT:
        return TIMEOUT_ERROR
    message = str(task.get("error_message") or "")
    if task.get("error_code") == ErrorCode.ERR_TEMPLATE and message.startswith(TEMPLATE_PREFIX):
        return message[len(TEMPLATE_PREFIX):]  # an expression's own error, as Tork gives it
    code = str(task.get("exit_code", ""))
    if task.get("method") == "SHELL" and code.isdigit() and code != "0":
        return f"error executing command: exit status {code}"
    return str(task.get("error_message") or task.get("error_code") or "")
