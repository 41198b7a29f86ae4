"""Every failure leaves as JSON ``{"error": …, "field"/"task" where known}`` with a 4xx status (503 while
the database does not answer)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from myrmica.domain.errors import DomainError
from myrmica.store.outage import is_outage

__all__ = ["ApiError", "error_body", "install_error_handlers", "is_outage"]

log = logging.getLogger("myrmica.api")


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = {k: v for k, v in extra.items() if v is not None}


def _printable(value: Any) -> Any:
    """An error may quote what the client sent; text that is not valid Unicode could not be sent back."""
    if isinstance(value, str) and not value.isascii():
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


def error_body(message: str, **extra: Any) -> dict[str, Any]:
    return {"error": _printable(message), **{k: _printable(v) for k, v in extra.items() if v is not None}}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.message, **exc.extra), status_code=exc.status)

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(error_body(exc.message, field=exc.field, task=exc.task), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
        field = ".".join(loc) or None
        message = f"{field}: {first.get('msg')}" if field else str(first.get("msg"))
        return JSONResponse(error_body(message, field=field), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # A dialect mounted at a prefix answers unknown paths and wrong methods there in its own shape.
        for belongs, shape in getattr(app.state, "http_error_shapes", ()):
            if belongs(request.url.path):
                response: JSONResponse = shape(request, exc)
                return response
        return JSONResponse(error_body(str(exc.detail)), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if is_outage(exc):  # not the caller's fault, nor a bug: the same call works once it answers
            log.warning("%s %s: the database is unreachable (%s)", request.method, request.url.path,
                        type(exc).__name__)
            return JSONResponse(error_body("the database is unreachable; try again shortly"), status_code=503,
                                headers={"Retry-After": "2"})
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal error; the server log has the details"), status_code=500)
