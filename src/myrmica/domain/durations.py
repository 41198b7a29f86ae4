"""Go-style durations (``30s``, ``1h5m``, ``1.5h``, ``300ms``); JSON carries them as nanoseconds."""

from __future__ import annotations

import math
import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
MAX_SECONDS = (2**63 - 1) // 10**9  # Go's longest duration (int64 nanoseconds), about 292 years
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)")


def parse_duration(value: object) -> float:
    """Return seconds. Bare numbers are nanoseconds (Go's JSON form); strings use Go's units.
    Whatever the form, the result is finite and fits in int64 nanoseconds, as Go's does."""
    seconds = _parse(value)
    if not math.isfinite(seconds) or abs(seconds) > MAX_SECONDS:
        raise ValueError(f"the duration {_shown(value)} is out of range (at most about 292 years)")
    return seconds


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def _parse(value: object) -> float:
    if value is None or value == "":
        return 0.0
    if isinstance(value, bool):
        raise ValueError("a duration cannot be a boolean")
    if isinstance(value, int):
        return value / 1e9 if abs(value) <= 2**63 else math.inf
    if isinstance(value, float):
        return value / 1e9
    if not isinstance(value, str):
        raise ValueError(f"not a duration: {value!r}")
    text = value.strip()
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    if text == "0":
        return 0.0
    if text.isascii() and text.isdigit():
        return sign * int(text) / 1e9 if len(text) <= 19 else math.inf
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise ValueError(f"invalid duration {_shown(value)} (use forms like 30s, 5m, 1h30m)")
    return sign * total


def to_nanos(seconds: float) -> int:
    return int(round(seconds * 1e9))

