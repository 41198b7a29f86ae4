"""Formicary's accounts, configs, error codes, audits, resources and subscriptions against one live
server (SQLite): each section's routes with seed 000's shapes, the roles × routes matrix, bad input.

The world: organisations "north" (org admin "nadmin", member "nmember", read-only "nread") and
"south" (member "smember"), plus the admin (the server's token). An aiosmtpd server on 127.0.0.1
receives the verification emails.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from myrmica.api.app import native_routers
from myrmica.api.formicary.roles import ROLE_LABEL, required_role
from myrmica.domain.roles import Role
from myrmica.security.crypto import SecretBox
from myrmica.security.tokens import generate_token, hash_token
from myrmica.store.store import open_store
from tests.conftest import fresh_settings
from tests.support.jobs import apply, submit, wait_state
from tests.support.live import LiveServer, live_server
from tests.support.smtp import Inbox, smtp_inbox

ENVELOPE = {"Page", "PageSize", "Records", "TotalPages", "TotalRecords"}


@pytest.fixture(scope="module")
def inbox() -> Iterator[tuple[Inbox, int]]:
    with smtp_inbox() as inbox:
        yield inbox


@pytest.fixture(scope="module")
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          inbox: tuple[Inbox, int]) -> Iterator[tuple[LiveServer, dict[str, Any]]]:
    settings = replace(fresh_settings(request, tmp_path_factory, "sqlite"), smtp_host="127.0.0.1",
                       smtp_port=inbox[1])
    with live_server(settings) as server:
        yield server, asyncio.run(_people(server))


async def _people(server: LiveServer) -> dict[str, Any]:
    store = await open_store(server.settings.effective_database_url, SecretBox("test-only"))
    try:
        north = await store.accounts.create_org("north")
        south = await store.accounts.create_org("south")
        people: dict[str, Any] = {"north": north["id"], "south": south["id"]}
        for name, org, roles in (("nadmin", north, "OrgAdmin"), ("nmember", north, ""), ("nread", north, "ReadOnly"),
                                 ("smember", south, ""), ("loner", None, "")):
            user = await store.accounts.create_user(name, organization_id=org["id"] if org else None, roles=roles,
                                                    email=f"{name}@example.com")
            token = generate_token()
            await store.accounts.issue_token(user["id"], "login", token, hash_token(token))
            people[name] = {"id": user["id"], "token": token}
        return people
    finally:
        await store.close()


def client(server: LiveServer, people: dict[str, Any], who: str) -> httpx.Client:
    return server.client(None if who == "admin" else people[who]["token"])


def paged(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == ENVELOPE, body
    records: list[dict[str, Any]] = body["Records"]
    return records


def refused(response: httpx.Response, status: int | None = None) -> dict[str, Any]:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    if status is not None:
        assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"]
    return body


# --- users and organisations ---------------------------------------------------------------------


def test_users_orgs_invitations_and_email_verification(world: tuple[LiveServer, dict[str, Any]],
                                                       inbox: tuple[Inbox, int]) -> None:
    server, people = world
    with client(server, people, "admin") as admin, client(server, people, "nadmin") as nadmin, \
            client(server, people, "nmember") as nmember, client(server, people, "loner") as loner:
        users = paged(nmember.get("/api/users"))
        assert {u["username"] for u in users} == {"nadmin", "nmember", "nread"}  # their organisation only
        assert {"id", "username", "name", "email", "organization_id", "max_concurrency", "notify", "picture_url",
                "url", "sticky_message", "created_at", "updated_at"} <= set(users[0])
        assert len(paged(admin.get("/api/users"))) >= 6
        assert [u["username"] for u in paged(admin.get("/api/users?username=smember"))] == ["smember"]
        refused(nmember.get(f"/api/users/{people['smember']['id']}"), 404)  # another tenant's: not found

        me = nmember.put(f"/api/users/{people['nmember']['id']}", json={"name": "N. Member", "url": "https://n"})
        assert me.status_code == 200 and me.json()["name"] == "N. Member", me.text
        refused(nmember.put(f"/api/users/{people['nadmin']['id']}", json={"name": "x"}), 403)
        assert nadmin.put(f"/api/users/{people['nmember']['id']}", json={"max_concurrency": 4}).json()[
            "max_concurrency"] == 4
        refused(nadmin.put(f"/api/users/{people['nmember']['id']}", json={"roles": "Admin"}), 403)
        notify = nmember.put(f"/api/users/{people['nmember']['id']}/notify?when=onFailure",
                             data={"email": "ops@example.com"})
        assert notify.json()["notify"] == {"email": {"recipients": ["ops@example.com"], "when": "onFailure"}}

        org = admin.post("/api/orgs", json={"org_unit": "east", "bundle_id": "io.east", "max_concurrency": 5})
        assert org.status_code == 200, org.text
        assert {"id", "org_unit", "bundle_id", "license_policy", "max_concurrency", "owner_user_id", "parent_id",
                "sticky_message", "subscription", "created_at", "updated_at"} <= set(org.json())
        east = org.json()["id"]
        assert east in {o["id"] for o in paged(admin.get("/api/orgs"))}
        assert [o["org_unit"] for o in paged(nmember.get("/api/orgs"))] == ["north"]
        assert admin.put(f"/api/orgs/{east}", json={"sticky_message": "maintenance"}).json()[
            "sticky_message"] == "maintenance"
        refused(nadmin.put(f"/api/orgs/{east}", json={"sticky_message": "x"}), 404)
        assert nadmin.put(f"/api/orgs/{people['north']}", json={"license_policy": "basic"}).status_code == 200

        invitation = nadmin.post(f"/api/orgs/{people['north']}/invite", data={"email": "new@example.com"})
        assert invitation.status_code == 200, invitation.text
        body = invitation.json()
        assert {"id", "email", "invitation_code", "invited_by_user_id", "organization_id", "org_unit",
                "expires_at", "created_at"} <= set(body)
        refused(loner.post("/api/orgs/invitations/not-a-code/accept"), 404)
        assert loner.post(f"/api/orgs/invitations/{body['invitation_code']}/accept").status_code == 200
        assert loner.get(f"/api/users/{people['loner']['id']}").json()["organization_id"] == people["north"]
        refused(loner.post(f"/api/orgs/invitations/{body['invitation_code']}/accept"), 404)  # used once
        assert admin.delete(f"/api/orgs/{east}").status_code == 200
        refused(admin.delete(f"/api/orgs/{people['south']}"), 409)  # it has users

        # Email verification through the SMTP server: the code arrives by mail, never in an answer.
        messages = inbox[0].messages
        before = len(messages)
        made = nmember.post(f"/api/users/{people['nmember']['id']}/verify_email")
        assert made.status_code == 200, made.text
        assert made.json()["email_code"] == "****" and len(messages) == before + 1
        code = re.search(r"code is (\S+)", messages[-1])
        assert code is not None
        refused(nmember.put(f"/api/users/{people['nmember']['id']}/verify_email/wrong"), 404)
        verified = nmember.put(f"/api/users/{people['nmember']['id']}/verify_email/{code.group(1)}")
        assert verified.status_code == 200 and verified.json()["verified_at"], verified.text
        assert nmember.get(f"/api/users/{people['nmember']['id']}").json()["email_verified"] is True
        listed = paged(nmember.get("/api/users/email_verifications"))
        assert [v["email"] for v in listed] == ["nmember@example.com"]

        report = admin.get("/api/orgs/usage_report?from=2020-01-01&to=2100-01-01")
        assert report.status_code == 200 and isinstance(report.json(), list), report.text


# --- configs and the variable precedence -----------------------------------------------------------

JOB = """job_type: layered
tasks:
- task_type: show
  method: SHELL
  script:
    - echo "sys=$SysOnly org=$OrgOnly both=$Both job=$JobWins req=$ReqWins secret=$OrgSecret"
