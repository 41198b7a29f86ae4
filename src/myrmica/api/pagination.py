"""Formicary's pagination: ``page`` (0-based) and ``page_size``/``pageSize``; the capitalised envelope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from myrmica.api.errors import ApiError
from myrmica.domain.errors import ValidationError
from myrmica.domain.numbers import INT64_MAX, strict_int

DEFAULT_PAGE_SIZE = 200
MAX_PAGE_SIZE = 1000
MAX_PAGE = 1_000_000  # page × page_size stays far inside a database's OFFSET


@dataclass(frozen=True)
class Page:
    page: int
    size: int


def int_param(request: Request, *names: str, default: int, minimum: int = 0, maximum: int = INT64_MAX) -> int:
    """A whole-number query parameter (ASCII digits, within range), under any of ``names``."""
    for name in names:
        raw = request.query_params.get(name)
        if raw is not None and raw != "":
            try:
                return strict_int(raw, name, minimum=minimum, maximum=maximum)
            except ValidationError as exc:
                raise ApiError(400, exc.message, field=name) from exc
    return default


def page_of(request: Request) -> Page:
    page = int_param(request, "page", default=0, maximum=MAX_PAGE)
    size = int_param(request, "page_size", "pageSize", default=DEFAULT_PAGE_SIZE, minimum=1, maximum=MAX_PAGE_SIZE)
    return Page(page, size)


def envelope(records: list[Any], total: int, page: Page) -> dict[str, Any]:
    return {
        "Page": page.page,
        "PageSize": page.size,
        "Records": records,
        "TotalPages": (total + page.size - 1) // page.size,
        "TotalRecords": total,
    }


def bool_param(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    lowered = raw.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ApiError(400, f"{name} must be true or false, not {raw!r}", field=name)


def single_page(records: list[Any]) -> dict[str, Any]:
    """The same envelope for a list that is never paged (live views: ants, executors)."""
    return {"Page": 0, "PageSize": len(records), "Records": records, "TotalPages": 1 if records else 0,
            "TotalRecords": len(records)}
