"""The read-only views of requests: stats, dead ids, wait time, the graph coloured by state."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.jobs import apply, get_request, submit, wait_for, wait_state

JOB = """job_type: viewed
tasks:
- task_type: one
  method: SHELL
  script: ["echo one"]
  on_completed: two
- task_type: two
  method: SHELL
  script: ["exit 2"]
"""

HELD = """job_type: held-back
tasks:
- task_type: hold
  method: SHELL
  script:
    - sleep {{ .Seconds }}
"""


def _held_back(api: httpx.Client, running_id: str, seconds: str) -> dict[str, Any]:
    """Submit while ``running_id`` takes the only slot; return the request once it has waited."""
    waiting = submit(api, "held-back", {"Seconds": seconds})
    row = wait_for(lambda: (r := get_request(api, waiting["id"]))["schedule_attempts"] > 0 and r,
                   what="the request to wait for the running one")
    assert row["job_state"] == "PENDING" and "1 of 1 allowed requests" in row["error_message"], row
    assert api.post(f"/api/jobs/requests/{running_id}/cancel").status_code == 200
    return row



def test_views_of_a_finished_request(api: httpx.Client) -> None:
    api.post("/api/jobs/definitions", content=JOB, headers={"Content-Type": "application/yaml"})
    request_id = api.post("/api/jobs/requests", json={"job_type": "viewed"}).json()["id"]
    assert wait_state(api, request_id, ["COMPLETED", "FAILED", "CANCELLED"])["job_state"] == "FAILED"
    assert request_id in api.get("/api/jobs/requests/dead_ids").json()
    stats = api.get("/api/jobs/requests/stats").json()
    assert {"job_type": "viewed", "job_state": "FAILED"}.items() <= stats[0].items()
    assert api.get("/api/jobs/definitions/viewed/stats").json()["failed"] == 1
    assert api.get("/api/jobs/definitions/stats").json()[0]["job_type"] == "viewed"
    wait = api.get(f"/api/jobs/requests/{request_id}/wait_time").json()
    assert wait["job_state"] == "FAILED" and wait["queue_number"] == 0
    dot = api.get(f"/api/jobs/requests/{request_id}/dot").text
    assert "palegreen" in dot and "salmon" in dot  # one COMPLETED, two FAILED
    png = api.get(f"/api/jobs/requests/{request_id}/dot.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert api.get("/api/jobs/requests", params={"job_state": "DONE"}).json()["TotalRecords"] == 1
    assert api.get("/api/jobs/requests", params={"job_state": "RUNNING"}).json()["TotalRecords"] == 0
    assert api.get("/api/jobs/requests", params={"job_state": "SLEEPING"}).status_code == 400
    assert api.get("/api/jobs/requests", params={"q": "viewed"}).json()["TotalRecords"] == 1
    assert api.get("/api/jobs/requests/nope/wait_time").status_code == 404


def test_a_request_that_waited_shows_no_reason_once_it_runs(api: httpx.Client) -> None:
    apply(api, HELD)
    api.put("/api/jobs/definitions/held-back/concurrency", data={"concurrency": "1"}).raise_for_status()
    first = submit(api, "held-back", {"Seconds": "30"})
    wait_state(api, first["id"], "EXECUTING")
    second = _held_back(api, first["id"], "30")
    running = wait_state(api, second["id"], "EXECUTING")
    assert running["error_message"] == "", running
    third = _held_back(api, second["id"], "0")
    done = wait_state(api, third["id"], "COMPLETED")
    assert (done["error_code"], done["error_message"]) == ("", ""), done
