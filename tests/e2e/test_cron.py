"""Cron definitions always have exactly one next request waiting; disabling stops them."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx

from tests.support.jobs import wait_state

CRON_JOB = """job_type: every-minute
cron_trigger: "*/1 * * * *"
tasks:
- task_type: tick
  method: SHELL
  script:
    - echo tick
"""


def pending_cron(api: httpx.Client) -> list[dict[str, object]]:
    body = api.get("/api/jobs/requests", params={"job_type": "every-minute", "job_state": "PENDING"}).json()
    return [r for r in body["Records"] if r["cron_triggered"]]



def test_cron_keeps_exactly_one_next_request(api: httpx.Client) -> None:
    assert api.post("/api/jobs/definitions", content=CRON_JOB,
                    headers={"Content-Type": "application/yaml"}).status_code == 201
    waiting = pending_cron(api)
    assert len(waiting) == 1
    first = waiting[0]
    fire_at = datetime.fromisoformat(str(first["scheduled_at"]).replace("Z", "+00:00"))
    assert fire_at > datetime.now(UTC) and fire_at.second == 0
    # re-posting or re-enabling does not make a second one
    api.post("/api/jobs/definitions", content=CRON_JOB, headers={"Content-Type": "application/yaml"})
    api.post("/api/jobs/definitions/every-minute/enable")
    assert [r["id"] for r in pending_cron(api)] == [first["id"]]
    # run it now; when it ends the next one is created, once
    assert api.post(f"/api/jobs/requests/{first['id']}/trigger").status_code == 200
    assert wait_state(api, str(first["id"]), ["COMPLETED", "FAILED"])["job_state"] == "COMPLETED"
    deadline = time.monotonic() + 10
    while not pending_cron(api) and time.monotonic() < deadline:
        time.sleep(0.05)
    after = pending_cron(api)
    assert len(after) == 1 and after[0]["id"] != first["id"]


def test_disabling_stops_cron_and_enabling_resumes_it(api: httpx.Client) -> None:
    api.post("/api/jobs/definitions", content=CRON_JOB, headers={"Content-Type": "application/yaml"})
    (waiting,) = pending_cron(api)
    api.post("/api/jobs/definitions/every-minute/disable")
    assert pending_cron(api) == []
    assert api.get(f"/api/jobs/requests/{waiting['id']}").json()["job_state"] == "CANCELLED"
    api.post("/api/jobs/definitions/every-minute/enable")
    assert len(pending_cron(api)) == 1


def test_invalid_cron_is_refused(api: httpx.Client) -> None:
    response = api.post("/api/jobs/definitions", content=CRON_JOB.replace("*/1 * * * *", "61 * * * *"),
                        headers={"Content-Type": "application/yaml"})
    assert response.status_code == 422 and response.json()["field"] == "cron_trigger"
