"""The FastAPI application: the native API under ``/api``; dialects mount beside it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from myrmica import __version__
from myrmica.api.errors import install_error_handlers
from myrmica.api.formicary import ants, configs, definitions, executors, logs, requests, system, tokens
from myrmica.runtime import Runtime


def native_router() -> APIRouter:
    api = APIRouter(prefix="/api")
    api.include_router(system.public_router)
    api.include_router(system.router)
    api.include_router(definitions.plugins_router)
    api.include_router(configs.router)
    api.include_router(requests.stats_router)
    api.include_router(definitions.router)
    api.include_router(logs.router)
    api.include_router(requests.router)
    api.include_router(ants.router)
    api.include_router(executors.router)
    api.include_router(tokens.router)
    return api


def create_app(runtime: Runtime) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ctx = await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title="Myrmica", version=__version__, lifespan=lifespan,
                  description="Job orchestration: the native (Formicary) API.")
    install_error_handlers(app)
    app.include_router(native_router())
    return app
