"""Formicary's pagination: ``page`` (0-based) and ``page_size``/``pageSize``; the capitalised envelope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from myrmica.api.errors import ApiError

DEFAULT_PAGE_SIZE = 200
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class Page:
    page: int
    size: int


def _int(request: Request, *names: str, default: int) -> int:
    for name in names:
        raw = request.query_params.get(name)
        if raw is not None and raw != "":
            try:
                return int(raw)
            except ValueError as exc:
                raise ApiError(400, f"{name} must be an integer, not {raw!r}", field=name) from exc
    return default


def page_of(request: Request) -> Page:
    page = _int(request, "page", default=0)
    size = _int(request, "page_size", "pageSize", default=DEFAULT_PAGE_SIZE)
    if page < 0:
        raise ApiError(400, "page must be 0 or more", field="page")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ApiError(400, f"page_size must be between 1 and {MAX_PAGE_SIZE}", field="page_size")
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