"""


def test_configs_are_masked_and_layered_system_org_job_request(world: tuple[LiveServer, dict[str, Any]]) -> None:
    server, people = world
    north = people["north"]
    with client(server, people, "admin") as admin, client(server, people, "nadmin") as nadmin, \
            client(server, people, "nmember") as nmember:
        for name, value in (("SysOnly", "s1"), ("Both", "from-system"), ("JobWins", "system"), ("ReqWins", "system")):
            made = admin.post("/api/configs", json={"name": name, "value": value, "secret": False})
            assert made.status_code == 200, made.text
        assert {"id", "scope", "kind", "name", "value", "secret", "created_at", "updated_at"} <= set(made.json())
        secret = admin.post("/api/configs", json={"Name": "SysSecret", "Value": "sys-secret-9", "Secret": True})
        assert secret.json()["value"] == "****"
        listed = paged(admin.get("/api/configs"))
        assert "sys-secret-9" not in str(listed) and len(listed) == 5
        assert admin.put(f"/api/configs/{secret.json()['id']}", json={"name": "SysSecret", "value": "****",
                                                                     "secret": True}).json()["value"] == "****"
        refused(nmember.get("/api/configs"), 403)
        for name, value, hidden in (("OrgOnly", "o1", False), ("Both", "from-org", False),
                                    ("OrgSecret", "org-pw-7", True)):
            made = nadmin.post(f"/api/orgs/{north}/configs", json={"name": name, "value": value, "secret": hidden})
            assert made.status_code == 200, made.text
        assert {"id", "organization_id", "name", "type", "value", "secret"} <= set(made.json())
        assert made.json()["value"] == "****"
        refused(nmember.post(f"/api/orgs/{north}/configs", json={"name": "X", "value": "y"}), 403)
        org_configs = paged(nmember.get(f"/api/orgs/{north}/configs"))
        assert {c["name"]: c["value"] for c in org_configs}["OrgSecret"] == "****"
        refused(nmember.get(f"/api/orgs/{people['south']}/configs"), 404)

        definition = apply(nmember, JOB)
        job_configs = nmember.post(f"/api/jobs/definitions/{definition['id']}/configs",
                                   json={"name": "JobWins", "value": "job", "secret": False})
        assert job_configs.status_code in (200, 201), job_configs.text
        request_id = submit(nmember, "layered", params={"ReqWins": "request"})["id"]
        done = wait_state(nmember, request_id, "COMPLETED")
        logs = nmember.get(f"/api/jobs/requests/{done['id']}/logs").json()
        text = "\n".join(line["line"] for line in logs["lines"])
        assert "sys=s1 org=o1 both=from-org job=job req=request" in text, text
        assert "org-pw-7" not in text  # a secret from an org config is masked in the log


# --- error codes, audits, resources, subscriptions ------------------------------------------------

FLAKY = """job_type: flaky
delay_between_retries: 10ms
tasks:
- task_type: try
  method: SHELL
  script:
    - test "{{ .JobRetry }}" != "0" || { echo "upstream 503 flake" >&2; exit 7; }
