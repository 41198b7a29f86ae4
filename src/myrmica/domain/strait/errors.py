"""Strait's errors: each one a status, a code and the field it is about (spec/strait.md §2, §9)."""

from __future__ import annotations

from myrmica.domain.errors import DomainError


class StraitError(DomainError):
    """An error answered as ``{"error": {"code", "message", "details": {"field"}}, "request_id"}``."""

    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, status: int = 400, code: str = "",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message, field=field)
        self.status = status
        self.code = code or {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                             409: "conflict", 429: "rate_limited"}.get(status, "error")
        self.headers = dict(headers or {})


def bad(message: str, field: str | None = None) -> StraitError:
    return StraitError(message, field=field, status=400, code="validation_error")


def not_found(message: str = "job not found") -> StraitError:
    return StraitError(message, status=404)


def conflict(message: str, field: str | None = None) -> StraitError:
    return StraitError(message, field=field, status=409)


def too_many(message: str, retry_after: int) -> StraitError:
    return StraitError(message, status=429, headers={"Retry-After": str(max(1, retry_after))})
