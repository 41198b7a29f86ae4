"""The Strait dialect's routes under ``/v1`` (and its SDK's under ``/sdk/v1``, when that module is there).

Every Strait route uses :class:`StraitRoute`, which answers any error in Strait's envelope:
``{"error": {"code", "message", "details": {"field"}}, "request_id"}`` (spec/strait.md §2). Modules add
their routers to :func:`routers`; :func:`mount` puts them on the app, flat.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from myrmica.api.errors import ApiError, is_outage
from myrmica.domain.errors import ConflictError, DomainError, NotFoundError, PermissionDeniedError
from myrmica.domain.strait.errors import StraitError
from myrmica.ids import new_id

log = logging.getLogger("myrmica.api.strait")

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
TAG = "strait"
PREFIX = "/v1"
SDK_PREFIX = "/sdk/v1"
PREFIXES = (PREFIX, SDK_PREFIX)
CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         409: "conflict", 413: "payload_too_large", 422: "unprocessable_entity", 429: "rate_limited",
         500: "internal_error", 503: "unavailable"}


def envelope(request: Request, status: int, message: str, *, code: str = "", field: str | None = None,
             headers: dict[str, str] | None = None) -> JSONResponse:
    error: dict[str, Any] = {"code": code or CODES.get(status, "error"), "message": message}
    if field:
        error["details"] = {"field": field}
    request_id = request.headers.get("x-request-id", "")[:100] or new_id()
    return JSONResponse({"error": error, "request_id": request_id}, status_code=status,
                        headers={**(headers or {}), "X-Request-ID": request_id})


def strait_error(request: Request, exc: Exception) -> JSONResponse:
    """Any exception a Strait route raised, in Strait's envelope (never a trace)."""
    if isinstance(exc, StraitError):
        return envelope(request, exc.status, exc.message, code=exc.code, field=exc.field, headers=exc.headers)
    if isinstance(exc, ApiError):  # shared helpers: 401 bad token, 413 body too large
        return envelope(request, exc.status, exc.message, field=exc.extra.get("field"))
    if isinstance(exc, RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        return envelope(request, 400, str(first.get("msg", "bad request")), field=where)
    if isinstance(exc, StarletteHTTPException):
        message = "not found" if exc.status_code == 404 else str(exc.detail)
        return envelope(request, exc.status_code, message, headers=dict(exc.headers or {}))
    if is_outage(exc):
        log.warning("%s %s: the database is unreachable (%s)", request.method, request.url.path, type(exc).__name__)
        return envelope(request, 503, "the database is unreachable; try again shortly", headers={"Retry-After": "2"})
    if isinstance(exc, NotFoundError):
        return envelope(request, 404, exc.message, field=exc.field)
    if isinstance(exc, ConflictError):
        return envelope(request, 409, exc.message, field=exc.field)
    if isinstance(exc, PermissionDeniedError):
        return envelope(request, 403, exc.message, field=exc.field)
    if isinstance(exc, DomainError):
        status = exc.status if exc.status in (401, 413, 429, 503) else 400
        return envelope(request, status, exc.message, field=exc.field)
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return envelope(request, 500, "internal server error")


class StraitRoute(APIRoute):
    """A route whose errors answer in Strait's envelope."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                return strait_error(request, exc)

        return run


def strait_router() -> APIRouter:
    return APIRouter(route_class=StraitRoute, tags=[TAG])


def routers() -> list[APIRouter]:
    """Every module's router under ``/v1``, in matching order."""
    from myrmica.api.strait import extras, jobs, runs

    return [jobs.router, runs.router, extras.router]


def sdk_routers() -> list[APIRouter]:
    """The SDK's routes (``/sdk/v1/runs/{id}/…``, run-token auth), when that module is installed."""
    try:
        module = importlib.import_module("myrmica.api.strait.sdk")
    except ModuleNotFoundError:
        return []
    router = getattr(module, "router", None)
    return [router] if isinstance(router, APIRouter) else []


def under(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PREFIXES)


def _flat(parent: APIRouter, router: APIRouter) -> None:
    for route in router.routes:
        if isinstance(route, APIRoute):
            parent.add_api_route(route.path, route.endpoint, methods=sorted(route.methods or ()),
                                 responses=route.responses, openapi_extra=route.openapi_extra, tags=route.tags,
                                 name=route.name, summary=route.summary, description=route.description,
                                 include_in_schema=route.include_in_schema, status_code=route.status_code)


def mount(app: FastAPI) -> list[APIRoute]:
    """The dialect's routes, ready to be added to ``app``; unknown paths and wrong methods under ``/v1``
    and ``/sdk/v1`` answer in Strait's envelope."""
    parent = APIRouter(prefix=PREFIX, route_class=StraitRoute)
    for router in routers():
        _flat(parent, router)
    sdk = APIRouter(route_class=StraitRoute)
    for router in sdk_routers():
        _flat(sdk, router)
    app.state.http_error_shapes = [*getattr(app.state, "http_error_shapes", []), (under, strait_error)]
    return [route for route in [*parent.routes, *sdk.routes] if isinstance(route, APIRoute)]
