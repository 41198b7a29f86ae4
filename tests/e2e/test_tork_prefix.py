"""``tork_prefix``: the dialect under another path, or at the root for Tork's own clients (``--tork-prefix /``),
with the native API still under /api."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from myrmica.config import Settings
from tests.support.live import live_server
from tests.support.tork import post_job, wait_job

pytestmark = pytest.mark.parametrize("server_settings", ["sqlite"], indirect=True)

HELLO = "name: rooted\ntasks:\n  - name: t\n    run: echo rooted\n"


def test_at_the_root_torks_paths_work_and_the_native_api_stays(server_settings: Settings) -> None:
    with live_server(dataclasses.replace(server_settings, tork_prefix="/")) as live, live.client() as api:
        assert httpx.get(f"{live.url}/health").json() == {"status": "UP", "version": "0.1.153"}
        job = wait_job(api, post_job(api, HELLO, prefix="")["id"], "COMPLETED", prefix="")
        assert api.get("/jobs").json()["items"][0]["id"] == job["id"]
        assert api.get(f"/tasks/{job['execution'][0]['id']}").json()["state"] == "COMPLETED"
        assert api.get("/no-such-thing").json() == {"message": "Not Found"}
        assert api.get("/tork/jobs").json() == {"message": "Not Found"}
        native = api.get("/api/health")
        assert native.status_code == 200 and "overall_status" in native.json()
        assert api.get("/api/nope").json() == {"error": "Not Found"}  # the native API's own shape


def test_another_prefix(server_settings: Settings) -> None:
    with live_server(dataclasses.replace(server_settings, tork_prefix="/t/")) as live, live.client() as api:
        assert api.get("/t/health").json()["status"] == "UP"
        assert post_job(api, HELLO, prefix="/t")["state"] == "PENDING"
        assert api.get("/tork/health").status_code == 404
