"""Tork's scheduled jobs, users with basic auth, nodes, metrics and queues over HTTP, on a live server
(SQLite and PostgreSQL) with the embedded ant; instances are seen through the native API."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from myrmica.api.tork.ids import to_tork
from myrmica.config import Settings
from myrmica.domain.tork.scheduled import PREFIX
from tests.support.jobs import wait_for
from tests.support.live import LiveServer, live_server
from tests.support.postgres import create_database

SCHEDULED = """name: nightly
description: every minute, really
tags: [ops]
inputs: {who: ants}
secrets: {token: s3cr3t}
schedule:
  cron: "* * * * *"
tasks:
  - name: greet
    run: echo hello $WHO
    env: {WHO: ants}
"""


def settings_for(database: str, tmp_path: Path, postgres: str | None, **extra: Any) -> Settings:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}" if database == "sqlite" else \
        create_database(str(postgres), f"t_{uuid.uuid4().hex[:12]}")
    return Settings(data_dir=tmp_path / "data", database_url=url, admin_token="myr_test_" + uuid.uuid4().hex,
                    embedded_ant=True, ant_id="embedded-ant", **extra)


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    postgres = request.getfixturevalue("postgres_cluster") if request.param == "postgresql" else None
    return settings_for(request.param, tmp_path, postgres, ant_tags=("gpu",))


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    with live_server(settings) as live:
        yield live


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def instances(api: httpx.Client, job_type: str, **params: str) -> list[dict[str, Any]]:
    body = api.get("/api/jobs/requests", params={"job_type": job_type, **params}).json()
    return list(body["Records"])


def post_yaml(api: httpx.Client, text: str, content_type: str = "text/yaml") -> httpx.Response:
    return api.post("/tork/scheduled-jobs", content=text, headers={"Content-Type": content_type})


def test_a_scheduled_job_lives_pauses_resumes_and_goes(api: httpx.Client) -> None:
    created = post_yaml(api, SCHEDULED)
    assert created.status_code == 200, created.text
    summary = created.json()
    assert summary["state"] == "ACTIVE" and summary["cron"] == "* * * * *" and summary["name"] == "nightly"
    assert summary["inputs"] == {"who": "ants"} and summary["tags"] == ["ops"] and len(summary["id"]) == 32
    scheduled_id = summary["id"]
    full = api.get(f"/tork/scheduled-jobs/{scheduled_id}").json()
    assert full["tasks"][0]["name"] == "greet" and full["secrets"] == {"token": "[REDACTED]"}
    assert "s3cr3t" not in json.dumps(full)
    listed = api.get("/tork/scheduled-jobs").json()
    assert [item["id"] for item in listed["items"]] == [scheduled_id] and listed["totalItems"] == 1

    job_type = next(r["job_type"] for r in api.get("/api/jobs/requests", params={"cron_triggered": "true"})
                    .json()["Records"] if r["job_type"].startswith(PREFIX))
    [waiting] = instances(api, job_type, job_state="PENDING")
    assert waiting["cron_triggered"] and waiting["params"] == {"who": "ants", "token": "****"}
    # run the waiting instance now: it completes with the scheduled job's inputs and secrets
    assert api.post(f"/api/jobs/requests/{waiting['id']}/trigger").status_code == 200
    wait_for(lambda: api.get(f"/api/jobs/requests/{waiting['id']}").json()["job_state"] == "COMPLETED",
             what="the instance to complete")
    wait_for(lambda: len(instances(api, job_type, job_state="PENDING")) == 1, what="the next instance")

    assert api.put(f"/tork/scheduled-jobs/{scheduled_id}/pause").json() == {"status": "OK"}
    again = api.put(f"/tork/scheduled-jobs/{scheduled_id}/pause")
    assert (again.status_code, again.json()) == (400, {"message": "scheduled job is not active"})
    assert api.get(f"/tork/scheduled-jobs/{scheduled_id}").json()["state"] == "PAUSED"
    assert instances(api, job_type, job_state="PENDING") == []
    assert [r["job_state"] for r in instances(api, job_type)] == ["COMPLETED"]  # the waiting one went

    assert api.put(f"/tork/scheduled-jobs/{scheduled_id}/resume").json() == {"status": "OK"}
    again = api.put(f"/tork/scheduled-jobs/{scheduled_id}/resume")
    assert (again.status_code, again.json()) == (400, {"message": "scheduled job is not paused"})
    assert len(instances(api, job_type, job_state="PENDING")) == 1

    assert api.delete(f"/tork/scheduled-jobs/{scheduled_id}").json() == {"status": "OK"}
    gone = api.get(f"/tork/scheduled-jobs/{scheduled_id}")
    assert (gone.status_code, gone.json()) == (404, {"message": "scheduled job not found"})
    assert instances(api, job_type) == []  # the delete cascades to every instance
    assert api.get(f"/api/jobs/requests/{waiting['id']}").status_code == 404
    assert api.get("/tork/scheduled-jobs").json()["totalItems"] == 0


@pytest.mark.parametrize(("body", "content_type", "message"), [
    (SCHEDULED.replace('"* * * * *"', '"0 * * * * *"'), "text/yaml",
     "Key: 'ScheduledJob.Schedule.Cron' Error:Field validation for 'Cron' failed on the 'cron' tag"),
    (SCHEDULED.replace('schedule:\n  cron: "* * * * *"\n', ""), "text/yaml",
     "Key: 'ScheduledJob.Schedule' Error:Field validation for 'Schedule' failed on the 'required' tag"),
    (SCHEDULED + "wait: {timeout: 1s}\n", "text/yaml",
     "yaml: unmarshal errors:\n  line 12: field wait not found in type input.ScheduledJob"),
    (SCHEDULED, "application/x-yaml", "unknown content type: application/x-yaml"),
    (SCHEDULED, "", "missing content type"),
])
def test_bad_scheduled_jobs_are_refused_and_nothing_is_stored(api: httpx.Client, body: str, content_type: str,
                                                              message: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    answer = api.post("/tork/scheduled-jobs", content=body, headers=headers)
    assert (answer.status_code, answer.json()) == (400, {"message": message})
    assert api.get("/tork/scheduled-jobs").json()["totalItems"] == 0


def test_unknown_scheduled_jobs(api: httpx.Client) -> None:
    for method, path in (("GET", ""), ("PUT", "/pause"), ("PUT", "/resume"), ("DELETE", "")):
        for tork_id in ("0" * 32, "not-an-id"):
            answer = api.request(method, f"/tork/scheduled-jobs/{tork_id}{path}")
            assert (answer.status_code, answer.json()) == (404, {"message": "scheduled job not found"})


def test_nodes_metrics_and_queues(api: httpx.Client) -> None:
    [node] = wait_for(lambda: api.get("/tork/nodes").json() or None, what="the embedded ant")
    assert (node["id"], node["name"], node["status"], node["queue"]) == (
        "embedded-ant", "embedded-ant", "UP", "x-embedded-ant")
    assert "version" in node and node["cpuPercent"] == 0.0
    idle = api.get("/tork/metrics").json()
    assert idle == {"jobs": {"running": 0}, "tasks": {"running": 0}, "nodes": {"online": 1, "cpuPercent": 0.0}}
    queues = api.get("/tork/queues").json()
    assert [q["name"] for q in queues] == ["default", "gpu"] and {q["subscribers"] for q in queues} == {1}
    assert api.get("/tork/queues/gpu").json() == {"name": "gpu", "size": 0, "subscribers": 1, "unacked": 0}
    for name, status, message in (("nope", 404, "queue nope not found"),
                                  ("jobs", 400, "queue jobs is not a task queue"),
                                  ("x-embedded-ant", 400, "queue x-embedded-ant is not a task queue")):
        answer = api.delete(f"/tork/queues/{name}")
        assert (answer.status_code, answer.json()) == (status, {"message": message})
    assert api.get("/tork/queues/nope").status_code == 404
    deleted = api.delete("/tork/queues/gpu")
    assert (deleted.status_code, deleted.content) == (200, b"")

    # a scheduled job's instance on the gpu queue runs on the ant tagged gpu, and shows in the metrics
    body = SCHEDULED.replace("    run: echo hello $WHO", "    queue: gpu\n    run: sleep 30")
    scheduled_id = post_yaml(api, body).json()["id"]
    [waiting] = [r for r in api.get("/api/jobs/requests", params={"job_state": "PENDING"}).json()["Records"]
                 if r["job_type"].startswith(PREFIX)]
    api.post(f"/api/jobs/requests/{waiting['id']}/trigger")
    running = wait_for(lambda: (m := api.get("/tork/metrics").json())["tasks"]["running"] == 1 and m,
                       what="the task to run")
    assert running["jobs"]["running"] == 1
    wait_for(lambda: {q["name"]: q["unacked"] for q in api.get("/tork/queues").json()} == {"default": 1, "gpu": 1},
             what="the ant's next heartbeat to report its load")
    assert api.delete(f"/tork/scheduled-jobs/{scheduled_id}").status_code == 200
    assert api.get("/tork/metrics").json()["jobs"]["running"] == 0


def basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def test_users_and_basic_auth(tmp_path: Path) -> None:
    with live_server(settings_for("sqlite", tmp_path, None, tork_basic_auth=True)) as live, \
            httpx.Client(base_url=live.url, timeout=30) as anonymous, live.client() as admin:
        refused = anonymous.get("/tork/nodes")
        assert (refused.status_code, refused.json()) == (401, {"message": "Unauthorized"})
        assert refused.headers["WWW-Authenticate"] == "basic realm=Restricted"
        created = admin.post("/tork/users", json={"username": " tork ", "password": " pw-1 ", "name": "Tork"})
        assert created.status_code == 200, created.text
        user = created.json()
        assert set(user) == {"id", "name", "username", "createdAt"} and user["username"] == "tork"
        assert len(user["id"]) == 32 and "pw-1" not in created.text
        assert anonymous.get("/tork/nodes", headers=basic("tork", "pw-1")).status_code == 200
        for headers in (basic("tork", "pw-2"), basic("nobody", "pw-1"), {"Authorization": "Basic !!"},
                        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}):
            assert anonymous.get("/tork/nodes", headers=headers).status_code == 401
        for body, message in (({"password": "x"}, "must provide username"),
                              ({"username": "u", "password": "  "}, "must provide password"),
                              ({"username": "tork", "password": "x"}, "user already exists")):
            answer = admin.post("/tork/users", json=body)
            assert (answer.status_code, answer.json()) == (400, {"message": message})
        by_user = anonymous.post("/tork/users", json={"username": "v", "password": "x"},
                                 headers=basic("tork", "pw-1"))
        assert (by_user.status_code, by_user.json()) == (403, {"message": "only the admin may create users"})
        # a scheduled job made by the basic-auth user is theirs
        made = anonymous.post("/tork/scheduled-jobs", content=SCHEDULED, headers={
            "Content-Type": "text/yaml", **basic("tork", "pw-1")}).json()
        assert made["createdBy"] == {"username": "tork"}
        mine = anonymous.get("/tork/scheduled-jobs", headers=basic("tork", "pw-1")).json()
        assert [item["id"] for item in mine["items"]] == [made["id"]]


def test_basic_auth_off_ignores_basic_headers(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as anonymous, server.client() as admin:
        admin.post("/tork/users", json={"username": "tork", "password": "pw"}).raise_for_status()
        assert anonymous.get("/tork/nodes", headers=basic("tork", "pw")).status_code == 401  # bearer needed
        assert admin.get("/tork/nodes").status_code == 200


def test_ids_are_torks(api: httpx.Client) -> None:
    made = post_yaml(api, SCHEDULED).json()
    definitions = api.get("/api/jobs/definitions").json()["Records"]
    [definition] = [d for d in definitions if d["job_type"].startswith(PREFIX)]
    assert made["id"] == to_tork(definition["id"])