"""


BLIP = """job_type: blip
tasks:
- task_type: try
  method: SHELL
  delay_between_retries: 10ms
  script:
    - test "{{ .TaskRetry }}" != "0" || exit 8
"""

DOOMED = """job_type: doomed
retry: 2
delay_between_retries: 10ms
tasks:
- task_type: write
  method: SHELL
  retry: 3
  delay_between_retries: 10ms
  script:
    - echo "disk full" >&2; exit 1
"""


def test_error_codes_retry_the_job_and_audits_are_readable(world: tuple[LiveServer, dict[str, Any]]) -> None:
    server, people = world
    with client(server, people, "admin") as admin, client(server, people, "nmember") as nmember, \
            client(server, people, "nadmin") as nadmin:
        made = admin.post("/api/errors", json={"exit_code": 7, "error_code": "ERR_UPSTREAM_FLAKE", "job_type": "flaky",
                                               "action": "RETRY_JOB", "retry": 2, "display_message": "flaky upstream"})
        assert made.status_code == 200, made.text
        assert {"id", "regex", "exit_code", "error_code", "display_code", "display_message", "command_scope",
                "platform_scope", "task_type_scope", "job_type", "action", "retry", "hard_failure",
                "created_at", "updated_at"} <= set(made.json())
        assert [e["error_code"] for e in paged(nmember.get("/api/errors?job_type=flaky"))] == ["ERR_UPSTREAM_FLAKE"]
        refused(nmember.post("/api/errors", json={"exit_code": 1, "error_code": "X"}), 403)

        apply(nmember, FLAKY)
        request_id = submit(nmember, "flaky")["id"]
        done = wait_state(nmember, request_id, "COMPLETED", timeout=60)  # the job's retry: 0, the row's: 2
        assert done["retried"] == 1

        # RETRY_TASK gives a task retries it lacks; HARD_FAILURE takes away those it has.
        for rule in ({"exit_code": 8, "error_code": "ERR_BLIP", "job_type": "blip", "action": "RETRY_TASK", "retry": 1},
                     {"regex": "disk full", "error_code": "ERR_DISK", "job_type": "doomed", "action": "HARD_FAILURE"}):
            assert admin.post("/api/errors", json=rule).status_code == 200
        apply(nmember, BLIP)
        apply(nmember, DOOMED)
        blip = wait_state(nmember, submit(nmember, "blip")["id"], "COMPLETED")
        assert blip["execution"]["tasks"][0]["retried"] == 1
        doomed = wait_state(nmember, submit(nmember, "doomed")["id"], "FAILED")
        task = doomed["execution"]["tasks"][0]
        assert (task["error_code"], task["retried"], doomed["retried"]) == ("ERR_DISK", 0, 0)

        audits = paged(admin.get(f"/api/audits?kind=ERROR_CODE_UPDATED&target_id={made.json()['id']}"))
        assert len(audits) == 1 and {"id", "kind", "target_id", "user_id", "organization_id", "job_type", "message",
                                     "error", "remote_ip", "url", "created_at"} <= set(audits[0])
        assert paged(nadmin.get("/api/audits?kind=JOB_REQUEST_CREATED"))  # the org admin: their org's
        assert all(a["organization_id"] == people["north"] for a in paged(nadmin.get("/api/audits")))
        refused(nmember.get("/api/audits"), 403)


def test_job_resources_and_subscriptions(world: tuple[LiveServer, dict[str, Any]]) -> None:
    server, people = world
    with client(server, people, "admin") as admin, client(server, people, "nmember") as nmember, \
            client(server, people, "smember") as smember:
        made = nmember.post("/api/jobs/resources", json={"resource_type": "license", "quota": 2, "tags": ["a"],
                                                         "platform": "linux", "lease_timeout": 60_000_000_000})
        assert made.status_code == 200, made.text
        resource = made.json()
        assert {"id", "resource_type", "description", "platform", "category", "tags", "external_id", "quota",
                "lease_timeout", "value", "disabled", "extract_config", "organization_id", "user_id",
                "resource_variables", "valid_status", "created_at", "updated_at"} <= set(resource)
        assert [r["id"] for r in paged(nmember.get("/api/jobs/resources?resource_type=license"))] == [resource["id"]]
        assert paged(smember.get("/api/jobs/resources")) == []
        refused(smember.get(f"/api/jobs/resources/{resource['id']}"), 404)
        config = nmember.post(f"/api/jobs/resources/{resource['id']}/configs",
                              json={"name": "key", "value": "lic-secret-3", "secret": True})
        assert config.status_code == 200 and config.json()["value"] == "****", config.text
        got = nmember.get(f"/api/jobs/resources/{resource['id']}").json()
        assert [c["name"] for c in got["configs"]] == ["key"] and "lic-secret-3" not in str(got)
        assert nmember.delete(f"/api/jobs/resources/{resource['id']}/configs/{config.json()['id']}").status_code == 200
        assert nmember.put(f"/api/jobs/resources/{resource['id']}", json={"resource_type": "license", "quota": 3}
                           ).json()["quota"] == 3
        assert nmember.post(f"/api/jobs/resources/{resource['id']}/disable").json()["disabled"] is True
        assert nmember.post(f"/api/jobs/resources/{resource['id']}/enable").json()["disabled"] is False

        sub = admin.post("/api/subscriptions", json={"organization_id": people["north"], "kind": "TEAM",
                                                     "cpu_quota": 3600, "disk_quota": 100,
                                                     "ended_at": "2100-01-01T00:00:00Z"})
        assert sub.status_code == 200, sub.text
        assert {"id", "kind", "policy", "period", "price", "cpu_quota", "disk_quota", "remaining_cpu_quota",
                "remaining_disk_quota", "started_at", "ended_at", "active", "user_id",
                "organization_id"} <= set(sub.json())
        assert [s["id"] for s in paged(admin.get("/api/subscriptions?kind=TEAM"))] == [sub.json()["id"]]
        refused(nmember.get("/api/subscriptions"), 403)
        assert admin.delete(f"/api/subscriptions/{sub.json()['id']}").status_code == 200
        refused(admin.get(f"/api/subscriptions/{sub.json()['id']}"), 404)


# --- every route × every role --------------------------------------------------------------------

ROLES = {"admin": Role.ADMIN, "nadmin": Role.ORG_ADMIN, "nmember": Role.MEMBER, "nread": Role.READ_ONLY}


def _routes() -> list[tuple[str, str]]:
    return sorted({(method, route.path) for router in native_routers() for route in router.routes  # type: ignore[attr-defined]
                   for method in route.methods if route.path != "/api/health"})  # type: ignore[attr-defined]


def test_every_route_refuses_the_roles_below_its_own(world: tuple[LiveServer, dict[str, Any]]) -> None:
    server, people = world
    problems: list[str] = []
    for who, role in ROLES.items():
        with client(server, people, who) as caller:
            for method, path in _routes():
                url = re.sub(r"\{[^}]+\}", "zz-none", path)
                response = caller.request(method, url, json={})
                needed = required_role(method, path)
                refused_for_role = response.status_code == 403 and "role_required" in response.json()
                if (role >= needed) == refused_for_role:
                    problems.append(f"{who} {method} {path} (needs {ROLE_LABEL[needed]}): {response.status_code} "
                                    f"{response.text[:120]}")
                elif response.status_code >= 500:
                    problems.append(f"{who} {method} {path}: {response.status_code}")
    assert problems == []


TRIGGER_ROUTES = [("GET", "/api/v1/jobs/definitions/{job_type}/triggers"),
                  ("DELETE", "/api/v1/jobs/definitions/{job_type}/triggers/{name}/state"),
                  ("POST", "/api/v1/jobs/definitions/{job_type}/triggers/{name}/fire")]


def test_the_trigger_routes_are_in_the_matrix_with_their_roles(world: tuple[LiveServer, dict[str, Any]]) -> None:
    """The matrix above tries them on a job that is not there; here on a real one of north's: who may
    list (read-only), reset and fire (member), and that another organisation's member finds nothing."""
    server, people = world
    assert set(TRIGGER_ROUTES) <= set(_routes())
    assert [required_role(m, p) for m, p in TRIGGER_ROUTES] == [Role.READ_ONLY, Role.MEMBER, Role.MEMBER]
    job = f"hooked-{uuid.uuid4().hex[:6]}"
    with client(server, people, "nmember") as nmember:
        apply(nmember, f"job_type: {job}\ntriggers:\n- {{type: webhook, name: hook}}\n"
                       "tasks:\n- task_type: t\n  method: SHELL\n  script: [\"true\"]\n")
    base = f"/api/v1/jobs/definitions/{job}/triggers"
    calls = [("GET", base, None), ("DELETE", f"{base}/hook/state", None),
             ("POST", f"{base}/hook/fire", {"payload": base64.b64encode(b"{}").decode()})]
    expected = {"admin": [200, 200, 202], "nadmin": [200, 200, 202], "nmember": [200, 200, 202],
                "nread": [200, 403, 403], "smember": [404, 404, 404]}
    for who, statuses in expected.items():
        with client(server, people, who) as caller:
            got = [caller.request(method, path, json=body).status_code for method, path, body in calls]
            assert got == statuses, (who, got)
            if who == "nread":
                assert "role_required" in caller.delete(f"{base}/hook/state").json()


