"""Strait's endpoint runs on one live server (embedded, SQLite) with real HTTP servers on 127.0.0.1 as the
endpoint (its code calls the SDK routes back with its run token) and as the webhook receiver (which
checks the HMAC): SDK heartbeat, payload, log, progress, checkpoint, complete and fail; token refusals;
the checkpoint sent to the next attempt; a stale heartbeat reaped; an expired run; signed completion
webhooks, one per run end, none retried on a 4xx."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from myrmica.config import Settings
from myrmica.domain.webhooks import verify_strait_signature
from myrmica.security.crypto import SecretBox
from myrmica.store.store import open_store
from tests.support.jobs import wait_for
from tests.support.live import LiveServer, live_server

SECRET = "whsec-test-1"


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Servers:
    """The endpoint and the webhook receiver, one HTTP server; what each call did."""

    url: str = ""
    api: str = ""  # the live server, for SDK calls
    calls: list[Seen] = field(default_factory=list)
    hooks: list[Seen] = field(default_factory=list)
    sdk: dict[str, list[int]] = field(default_factory=dict)  # endpoint path → statuses of its SDK calls
    release: threading.Event = field(default_factory=threading.Event)
    hook_status: int = 200


def sdk_call(servers: Servers, token: str, run_id: str, verb: str, what: str, body: Any = None) -> httpx.Response:
    return httpx.request(verb, f"{servers.api}/sdk/v1/runs/{run_id}/{what}", json=body,
                         headers={"Authorization": f"Bearer {token}"}, timeout=10)


def handler(servers: Servers) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def _reply(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the attempt was cancelled (an SDK end)
                pass

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen = Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            if self.path.startswith("/hook"):
                servers.hooks.append(seen)
                self._reply(servers.hook_status, {})
                return
            servers.calls.append(seen)
            token, run_id = seen.headers.get("x-run-token", ""), seen.headers.get("x-run-id", "")
            statuses = servers.sdk.setdefault(self.path, [])
            if self.path == "/sdk-complete":
                statuses.append(sdk_call(servers, token, run_id, "POST", "heartbeat").status_code)
                got = sdk_call(servers, token, run_id, "GET", "payload")
                statuses.append(got.status_code if got.json() == {"payload": {"n": 7}} else -1)
                statuses.append(sdk_call(servers, token, run_id, "POST", "log", {"message": "from the run"})
                                .status_code)
                statuses.append(sdk_call(servers, token, run_id, "POST", "progress", {"progress": 50}).status_code)
                statuses.append(sdk_call(servers, token, run_id, "POST", "complete", {"result": {"done": True}})
                                .status_code)
                self._reply(200, {"ignored": True})
            elif self.path == "/sdk-fail":
                statuses.append(sdk_call(servers, token, run_id, "POST", "fail", {"error": "boom"}).status_code)
                self._reply(200, {})
            elif self.path == "/checkpoint":
                if seen.headers.get("x-attempt") == "1":
                    statuses.append(sdk_call(servers, token, run_id, "POST", "checkpoint",
                                             {"data": {"step": 2}}).status_code)
                    self._reply(500, {"error": "try again"})
                else:
                    self._reply(200, {"checkpoint": seen.headers.get("x-last-checkpoint")})
            elif self.path == "/hang":
                servers.release.wait(30)
            elif self.path == "/heartbeat-then-hang":
                statuses.append(sdk_call(servers, token, run_id, "POST", "heartbeat").status_code)
                servers.release.wait(30)
            else:
                self._reply(200, {"ok": True, "echo": json.loads(body or b"null")})

    return Handler


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    state = Servers()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler(state))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, servers: Servers) -> Iterator[LiveServer]:
    root: Path = tmp_path_factory.mktemp("strait-http")
    settings = Settings(data_dir=root / "data", database_url=f"sqlite:///{root / 'db.sqlite'}",
                        admin_token="myr_test_" + uuid.uuid4().hex, embedded_ant=True, ant_id="embedded-ant",
                        work_dir=root / "work", http_allowed_hosts=("127.0.0.1",))
    with live_server(settings) as live:
        servers.api = live.url
        yield live


@pytest.fixture(scope="module")
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def job(api: httpx.Client, servers: Servers, path: str, **fields: Any) -> dict[str, Any]:
    body = {"name": "hook", "slug": f"s-{uuid.uuid4().hex[:10]}", "endpoint_url": f"{servers.url}{path}", **fields}
    response = api.post("/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def trigger(api: httpx.Client, job_id: str, **body: Any) -> dict[str, Any]:
    response = api.post(f"/v1/jobs/{job_id}/trigger", json=body)
    assert response.status_code == 201, response.text
    run: dict[str, Any] = response.json()
    return run


def wait_status(api: httpx.Client, run_id: str, status: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        run: dict[str, Any] = api.get(f"/v1/runs/{run_id}").json()
        return run if run["status"] == status else None

    return wait_for(check, timeout=30, what=f"run {run_id} {status}")


def test_the_endpoint_gets_the_payload_and_a_signed_webhook_follows_once(api: httpx.Client,
                                                                          servers: Servers) -> None:
    created = job(api, servers, "/plain", webhook_url=f"{servers.url}/hook/a", webhook_secret=SECRET)
    run = trigger(api, created["id"], payload={"n": 1})
    done = wait_status(api, run["id"], "completed")
    assert done["result"] == {"ok": True, "echo": {"n": 1}}
    hook = wait_for(lambda: next((h for h in servers.hooks if h.path == "/hook/a"), None), timeout=30,
                    what="the webhook")
    assert verify_strait_signature(SECRET, hook.headers["x-strait-timestamp"], hook.body,
                                   hook.headers["x-strait-signature"], now_epoch=time.time())
    assert hook.headers["x-webhook-signature"] == hook.headers["x-strait-signature"]
    assert hook.headers["x-strait-attempt"] == "1/3" and hook.headers["x-run-id"] == run["id"]
    body = json.loads(hook.body)
    assert {k: body[k] for k in ("run_id", "job_id", "status", "attempt", "result")} == \
        {"run_id": run["id"], "job_id": created["id"], "status": "completed", "attempt": 1,
         "result": {"ok": True, "echo": {"n": 1}}}
    assert body["timestamp"].endswith("Z")
    # a tampered body does not verify
    assert not verify_strait_signature(SECRET, hook.headers["x-strait-timestamp"], hook.body + b" ",
                                       hook.headers["x-strait-signature"], now_epoch=time.time())
    # one delivery for the run's end, whatever the keeper's later passes do: a second run is the marker
    second = trigger(api, created["id"], payload={"n": 2})
    wait_status(api, second["id"], "completed")
    wait_for(lambda: sum(h.path == "/hook/a" for h in servers.hooks) == 2 or None, timeout=30, what="hook 2")
    assert [json.loads(h.body)["run_id"] for h in servers.hooks if h.path == "/hook/a"] == [run["id"], second["id"]]


def test_sdk_callbacks_complete_the_run(api: httpx.Client, servers: Servers) -> None:
    created = job(api, servers, "/sdk-complete")
    run = trigger(api, created["id"], payload={"n": 7})
    done = wait_status(api, run["id"], "completed")
    wait_for(lambda: len(servers.sdk["/sdk-complete"]) == 5 or None, timeout=10, what="the SDK calls")
    assert servers.sdk["/sdk-complete"] == [200, 200, 200, 200, 200]
    assert done["result"] == {"done": True}
    # the run's token is worthless once it is over, for another run, or forged
    token = run["run_token"]
    assert httpx.post(f"{servers.api}/sdk/v1/runs/{run['id']}/heartbeat",
                      headers={"Authorization": f"Bearer {token}"}).status_code == 409
    other = trigger(api, job(api, servers, "/plain")["id"])
    refused = httpx.post(f"{servers.api}/sdk/v1/runs/{other['id']}/heartbeat",
                         headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    for header in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Bearer {token}x"}):
        response = httpx.post(f"{servers.api}/sdk/v1/runs/{run['id']}/complete", json={}, headers=header)
        assert response.status_code == 401 and "request_id" in response.json()
    bad = httpx.post(f"{servers.api}/sdk/v1/runs/{run['id']}/fail", json={"error": ""},
                     headers={"Authorization": f"Bearer {token}"})
    assert bad.status_code == 400 and bad.json()["error"]["details"]["field"] == "error"


def test_sdk_fail_fails_the_run(api: httpx.Client, servers: Servers) -> None:
    run = trigger(api, job(api, servers, "/sdk-fail", webhook_url=f"{servers.url}/hook/f")["id"])
    done = wait_status(api, run["id"], "failed")
    wait_for(lambda: servers.sdk.get("/sdk-fail") or None, timeout=10, what="the SDK call")
    assert done["error"] == "boom" and servers.sdk["/sdk-fail"] == [200]
    hook = wait_for(lambda: next((h for h in servers.hooks if h.path == "/hook/f"), None), timeout=30, what="hook")
    body = json.loads(hook.body)
    assert body["status"] == "failed" and body["error"] == "boom"
    assert "x-strait-signature" not in hook.headers  # the job has no webhook secret


def test_a_checkpoint_goes_to_the_next_attempt(api: httpx.Client, servers: Servers) -> None:
    run = trigger(api, job(api, servers, "/checkpoint", max_attempts=2, retry_strategy="fixed")["id"])
    done = wait_status(api, run["id"], "completed")
    assert done["result"] == {"checkpoint": '{"step":2}'}
    assert done["attempt"] == 2  # the second attempt (X-Attempt 2) is attempt 2
    retried = [c for c in servers.calls if c.path == "/checkpoint" and c.headers["x-run-id"] == run["id"]]
    assert [c.headers["x-attempt"] for c in retried] == ["1", "2"]
    assert retried[1].headers["x-previous-error"].startswith("HTTP 500")
    assert retried[1].headers["x-checkpoint-at"].endswith("Z")


def test_a_stale_heartbeat_is_reaped(api: httpx.Client, server: LiveServer, servers: Servers) -> None:
    server.app.state.ctx.services["engine"].run_keeper.stale_seconds = 0.5
    try:
        run = trigger(api, job(api, servers, "/heartbeat-then-hang", timeout_secs=60)["id"])
        done = wait_status(api, run["id"], "crashed")
    finally:
        server.app.state.ctx.services["engine"].run_keeper.stale_seconds = 60.0
    assert done["error"] == "heartbeat lost" and servers.sdk["/heartbeat-then-hang"] == [200]


def test_a_run_not_started_before_it_expires_is_expired(api: httpx.Client, servers: Servers) -> None:
    created = job(api, servers, "/hang", max_concurrency=1, timeout_secs=60)
    busy = trigger(api, created["id"])
    wait_status(api, busy["id"], "executing")
    run = trigger(api, created["id"], ttl_secs=1)  # queued behind the busy one: it cannot start
    assert run["status"] == "queued"
    done = wait_status(api, run["id"], "expired")
    assert done["error"] == "run expired"
    assert api.delete(f"/v1/runs/{busy['id']}").status_code in (200, 202, 204)


def test_a_webhook_answered_4xx_is_not_retried(api: httpx.Client, server: LiveServer, servers: Servers) -> None:
    servers.hook_status = 400
    try:
        run = trigger(api, job(api, servers, "/plain", webhook_url=f"{servers.url}/hook/4xx")["id"])
        wait_status(api, run["id"], "completed")
        wait_for(lambda: any(h.path == "/hook/4xx" for h in servers.hooks) or None, timeout=30, what="hook")

        def delivery_state() -> str | None:
            states = asyncio.run(deliveries_of(server, run["id"]))
            return states[0] if states == ["FAILED"] else None

        assert wait_for(delivery_state, timeout=30, what="the delivery FAILED") == "FAILED"
        assert sum(h.path == "/hook/4xx" for h in servers.hooks) == 1
    finally:
        servers.hook_status = 200


async def deliveries_of(server: LiveServer, source: str) -> list[str]:
    store = await open_store(server.settings.effective_database_url, SecretBox("test-only"))
    try:
        return [delivery.state for delivery in await store.webhooks.of_source(source)]
    finally:
        await store.close()
