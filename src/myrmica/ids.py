"""Identifiers: ULIDs, sortable by creation time, as Formicary uses."""

from ulid import ULID


def new_id() -> str:
    return str(ULID())
