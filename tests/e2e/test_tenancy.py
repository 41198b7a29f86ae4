"""Tenants never see or change each other's things: every route of the native API, tried across tenants.

The world: organisation "alpha" (users a1 and a2), organisation "bravo" (b1) and "carol", a user of no
organisation. Alpha owns a job, a public plugin, configs (secret and plain), requests (one finished with
logs, one waiting with a ``user_key``) and a token. Bravo and carol try every route on alpha's things:
each answer is a 403 or 404 that quotes none of alpha's data, lists hold none of it, and afterwards
alpha's things are as they were. a2 (alpha's organisation) sees them: the matrix is not passing for
want of data.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from myrmica.api.app import native_routers
from myrmica.domain.definitions import parse_definition
from myrmica.domain.principal import Principal
from myrmica.security.crypto import SecretBox
from myrmica.security.tokens import generate_token, hash_token
from myrmica.store.store import open_store
from tests.support.jobs import apply, get_request, log_text, submit, wait_state
from tests.support.live import LiveServer

pytestmark = pytest.mark.parametrize("server_settings", ["sqlite", "postgresql"], indirect=True)

JOB = """job_type: alpha-job
description: alpha-description-4K
tasks:
- task_type: alpha-step
  method: SHELL
  script:
    - echo {{ .Marker }}
"""

PLUGIN = """job_type: alpha.tools.echo
public_plugin: true
sem_version: 1.0.0
tasks:
- task_type: echo
  method: SHELL
  script:
    - echo plugin says $Marker and $PluginSecret
