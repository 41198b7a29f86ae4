"""The rest of the Formicary API (issue 16) on one embedded SQLite server: ``skip_if`` decided before a
request waits for an ant, a new version's ``cron_trigger`` re-planning the waiting cron request, job-mode
``fan_out`` (``fork_job_type``) end to end, and the queue and S3 triggers of spec §2.8."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from myrmica.config import Settings
from tests.support.jobs import apply, get_request, submit, wait_for, wait_state
from tests.support.live import LiveServer, live_server

END = ("COMPLETED", "FAILED", "CANCELLED")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"),
                        database_url=f"sqlite:///{tmp_path_factory.mktemp('db') / 'myrmica.db'}",
                        admin_token="myr_test_" + uuid.uuid4().hex, embedded_ant=True, ant_id="embedded-ant",
                        work_dir=tmp_path_factory.mktemp("work"), sandbox="none")
    with live_server(settings) as live:
        yield live


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- skip_if before ants (spec §1.7 step 3) -------------------------------------------------------------

UNRUNNABLE = """job_type: {name}
skip_if: {{{{ .SkipMe }}}}
tasks:
- task_type: only
  method: SHELL
  tags: [no-ant-has-this-tag]
  script: ["echo only-ran"]
"""


def test_a_filtered_request_ends_without_waiting_for_an_ant(api: httpx.Client) -> None:
    name = unique("skip-no-ant")
    apply(api, UNRUNNABLE.format(name=name))
    kept = submit(api, name, {"SkipMe": False})
    filtered = submit(api, name, {"SkipMe": True})
    done = wait_state(api, filtered["id"], END, timeout=10)
    assert (done["job_state"], done["error_code"]) == ("FAILED", "ERR_FILTERED_JOB"), done
    assert done["schedule_attempts"] == 0 and done["execution"] is None, done
    # The other one (not filtered) does wait: no ant has the tag.
    waiting = wait_for(lambda: (r := get_request(api, kept["id"]))["schedule_attempts"] >= 1 and r or None,
                       timeout=10, what="a not-ready pass")
    assert waiting["job_state"] == "PENDING" and "no-ant-has-this-tag" in waiting["error_message"], waiting
    assert api.post(f"/api/jobs/requests/{kept['id']}/cancel").status_code == 200


# --- a new version re-plans the cron request (spec §1.7 "Cron") --------------------------------------------

CRON = """job_type: {name}
{cron}
tasks:
- task_type: tick
  method: SHELL
  script: ["echo {tag}"]
"""


def pending_cron(api: httpx.Client, name: str) -> list[dict[str, Any]]:
    body = api.get("/api/jobs/requests", params={"job_type": name, "job_state": "PENDING"}).json()
    return [r for r in body["Records"] if r["cron_triggered"]]


def test_a_new_version_with_another_cron_re_plans_the_waiting_request(api: httpx.Client) -> None:
    name = unique("replan")
    first = apply(api, CRON.format(name=name, cron='cron_trigger: "0 3 * * *"', tag="v1"))
    (planned,) = pending_cron(api, name)
    assert planned["scheduled_at"].endswith("T03:00:00Z") and planned["job_definition_id"] == first["id"]
    second = apply(api, CRON.format(name=name, cron='cron_trigger: "30 4 * * *"', tag="v2"))
    assert second["id"] != first["id"]
    (replanned,) = pending_cron(api, name)
    assert replanned["id"] != planned["id"] and replanned["job_definition_id"] == second["id"]
    assert replanned["scheduled_at"].endswith("T04:30:00Z"), replanned
    old = get_request(api, planned["id"])
    assert old["job_state"] == "CANCELLED" and "re-planned" in old["error_message"], old
    # Same schedule, new tasks: the waiting request is of the new version (it would run v2's tasks otherwise).
    third = apply(api, CRON.format(name=name, cron='cron_trigger: "30 4 * * *"', tag="v3"))
    (same_time,) = pending_cron(api, name)
    assert same_time["job_definition_id"] == third["id"] and same_time["scheduled_at"] == replanned["scheduled_at"]
    # Re-posting the same text is no new version: nothing moves.
    apply(api, CRON.format(name=name, cron='cron_trigger: "30 4 * * *"', tag="v3"))
    assert [r["id"] for r in pending_cron(api, name)] == [same_time["id"]]
    # A version that drops the cron leaves no cron request.
    apply(api, CRON.format(name=name, cron="", tag="v4"))
    assert pending_cron(api, name) == []
    assert get_request(api, same_time["id"])["job_state"] == "CANCELLED"
