"""Routes grouped by prefix match exactly what they matched side by side, and stay in the OpenAPI document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Match

from myrmica.api.app import create_app
from myrmica.api.prefix_routes import CHOSEN, PrefixRoutes, flat, grouped
from myrmica.config import Settings
from myrmica.runtime import Runtime

PATHS = [("POST", "/api/jobs/requests"), ("GET", "/api/jobs/requests/01J0000000000000000000000A"),
         ("POST", "/v1/jobs/01J0000000000000000000000A/trigger"), ("GET", "/v1/runs/x"),
         ("POST", "/sdk/v1/runs/x/heartbeat"), ("GET", "/tork/jobs"), ("GET", "/fastlane/tasks/t"),
         ("GET", "/metrics"), ("GET", "/api/health"), ("DELETE", "/v1/jobs"), ("GET", "/v1/nowhere")]


def _scope(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "query_string": b"", "headers": []}


def _chosen(routes: list[BaseRoute], method: str, path: str) -> tuple[str, object]:
    """What the app's router would pick: the first full match, else the first partial one."""
    partial: tuple[str, object] | None = None
    for route in routes:
        match, child = route.matches(_scope(method, path))
        found = (match.name, child.get("route") or child.get(CHOSEN) or route)
        if match == Match.FULL:
            return found
        if match == Match.PARTIAL and partial is None:
            partial = found
    return partial or ("NONE", None)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return create_app(Runtime(Settings(data_dir=tmp_path_factory.mktemp("data"))))


def test_the_grouped_app_matches_each_path_to_the_route_the_flat_list_would(app: FastAPI) -> None:
    routes = list(app.router.routes)
    assert any(isinstance(route, PrefixRoutes) for route in routes)
    for method, path in PATHS:
        assert _chosen(routes, method, path) == _chosen(flat(routes), method, path), (method, path)


def test_a_group_answers_no_match_outside_its_prefix_and_keeps_the_others_after_it() -> None:
    def endpoint() -> dict[str, str]:
        return {}

    inside = APIRoute("/v1/jobs", endpoint, methods=["GET"])
    outside = APIRoute("/metrics", endpoint, methods=["GET"])
    group, rest = grouped("/v1", [inside, outside])
    assert isinstance(group, PrefixRoutes) and group.routes == [inside] and rest is outside
    assert group.matches(_scope("GET", "/v1jobs"))[0] == Match.NONE
    assert group.matches(_scope("POST", "/v1/jobs"))[0] == Match.PARTIAL  # a 405, as before
    with pytest.raises(ValueError, match="not under"):
        PrefixRoutes(["/v1"], [outside])


def test_requests_reach_routes_inside_groups_and_the_document_lists_them(tmp_path: Path) -> None:
    app = create_app(Runtime(Settings(data_dir=tmp_path)))
    with TestClient(app) as client:
        paths = client.get("/openapi.json").json()["paths"]
        assert {"/v1/jobs/{job_id}/trigger", "/api/jobs/requests", "/tork/jobs"} <= set(paths)
        assert any(path.startswith("/fastlane/") for path in paths)
        assert client.get("/v1/jobs").status_code == 401  # the Strait route ran (no token), in its envelope
        assert "error" in client.get("/v1/jobs").json()
        assert client.get("/api/health").status_code == 200