"""

# Strings only alpha's records hold: no answer to anyone else may contain one.
ALPHA_DATA = ("alpha-private-7Q", "alpha-description-4K", "alpha-config-value-9P", "alpha-secret-value-2M",
              "AlphaConfigName", "alpha-token-name", "alpha-step", "plugin-secret-value-5T", "PluginPlainName")
BRAVO_PARAM = "bravo-private-3Z"


@dataclass
class Tenant:
    name: str
    user_id: str
    token: str


def _users(server: LiveServer) -> dict[str, Tenant]:
    async def make() -> dict[str, Tenant]:
        store = await open_store(server.settings.effective_database_url, SecretBox("test-only"))
        try:
            alpha = await store.accounts.create_org("alpha")
            bravo = await store.accounts.create_org("bravo")
            made: dict[str, Tenant] = {}
            for name, org in (("a1", alpha), ("a2", alpha), ("b1", bravo), ("carol", None)):
                user = await store.accounts.create_user(name, organization_id=org["id"] if org else None)
                token = generate_token()
                await store.accounts.issue_token(user["id"], "login", token, hash_token(token))
                made[name] = Tenant(name, user["id"], token)
            return made
        finally:
            await store.close()

    return asyncio.run(make())


@dataclass
class AlphaWorld:
    definition: dict[str, Any]
    plugin: dict[str, Any]
    configs: dict[str, dict[str, Any]]
    plugin_configs: dict[str, dict[str, Any]]
    finished: dict[str, Any]
    waiting: dict[str, Any]
    token_id: str
    artifact: dict[str, Any]


def _alpha_world(a1: httpx.Client) -> AlphaWorld:
    definition = apply(a1, JOB)
    plugin = apply(a1, PLUGIN)
    configs = {}
    for name, value, secret in (("AlphaConfigName", "alpha-config-value-9P", False),
                                ("AlphaSecret", "alpha-secret-value-2M", True)):
        response = a1.post(f"/api/jobs/definitions/{definition['id']}/configs",
                           json={"name": name, "value": value, "secret": secret})
        assert response.status_code == 201, response.text
        configs[name] = response.json()
    plugin_configs = {}
    for name, value, secret in (("PluginSecret", "plugin-secret-value-5T", True),
                                ("PluginPlainName", "plugin-plain-value", False)):
        response = a1.post(f"/api/jobs/definitions/{plugin['id']}/configs",
                           json={"name": name, "value": value, "secret": secret})
        assert response.status_code == 201, response.text
        plugin_configs[name] = response.json()
    finished = submit(a1, "alpha-job", {"Marker": "alpha-private-7Q"}, description="alpha-description-4K")
    finished = wait_state(a1, finished["id"], "COMPLETED")
    assert "alpha-private-7Q" in log_text(a1, finished["id"])
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    waiting = submit(a1, "alpha-job", {"Marker": "alpha-private-7Q"}, user_key="shared-key", scheduled_at=later)
    token = a1.post("/api/users/me/tokens", json={"token": "alpha-token-name"})
    assert token.status_code == 201, token.text
    artifact = a1.post("/api/artifacts?name=alpha-upload.txt", content=b"alpha-private-7Q")
    assert artifact.status_code == 200, artifact.text
    return AlphaWorld(definition, plugin, configs, plugin_configs, finished, waiting, token.json()["id"],
                      artifact.json())


def _foreign_calls(w: AlphaWorld, alpha_user: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(route, method, url, request kwargs) for every route that names one of alpha's things."""
    job, plugin, req, waiting = w.definition["id"], w.plugin["id"], w.finished["id"], w.waiting["id"]
    config = w.configs["AlphaSecret"]["id"]
    plugin_config = w.plugin_configs["PluginSecret"]["id"]
    put = {"json": {"name": "AlphaSecret", "value": "overwritten", "secret": True}}
    calls: list[tuple[str, str, str, dict[str, Any]]] = []
    for request_id in (req, waiting):
        calls += [
            ("/api/jobs/requests/{request_id}", "GET", f"/api/jobs/requests/{request_id}", {}),
            ("/api/jobs/requests/{request_id}/cancel", "POST", f"/api/jobs/requests/{request_id}/cancel", {}),
            ("/api/jobs/requests/{request_id}/pause", "POST", f"/api/jobs/requests/{request_id}/pause", {}),
            ("/api/jobs/requests/{request_id}/restart", "POST", f"/api/jobs/requests/{request_id}/restart", {}),
            ("/api/jobs/requests/{request_id}/trigger", "POST", f"/api/jobs/requests/{request_id}/trigger", {}),
            ("/api/jobs/requests/{request_id}/tasks/{task_type}/vote", "POST",
             f"/api/jobs/requests/{request_id}/tasks/alpha-step/vote", {"json": {"decision": "APPROVED"}}),
            ("/api/jobs/requests/{request_id}/review", "POST", f"/api/jobs/requests/{request_id}/review",
             {"json": {"task_type": "alpha-step", "status": "APPROVED"}}),
            ("/api/jobs/requests/{request_id}/wait_time", "GET", f"/api/jobs/requests/{request_id}/wait_time", {}),
            ("/api/jobs/requests/{request_id}/dot", "GET", f"/api/jobs/requests/{request_id}/dot", {}),
            ("/api/jobs/requests/{request_id}/dot.png", "GET", f"/api/jobs/requests/{request_id}/dot.png", {}),
            ("/api/jobs/requests/{request_id}/logs", "GET", f"/api/jobs/requests/{request_id}/logs", {}),
            ("/api/jobs/requests/{request_id}/tasks/{task_type}/approval", "GET",
             f"/api/jobs/requests/{request_id}/tasks/alpha-step/approval", {}),
            ("/api/logs", "POST", "/api/logs", {"json": {"job_request_id": request_id, "message": "planted"}}),
            ("/api/jobs/requests/{request_id}/logs", "GET", f"/api/jobs/requests/{request_id}/logs?follow=true", {}),
        ]
    for ident in (job, "alpha-job"):
        calls += [
            ("/api/jobs/definitions/{definition_id}", "GET", f"/api/jobs/definitions/{ident}", {}),
            ("/api/jobs/definitions/{definition_id}", "GET", f"/api/jobs/definitions/{ident}?version=1", {}),
            ("/api/jobs/definitions/{job_type}/yaml", "GET", f"/api/jobs/definitions/{ident}/yaml", {}),
            ("/api/jobs/definitions/{definition_id}/dot", "GET", f"/api/jobs/definitions/{ident}/dot", {}),
            ("/api/jobs/definitions/{definition_id}/dot.png", "GET", f"/api/jobs/definitions/{ident}/dot.png", {}),
            ("/api/jobs/definitions/{definition_id}/dot.svg", "GET", f"/api/jobs/definitions/{ident}/dot.svg", {}),
            ("/api/jobs/definitions/{definition_id}/stats", "GET", f"/api/jobs/definitions/{ident}/stats", {}),
            ("/api/jobs/definitions/{definition_id}/disable", "POST", f"/api/jobs/definitions/{ident}/disable", {}),
            ("/api/jobs/definitions/{definition_id}/enable", "POST", f"/api/jobs/definitions/{ident}/enable", {}),
            ("/api/jobs/definitions/{definition_id}/concurrency", "PUT",
             f"/api/jobs/definitions/{ident}/concurrency", {"json": {"concurrency": 9}}),
            ("/api/v1/jobs/definitions/{job_type}/triggers", "GET", f"/api/v1/jobs/definitions/{ident}/triggers", {}),
            ("/api/v1/jobs/definitions/{job_type}/triggers/{name}/state", "DELETE",
             f"/api/v1/jobs/definitions/{ident}/triggers/hook/state", {}),
            ("/api/v1/jobs/definitions/{job_type}/triggers/{name}/fire", "POST",
             f"/api/v1/jobs/definitions/{ident}/triggers/hook/fire", {"json": {"payload": ""}}),
            ("/api/jobs/definitions/{definition_id}", "DELETE", f"/api/jobs/definitions/{ident}", {}),
        ]
    calls.append(("/api/jobs/definitions/type/{job_type}/versions", "GET",
                  "/api/jobs/definitions/type/alpha-job/versions", {}))
    # The public plugin may be read and run by anyone; not changed, and its configs are its owner's.
    calls.append(("/api/jobs/definitions/type/{job_type}/versions", "GET",
                  "/api/jobs/definitions/type/alpha.tools.echo/versions", {}))
    for ident in (plugin, "alpha.tools.echo"):
        calls += [
            ("/api/jobs/definitions/{definition_id}/disable", "POST", f"/api/jobs/definitions/{ident}/disable", {}),
            ("/api/jobs/definitions/{definition_id}/enable", "POST", f"/api/jobs/definitions/{ident}/enable", {}),
            ("/api/jobs/definitions/{definition_id}/concurrency", "PUT",
             f"/api/jobs/definitions/{ident}/concurrency", {"json": {"concurrency": 9}}),
            ("/api/jobs/definitions/{definition_id}", "DELETE", f"/api/jobs/definitions/{ident}", {}),
        ]
    for ident, config_id in ((job, config), ("alpha-job", config), (plugin, plugin_config),
                             ("alpha.tools.echo", plugin_config)):
        base = f"/api/jobs/definitions/{ident}/configs"
        calls += [
            ("/api/jobs/definitions/{job_id}/configs", "GET", base, {}),
            ("/api/jobs/definitions/{job_id}/configs", "POST", base,
             {"json": {"name": "Injected", "value": "x", "secret": False}}),
            ("/api/jobs/definitions/{job_id}/configs/{config_id}", "GET", f"{base}/{config_id}", {}),
            ("/api/jobs/definitions/{job_id}/configs/{config_id}", "PUT", f"{base}/{config_id}", put),
            ("/api/jobs/definitions/{job_id}/configs/{config_id}", "DELETE", f"{base}/{config_id}", {}),
        ]
    tokens = f"/api/users/{alpha_user}/tokens"
    calls += [
        ("/api/users/{user_id}/tokens", "GET", tokens, {}),
        ("/api/users/{user_id}/tokens", "POST", tokens, {"json": {"token": "planted"}}),
        ("/api/users/{user_id}/tokens/{token_id}", "DELETE", f"{tokens}/{w.token_id}", {}),
        ("/api/users/{user_id}/tokens/{token_id}", "DELETE", f"/api/users/me/tokens/{w.token_id}", {}),
        ("/api/users/{user_id}/tokens/{token_id}/delete", "POST", f"{tokens}/{w.token_id}/delete", {}),
        ("/api/users/{user_id}/tokens/{token_id}/delete", "POST", f"/api/users/me/tokens/{w.token_id}/delete", {}),
        # Workers, the processes they run and the server's metrics are the admin's.
        ("/api/ants", "GET", "/api/ants", {}),
        ("/api/ants/{ant_id}", "GET", "/api/ants/embedded-ant", {}),
        ("/api/executors", "GET", "/api/executors", {}),
        ("/api/executors/{executor_id}", "GET", f"/api/executors/{w.finished['execution']['tasks'][0]['id']}", {}),
        ("/api/executors/{task_execution_id}", "DELETE",
         f"/api/executors/{w.finished['execution']['tasks'][0]['id']}", {}),
        ("/api/metrics", "GET", "/api/metrics", {}),
        ("/metrics", "GET", "/metrics", {}),
    ]
    for ident in (w.artifact["id"], w.artifact["sha256"]):
        calls += [
            ("/api/artifacts/{artifact_id}", "GET", f"/api/artifacts/{ident}", {}),
            ("/api/artifacts/{artifact_id}/download", "GET", f"/api/artifacts/{ident}/download", {}),
            ("/api/artifacts/{artifact_id}/download/raw", "GET", f"/api/artifacts/{ident}/download/raw", {}),
            ("/api/artifacts/{artifact_id}/logs", "GET", f"/api/artifacts/{ident}/logs", {}),
            ("/api/artifacts/{artifact_id}", "DELETE", f"/api/artifacts/{ident}", {}),
        ]
    return calls


