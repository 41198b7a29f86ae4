"""Tokens: created and shown once, stored hashed, revocable; and the explicit no-auth mode."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from myrmica.config import Settings
from tests.support.live import LiveServer, live_server

# Tokens and users live in the store: the two stores, not the distributed mode.
pytestmark = pytest.mark.modes("sqlite", "postgresql")


def test_token_lifecycle(server: LiveServer, api: httpx.Client) -> None:
    created = api.post("/api/users/me/tokens", data={"token": "ci"})
    assert created.status_code == 201
    token = created.json()["api_token"]
    with server.client(token=token) as ci:
        assert ci.get("/api/jobs/definitions").status_code == 200
    listed = api.get("/api/users/me/tokens").json()
    assert "ci" in [t["token_name"] for t in listed]
    assert token not in api.get("/api/users/me/tokens").text  # never shown again
    token_id = created.json()["id"]
    assert api.delete(f"/api/users/me/tokens/{token_id}").status_code == 200
    with server.client(token=token) as revoked:
        response = revoked.get("/api/jobs/definitions")
        assert response.status_code == 401 and "revoked" in response.json()["error"]
    assert api.delete(f"/api/users/me/tokens/{token_id}").status_code == 404
    assert api.post("/api/users/me/tokens", json={}).status_code == 422


def test_the_token_is_stored_only_as_a_hash(server: LiveServer, api: httpx.Client) -> None:
    token = api.post("/api/users/me/tokens", json={"token": "hashed"}).json()["api_token"]
    database = server.settings.effective_database_url
    if database.startswith("sqlite"):
        raw = Path(database.removeprefix("sqlite:///")).read_bytes()
        assert token.encode() not in raw


@pytest.fixture
def open_server(server_settings: Settings) -> Iterator[LiveServer]:
    with live_server(dataclasses.replace(server_settings, auth_enabled=False)) as live:
        yield live


def test_no_auth_mode_opens_every_route(open_server: LiveServer, caplog: pytest.LogCaptureFixture) -> None:
    with httpx.Client(base_url=open_server.url) as anonymous:
        assert anonymous.get("/api/jobs/definitions").status_code == 200
        assert anonymous.get("/api/ants").status_code == 200  # every caller acts as the admin
