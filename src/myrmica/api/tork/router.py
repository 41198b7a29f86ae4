"""The Tork dialect's routes, mounted at the ``tork_prefix`` setting ("/tork"; "" is the root).

Every Tork route uses :class:`TorkRoute`, which answers any error in Tork's shape
(``{"message": …}``, :mod:`.errors`) instead of the native API's. A module adds its routes by
appending its router to :func:`routers`' list; :func:`mount` puts them all on the app under the
prefix, flat (no nested router for FastAPI to walk on every request).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from myrmica.api.errors import ApiError, is_outage
from myrmica.api.tork.auth import TorkAuthError
from myrmica.api.tork.errors import error_response

log = logging.getLogger("myrmica.api.tork")

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
TAG = "tork"


def message_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status, headers=headers)


def tork_error(request: Request, exc: Exception) -> JSONResponse:
    """Any exception a Tork route raised, as Tork's error body."""
    if isinstance(exc, ApiError):  # the shared helpers' errors: body too large, bad token
        return message_response(exc.status, exc.message)
    if isinstance(exc, RequestValidationError):
        errors = exc.errors()
        return message_response(400, str(errors[0].get("msg")) if errors else "bad request")
    if isinstance(exc, StarletteHTTPException):
        return message_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))
    if is_outage(exc):
        log.warning("%s %s: the database is unreachable (%s)", request.method, request.url.path, type(exc).__name__)
        return message_response(503, "the database is unreachable; try again shortly", {"Retry-After": "2"})
    status, body = error_response(exc)
    if isinstance(exc, TorkAuthError) and exc.headers:  # basic auth's WWW-Authenticate
        return JSONResponse(body, status_code=status, headers=exc.headers)
    if status == 500:
        log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(body, status_code=status)


class TorkRoute(APIRoute):
    """A route whose errors answer in Tork's shape."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                return tork_error(request, exc)

        return run


def tork_router() -> APIRouter:
    """A router for one module of the dialect (its paths are Tork's, without the prefix)."""
    return APIRouter(route_class=TorkRoute, tags=[TAG])


def routers() -> list[APIRouter]:
    """Every module's router, in matching order (the busiest first)."""
    from myrmica.api.tork import health, jobs, nodes, queues, scheduled, tasks, users

    return [jobs.router, tasks.router, scheduled.router, health.router, nodes.router, queues.router, users.router]


def under(prefix: str, path: str) -> bool:
    """Whether a request path belongs to the dialect (at the root: everything but the native API)."""
    if not prefix:
        return not (path == "/api" or path.startswith("/api/"))
    return path == prefix or path.startswith(prefix + "/")


def mount(app: FastAPI, prefix: str) -> list[APIRoute]:
    """The dialect's routes under ``prefix``, ready to be added to ``app``; unknown paths and wrong
    methods under the prefix answer Tork's ``{"message": "Not Found"}`` / ``"Method Not Allowed"``."""
    parent = APIRouter(prefix=prefix, route_class=TorkRoute)
    for router in routers():
        for route in router.routes:
            if isinstance(route, APIRoute):  # (include_router would nest the router, walked per request)
                parent.add_api_route(route.path, route.endpoint, methods=sorted(route.methods or ()),
                                     responses=route.responses, openapi_extra=route.openapi_extra,
                                     tags=route.tags, name=route.name, summary=route.summary,
                                     description=route.description, include_in_schema=route.include_in_schema)
    app.state.http_error_shapes = [*getattr(app.state, "http_error_shapes", []),
                                   (lambda path: under(prefix, path), tork_error)]
    return [route for route in parent.routes if isinstance(route, APIRoute)]
