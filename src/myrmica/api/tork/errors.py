"""Tork's error bodies: ``{"message": …}`` with its texts and statuses (spec/tork.md §3)."""

from __future__ import annotations

from typing import Any

from myrmica.domain.errors import DomainError, NotFoundError
from myrmica.domain.tork.decode import BadInput

JOB_NOT_FOUND = "job not found"
TASK_NOT_FOUND = "task not found"
JOB_NOT_RUNNING = "job is not running"
NO_MORE_TASKS = "job has no more tasks to run"
WAIT_TIMEOUT = "timeout waiting for job to complete"
NOT_FOUND = "Not Found"
INTERNAL = "Internal Server Error"
PASSED_ON = frozenset({401, 403, 413, 429, 503})  # core statuses Tork has too; the rest are its 400


def cannot_restart(state: str) -> BadInput:
    return BadInput(f"job is {state} and can not be restarted")


def not_running() -> BadInput:
    return BadInput(JOB_NOT_RUNNING)


def no_more_tasks() -> BadInput:
    return BadInput(NO_MORE_TASKS)


class WaitTimeout(DomainError):
    status = 408

    def __init__(self) -> None:
        super().__init__(WAIT_TIMEOUT)


def error_response(exc: Exception) -> tuple[int, dict[str, Any]]:
    """Status and body for an error: Tork's 400/404/408 texts; core errors keep their message, never a trace.

    Core validation and conflict errors are 400 in Tork (it has no 409 or 422); anything that is not a
    DomainError is Tork's 500 "Internal Server Error".
    """
    if isinstance(exc, NotFoundError):
        return 404, {"message": exc.message}
    if isinstance(exc, WaitTimeout):
        return 408, {"message": exc.message}
    if isinstance(exc, DomainError):
        return (exc.status if exc.status in PASSED_ON else 400), {"message": exc.message}
    return 500, {"message": INTERNAL}
