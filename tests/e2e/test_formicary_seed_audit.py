"""The audit of Formicary's API documents (seeds 000 and 001) against the native API (issue 16).

- Every documented operation (method + path) is served: the app's first route matching the
  operation's path is the operation's own (a ``{param}`` or ``:param`` in either is one segment).
- Every model the seeds document for an answer comes back with its documented fields (less
  ``WITHHELD``): one live embedded server on SQLite answers one operation per model — definitions,
  requests and their executions, ants, executors, artifacts, users, tokens, orgs, invitations, email
  verifications (through an aiosmtpd server), configs of each scope, error codes, audits, resources,
  subscriptions, stats, wait time, health, usage — and every paged operation answers the envelope.
- The README's native route table lists every operation.

The facts are checked in (``tests/support/formicary_seed.py``); when ``../shared/seeds`` is beside the
checkout, the first tests read the seeds and fail if the checked-in lists no longer say what they say.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from starlette.routing import Match

from tests.conftest import fresh_settings
from tests.support.formicary_seed import (
    MODEL_FIELDS,
    NO_SEEDS,
    OPERATIONS,
    README,
    WITHHELD,
    readme_operations,
    seed_answers,
    seed_file,
    seed_models,
    seed_operations,
    seed_paged,
    template,
)
from tests.support.jobs import apply, submit, wait_for, wait_state
from tests.support.live import LiveServer, live_server
from tests.support.smtp import smtp_inbox

ENVELOPE = {"Page", "PageSize", "Records", "TotalPages", "TotalRecords"}

# The operation whose answer the audit reads for each model (a paged one's first record).
SAMPLES = {
    "JobDefinition": ("GET", "/api/jobs/definitions/{id}"),
    "TaskDefinition": ("GET", "/api/jobs/definitions/{id}"),  # its tasks
    "JobDefinitionConfig": ("POST", "/api/jobs/definitions/{jobId}/configs"),
    "JobStats": ("GET", "/api/jobs/definitions/{id}/stats"),
    "JobRequest": ("GET", "/api/jobs/requests/{id}"),
    "JobExecution": ("GET", "/api/jobs/requests/{id}"),  # its execution
    "TaskExecution": ("GET", "/api/jobs/requests/{id}"),  # the execution's tasks
    "JobWaitEstimate": ("GET", "/api/jobs/requests/{id}/wait_time"),
    "JobCounts": ("GET", "/api/jobs/requests/stats"),
    "AntRegistration": ("GET", "/api/ants/{id}"),
    "ContainerLifecycleEvent": ("GET", "/api/executors"),
    "Artifact": ("POST", "/api/artifacts"),
    "AuditRecord": ("GET", "/api/audits"),
    "SystemConfig": ("POST", "/api/configs"),
    "ErrorCode": ("POST", "/api/errors"),
    "JobResource": ("POST", "/api/jobs/resources"),
    "JobResourceConfig": ("POST", "/api/jobs/resources/{id}/configs"),
    "Organization": ("POST", "/api/orgs"),
    "OrganizationConfig": ("POST", "/api/orgs/{orgId}/configs"),
    "UserInvitation": ("POST", "/api/orgs/{id}/invite"),
    "CombinedResourceUsage": ("POST", "/api/orgs/usage_report"),
    "Subscription": ("POST", "/api/subscriptions"),
    "User": ("GET", "/api/users/{id}"),
    "EmailVerification": ("POST", "/api/users/{id}/verify_email"),
    "UserToken": ("POST", "/api/users/{userId}/tokens"),
    "HealthQueryResponse": ("GET", "/api/health"),
}
NESTED = {"TaskDefinition", "JobExecution", "TaskExecution"}  # answered inside another model


def _seeds() -> tuple[str, str]:
    swagger, reference = seed_file("000"), seed_file("001")
    if swagger is None or reference is None:
        pytest.skip(NO_SEEDS)
    return swagger.read_text(), reference.read_text()


# --- the checked-in facts are the seeds' ---------------------------------------------------------


def test_the_checked_in_operations_are_the_seeds_operations() -> None:
    swagger, reference = _seeds()
    documented = seed_operations(swagger, reference)
    checked_in = {op.key for op in OPERATIONS}
    assert len(checked_in) == len(OPERATIONS)  # no operation twice
    assert (sorted(documented - checked_in), sorted(checked_in - documented)) == ([], [])
    assert len(documented) == 91


def test_the_checked_in_models_and_answers_are_the_seeds() -> None:
    swagger, _ = _seeds()
    models = seed_models(swagger)
    assert {name: models.get(name) for name in MODEL_FIELDS} == MODEL_FIELDS
    answers = seed_answers(swagger)
    wrong = {model: op for model, op in SAMPLES.items() if model not in NESTED
             and (op[0], template(op[1])) in answers and answers[(op[0], template(op[1]))] != model}
    assert wrong == {}
    assert seed_paged(swagger) == {op.key for op in OPERATIONS if op.paged}


# --- every operation is served -------------------------------------------------------------------


def _first_route(app: Any, method: str, path: str) -> str | None:
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "query_string": b"", "headers": []}
    for route in app.router.routes:
        match, child = route.matches(scope)
        if match == Match.FULL:
            return str((child.get("route") or route).path)  # a prefix group names the route it chose
    return None


def test_every_seed_operation_is_served_by_its_own_route(world: tuple[LiveServer, dict[str, Any]]) -> None:
    app = world[0].app
    unserved = []
    for op in OPERATIONS:
        concrete = re.sub(r"\{[^}/]+\}|:\w+", "zz1", op.path)
        route = _first_route(app, op.method, concrete)
        if route is None or template(route) != template(op.path):
            unserved.append(f"{op.method} {op.path} -> {route}")
    assert unserved == []


def test_the_readme_route_table_lists_every_seed_operation() -> None:
    listed = readme_operations(README.read_text())
    assert sorted({op.key for op in OPERATIONS} - listed) == []


# --- every documented model answers with its documented fields -----------------------------------

JOB = """job_type: seed-audit
description: the audit's job
tasks:
- task_type: greet
  method: SHELL
  script:
    - echo hello
