"""Small helpers shared by the repositories."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row


def as_dict(row: Row[Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    out = dict(row._mapping)
    for key, value in out.items():
        if isinstance(value, datetime) and value.tzinfo is None:
            out[key] = value.replace(tzinfo=UTC)  # SQLite hands back naive datetimes
    return out


def as_dicts(rows: Any) -> list[dict[str, Any]]:
    return [d for d in (as_dict(row) for row in rows) if d is not None]

