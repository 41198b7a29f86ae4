"""Approval SLAs with a fake clock (spec §1.8): the SLA check's clock is moved two hours on, and the next
housekeeping pass auto-approves, auto-rejects and escalates (an email through aiosmtpd) the MANUAL tasks
whose ``sla_deadline`` passed, and leaves alone the one whose deadline has not."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from myrmica.clock import utcnow
from myrmica.config import Settings
from tests.support.jobs import apply, contexts, get_request, submit, task, wait_for, wait_state
from tests.support.live import LiveServer, live_server
from tests.support.smtp import Inbox, smtp_inbox

JOB = """
job_type: {name}
tasks:
- task_type: gate
  method: MANUAL
  approval_policy:
    sla_deadline: {deadline}
    timeout_action: {action}
    escalation_recipients: boss@example.com
    escalation_message: please look at {name}
  on_completed: after
- task_type: after
  method: SHELL
  script: ["echo after the gate"]
"""


@pytest.fixture(scope="module")
def inbox() -> Iterator[tuple[Inbox, int]]:
    with smtp_inbox() as inbox:
        yield inbox


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, inbox: tuple[Inbox, int]) -> Iterator[LiveServer]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"),
                        database_url=f"sqlite:///{tmp_path_factory.mktemp('db') / 'myrmica.db'}",
                        admin_token="myr_test_" + uuid.uuid4().hex, embedded_ant=True, ant_id="embedded-ant",
                        work_dir=tmp_path_factory.mktemp("work"), sandbox="none", smtp_host="127.0.0.1",
                        smtp_port=inbox[1], approval_sla_check_secs=0.0)
    with live_server(settings) as live:
        yield live


def _waiting(api: httpx.Client, action: str, deadline: str) -> tuple[str, str]:
    name = f"sla-{action.lower()}-{uuid.uuid4().hex[:6]}"
    apply(api, JOB.format(name=name, deadline=deadline, action=action))
    request = submit(api, name)
    wait_state(api, request["id"], "MANUAL_APPROVAL_REQUIRED")
    return name, request["id"]


def test_breached_deadlines_get_their_timeout_action(server: LiveServer, inbox: tuple[Inbox, int]) -> None:
    with server.client() as api:
        _, approve = _waiting(api, "AUTO_APPROVE", "1h")
        _, reject = _waiting(api, "AUTO_REJECT", "1h")
        escalate_name, escalate = _waiting(api, "ESCALATE", "1h")
        _, later = _waiting(api, "AUTO_APPROVE", "10h")
        engine = server.app.state.ctx.services["engine"]
        engine.housekeeping.sla.now = lambda: utcnow() + timedelta(hours=2)  # the fake clock: two hours on

        approved = wait_state(api, approve, "COMPLETED")
        gate = task(approved, "gate")
        assert (gate["exit_code"], gate["exit_message"]) == ("APPROVED", "Approved by system:sla-timeout")
        assert task(approved, "after")["task_state"] == "COMPLETED"
        rejected = wait_state(api, reject, "FAILED")
        assert task(rejected, "gate")["error_code"] == "ERR_MANUAL_REJECTION"
        escalated = wait_for(lambda: (r := get_request(api, escalate)) and
                             contexts(task(r, "gate")["contexts"]).get("ApprovalEscalated") and r,
                             what="the escalation")
        assert escalated["job_state"] == "MANUAL_APPROVAL_REQUIRED"  # escalating keeps it waiting
        mail = wait_for(lambda: [m for m in inbox[0].messages if escalate_name in m] or None, what="the email")
        assert "boss@example.com" in mail[0] and f"please look at {escalate_name}" in mail[0]
        # The same passes left the one whose deadline (10 h) is still ahead alone, and escalate only once.
        assert get_request(api, later)["job_state"] == "MANUAL_APPROVAL_REQUIRED"
        audits = api.get("/api/audits", params={"target_id": escalate})
        assert audits.status_code == 200, audits.text
        assert [r["kind"] for r in audits.json()["Records"]].count("APPROVAL_ESCALATED") == 1
        engine.housekeeping.sla.now = lambda: utcnow() + timedelta(hours=11)
        wait_state(api, later, "COMPLETED")
        assert len([m for m in inbox[0].messages if escalate_name in m]) == 1
