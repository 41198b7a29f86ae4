"""Fastlane's error answers: a refused payload is 400 with a plain-text message; the rest is JSON
``{"error": …, "operation": …}`` (Fastlane sent that JSON as text/html; here it is application/json)."""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from myrmica.api.errors import ApiError, is_outage
from myrmica.domain.errors import DomainError, NotFoundError
from myrmica.domain.fastlane.payload import FastlaneBadInput

log = logging.getLogger("myrmica.api.fastlane")


class FastlaneError(Exception):
    def __init__(self, status: int, message: str, operation: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.operation = operation


def error_body(status: int, message: str, operation: str = "") -> JSONResponse:
    return JSONResponse({"error": message, "operation": operation}, status_code=status)


def fastlane_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, FastlaneBadInput):
        return PlainTextResponse(exc.message, status_code=400)
    if isinstance(exc, FastlaneError):
        return error_body(exc.status, exc.message, exc.operation)
    if isinstance(exc, ApiError):
        return error_body(exc.status, exc.message)
    if isinstance(exc, StarletteHTTPException):
        return error_body(exc.status_code, str(exc.detail))
    if isinstance(exc, NotFoundError):
        return error_body(404, exc.message)
    if isinstance(exc, DomainError):
        return error_body(getattr(exc, "status", 400), exc.message)
    if is_outage(exc):
        log.warning("%s %s: the database is unreachable (%s)", request.method, request.url.path, type(exc).__name__)
        return JSONResponse({"error": "the database is unreachable; try again shortly", "operation": ""},
                            status_code=503, headers={"Retry-After": "2"})
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_body(500, "internal error")
