"""Reading JSON columns so that whatever a row holds, reading it never fails.

The API refuses bad documents on the way in (see :mod:`myrmica.domain.documents`), but a row may
have been written another way (an older version, a migration, someone with a SQL prompt). One bad
row must not break every list that includes it, so a column is read leniently: ``NaN``/``Infinity``
and overflowing floats become ``null``, an integer too long for Python stays as its text, a lone
surrogate becomes U+FFFD, values nested deeper than the limit are replaced by a note, and text that
is not JSON at all reads as an empty value (with a warning in the log).
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from myrmica.domain.documents import MAX_DEPTH

log = logging.getLogger("myrmica.store")

_MAX_INT_DIGITS = 4300  # Python's own limit for int(str)
TOO_DEEP = f"(nested more than {MAX_DEPTH} levels deep: not shown)"


def _int(text: str) -> int | str:
    return int(text) if len(text) <= _MAX_INT_DIGITS else text


def _float(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


def _constant(_: str) -> None:
    return None


def _repair(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return value if value.isascii() else value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict | list):
        if depth >= MAX_DEPTH:
            return TOO_DEEP
        if isinstance(value, list):
            return [_repair(item, depth + 1) for item in value]
        return {_repair(key, depth + 1): _repair(item, depth + 1) for key, item in value.items()}
    return value


def _suspect(text: str) -> bool:
    """Only text that could hold a lone surrogate or deep nesting is walked (reads stay fast)."""
    return "\\ud" in text or "\\uD" in text or text.count("{") + text.count("[") > MAX_DEPTH


def read_json(text: str) -> Any:
    try:
        value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except (ValueError, RecursionError) as exc:
        log.warning("a stored JSON value could not be read (%s); it reads as empty", type(exc).__name__)
        start = text.lstrip()[:1]
        return {} if start == "{" else [] if start == "[" else None
    return _repair(value, 0) if _suspect(text) else value