# --- bad input -----------------------------------------------------------------------------------

BAD = [
    ("POST", "/api/users", {"username": ""}),
    ("POST", "/api/users", {"username": "x", "email": "not-an-email"}),
    ("POST", "/api/users", {"username": "x", "roles": "Emperor"}),
    ("POST", "/api/orgs", {"org_unit": 7}),
    ("POST", "/api/orgs", {"max_concurrency": -1, "org_unit": "x"}),
    ("POST", "/api/configs", {"name": "", "value": "x"}),
    ("POST", "/api/configs", {"name": "x"}),
    ("POST", "/api/configs", {"name": "x", "value": "y", "secret": "yes"}),
    ("POST", "/api/errors", {"error_code": "E"}),
    ("POST", "/api/errors", {"error_code": "E", "regex": "(unclosed"}),
    ("POST", "/api/errors", {"error_code": "E", "exit_code": 1, "action": "EXPLODE"}),
    ("POST", "/api/errors", {"error_code": "E", "exit_code": "one"}),
    ("POST", "/api/jobs/resources", {"quota": 1}),
    ("POST", "/api/jobs/resources", {"resource_type": "x", "quota": 0}),
    ("POST", "/api/jobs/resources", {"resource_type": "x", "tags": "a" * 101}),
    ("POST", "/api/subscriptions", {"kind": "TEAM"}),
    ("POST", "/api/subscriptions", {"user_id": "u", "ended_at": "tomorrow"}),
    ("POST", "/api/subscriptions", {"user_id": "u", "ended_at": "2000-01-01T00:00:00Z"}),
    ("POST", "/api/subscriptions", {"user_id": "u", "kind": "PLATINUM", "ended_at": "2100-01-01T00:00:00Z"}),
    ("GET", "/api/audits?page=-1", None),
    ("GET", "/api/users?page_size=abc", None),
    ("GET", "/api/errors?hard_failure=maybe", None),
    ("GET", "/api/orgs/usage_report?from=yesterday", None),
    ("PUT", "/api/configs/zz-none", {"name": "x", "value": "y"}),
    ("DELETE", "/api/errors/zz-none", None),
    ("POST", "/api/orgs/invitations/zz-none/accept", None),
]


