"""The FastAPI application: the native API under ``/api``; dialects mount beside it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi_offline import FastAPIOffline
from starlette.routing import BaseRoute

from myrmica import __version__
from myrmica.api.context import AppContext
from myrmica.api.errors import install_error_handlers
from myrmica.api.fastlane import hooks as fastlane_hooks
from myrmica.api.fastlane import router as fastlane
from myrmica.api.fastlane.views import PREFIX as FASTLANE_PREFIX
from myrmica.api.formicary import (
    accounts,
    ants,
    approvals,
    artifacts,
    catalog,
    configs,
    definitions,
    executors,
    logs,
    passwords,
    requests,
    system,
    tokens,
    trigger_admin,
    triggers,
)
from myrmica.api.openapi_docs import install_openapi
from myrmica.api.prefix_routes import PrefixRoutes, grouped
from myrmica.api.strait import router as strait
from myrmica.api.tork import router as tork
from myrmica.api.tork import webhooks as tork_webhooks
from myrmica.config import tork_prefix
from myrmica.runtime import Runtime
from myrmica.web import install_dashboard

DOCS_ASSETS = "/docs-assets"
NATIVE_PREFIX = "/api"


def native_routers() -> list[APIRouter]:
    """The native API's routers (their prefixes start with ``/api``), in matching order. Submitting
    and reading requests, the busiest routes, come first."""
    return [requests.router, system.public_router, system.router, definitions.plugins_router, configs.router,
            requests.stats_router, definitions.router, logs.router, ants.router, executors.router, tokens.router,
            passwords.router, accounts.router, catalog.router, artifacts.router, approvals.router,
            triggers.router, trigger_admin.router, system.metrics_router]


def dialect_starts() -> list[Callable[[AppContext], None]]:
    """What each dialect sets up once the engine runs: the listeners of its events (webhooks)."""
    return [tork_webhooks.start, fastlane_hooks.start]


def create_app(runtime: Runtime) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ctx = ctx = await runtime.start()
        for start in dialect_starts():
            start(ctx)
        try:
            yield
        finally:
            await runtime.stop()

    # The /docs and /redoc pages load Swagger UI and ReDoc from this server (fastapi-offline ships
    # them), not from a CDN, so they work offline.
    app = FastAPIOffline(title="Myrmica", version=__version__, lifespan=lifespan,
                         description="Job orchestration: the native (Formicary) API under /api, the Tork "
                                     "dialect, and the Strait dialect under /v1.", static_url=DOCS_ASSETS)
    install_error_handlers(app)
    install_openapi(app)
    prefix = tork_prefix(runtime.settings.tork_prefix)
    # Each dialect's routes as one group tried only for paths under its prefix (api/prefix_routes.py):
    # a request walks its own dialect's routes, not every one before them.
    strait_routes = PrefixRoutes(strait.PREFIXES, strait.mount(app))
    tork_routes: list[BaseRoute] = [PrefixRoutes([prefix], tork.mount(app, prefix))] if prefix \
        else list(tork.mount(app, prefix))
    # /fastlane, before a Tork dialect mounted at the root
    app.router.routes.append(PrefixRoutes([FASTLANE_PREFIX], fastlane.mount(app)))
    native = grouped(NATIVE_PREFIX, [route for router in native_routers() for route in router.routes])  # + /metrics
    if prefix:
        app.router.routes.extend([strait_routes, *native, *tork_routes])
    else:  # at the root, Tork's clients come first (its /metrics and /health are not the native ones)
        app.router.routes.extend([strait_routes, *tork_routes, *native])
    install_dashboard(app)  # the web dashboard at /, after the API's routes
    return app
