"""Whole numbers read from text a user sent (query parameters, form fields, JSON values).

Python's ``int()`` takes more than a decimal integer: ``"1_000"``, ``" 7 "``, Arabic-Indic digits
(``"١"``) and other Unicode digits; ``str.isdigit()`` also says yes to ``"¹"``, which ``int()`` then
refuses. Both let odd input through, or crash on it. Here a number is ASCII digits with an optional
sign, within a range that fits a 64-bit column.
"""

from __future__ import annotations

import re
from typing import Any

from myrmica.domain.errors import ValidationError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1  # an ``Integer`` column on PostgreSQL (versions, priorities, concurrency)
_INTEGER = re.compile(r"[+-]?[0-9]{1,19}\Z", re.ASCII)


def is_decimal(text: str) -> bool:
    """ASCII digits only (unlike ``str.isdigit``), so ``"¹"`` and ``"١"`` are not numbers."""
    return text.isascii() and text.isdigit()


def strict_int(value: Any, field: str, *, minimum: int = INT64_MIN, maximum: int = INT64_MAX) -> int:
    """``value`` as an int in ``[minimum, maximum]``: an int (not a bool) or a decimal string."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _INTEGER.match(value):
        number = int(value)
    if number is None and isinstance(value, str) and value.lstrip("+-").isascii() and value.lstrip("+-").isdigit():
        raise ValidationError(f"{field} must be between {minimum} and {maximum}", field=field)
    if number is None:
        shown = value if not isinstance(value, str) or len(value) <= 40 else value[:40] + "…"
        raise ValidationError(f"{field} must be a whole number, not {shown!r}", field=field)
    if not minimum <= number <= maximum:
        raise ValidationError(f"{field} must be between {minimum} and {maximum}", field=field)
    return number


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def check_name(value: Any, field: str, *, max_length: int = 100) -> str:
    """A name (job type, token name): text without control characters, at most ``max_length`` long."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} is required", field=field)
    if len(value) > max_length:
        raise ValidationError(f"{field} may be at most {max_length} characters, not {len(value)}", field=field)
    if has_control(value):
        raise ValidationError(f"{field} must not contain control characters", field=field)
    return value.strip()