def test_bad_input_is_a_4xx_naming_the_problem(world: tuple[LiveServer, dict[str, Any]]) -> None:
    server, people = world
    with client(server, people, "admin") as admin:
        for method, url, body in BAD:
            response = admin.request(method, url, json=body) if body is not None else admin.request(method, url)
            refused(response)
        raw = admin.post("/api/configs", content=b"[1, 2", headers={"Content-Type": "application/json"})
        refused(raw, 400)
        nested = admin.post("/api/errors", content=b"[" * 10_000, headers={"Content-Type": "application/json"})
        refused(nested)
        assert all(c["name"] != "x" for c in paged(admin.get("/api/configs")))  # nothing half-written


# --- approvals, posted logs, one executor ---------------------------------------------------------

GATED = """job_type: gated
tasks:
- task_type: build
  method: SHELL
  script: ["echo built"]
  on_completed: gate
- task_type: gate
  method: MANUAL
  approval_policy:
    min_approvals: 2
  on_exit_code:
    APPROVED: ship
- task_type: ship
  method: SHELL
  script: ["echo shipped"]
"""

SLOW = """job_type: slow
tasks:
- task_type: wait
  method: SHELL
  script: ["sleep 30"]
"""


def test_approval_status_pending_posted_logs_and_one_executor(world: tuple[LiveServer, dict[str, Any]]) -> None:
    server, people = world
    with client(server, people, "admin") as admin, client(server, people, "nmember") as nmember, \
            client(server, people, "nadmin") as nadmin, client(server, people, "smember") as smember:
        apply(nmember, GATED)
        request_id = submit(nmember, "gated")["id"]
        wait_state(nmember, request_id, "MANUAL_APPROVAL_REQUIRED")
        status = nmember.get(f"/api/jobs/requests/{request_id}/tasks/gate/approval")
        assert status.status_code == 200, status.text
        assert {"task_execution_id", "job_request_id", "approvals_received", "rejections_received",
                "min_approvals_required", "quorum_reached", "rejected", "votes", "policy"} <= set(status.json())
        assert status.json()["min_approvals_required"] == 2 and status.json()["policy"]["min_approvals"] == 2
        pending = paged(nadmin.get("/api/approvals/pending"))
        assert [(p["job_request_id"], p["task_type"]) for p in pending] == [(request_id, "gate")]
        assert paged(smember.get("/api/approvals/pending")) == []
        refused(smember.get(f"/api/jobs/requests/{request_id}/tasks/gate/approval"), 404)
        refused(nmember.get(f"/api/jobs/requests/{request_id}/tasks/build/approval"), 404)
        for voter in (nmember, nadmin):
            assert voter.post(f"/api/jobs/requests/{request_id}/tasks/gate/vote",
                              json={"decision": "APPROVED"}).status_code == 200
        wait_state(nmember, request_id, "COMPLETED")
        decided = nmember.get(f"/api/jobs/requests/{request_id}/tasks/gate/approval").json()
        assert decided["quorum_reached"] is True and decided["approvals_received"] == 2
        assert paged(nadmin.get("/api/approvals/pending")) == []

        posted = nmember.post("/api/logs", json={"job_request_id": request_id, "task_type": "ship",
                                                 "message": "deployed to eu-1\nsmoke ok"})
        assert posted.status_code == 200, posted.text
        lines = [line["line"] for line in nmember.get(f"/api/jobs/requests/{request_id}/logs").json()["lines"]]
        assert "deployed to eu-1" in lines and "smoke ok" in lines
        refused(smember.post("/api/logs", json={"job_request_id": request_id, "message": "x"}), 404)
        refused(nmember.post("/api/logs", json={"message": "x"}), 400)
        refused(nmember.post("/api/logs", json={"job_request_id": request_id, "message": 7}), 400)

        apply(nmember, SLOW)
        slow = submit(nmember, "slow")["id"]
        wait_state(nmember, slow, "EXECUTING")
        task_id = ""
        for _ in range(200):
            running = [e for e in paged(admin.get("/api/executors")) if e["job_request_id"] == slow]
            if running:
                task_id = running[0]["id"]
                break
            time.sleep(0.02)  # (the task is stored a moment before its ant reports it running)
        assert task_id
        one = admin.get(f"/api/executors/{task_id}")
        assert one.status_code == 200 and one.json()["task_type"] == "wait", one.text
        refused(nmember.get(f"/api/executors/{task_id}"), 403)
        assert nmember.post(f"/api/jobs/requests/{slow}/cancel").status_code == 200

        report = admin.get("/api/orgs/usage_report?from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z").json()
        north = [e for e in report if e["organization_id"] == people["north"]]
        assert north and sum(e["cpu_resource"]["count"] for e in north) >= 2
        assert {"resource_type", "value", "value_unit", "count", "remaining_quota", "start_date", "end_date"} <= set(
            north[0]["cpu_resource"])
