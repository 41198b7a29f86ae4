"""Why a supervisor stops: ``cancel``, ``pause``, ``shutdown``, or ``end:<state>:<error code>`` — the run's
own code (an SDK ``complete``/``fail``) or its keeper (a stale heartbeat) ended it (queen/run_ends.py)."""

from __future__ import annotations

END_REASON = "end:"


def end_reason(state: str, error_code: str) -> str:
    return f"{END_REASON}{state}:{error_code}"


def parse_end_reason(reason: str) -> tuple[str, str] | None:
    """(state, error code) of an ``end:`` reason, else None."""
    if not reason.startswith(END_REASON):
        return None
    state, _, code = reason[len(END_REASON):].partition(":")
    return state, code
