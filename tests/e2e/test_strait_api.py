"""The Strait dialect under /v1 on one live server (embedded, SQLite) whose endpoints are a real HTTP
server on 127.0.0.1 (allowed by the test allow-list): the seed's example payloads as contract tests,
every validation rule as a 400 naming its field with nothing stored, triggers (idempotency, rate limit,
dedup, execution windows, dependencies), runs, versions, health, cron and project-scoped keys."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from myrmica.config import Settings
from myrmica.security.crypto import SecretBox
from myrmica.security.tokens import generate_token, hash_token
from myrmica.service.strait_runs import Quotas
from myrmica.store.store import open_store
from tests.support.http_stub import HttpStub, http_stub
from tests.support.jobs import wait_for
from tests.support.live import LiveServer, live_server

JOB_FIELDS = {"id", "project_id", "group_id", "name", "slug", "description", "cron", "payload_schema", "tags",
              "endpoint_url", "fallback_endpoint_url", "max_attempts", "timeout_secs", "max_concurrency",
              "execution_window_cron", "timezone", "rate_limit_max", "rate_limit_window_secs",
              "max_concurrency_per_key", "rate_limit_keys", "default_run_metadata", "dedup_window_secs", "enabled",
              "webhook_url", "webhook_secret", "run_ttl_secs", "retry_strategy", "retry_delays_secs",
              "environment_id", "version", "version_id", "version_policy", "backwards_compatible", "created_by",
              "updated_by", "created_at", "updated_at"}
RUN_FIELDS = {"id", "job_id", "project_id", "status", "attempt", "payload", "result", "metadata", "error",
              "triggered_by", "scheduled_at", "started_at", "finished_at", "heartbeat_at", "next_retry_at",
              "expires_at", "parent_run_id", "priority", "idempotency_key", "job_version", "workflow_step_run_id",
              "max_attempts_override", "timeout_secs_override", "retry_backoff", "retry_initial_delay_secs",
              "retry_max_delay_secs", "execution_trace", "debug_mode", "continuation_of", "lineage_depth", "tags",
              "job_version_id", "created_by", "batch_id", "concurrency_key", "created_at"}
HEALTH_FIELDS = {"total_runs", "completed_runs", "failed_runs", "timed_out_runs", "crashed_runs", "canceled_runs",
                 "expired_runs", "success_rate", "avg_duration_secs", "p95_duration_secs", "health_score"}
VERSION_FIELDS = {"id", "job_id", "version", "name", "slug", "description", "cron", "payload_schema", "tags",
                  "endpoint_url", "fallback_endpoint_url", "max_attempts", "timeout_secs", "webhook_url",
                  "webhook_secret", "run_ttl_secs", "created_at"}


@pytest.fixture(scope="module")
def stub() -> Iterator[HttpStub]:
    with http_stub() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root: Path = tmp_path_factory.mktemp("strait")
    settings = Settings(data_dir=root / "data", database_url=f"sqlite:///{root / 'db.sqlite'}",
                        admin_token="myr_test_" + uuid.uuid4().hex, embedded_ant=True, ant_id="embedded-ant",
                        work_dir=root / "work", http_allowed_hosts=("127.0.0.1",))
    with live_server(settings) as live:
        yield live


@pytest.fixture(scope="module")
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def new_job(api: httpx.Client, stub: HttpStub, **fields: Any) -> dict[str, Any]:
    body = {"project_id": "", "name": "hook", "slug": f"hook-{uuid.uuid4().hex[:10]}",
            "endpoint_url": f"{stub.url}/hook", **fields}
    if not body["project_id"]:
        body.pop("project_id")
    response = api.post("/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


def run_of(api: httpx.Client, run_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/runs/{run_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_status(api: httpx.Client, run_id: str, status: str) -> dict[str, Any]:
    return wait_for(lambda: (run := run_of(api, run_id))["status"] == status and run, timeout=30,
                    what=f"run {run_id} {status}")


def job_count(api: httpx.Client) -> int:
    return len(api.get("/v1/jobs", params={"limit": "200"}).json())


# --- the seed's examples ------------------------------------------------------------------------------


def test_the_seeds_create_example_gives_every_job_field_with_strait_defaults(api: httpx.Client,
                                                                              stub: HttpStub) -> None:
    response = api.post("/v1/jobs", json={"project_id": "string", "name": "string", "slug": "string",
                                          "endpoint_url": f"{stub.url}/x"})
    assert response.status_code == 201, response.text
    job = response.json()
    assert set(job) == JOB_FIELDS
    assert job["project_id"] == "string" and job["max_attempts"] == 3 and job["timeout_secs"] == 300
    assert job["enabled"] is True and job["version"] == 1 and job["version_policy"] == "pin"
    assert job["version_id"].startswith("ver_") and len(job["version_id"]) == 16
    assert job["retry_strategy"] == "exponential" and job["created_at"].endswith("Z")
    # the seed's list call names its project; the same key sees it there
    listed = api.get("/v1/jobs", params={"project_id": "string"}).json()
    assert [j["id"] for j in listed] == [job["id"]]
    assert api.get(f"/v1/jobs/{job['id']}").status_code == 404  # another project (the admin's own)
    assert api.get(f"/v1/jobs/{job['id']}", headers={"X-Project-Id": "string"}).json()["slug"] == "string"


def test_the_seeds_trigger_bulk_batch_and_clone_examples(api: httpx.Client, stub: HttpStub) -> None:
    job = new_job(api, stub)
    triggered = api.post(f"/v1/jobs/{job['id']}/trigger", json={})
    assert triggered.status_code == 201, triggered.text
    run = triggered.json()
    assert set(run) == RUN_FIELDS | {"payload_hash", "run_token", "idempotency_hit"}
    assert run["status"] == "queued" or run["status"] in ("dequeued", "executing", "completed")
    assert run["payload"] == {} and run["idempotency_hit"] is False and run["attempt"] == 1
    claims = json.loads(base64.urlsafe_b64decode(run["run_token"].split(".")[1] + "=="))
    assert claims["sub"] == run["id"] and claims["exp"] == int(datetime.fromisoformat(
        run["expires_at"].replace("Z", "+00:00")).timestamp())
    assert run["payload_hash"] == "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"  # sha256("{}")
    bulk = api.post(f"/v1/jobs/{job['id']}/trigger/bulk", json={"items": [{}]})
    assert bulk.status_code == 201, bulk.text
    assert set(bulk.json()) >= {"results", "total", "created"} and bulk.json()["total"] == 1
    assert set(bulk.json()["results"][0]) == {"id", "status", "run_token", "idempotency_hit"}
    batch = api.post("/v1/jobs/batch", json=[{"name": "string", "slug": f"b-{uuid.uuid4().hex[:8]}",
                                              "endpoint_url": f"{stub.url}/b"}])
    assert batch.status_code == 201 and isinstance(batch.json(), list) and set(batch.json()[0]) == JOB_FIELDS
    assert api.post("/v1/jobs/batch-enable", json={}).status_code == 400
    clone = api.post(f"/v1/jobs/{job['id']}/clone", json={})
    assert clone.status_code == 400 and clone.json()["error"]["message"] == "name and slug are required"
    assert api.post(f"/v1/jobs/{job['id']}/dependencies", json={}).json()["error"]["details"]["field"] \
        == "depends_on_job_id"
    health = api.get(f"/v1/jobs/{job['id']}/health").json()
    assert set(health) >= HEALTH_FIELDS
    assert api.get(f"/v1/jobs/{job['id']}/versions").json() == []
    wait_status(api, run["id"], "completed")


# --- validation: each rule a 400 naming the field, nothing stored ----------------------------------------

BAD_JOBS = [
    ({"name": ""}, "name"), ({"name": "n" * 256}, "name"), ({"slug": "s" * 129}, "slug"), ({"slug": None}, "slug"),
    ({"endpoint_url": None}, "endpoint_url"), ({"endpoint_url": "ftp://x.example/"}, "endpoint_url"),
    ({"endpoint_url": "http://10.0.0.1/"}, "endpoint_url"), ({"endpoint_url": "http://localhost:8080/"},
                                                             "endpoint_url"),
    ({"endpoint_url": "http://169.254.169.254/latest"}, "endpoint_url"), ({"cron": "* * * *"}, "cron"),
    ({"cron": "0 * * * * *"}, "cron"), ({"cron": "61 * * * *"}, "cron"),
    ({"execution_window_cron": "nope"}, "execution_window_cron"), ({"retry_strategy": "random"}, "retry_strategy"),
    ({"retry_delays_secs": [1, 0]}, "retry_delays_secs"), ({"retry_delays_secs": [-5]}, "retry_delays_secs"),
    ({"max_attempts": 0}, "max_attempts"), ({"timeout_secs": -1}, "timeout_secs"),
    ({"timeout_secs": "10"}, "timeout_secs"), ({"tags": {f"k{i}": "v" for i in range(21)}}, "tags"),
    ({"tags": {"k" * 65: "v"}}, "tags"), ({"tags": {"k": "v" * 257}}, "tags"), ({"tags": {"k": 1}}, "tags"),
    ({"timezone": "Mars/Olympus"}, "timezone"), ({"version_policy": "newest"}, "version_policy"),
    ({"rate_limit_max": 5}, "rate_limit_window_secs"), ({"dedup_window_secs": -1}, "dedup_window_secs"),
    ({"rate_limit_keys": [{"name": "k", "max": 0, "window_secs": 1}]}, "rate_limit_keys[0].max"),
    ({"payload_schema": {"type": "nonsense"}}, "payload_schema"),
    ({"payload_schema": {"$ref": "http://169.254.169.254/s.json"}}, "payload_schema"),
    ({"enabled": "yes"}, "enabled"), ({"surprise": 1}, "surprise"), ({"id": "mine"}, "id"),
]


@pytest.mark.parametrize(("fields", "field"), BAD_JOBS, ids=[f for _, f in BAD_JOBS])
def test_each_bad_job_field_is_a_400_naming_it_and_nothing_is_stored(api: httpx.Client, stub: HttpStub,
                                                                      fields: dict[str, Any], field: str) -> None:
    before = job_count(api)
    body = {"name": "n", "slug": f"bad-{uuid.uuid4().hex[:8]}", "endpoint_url": f"{stub.url}/x", **fields}
    response = api.post("/v1/jobs", json={k: v for k, v in body.items() if v is not None})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["details"]["field"] == field and error["message"] and response.json()["request_id"]
    assert job_count(api) == before


def test_strait_error_texts(api: httpx.Client, stub: HttpStub) -> None:
    def message(body: dict[str, Any]) -> str:
        return str(api.post("/v1/jobs", json={"name": "n", "slug": uuid.uuid4().hex, "endpoint_url":
                                              f"{stub.url}/x", **body}).json()["error"]["message"])

    assert message({"cron": "bad"}) == "invalid cron expression"
    assert message({"execution_window_cron": "bad"}) == "invalid execution_window_cron expression"
    assert message({"retry_strategy": "x"}) == "invalid retry_strategy: must be exponential, linear, fixed, or custom"
    assert message({"retry_delays_secs": [0]}) == "retry_delays_secs values must be positive"
    assert api.post("/v1/jobs", content=b"{not json").status_code == 400
    assert api.get("/v1/nowhere").json()["error"]["code"] == "not_found"
    assert httpx.get(f"{str(api.base_url).rstrip('/')}/v1/jobs").status_code == 401
    sdk = httpx.post(f"{str(api.base_url).rstrip('/')}/sdk/v1/runs/nope/heartbeat")  # mounted, no run token
    assert sdk.status_code == 401 and set(sdk.json()) == {"error", "request_id"}


def test_a_slug_is_unique_per_project_and_a_patch_snapshots_a_version(api: httpx.Client, stub: HttpStub) -> None:
    job = new_job(api, stub, tags={"team": "a"})
    again = api.post("/v1/jobs", json={"name": "x", "slug": job["slug"], "endpoint_url": f"{stub.url}/x"})
    assert again.status_code == 409 and again.json()["error"]["details"]["field"] == "slug"
    other = api.post("/v1/jobs", json={"name": "x", "slug": job["slug"], "endpoint_url": f"{stub.url}/x"},
                     headers={"X-Project-Id": f"p-{uuid.uuid4().hex[:6]}"})
    assert other.status_code == 201  # another project may use it
    patched = api.patch(f"/v1/jobs/{job['id']}", json={"description": "now described", "timeout_secs": 5})
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["version"] == 2 and body["version_id"] != job["version_id"] and body["description"] == "now described"
    assert body["tags"] == {"team": "a"} and body["timeout_secs"] == 5
    versions = api.get(f"/v1/jobs/{job['id']}/versions").json()
    assert [(v["version"], v["id"], v["timeout_secs"]) for v in versions] == [(1, job["version_id"], 300)]
    assert set(versions[0]) >= VERSION_FIELDS
    assert api.get(f"/v1/jobs/{job['id']}/versions/{job['version_id']}").json()["version"] == 1
    assert api.get(f"/v1/jobs/{job['id']}/versions/ver_000000000000").status_code == 404
    assert api.patch(f"/v1/jobs/{job['id']}", json={"cron": "bad"}).status_code == 400
    assert api.get(f"/v1/jobs/{job['id']}").json()["version"] == 2  # the bad patch stored nothing


def test_tag_filter_and_cursor_pagination(api: httpx.Client, stub: HttpStub) -> None:
    project = {"X-Project-Id": f"tags-{uuid.uuid4().hex[:6]}"}
    made = []
    for index in range(5):
        response = api.post("/v1/jobs", headers=project, json={
            "name": f"j{index}", "slug": f"j{index}", "endpoint_url": f"{stub.url}/x",
            "tags": {"env": "prod" if index % 2 else "dev", "n": str(index)}})
        made.append(response.json()["id"])
    prod = api.get("/v1/jobs", headers=project, params={"tag_key": "env", "tag_value": "prod"}).json()
    assert [j["id"] for j in prod] == [made[3], made[1]]
    assert len(api.get("/v1/jobs", headers=project, params={"tag_key": "n"}).json()) == 5
    assert api.get("/v1/jobs", headers=project, params={"tag_value": "prod"}).status_code == 400
    seen, cursor = [], ""
    while True:
        page = api.get("/v1/jobs", headers=project, params={"limit": "2", **({"cursor": cursor} if cursor else {})})
        seen += [j["id"] for j in page.json()]
        cursor = page.headers.get("X-Next-Cursor", "")
        if not cursor:
            break
    assert seen == made[::-1]
    shaped = api.get("/v1/jobs", headers=project, params={"limit": "2", "envelope": "true"}).json()
    assert shaped["has_more"] is True and len(shaped["data"]) == 2
    assert api.get("/v1/jobs", headers=project, params={"cursor": "garbage"}).status_code == 400


def test_batch_enable_disable_and_a_disabled_job_refuses_triggers(api: httpx.Client, stub: HttpStub) -> None:
    job = new_job(api, stub)
    assert api.post("/v1/jobs/batch-disable", json={"job_ids": [job["id"]]}).json() == {"updated": 1}
    assert api.get(f"/v1/jobs/{job['id']}").json()["enabled"] is False
    refused = api.post(f"/v1/jobs/{job['id']}/trigger", json={})
    assert refused.status_code == 400 and refused.json()["error"]["message"] == "job is disabled"
    assert api.post("/v1/jobs/batch-enable", json={"ids": [job["id"]]}).json() == {"updated": 1}
    assert api.post(f"/v1/jobs/{job['id']}/trigger", json={}).status_code == 201


def test_delete_is_409_with_active_runs_then_204(api: httpx.Client, stub: HttpStub) -> None:
    job = new_job(api, stub)
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    run = api.post(f"/v1/jobs/{job['id']}/trigger", json={"scheduled_at": later}).json()
    assert run["status"] == "delayed"
    assert api.delete(f"/v1/jobs/{job['id']}").status_code == 409
    cancelled = api.delete(f"/v1/runs/{run['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "canceled"
    assert api.delete(f"/v1/runs/{run['id']}").status_code == 409
    assert api.delete(f"/v1/jobs/{job['id']}").status_code == 204
    assert api.get(f"/v1/jobs/{job['id']}").status_code == 404


# --- trigger ---------------------------------------------------------------------------------------------


def test_idempotency_keys_headers_and_limits(api: httpx.Client, stub: HttpStub) -> None:
    job = new_job(api, stub)
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    first = api.post(f"/v1/jobs/{job['id']}/trigger", json={"scheduled_at": later},
                     headers={"Idempotency-Key": "k1"}).json()
    hit = api.post(f"/v1/jobs/{job['id']}/trigger", json={}, headers={"Idempotency-Key": "k1"})
    assert hit.status_code == 201 and hit.json() == {"id": first["id"], "status": "delayed", "idempotency_hit": True}
    preferred = api.post(f"/v1/jobs/{job['id']}/trigger", json={"scheduled_at": later},
                         headers={"Idempotency-Key": "k1", "X-Idempotency-Key": "k2"}).json()
    assert preferred["id"] != first["id"] and preferred["idempotency_key"] == "k2"
    too_long = api.post(f"/v1/jobs/{job['id']}/trigger", json={}, headers={"Idempotency-Key": "k" * 257})
    assert too_long.status_code == 400 and too_long.json()["error"]["details"]["field"] == "idempotency_key"
    api.delete(f"/v1/runs/{first['id']}")  # terminal: the key is free again
    reused = api.post(f"/v1/jobs/{job['id']}/trigger", json={}, headers={"Idempotency-Key": "k1"}).json()
    assert reused["idempotency_hit"] is False and reused["id"] != first["id"]
    other = new_job(api, stub)  # keys are per job
    assert api.post(f"/v1/jobs/{other['id']}/trigger", json={},
                    headers={"X-Idempotency-Key": "k2"}).json()["idempotency_hit"] is False


def test_the_rate_limit_lets_exactly_the_limit_through(api: httpx.Client, stub: HttpStub) -> None:
    job = new_job(api, stub, rate_limit_max=3, rate_limit_window_secs=3600)
    statuses = [api.post(f"/v1/jobs/{job['id']}/trigger", json={"payload": {"n": n}}) for n in range(5)]
    assert [r.status_code for r in statuses] == [201, 201, 201, 429, 429]
    refused = statuses[3]
    assert refused.json()["error"]["message"] == "job rate limit exceeded"
    assert 3500 <= int(refused.headers["Retry-After"]) <= 3601
    assert len(api.get(f"/v1/jobs/{job['id']}/runs").json()["data"]) == 3


def test_named_rate_limit_keys_are_enforced_per_value(api: httpx.Client, stub: HttpStub) -> None:
    job = new_job(api, stub, rate_limit_keys=[{"name": "customer", "max": 2, "window_secs": 3600}])
    url = f"/v1/jobs/{job['id']}/trigger"
    codes = [api.post(url, json={"payload": {"customer": "acme", "n": n}}).status_code for n in range(3)]
    assert codes == [201, 201, 429]
    refused = api.post(url, json={"payload": {"customer": "acme"}})
    assert refused.json()["error"]["message"] == "rate limit exceeded for key customer"
    assert int(refused.headers["Retry-After"]) > 3500
    assert api.post(url, json={"payload": {"customer": "globex"}}).status_code == 201
    assert api.post(url, json={"payload": {"n": 9}, "tags": {"customer": "acme"}}).status_code == 429  # by tag
    assert api.post(url, json={"payload": {"n": 10}}).status_code == 201  # not subject to it


def test_project_quotas_come_after_idempotency_and_before_dedup(server: LiveServer, api: httpx.Client,
                                                                stub: HttpStub) -> None:
    project = f"quota-{uuid.uuid4().hex[:8]}"
    runs = server.app.state.ctx.services["strait"][1]
    job = new_job(api, stub, project_id=project, dedup_window_secs=3600)
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    url, on = f"/v1/jobs/{job['id']}/trigger", {"X-Project-Id": project}
    runs.quotas = Quotas(max_queued=2)
    try:
        first = api.post(url, json={"scheduled_at": later, "payload": {"n": 1}}, headers={**on, "Idempotency-Key": "k"})
        assert api.post(url, json={"scheduled_at": later, "payload": {"n": 2}}, headers=on).status_code == 201
        expires = datetime.fromisoformat(first.json()["expires_at"].replace("Z", "+00:00"))
        assert expires == datetime.fromisoformat(later) + timedelta(seconds=300 + 60)  # the start + the TTL
        full = api.post(url, json={"scheduled_at": later, "payload": {"n": 3}}, headers=on)
        assert full.status_code == 429 and full.headers["Retry-After"] == "1"
        assert full.json()["error"]["message"] == "project quota exceeded: 2 runs queued (max 2)"
        again = api.post(url, json={"payload": {"n": 9}}, headers={**on, "Idempotency-Key": "k"})  # before
        assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
        same = api.post(url, json={"scheduled_at": later, "payload": {"n": 2}}, headers=on)  # after: no dedup
        assert same.status_code == 429
        runs.quotas = Quotas(max_queued=3)  # another project's runs do not count
        assert api.post(url, json={"scheduled_at": later, "payload": {"n": 3}}, headers=on).status_code == 201
        with http_stub(hang=frozenset({"/hang"})) as hanging:
            slow = new_job(api, stub, project_id=project, endpoint_url=f"{hanging.url}/hang")
            runs.quotas = Quotas(max_executing=1)
            slow_url = f"/v1/jobs/{slow['id']}/trigger"
            held = api.post(slow_url, json={}, headers=on).json()
            wait_for(lambda: bool(hanging.seen), timeout=30, what="the endpoint called")  # [] is not None
            busy = api.post(slow_url, json={}, headers=on)
            assert busy.status_code == 429
            assert busy.json()["error"]["message"] == "project quota exceeded: 1 runs executing (max 1)"
            assert api.delete(f"/v1/runs/{held['id']}", headers=on).status_code == 200
    finally:
        runs.quotas = Quotas()


def test_dedup_returns_the_run_of_the_same_canonical_payload(api: httpx.Client, stub: HttpStub) -> None:
    job = new_job(api, stub, dedup_window_secs=3600)
    first = api.post(f"/v1/jobs/{job['id']}/trigger", json={"payload": {"a": 1, "b": [1, 2]}}).json()
    again = api.post(f"/v1/jobs/{job['id']}/trigger", content=b'{"payload": {"b": [1,2],  "a": 1}}',
                     headers={"Content-Type": "application/json"})
    assert again.status_code == 201
    assert again.json()["id"] == first["id"] and again.json()["idempotency_hit"] is False
    assert again.json()["payload_hash"] == first["payload_hash"] and "run_token" not in again.json()
    different = api.post(f"/v1/jobs/{job['id']}/trigger", json={"payload": {"a": 2}}).json()
    assert different["id"] != first["id"]


def test_trigger_body_rules_schema_window_ttl_and_priority(api: httpx.Client, stub: HttpStub) -> None:
    job = new_job(api, stub, payload_schema={"type": "object", "required": ["order"],
                                             "properties": {"order": {"type": "integer"}}},
                  execution_window_cron="0 0 1 1 *", timezone="Europe/Paris", run_ttl_secs=600)
    url = f"/v1/jobs/{job['id']}/trigger"
    bad = api.post(url, json={"payload": {"order": "x"}})
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("payload validation failed")
    for body, field in (({"priority": 11}, "priority"), ({"priority": -1}, "priority"), ({"nope": 1}, "nope"),
                        ({"scheduled_at": "tomorrow"}, "scheduled_at"), ({"ttl_secs": -1}, "ttl_secs")):
        response = api.post(url, json={"payload": {"order": 1}, **body})
        assert response.status_code == 400 and response.json()["error"]["details"]["field"] == field, body
    assert api.get(f"/v1/jobs/{job['id']}/runs").json()["data"] == []
    long_tag = {"k" * 64: "v" * 256}
    run = api.post(url, json={"payload": {"order": 1}, "priority": 10, "tags": {"t": "1", **long_tag}}).json()
    assert run["status"] == "delayed" and run["priority"] == 10 and run["tags"] == {"t": "1", **long_tag}
    start = datetime.fromisoformat(run["scheduled_at"].replace("Z", "+00:00"))
    assert start - datetime.now(UTC) > timedelta(hours=24)
    assert start.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris")).strftime("%m-%d %H:%M") == "01-01 00:00"
    expires = datetime.fromisoformat(run["expires_at"].replace("Z", "+00:00"))
    assert expires - start == timedelta(seconds=600)
    dry = api.post(url, json={"payload": {"order": 2}, "dry_run": True})
    assert dry.status_code == 200 and set(dry.json()) >= {"job", "payload_hash", "validation_warnings"}
    assert len(api.get(f"/v1/jobs/{job['id']}/runs").json()["data"]) == 1


def test_a_run_posts_to_its_endpoint_and_completes(api: httpx.Client, stub: HttpStub) -> None:
    job = new_job(api, stub, default_run_metadata={"team": "ants"})
    run = api.post(f"/v1/jobs/{job['id']}/trigger", json={"payload": {"hello": "world"}}).json()
    assert run["metadata"] == {"team": "ants"} and run["job_version"] == 1
    done = wait_status(api, run["id"], "completed")
    assert done["finished_at"] and done["started_at"] and done["triggered_by"] == "manual"
    assert done["attempt"] == 1  # the first attempt reads 1 (Strait's attempts start at 1)
    assert any(s.path == "/hook" and s.method == "POST" for s in stub.seen)
    listed = api.get(f"/v1/jobs/{job['id']}/runs", params={"status": "completed"}).json()["data"]
    assert [r["id"] for r in listed] == [run["id"]]
    health = api.get(f"/v1/jobs/{job['id']}/health", params={"window": "1h"}).json()
    assert health["total_runs"] == 1 and health["success_rate"] == 100 and health["health_score"] >= 70
    assert api.get(f"/v1/jobs/{job['id']}/health", params={"window": "2h"}).status_code == 400
    assert api.get(f"/v1/jobs/{new_job(api, stub)['id']}/health").json()["health_score"] == -1


def test_a_dependent_run_waits_until_its_upstream_completes(api: httpx.Client, stub: HttpStub) -> None:
    upstream = new_job(api, stub)
    downstream = new_job(api, stub)
    dependency = api.post(f"/v1/jobs/{downstream['id']}/dependencies", json={"depends_on_job_id": upstream["id"]})
    assert dependency.status_code == 201 and dependency.json()["condition"] == "completed"
    assert api.post(f"/v1/jobs/{downstream['id']}/dependencies",
                    json={"depends_on_job_id": downstream["id"]}).json()["error"]["message"] == \
        "job cannot depend on itself"
    assert api.post(f"/v1/jobs/{downstream['id']}/dependencies", json={"depends_on_job_id": upstream["id"],
                                                                       "condition": "maybe"}).status_code == 400
    waiting = api.post(f"/v1/jobs/{downstream['id']}/trigger", json={}).json()
    assert waiting["status"] == "waiting"
    up = api.post(f"/v1/jobs/{upstream['id']}/trigger", json={}).json()
    wait_status(api, up["id"], "completed")
    wait_status(api, waiting["id"], "completed")
    assert api.post(f"/v1/jobs/{downstream['id']}/trigger", json={}).json()["status"] != "waiting"
    deps = api.get(f"/v1/jobs/{downstream['id']}/dependencies").json()
    assert [d["depends_on_job_id"] for d in deps] == [upstream["id"]]
    assert api.delete(f"/v1/jobs/{downstream['id']}/dependencies/{deps[0]['id']}").status_code == 204


def test_the_sweep_releases_a_waiting_run_whose_dependencies_are_met(server: LiveServer, api: httpx.Client,
                                                                     stub: HttpStub) -> None:
    upstream, downstream = new_job(api, stub), new_job(api, stub)
    dependency = api.post(f"/v1/jobs/{downstream['id']}/dependencies",
                          json={"depends_on_job_id": upstream["id"], "condition": "any"}).json()
    waiting = api.post(f"/v1/jobs/{downstream['id']}/trigger", json={}).json()
    assert waiting["status"] == "waiting"
    api.delete(f"/v1/jobs/{downstream['id']}/dependencies/{dependency['id']}")  # no upstream end will say so
    ctx = server.app.state.ctx
    _, runs = ctx.services["strait"]
    loop = ctx.services["engine"]._loops[0].get_loop()
    released = asyncio.run_coroutine_threadsafe(runs.sweep_waiting(ctx.admin), loop).result(timeout=30)
    assert released >= 1
    wait_status(api, waiting["id"], "completed")


def test_a_cron_job_has_its_next_run_waiting(api: httpx.Client, stub: HttpStub) -> None:
    job = new_job(api, stub, cron="0 3 * * *")
    runs = wait_for(lambda: api.get(f"/v1/jobs/{job['id']}/runs").json()["data"], timeout=10, what="cron run")
    assert runs[0]["triggered_by"] == "cron" and runs[0]["status"] == "delayed"
    assert runs[0]["scheduled_at"].endswith("03:00:00Z")


def test_a_project_key_sees_only_its_project(server: LiveServer, api: httpx.Client, stub: HttpStub) -> None:
    async def make() -> tuple[str, str]:
        store = await open_store(server.settings.effective_database_url, SecretBox("test-only"))
        try:
            org = await store.accounts.create_org(f"proj-{uuid.uuid4().hex[:6]}")
            user = await store.accounts.create_user(f"u-{uuid.uuid4().hex[:6]}", organization_id=org["id"])
            token = generate_token()
            await store.accounts.issue_token(user["id"], "strait", token, hash_token(token))
            return str(org["id"]), token
        finally:
            await store.close()

    project, token = asyncio.run(make())
    theirs = new_job(api, stub)  # the admin's own project
    with server.client(token) as key:
        mine = key.post("/v1/jobs", json={"name": "m", "slug": "m", "endpoint_url": f"{stub.url}/m"})
        assert mine.status_code == 201 and mine.json()["project_id"] == project
        assert key.get(f"/v1/jobs/{theirs['id']}").status_code == 404
        assert key.post(f"/v1/jobs/{theirs['id']}/trigger", json={}).status_code == 404
        assert [j["id"] for j in key.get("/v1/jobs").json()] == [mine.json()["id"]]
        foreign = key.post("/v1/jobs", json={"project_id": "someone-else", "name": "m", "slug": "m2",
                                             "endpoint_url": f"{stub.url}/m"})
        assert foreign.status_code == 403
    assert api.get(f"/v1/jobs/{mine.json()['id']}").status_code == 404


def test_a_scoped_key_may_use_only_the_routes_of_its_scopes(server: LiveServer, api: httpx.Client,
                                                            stub: HttpStub) -> None:
    async def make() -> str:
        store = await open_store(server.settings.effective_database_url, SecretBox("test-only"))
        try:
            org = await store.accounts.create_org(f"proj-{uuid.uuid4().hex[:6]}")
            user = await store.accounts.create_user(f"u-{uuid.uuid4().hex[:6]}", organization_id=org["id"])
            return str(user["id"])
        finally:
            await store.close()

    user_id = asyncio.run(make())

    def key(scopes: Any) -> str:
        issued = api.post(f"/api/users/{user_id}/tokens", json={"token": "strait", "scopes": scopes})
        assert issued.status_code == 201, issued.text
        return str(issued.json()["api_token"])

    assert api.post(f"/api/users/{user_id}/tokens", json={"token": "x", "scopes": ["jobs:fly"]}).status_code == 422
    writer, reader, trigger_only = key(["jobs:write", "jobs:read"]), key("jobs:read"), key("jobs:trigger")
    with server.client(writer) as w, server.client(reader) as r, server.client(trigger_only) as t:
        job = w.post("/v1/jobs", json={"name": "s", "slug": "s", "endpoint_url": f"{stub.url}/s"})
        assert job.status_code == 201, job.text
        job_id = job.json()["id"]
        assert r.get(f"/v1/jobs/{job_id}").status_code == 200
        refused = r.patch(f"/v1/jobs/{job_id}", json={"name": "t"})
        assert refused.status_code == 403
        assert refused.json()["error"] == {"code": "insufficient_scope", "message": "the API key lacks the "
                                           "jobs:write scope", "details": {"field": "scope"}}
        assert r.post("/v1/jobs/batch", json=[{"name": "b", "slug": "b", "endpoint_url": f"{stub.url}/b"}]) \
            .status_code == 403
        assert r.post(f"/v1/jobs/{job_id}/trigger", json={}).json()["error"]["message"] == \
            "the API key lacks the jobs:trigger scope"
        assert w.post(f"/v1/jobs/{job_id}/trigger", json={}).status_code == 403
        run = t.post(f"/v1/jobs/{job_id}/trigger", json={})
        assert run.status_code == 201, run.text
        assert t.post(f"/v1/jobs/{job_id}/trigger/bulk", json={"items": [{}]}).status_code == 201
        assert t.get(f"/v1/runs/{run.json()['id']}").status_code == 403
        assert t.delete(f"/v1/runs/{run.json()['id']}").status_code == 403
        assert "scoped to the Strait API" in r.get("/api/jobs/definitions").text  # a Strait key only
    listed = api.get(f"/api/users/{user_id}/tokens").json()
    assert sorted(tuple(k.get("scopes", [])) for k in listed) == \
        [("jobs:read",), ("jobs:read", "jobs:write"), ("jobs:trigger",)]


@pytest.mark.parametrize(("policy", "compatible", "follows"), [("pin", True, False), ("latest", False, True),
                                                               ("minor", False, False), ("minor", True, True)])
def test_the_version_policy_decides_which_version_a_waiting_run_runs(api: httpx.Client, stub: HttpStub,
                                                                      policy: str, compatible: bool,
                                                                      follows: bool) -> None:
    job = new_job(api, stub, version_policy=policy)
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    run = api.post(f"/v1/jobs/{job['id']}/trigger", json={"scheduled_at": later}).json()
    assert run["job_version"] == 1
    patched = api.patch(f"/v1/jobs/{job['id']}", json={"timeout_secs": 7, "backwards_compatible": compatible})
    assert patched.json()["version"] == 2
    assert run_of(api, run["id"])["job_version"] == (2 if follows else 1)
    api.delete(f"/v1/runs/{run['id']}")


@pytest.fixture
def gate() -> Iterator[tuple[str, list[str], threading.Event]]:
    """An endpoint that holds every call until the event is set; the paths it holds, in order."""
    held: list[str] = []
    opened = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            held.append(self.path)
            opened.wait(30)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", held, opened
    finally:
        opened.set()
        httpd.shutdown()
        httpd.server_close()


def test_max_concurrency_per_key_holds_a_second_run_of_the_same_key(
        api: httpx.Client, gate: tuple[str, list[str], threading.Event]) -> None:
    url, held, opened = gate
    response = api.post("/v1/jobs", json={"name": "keyed", "slug": f"k-{uuid.uuid4().hex[:8]}",
                                          "endpoint_url": f"{url}/keyed", "max_concurrency_per_key": 1})
    job = response.json()
    trigger = f"/v1/jobs/{job['id']}/trigger"
    first = api.post(trigger, json={"concurrency_key": "tenant-a", "payload": {"n": 1}}).json()
    wait_status(api, first["id"], "executing")
    second = api.post(trigger, json={"concurrency_key": "tenant-a", "payload": {"n": 2}}).json()
    other = api.post(trigger, json={"concurrency_key": "tenant-b", "payload": {"n": 3}}).json()
    wait_for(lambda: len(held) == 2, timeout=30, what="the other key's run at the endpoint")
    # the scheduler took the other key's (younger) run, so it saw this one and held it back
    assert run_of(api, second["id"])["status"] == "queued" and run_of(api, second["id"])["concurrency_key"] \
        == "tenant-a"
    opened.set()
    for run in (first, second, other):
        wait_status(api, run["id"], "completed")
    assert len(held) == 3


def test_a_bulk_trigger_is_checked_whole_before_any_run_is_made(api: httpx.Client, stub: HttpStub) -> None:
    job = new_job(api, stub, payload_schema={"type": "object", "required": ["n"]})
    url = f"/v1/jobs/{job['id']}/trigger/bulk"
    refused = api.post(url, json={"items": [{"payload": {"n": 1}}, {"payload": {}}]})
    assert refused.status_code == 400 and refused.json()["error"]["details"]["field"] == "items[1].payload"
    assert api.post(url, json={"items": [{"nope": 1}]}).json()["error"]["details"]["field"] == "items[0].nope"
    assert api.post(url, json={"items": [{}] * 501}).status_code == 400
    assert api.get(f"/v1/jobs/{job['id']}/runs").json()["data"] == []
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    body = api.post(url, json={"items": [{"payload": {"n": 1}, "idempotency_key": "a", "scheduled_at": later},
                                         {"payload": {"n": 2}, "idempotency_key": "a", "scheduled_at": later},
                                         {"payload": {"n": 3}, "priority": 4}]}).json()
    assert body["total"] == 3 and body["created"] == 2 and body["batch_id"]
    first, hit, third = body["results"]
    assert hit["id"] == first["id"] and hit["idempotency_hit"] is True and hit["run_token"] == ""
    assert first["status"] == "delayed" and third["run_token"]
    run = run_of(api, third["id"])
    assert run["batch_id"] == body["batch_id"] and run["triggered_by"] == "batch" and run["priority"] == 4
