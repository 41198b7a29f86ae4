"""Webhook triggers (spec §2.8) and a job's ``notify`` on one embedded server: an HMAC-verified trigger
(good and bad signatures), bearer and API-key triggers, filter, params, dedup, rate limit, 404/413;
email through an aiosmtpd server on 127.0.0.1 and a Slack-style webhook through the outbox, each on
its ``when``."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from myrmica.config import Settings
from myrmica.service.triggers import sign
from tests.support.http_stub import HttpStub, http_stub
from tests.support.jobs import apply, get_request, wait_for, wait_state
from tests.support.live import LiveServer, live_server

TRIGGERED = """
job_type: {name}
triggers:
- type: webhook
  name: push
  auth: {{method: hmac_sha256, secret_config: HookSecret}}
  filter: '{{{{ if eq .Body.ref "refs/heads/main" }}}}true{{{{ end }}}}'
  params:
    Branch: '{{{{ .Body.ref }}}}'
    Commit: '{{{{ .Body.after }}}}'
    Event: '{{{{ index .Headers "X-Github-Event" }}}}'
  dedup_key: '{{{{ .Body.after }}}}'
- type: webhook
  name: open
  rate_limit: {{max: 2, window: 1h}}
- type: webhook
  name: bearer
  auth: {{method: bearer_token, secret_config: HookSecret}}
- type: webhook
  name: keyed
  auth: {{method: api_key_header, secret_config: HookSecret, header: X-Token}}
- type: webhook
  name: unset
  auth: {{method: hmac_sha256, secret_config: NoSuchConfig}}
tasks:
- task_type: show
  method: SHELL
  script: ["echo branch=$Branch commit=$Commit event=$Event"]
"""

NOTIFIED = """
job_type: {name}
notify:
  email: {{recipients: [ops@example.com, dev@example.com], when: always}}
  slack: {{recipients: ["{hook}", "#channel"], when: onFailure}}
tasks:
- task_type: maybe
  method: SHELL
  script: ["exit $Code"]