"""

SLOW = """job_type: seed-audit-slow
tasks:
- task_type: wait
  method: SHELL
  timeout: 60s
  script:
    - sleep 60
"""


@pytest.fixture(scope="module")
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, Any]]]:
    """A live server, and every sample answer (model -> body) read from it once."""
    with smtp_inbox() as (_, port):
        settings = replace(fresh_settings(request, tmp_path_factory, "sqlite"), smtp_host="127.0.0.1",
                           smtp_port=port)
        with live_server(settings) as server, server.client() as api:
            yield server, _samples(api)


def _ok(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), (response.request.method, response.request.url, response.text)
    return response.json()


def _samples(api: httpx.Client) -> dict[str, Any]:
    out: dict[str, Any] = {}
    definition = apply(api, JOB)
    out["JobDefinition"] = _ok(api.get(f"/api/jobs/definitions/{definition['id']}"))
    out["TaskDefinition"] = out["JobDefinition"]["tasks"][0]
    out["JobDefinitionConfig"] = _ok(api.post(f"/api/jobs/definitions/{definition['id']}/configs",
                                              json={"name": "Greeting", "value": "hi", "secret": False}))
    done = wait_state(api, submit(api, "seed-audit")["id"], "COMPLETED")
    out["JobRequest"] = _ok(api.get(f"/api/jobs/requests/{done['id']}"))
    out["JobExecution"] = out["JobRequest"]["execution"]
    out["TaskExecution"] = out["JobExecution"]["tasks"][0]
    out["JobStats"] = _ok(api.get(f"/api/jobs/definitions/{definition['id']}/stats"))
    out["JobWaitEstimate"] = _ok(api.get(f"/api/jobs/requests/{done['id']}/wait_time"))
    out["JobCounts"] = _ok(api.get("/api/jobs/requests/stats"))[0]
    out["AntRegistration"] = _ok(api.get("/api/ants/embedded-ant"))

    apply(api, SLOW)
    slow = submit(api, "seed-audit-slow")["id"]
    executors = wait_for(lambda: api.get("/api/executors").json()["Records"] or None, what="a running executor")
    out["ContainerLifecycleEvent"] = executors[0]
    _ok(api.post(f"/api/jobs/requests/{slow}/cancel"))

    out["Artifact"] = _ok(api.post("/api/artifacts?name=audit.bin&group=audit", content=b"seed audit",
                                   headers={"Content-Type": "application/octet-stream"}))
    out["SystemConfig"] = _ok(api.post("/api/configs", json={"name": "AuditSys", "value": "v", "secret": False}))
    out["ErrorCode"] = _ok(api.post("/api/errors", json={"exit_code": 42, "error_code": "ERR_AUDIT"}))
    out["AuditRecord"] = _ok(api.get("/api/audits"))["Records"][0]
    resource = _ok(api.post("/api/jobs/resources", json={"resource_type": "audit-licence", "quota": 1}))
    out["JobResource"] = resource
    out["JobResourceConfig"] = _ok(api.post(f"/api/jobs/resources/{resource['id']}/configs",
                                            json={"name": "key", "value": "k", "secret": True}))
    org = _ok(api.post("/api/orgs", json={"org_unit": "audit-org", "bundle_id": "io.audit"}))
    out["Organization"] = org
    out["OrganizationConfig"] = _ok(api.post(f"/api/orgs/{org['id']}/configs",
                                             json={"name": "AuditOrg", "value": "o", "secret": False}))
    out["UserInvitation"] = _ok(api.post(f"/api/orgs/{org['id']}/invite", data={"email": "invitee@example.com"}))
    out["Subscription"] = _ok(api.post("/api/subscriptions", json={
        "organization_id": org["id"], "kind": "TEAM", "ended_at": "2100-01-01T00:00:00Z"}))
    out["CombinedResourceUsage"] = _ok(api.post("/api/orgs/usage_report?from=2020-01-01&to=2100-01-01"))[0]
    user = _ok(api.post("/api/users", json={"username": "auditee", "email": "auditee@example.com",
                                           "organization_id": org["id"]}))
    out["User"] = _ok(api.get(f"/api/users/{user['id']}"))
    out["EmailVerification"] = _ok(api.post(f"/api/users/{user['id']}/verify_email"))
    out["UserToken"] = _ok(api.post(f"/api/users/{user['id']}/tokens", data={"token": "audit"}))
    out["HealthQueryResponse"] = _ok(api.get("/api/health"))

    ids = {"jobId": definition["id"], "orgId": org["id"]}
    out["_unpaged"] = []
    for op in OPERATIONS:
        if op.paged:
            path = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], op.path)
            body = _ok(api.get(path))
            if not (isinstance(body, dict) and set(body) == ENVELOPE):
                out["_unpaged"].append(f"{op.method} {op.path}: {str(body)[:120]}")
    return out


def test_every_sampled_model_answers_with_its_documented_fields(world: tuple[LiveServer, dict[str, Any]]) -> None:
    samples = world[1]
    assert set(SAMPLES) == set(MODEL_FIELDS)  # every checked-in model is sampled
    missing = {model: sorted(set(MODEL_FIELDS[model]) - WITHHELD.get(model, frozenset()) - set(samples[model]))
               for model in SAMPLES}
    assert {model: fields for model, fields in missing.items() if fields} == {}


def test_every_paged_operation_answers_the_envelope(world: tuple[LiveServer, dict[str, Any]]) -> None:
    assert world[1]["_unpaged"] == []


def test_the_new_fields_say_what_formicary_means(world: tuple[LiveServer, dict[str, Any]]) -> None:
    samples = world[1]
    stats = samples["JobStats"]
    assert (stats["succeeded_jobs"], stats["failed_jobs"], stats["succeeded_jobs_percentage"]) == (1, 0, 100)
    assert stats["job_key"] == {"job_type": "seed-audit"} and stats["ants_available"] is True
    assert stats["succeeded_jobs_min_latency"] <= stats["succeeded_jobs_max_latency"]
    assert stats["first_job_at"].endswith("Z") and stats["last_job_at"] >= stats["first_job_at"]
    wait = samples["JobWaitEstimate"]
    assert wait["JobRequest"]["id"] == samples["JobRequest"]["id"] and wait["JobStats"]["succeeded_jobs"] == 1
    counts = samples["JobCounts"]
    assert counts["start_time_stirng"] == counts["start_time"] and counts["end_time_string"] == counts["end_time"]
    assert samples["User"]["Organization"]["id"] == samples["Organization"]["id"]
    token = samples["UserToken"]
    assert token["user_id"] == samples["User"]["id"] and token["organization_id"] == samples["Organization"]["id"]
    assert len(token["sha256"]) == 64 and token["sha256"] != token["api_token"]
    task = samples["TaskDefinition"]
    assert task["id"] == f"{samples['JobDefinition']['id']}-0" and task["created_at"]
    executor = samples["ContainerLifecycleEvent"]
    assert executor["container_id"] == executor["id"] and executor["source"] == executor["ant_id"]
