"""The web dashboard at ``/``: server-rendered pages (Jinja2) with htmx, behind the API's own tokens."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from myrmica.web import artifact_pages, pages, request_pages

STATIC = Path(__file__).parent / "static"


def install_dashboard(app: FastAPI) -> None:
    """The pages (kept out of the OpenAPI document) and their assets under ``/static``."""
    for router in (pages.routes, request_pages.routes, artifact_pages.routes):
        app.router.routes.extend(router.routes)
    app.mount("/static", StaticFiles(directory=STATIC), name="dashboard-static")