"""


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        self.messages.append((list(envelope.rcpt_tos), envelope.content.decode()))
        return "250 OK"


@pytest.fixture(scope="module")
def inbox() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, inbox: tuple[Inbox, int]) -> Iterator[LiveServer]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"),
                        database_url=f"sqlite:///{tmp_path_factory.mktemp('db') / 'myrmica.db'}",
                        admin_token="myr_test_" + uuid.uuid4().hex, embedded_ant=True, ant_id="embedded-ant",
                        work_dir=tmp_path_factory.mktemp("work"), sandbox="none", smtp_host="127.0.0.1",
                        smtp_port=inbox[1], webhook_backoff_secs=0.01)
    with live_server(settings) as live:
        yield live


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture(scope="module")
def hook() -> Iterator[HttpStub]:
    with http_stub() as stub:
        yield stub


def _triggered(api: httpx.Client) -> str:
    name = f"hooked-{uuid.uuid4().hex[:8]}"
    definition = apply(api, TRIGGERED.format(name=name))
    made = api.post(f"/api/jobs/definitions/{definition['id']}/configs",
                    json={"name": "HookSecret", "value": "s3cr3t-hook", "secret": True})
    assert made.status_code == 201, made.text
    return name


def test_an_hmac_trigger_runs_the_job_with_params_only_when_signed(api: httpx.Client, server: LiveServer) -> None:
    name = _triggered(api)
    body = json.dumps({"ref": "refs/heads/main", "after": "abc123"}).encode()
    url = f"{server.url}/api/triggers/{name}/push"
    good = {"X-Hub-Signature-256": sign("s3cr3t-hook", body), "X-GitHub-Event": "push",
            "Content-Type": "application/json"}
    for headers in ({}, {**good, "X-Hub-Signature-256": sign("wrong", body)},
                    {**good, "X-Hub-Signature-256": "sha256=" + "0" * 64}):
        refused = httpx.post(url, content=body, headers=headers)
        assert (refused.status_code, refused.json()) == (401, {"error": "authentication failed"})
    tampered = httpx.post(url, content=body.replace(b"abc123", b"evil99"), headers=good)
    assert tampered.status_code == 401
    fired = httpx.post(url, content=body, headers=good)
    assert fired.status_code == 202, fired.text
    request_id = fired.json()["request_id"]
    done = wait_state(api, request_id, "COMPLETED")
    assert done["params"]["Branch"] == "refs/heads/main" and done["params"]["Commit"] == "abc123"
    lines = [entry["line"] for entry in api.get(f"/api/jobs/requests/{request_id}/logs").json()["lines"]]
    assert "branch=refs/heads/main commit=abc123 event=push" in lines
    # Filtered (another branch): 202, no request.
    other = json.dumps({"ref": "refs/heads/dev", "after": "def456"}).encode()
    skipped = httpx.post(url, content=other, headers={**good, "X-Hub-Signature-256": sign("s3cr3t-hook", other)})
    assert (skipped.status_code, skipped.json()) == (202, {"request_id": "", "filtered": True})
    # Unsigned secret config: every call refused.
    assert httpx.post(f"{server.url}/api/triggers/{name}/unset", content=b"{}",
                      headers={"X-Hub-Signature-256": sign("", b"{}")}).status_code == 401


def test_a_duplicate_of_a_live_request_is_not_made_again(api: httpx.Client, server: LiveServer) -> None:
    name = _triggered(api)
    apply(api, TRIGGERED.format(name=name).replace('script: ["echo', 'script: ["sleep 2; echo'))
    body = json.dumps({"ref": "refs/heads/main", "after": "same"}).encode()
    headers = {"X-Hub-Signature-256": sign("s3cr3t-hook", body)}
    first = httpx.post(f"{server.url}/api/triggers/{name}/push", content=body, headers=headers)
    again = httpx.post(f"{server.url}/api/triggers/{name}/push", content=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["request_id"] and again.json() == {"request_id": ""}


def test_bearer_api_key_rate_limit_and_unknown(api: httpx.Client, server: LiveServer) -> None:
    name = _triggered(api)
    base = f"{server.url}/api/triggers/{name}"
    assert httpx.post(f"{base}/bearer", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert httpx.post(f"{base}/bearer", headers={"Authorization": "Bearer s3cr3t-hook"}).status_code == 202
    assert httpx.post(f"{base}/keyed", headers={"X-Token": "nope"}).status_code == 401
    assert httpx.post(f"{base}/keyed", headers={"X-Token": "s3cr3t-hook"}).status_code == 202
    answers = [httpx.post(f"{base}/open", content=b"not json").json() for _ in range(3)]
    assert [bool(a["request_id"]) for a in answers] == [True, True, False] and answers[2]["filtered"] is True
    assert httpx.post(f"{base}/nope").status_code == 404
    assert httpx.post(f"{server.url}/api/triggers/no-such-job/push").status_code == 404
    assert httpx.post(f"{base}/open", content=b"x" * (1024 * 1024 + 1)).status_code == 413


def test_notify_mails_and_posts_on_the_configured_states(api: httpx.Client, inbox: tuple[Inbox, int],
                                                        hook: HttpStub) -> None:
    messages = inbox[0].messages
    name = f"notified-{uuid.uuid4().hex[:8]}"
    apply(api, NOTIFIED.format(name=name, hook=f"{hook.url}/slack"))
    ok = api.post("/api/jobs/requests", json={"job_type": name, "params": {"Code": "0"}}).json()
    wait_state(api, ok["id"], "COMPLETED")
    wait_for(lambda: len([m for m in messages if ok["id"] in m[1]]) == 2, what="two emails")
    mails = [m for m in messages if ok["id"] in m[1]]
    assert sorted(to for rcpts, _ in mails for to in rcpts) == ["dev@example.com", "ops@example.com"]
    assert f"Subject: [myrmica] {name} COMPLETED" in mails[0][1]
    failed = api.post("/api/jobs/requests", json={"job_type": name, "params": {"Code": "3"}}).json()
    wait_state(api, failed["id"], "FAILED")
    seen = wait_for(lambda: [s for s in hook.seen if failed["id"].encode() in s.body] or None, what="the slack post")
    assert json.loads(seen[0].body)["text"].startswith(f"Job {name} request {failed['id']} ended FAILED")
    assert not [s for s in hook.seen if ok["id"].encode() in s.body]  # onFailure: not for the success
    wait_for(lambda: len([m for m in messages if failed["id"] in m[1]]) == 2, what="two emails of the failure")
    assert get_request(api, failed["id"])["job_state"] == "FAILED"
