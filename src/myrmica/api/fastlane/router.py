"""The Fastlane dialect's routes under ``/fastlane``: each one answers with and without its trailing
slash, and a job's routes under ``/jobs/`` (the paths Fastlane returns) and ``/job/`` (its docs')."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import APIRoute

from myrmica.api.fastlane.errors import fastlane_error
from myrmica.api.fastlane.views import PREFIX

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
TAG = "fastlane"


class FastlaneRoute(APIRoute):
    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                return fastlane_error(request, exc)

        return run


def variants(path: str) -> list[str]:
    """``/tasks/{t}/jobs/{j}/`` → it and ``/job/``, each with and without the last slash."""
    bare = path.rstrip("/") or "/"
    forms = [bare]
    if "/jobs/" in bare:
        forms.append(bare.replace("/jobs/", "/job/", 1))
    return [p for form in forms for p in ((form, form + "/") if form != "/" else (form,))]


class Routes:
    """A module's routes; ``route(path, methods)`` registers every variant of the path."""

    def __init__(self) -> None:
        self.router = APIRouter(route_class=FastlaneRoute, tags=[TAG])

    def route(self, path: str, methods: list[str]) -> Callable[[Handler], Handler]:
        def add(endpoint: Handler) -> Handler:
            # One route per method: a route with two methods gives both one OpenAPI operation id.
            for index, form in enumerate(variants(path)):
                for method in methods:
                    self.router.add_api_route(form, endpoint, methods=[method],
                                              include_in_schema=index == 1 or len(variants(path)) == 1,
                                              name=f"fastlane_{endpoint.__name__}_{method.lower()}_{index}")
            return endpoint
        return add


def routers() -> list[APIRouter]:
    from myrmica.api.fastlane import control, enqueue, reads, status, stream

    return [enqueue.routes.router, reads.routes.router, control.routes.router, status.routes.router,
            stream.routes.router]


def under(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def mount(app: FastAPI) -> list[Any]:
    parent = APIRouter(prefix=PREFIX, route_class=FastlaneRoute)
    for router in routers():
        parent.include_router(router)
    app.state.http_error_shapes = [*getattr(app.state, "http_error_shapes", []), (under, fastlane_error)]
    return list(parent.routes)
