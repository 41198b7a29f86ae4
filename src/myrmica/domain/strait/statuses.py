"""Core request states as Strait run statuses (spec/strait.md §4; /work/notes/STRAIT.md).

A run is a core request: ``PENDING`` before its start time is ``delayed``, ``PENDING``/``PAUSED``
``queued``, ``READY`` (claimed) ``dequeued``, ``EXECUTING`` ``executing``, ``BLOCKED`` (an unmet
dependency) ``waiting``; the finer failures are the core's error codes on ``FAILED``.
"""

from __future__ import annotations

from datetime import datetime

NON_TERMINAL = ("delayed", "queued", "dequeued", "executing", "waiting")
TERMINAL = ("completed", "failed", "timed_out", "crashed", "system_failed", "canceled", "expired", "dead_letter")
ALL = NON_TERMINAL + TERMINAL

_BY_STATE = {"PENDING": "queued", "PAUSED": "queued", "MANUAL_APPROVAL_REQUIRED": "waiting", "READY": "dequeued",
             "STARTED": "dequeued", "EXECUTING": "executing", "BLOCKED": "waiting", "COMPLETED": "completed",
             "CANCELLED": "canceled"}
_BY_CODE = {
    "ERR_TASK_TIMED_OUT": "timed_out", "ERR_JOB_TIMED_OUT": "timed_out", "ERR_STRAIT_EXPIRED": "expired",
    "ERR_STRAIT_CRASHED": "crashed", "ERR_STRAIT_DEAD_LETTER": "dead_letter", "ERR_VALIDATION": "system_failed",
    "ERR_JOB_EXECUTE": "system_failed", "ERR_ANT_RESOURCES": "system_failed", "ERR_JOB_CANCELLED": "canceled",
}
# The core states of each non-terminal status (for list filters).
CORE_STATES = {"delayed": ("PENDING",), "queued": ("PENDING", "PAUSED"), "dequeued": ("READY", "STARTED"),
               "executing": ("EXECUTING",), "waiting": ("BLOCKED", "MANUAL_APPROVAL_REQUIRED"),
               "completed": ("COMPLETED",), "canceled": ("CANCELLED",)}


def run_status(state: str, error_code: str, *, scheduled_at: datetime | None, now: datetime) -> str:
    if state == "PENDING" and scheduled_at is not None and scheduled_at > now:
        return "delayed"
    if state in _BY_STATE:
        return _BY_STATE[state]
    if state == "FAILED":
        if error_code.startswith("ERR_ENDPOINT_"):
            return "dead_letter"
        return _BY_CODE.get(error_code, "failed")
    return "queued"


def is_terminal(status: str) -> bool:
    return status in TERMINAL