def _account_calls(alpha_user: str, alpha_org: str, resource: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """Formicary's accounts, configs, resources and the admin's catalogs, tried on alpha's things."""
    user, org = f"/api/users/{alpha_user}", f"/api/orgs/{alpha_org}"
    config = {"json": {"name": "Planted", "value": "x"}}
    res = f"/api/jobs/resources/{resource}"
    return [
        ("/api/users/{user_id}", "GET", user, {}),
        ("/api/users/{user_id}", "PUT", user, {"json": {"name": "renamed"}}),
        ("/api/users/{user_id}", "DELETE", user, {}),
        ("/api/users/{user}/password", "PUT", f"{user}/password", {"json": {"password": "planted-pass-123"}}),
        ("/api/users/{user_id}/notify", "PUT", f"{user}/notify", {"data": {"email": "x@example.com"}}),
        ("/api/users/{user_id}/verify_email", "POST", f"{user}/verify_email", {}),
        ("/api/users/{user_id}/verify_email/{code}", "PUT", f"{user}/verify_email/some-code", {}),
        ("/api/users", "POST", "/api/users", {"json": {"username": "planted"}}),
        ("/api/orgs", "POST", "/api/orgs", {"json": {"org_unit": "planted"}}),
        ("/api/orgs/{org_id}", "GET", org, {}),
        ("/api/orgs/{org_id}", "PUT", org, {"json": {"sticky_message": "planted"}}),
        ("/api/orgs/{org_id}", "DELETE", org, {}),
        ("/api/orgs/{org_id}/invite", "POST", f"{org}/invite", {"data": {"email": "x@example.com"}}),
        ("/api/orgs/usage_report", "GET", "/api/orgs/usage_report", {}),
        ("/api/orgs/usage_report", "POST", "/api/orgs/usage_report", {}),
        ("/api/orgs/invitations/{code}/accept", "POST", "/api/orgs/invitations/some-code/accept", {}),
        ("/api/orgs/{org_id}/configs", "GET", f"{org}/configs", {}),
        ("/api/orgs/{org_id}/configs", "POST", f"{org}/configs", config),
        ("/api/orgs/{org_id}/configs/{config_id}", "GET", f"{org}/configs/none", {}),
        ("/api/orgs/{org_id}/configs/{config_id}", "PUT", f"{org}/configs/none", config),
        ("/api/orgs/{org_id}/configs/{config_id}", "DELETE", f"{org}/configs/none", {}),
        ("/api/audits", "GET", "/api/audits", {}),
        ("/api/configs", "GET", "/api/configs", {}),
        ("/api/configs", "POST", "/api/configs", config),
        ("/api/configs/{config_id}", "GET", "/api/configs/none", {}),
        ("/api/configs/{config_id}", "PUT", "/api/configs/none", config),
        ("/api/configs/{config_id}", "DELETE", "/api/configs/none", {}),
        ("/api/errors", "POST", "/api/errors", {"json": {"error_code": "E", "exit_code": 1}}),
        ("/api/errors", "PUT", "/api/errors", {"json": {"id": "none", "error_code": "E", "exit_code": 1}}),
        ("/api/errors/{error_id}", "GET", "/api/errors/none", {}),
        ("/api/errors/{error_id}", "PUT", "/api/errors/none", {"json": {"error_code": "E", "exit_code": 1}}),
        ("/api/errors/{error_id}", "DELETE", "/api/errors/none", {}),
        ("/api/jobs/resources/{resource_id}", "GET", res, {}),
        ("/api/jobs/resources/{resource_id}", "PUT", res, {"json": {"resource_type": "planted"}}),
        ("/api/jobs/resources/{resource_id}", "DELETE", res, {}),
        ("/api/jobs/resources/{resource_id}/disable", "POST", f"{res}/disable", {}),
        ("/api/jobs/resources/{resource_id}/enable", "POST", f"{res}/enable", {}),
        ("/api/jobs/resources/{resource_id}/configs", "POST", f"{res}/configs", config),
        ("/api/jobs/resources/{resource_id}/configs/{config_id}", "DELETE", f"{res}/configs/none", {}),
        ("/api/subscriptions", "GET", "/api/subscriptions", {}),
        ("/api/subscriptions", "POST", "/api/subscriptions", {"json": {"user_id": alpha_user}}),
        ("/api/subscriptions/{subscription_id}", "GET", "/api/subscriptions/none", {}),
        ("/api/subscriptions/{subscription_id}", "PUT", "/api/subscriptions/none", {"json": {}}),
        ("/api/subscriptions/{subscription_id}", "DELETE", "/api/subscriptions/none", {}),
    ]


# Routes a tenant lists its own things through: 200, with nothing of alpha's.
LISTS = {
    "/api/jobs/requests": ["/api/jobs/requests", "/api/jobs/requests?job_type=alpha-job",
                           "/api/jobs/requests?q=alpha", "/api/jobs/requests?job_state=DONE"],
    "/api/jobs/requests/dead_ids": ["/api/jobs/requests/dead_ids"],
    "/api/jobs/requests/stats": ["/api/jobs/requests/stats", "/api/jobs/requests/stats?job_type=alpha-job"],
    "/api/jobs/definitions": ["/api/jobs/definitions", "/api/jobs/definitions?job_type=alpha-job"],
    "/api/jobs/definitions/stats": ["/api/jobs/definitions/stats"],
    "/api/jobs/plugins": ["/api/jobs/plugins"],
    "/api/users/{user_id}/tokens": ["/api/users/me/tokens"],
    "/api/users": ["/api/users", "/api/users?username=a1"],
    "/api/users/email_verifications": ["/api/users/email_verifications"],
    "/api/orgs": ["/api/orgs"],
    "/api/errors": ["/api/errors"],
    "/api/jobs/resources": ["/api/jobs/resources"],
    "/api/artifacts": ["/api/artifacts", "/api/artifacts?kind=USER_UPLOADED", "/api/artifacts?name=alpha-upload.txt"],
    "/api/approvals/pending": ["/api/approvals/pending"],
}
# Not about any tenant's records.
UNSCOPED = {("GET", "/api/health"), ("POST", "/api/jobs/definitions"), ("POST", "/api/jobs/requests"),
            ("POST", "/api/jobs/resources"), ("POST", "/api/artifacts"),
            ("POST", "/api/triggers/{job_type}/{trigger_name}")}


def _leaks(text: str, extra: tuple[str, ...] = ()) -> list[str]:
    return [marker for marker in (*ALPHA_DATA, *extra) if marker in text]


def test_no_tenant_sees_or_changes_another_tenants_things(server: LiveServer) -> None:
    users = _users(server)
    clients = {name: server.client(user.token) for name, user in users.items()}
    try:
        world = _alpha_world(clients["a1"])
        alpha_org = clients["a1"].get("/api/users/me").json()["organization_id"]
        made = clients["a1"].post("/api/jobs/resources", json={"resource_type": "alpha-private-7Q"})
        assert made.status_code == 200, made.text
        calls = _foreign_calls(world, users["a1"].user_id) + _account_calls(users["a1"].user_id, alpha_org,
                                                                             made.json()["id"])
        ids = (world.finished["id"], world.waiting["id"], world.definition["id"], world.artifact["id"])
        problems: list[str] = []
        for name in ("b1", "carol"):
            client = clients[name]
            for _, method, url, kwargs in calls:
                response = client.request(method, url, **kwargs)
                if response.status_code not in (403, 404):
                    problems.append(f"{name} {method} {url}: {response.status_code} {response.text[:200]}")
                elif _leaks(response.text):
                    problems.append(f"{name} {method} {url} quotes {_leaks(response.text)}: {response.text[:200]}")
            for urls in LISTS.values():
                for url in urls:
                    response = client.get(url)
                    if response.status_code != 200 or _leaks(response.text, ids):
                        problems.append(f"{name} GET {url}: {response.status_code} leaks "
                                        f"{_leaks(response.text, ids)}")
        assert problems == []

        covered = {(method, route) for route, method, _, _ in calls} | {("GET", route) for route in LISTS} | UNSCOPED
        routes = {(method, route.path) for router in native_routers() for route in router.routes  # type: ignore[attr-defined]
                  for method in route.methods}  # type: ignore[attr-defined]
        assert routes - covered == set(), "a route the matrix does not try"

        # Alpha's things are as they were, and alpha's own organisation sees them.
        a1, a2 = clients["a1"], clients["a2"]
        assert get_request(a1, world.waiting["id"])["job_state"] == "PENDING"
        for client in (a1, a2):
            assert client.get(f"/api/artifacts/{world.artifact['id']}/download").content == b"alpha-private-7Q"
            assert client.get(f"/api/jobs/requests/{world.finished['id']}").status_code == 200
            assert "alpha-private-7Q" in log_text(client, world.finished["id"])
            listed = client.get(f"/api/jobs/definitions/{world.definition['id']}/configs").json()["Records"]
            assert {c["name"]: c["value"] for c in listed} == {"AlphaConfigName": "alpha-config-value-9P",
                                                               "AlphaSecret": "****"}
            plugin_configs = client.get(f"/api/jobs/definitions/{world.plugin['id']}/configs").json()["Records"]
            assert sorted(c["name"] for c in plugin_configs) == ["PluginPlainName", "PluginSecret"]
        for job_type in ("alpha-job", "alpha.tools.echo"):
            definition = a1.get(f"/api/jobs/definitions/{job_type}").json()
            assert definition["disabled"] is False and definition["max_concurrency"] != 9
            assert definition["version"] == 1
        own_tokens = a1.get("/api/users/me/tokens").json()
        assert sorted(t["token_name"] for t in own_tokens) == ["alpha-token-name", "login"]
        assert not any(t["revoked"] for t in own_tokens)
    finally:
        for client in clients.values():
            client.close()


def test_a_user_key_is_the_tenants_own(server: LiveServer) -> None:
    users = _users(server)
    with server.client(users["a1"].token) as a1, server.client(users["b1"].token) as b1:
        apply(a1, JOB)
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
        theirs = submit(a1, "alpha-job", {"Marker": "alpha-private-7Q"}, user_key="deploy-1", scheduled_at=later)
        apply(b1, JOB.replace("alpha-description-4K", "bravo's own"))
        mine = b1.post("/api/jobs/requests", json={"job_type": "alpha-job", "user_key": "deploy-1",
                                                   "params": {"Marker": BRAVO_PARAM}, "scheduled_at": later})
        assert mine.status_code == 201, mine.text  # never their request, never blocked by their key
        assert mine.json()["id"] != theirs["id"] and not _leaks(mine.text)
        again = b1.post("/api/jobs/requests", json={"job_type": "alpha-job", "user_key": "deploy-1",
                                                    "scheduled_at": later})
        assert again.status_code == 200 and again.json()["id"] == mine.json()["id"]  # our own key still works
        repeat = a1.post("/api/jobs/requests", json={"job_type": "alpha-job", "user_key": "deploy-1",
                                                     "scheduled_at": later})
        assert repeat.status_code == 200 and repeat.json()["id"] == theirs["id"]
        assert BRAVO_PARAM not in repeat.text


def test_a_public_plugin_runs_for_others_as_their_request(server: LiveServer) -> None:
    users = _users(server)
    with server.client(users["a1"].token) as a1, server.client(users["b1"].token) as b1:
        plugin = apply(a1, PLUGIN)
        created = a1.post(f"/api/jobs/definitions/{plugin['id']}/configs",
                          json={"name": "PluginSecret", "value": "plugin-secret-value-5T", "secret": True})
        assert created.status_code == 201
        request = submit(b1, "alpha.tools.echo", {"Marker": BRAVO_PARAM}, user_key="run-1")
        done = wait_state(b1, request["id"], "COMPLETED")
        assert done["params"] and BRAVO_PARAM in str(done["params"])
        lines = log_text(b1, request["id"])
        # The owner's configs apply to the run, its secrets masked in the submitter's logs.
        assert f"plugin says {BRAVO_PARAM} and [****]" in lines, lines
        assert "plugin-secret-value-5T" not in b1.get(f"/api/jobs/requests/{request['id']}/logs").text
        # The owner sees none of it: not the request, its params, nor its logs, nor in counts.
        for url in (f"/api/jobs/requests/{request['id']}", f"/api/jobs/requests/{request['id']}/logs"):
            response = a1.get(url)
            assert response.status_code == 404 and BRAVO_PARAM not in response.text
        for url in ("/api/jobs/requests", "/api/jobs/requests?q=bravo", "/api/jobs/requests/dead_ids"):
            response = a1.get(url)
            assert response.status_code == 200 and request["id"] not in response.text
            assert BRAVO_PARAM not in response.text
        for url in ("/api/jobs/requests/stats", "/api/jobs/definitions/stats"):
            assert [row for row in a1.get(url).json() if row["job_type"] == "alpha.tools.echo"] == []
        assert a1.get(f"/api/jobs/definitions/{plugin['id']}/stats").json()["succeeded"] == 0
        assert b1.get(f"/api/jobs/definitions/{plugin['id']}/stats").json()["succeeded"] == 1
        # The submitter can read the plugin and run it, not read or change its configs.
        assert b1.get(f"/api/jobs/definitions/{plugin['id']}").status_code == 200
        assert b1.get(f"/api/jobs/definitions/{plugin['id']}/configs").status_code == 404
        assert b1.put(f"/api/jobs/definitions/{plugin['id']}/configs/{created.json()['id']}",
                      json={"name": "PluginSecret", "value": "stolen", "secret": False}).status_code == 404
        listed = a1.get(f"/api/jobs/definitions/{plugin['id']}/configs").json()["Records"]
        assert [(c["name"], c["value"], c["secret"]) for c in listed] == [("PluginSecret", "****", True)]


PLAIN_PLUGIN = """job_type: deploy
public_plugin: true
sem_version: 1.0.0
tasks:
- task_type: deploy
  method: SHELL
  script:
    - echo deploying $Target
"""


def test_a_public_plugin_must_be_named_org_bundle_name(server: LiveServer) -> None:
    users = _users(server)
    with server.client(users["b1"].token) as b1, server.client(users["carol"].token) as carol:
        for client, job_type, field in ((b1, "deploy", "job_type"), (b1, "bravo.deploy", "job_type"),
                                        (b1, "bravo..deploy", "job_type"), (b1, "alpha.tools.deploy", "job_type"),
                                        (carol, "carol.tools.deploy", "public_plugin")):
            response = client.post("/api/jobs/definitions", headers={"Content-Type": "application/yaml"},
                                   content=PLAIN_PLUGIN.replace("job_type: deploy", f"job_type: {job_type}"))
            assert response.status_code == 422 and response.json()["field"] == field, (job_type, response.text)
        assert b1.get("/api/jobs/plugins").json()["TotalRecords"] == 0
        # The same names are fine for a job of one's own, and the organisation's prefix for a plugin.
        assert apply(b1, PLAIN_PLUGIN.replace("public_plugin: true", "public_plugin: false"))["job_type"] == "deploy"
        named = apply(b1, PLAIN_PLUGIN.replace("job_type: deploy", "job_type: bravo.tools.deploy"))
        assert named["public_plugin"] is True


def test_a_submit_resolves_to_ones_own_job_and_to_a_plugin_only_by_its_plugin_name(server: LiveServer) -> None:
    users = _users(server)

    async def store_legacy_plugin() -> None:
        """A public plugin named like a job type, as stored before the naming rule was enforced."""
        store = await open_store(server.settings.effective_database_url, SecretBox("test-only"))
        try:
            alpha = (await store.accounts.user(users["a1"].user_id))["organization_id"]
            await store.definitions.save(Principal(users["a1"].user_id, "a1", organization_id=alpha),
                                         parse_definition(PLAIN_PLUGIN))
        finally:
            await store.close()

    asyncio.run(store_legacy_plugin())
    with server.client(users["b1"].token) as b1, server.client(users["a1"].token) as a1:
        # Bravo has no `deploy`: its submit (with secrets) must not reach alpha's plugin of that name.
        response = b1.post("/api/jobs/requests", json={"job_type": "deploy", "params": {"Target": BRAVO_PARAM},
                                                       "secret_params": {"Token": "bravo-secret-8W"}})
        assert response.status_code == 404, response.text
        assert b1.get("/api/jobs/definitions/deploy").status_code == 404
        assert "deploy" not in b1.get("/api/jobs/plugins").text
        mine = apply(b1, PLAIN_PLUGIN.replace("public_plugin: true", "public_plugin: false"))
        request = submit(b1, "deploy", {"Target": BRAVO_PARAM})
        assert request["job_definition_id"] == mine["id"]
        assert f"deploying {BRAVO_PARAM}" in log_text(b1, wait_state(b1, request["id"], "COMPLETED")["id"])
        # Alpha's own submit still finds its definition; a plugin named as one is still run by others.
        assert submit(a1, "deploy", {"Target": "alpha"})["job_definition_id"] != mine["id"]
        apply(a1, PLUGIN)
        theirs = submit(b1, "alpha.tools.echo", {"Marker": BRAVO_PARAM})
        assert wait_state(b1, theirs["id"], "COMPLETED")["job_type"] == "alpha.tools.echo"


def test_the_wait_time_queue_number_counts_only_the_callers_job_key(server: LiveServer) -> None:
    """``queue_number`` is the position among the pending requests of one owner's job type."""
    users = _users(server)
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    with server.client(users["a1"].token) as a1, server.client(users["b1"].token) as b1:
        for client in (a1, b1):
            apply(client, PLUGIN.replace("alpha.tools.echo", "queued").replace("public_plugin: true", ""))
        apply(b1, PLUGIN.replace("alpha.tools.echo", "other-queued").replace("public_plugin: true", ""))
        theirs = [submit(b1, job_type, scheduled_at=later) for job_type in ("queued", "queued", "other-queued")]
        first, second = (submit(a1, "queued", scheduled_at=later) for _ in range(2))
        numbers = [a1.get(f"/api/jobs/requests/{r['id']}/wait_time").json()["queue_number"] for r in (first, second)]
        assert numbers == [1, 2]
        assert b1.get(f"/api/jobs/requests/{theirs[1]['id']}/wait_time").json()["queue_number"] == 2
