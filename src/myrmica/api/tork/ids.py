"""Tork ids (32 lowercase hex characters) from and to core ids (ULIDs: the same 128 bits)."""

from __future__ import annotations

import re

from ulid import ULID

from myrmica.domain.errors import NotFoundError

_TORK_ID = re.compile(r"[0-9a-f]{32}")


def to_tork(core_id: str) -> str:
    return ULID.from_str(core_id).hex


def is_tork_id(text: str) -> bool:
    return bool(_TORK_ID.fullmatch(text))


def from_tork(tork_id: str, not_found: str = "job not found") -> str:
    """The core id of a Tork id; an id that is not 32 lowercase hex is unknown (Tork's 404 text)."""
    if not is_tork_id(tork_id):
        raise NotFoundError(not_found)
    return str(ULID.from_hex(tork_id))
