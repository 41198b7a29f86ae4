"""Strait's API-key scopes (spec/strait.md §2): ``jobs:read``, ``jobs:write``, ``jobs:trigger``.

A token issued with scopes is a Strait key: each ``/v1`` route needs one of them — a read (GET) needs
``jobs:read``, a trigger (``…/trigger``, ``…/trigger/bulk``) ``jobs:trigger``, any other change
(create, update, delete, clone, batches, dependencies, cancelling a run) ``jobs:write``. A token without
scopes (NULL) may do all its user may.
"""

from __future__ import annotations

from typing import Any

from myrmica.domain.errors import ValidationError

READ, WRITE, TRIGGER = "jobs:read", "jobs:write", "jobs:trigger"
SCOPES = (READ, WRITE, TRIGGER)


def needed_scope(method: str, path: str) -> str:
    """The scope a ``/v1`` route needs."""
    if method.upper() in ("GET", "HEAD", "OPTIONS"):
        return READ
    if path.rstrip("/").endswith(("/trigger", "/trigger/bulk")):
        return TRIGGER
    return WRITE


def read_scopes(value: Any, field: str = "scopes") -> tuple[str, ...] | None:
    """Scopes as a list or a space/comma-separated string; None when absent (an unscoped token)."""
    if value is None:
        return None
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise ValidationError(f"scopes must be a non-empty list of {', '.join(SCOPES)}", field=field)
    unknown = sorted(set(items) - set(SCOPES))
    if unknown:
        raise ValidationError(f"unknown scope {unknown[0]!r}: scopes are {', '.join(SCOPES)}", field=field)
    return tuple(s for s in SCOPES if s in items)
