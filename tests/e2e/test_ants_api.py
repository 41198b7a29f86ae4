"""Admin views of the workers: ants with their load, running executors, terminating one."""

from __future__ import annotations

import time
from typing import Any

import httpx

SLOW = """job_type: slow-one
tasks:
- task_type: wait
  method: SHELL
  script:
    - sleep 30
  on_failed: after
- task_type: after
  method: SHELL
  script:
    - echo cleaned up
"""


def wait_for(api: httpx.Client, path: str, check: object, timeout: float = 20) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, object] = api.get(path).json()
        if check(body):  # type: ignore[operator]
            return body
        time.sleep(0.05)
    raise AssertionError(f"{path} never satisfied the check")


def test_ants_show_capacity_and_live_load(api: httpx.Client) -> None:
    ants = api.get("/api/ants").json()["Records"]
    assert [a["ant_id"] for a in ants] == ["embedded-ant"]
    assert ants[0]["alive"] and ants[0]["max_capacity"] > 0 and "SHELL" in ants[0]["methods"]
    assert api.get("/api/ants/embedded-ant").json()["ant_id"] == "embedded-ant"
    assert api.get("/api/ants/nope").status_code == 404
    api.post("/api/jobs/definitions", content=SLOW, headers={"Content-Type": "application/yaml"})
    request_id = api.post("/api/jobs/requests", json={"job_type": "slow-one"}).json()["id"]
    ant = wait_for(api, "/api/ants/embedded-ant", lambda a: a["current_load"] == 1)
    assert len(ant["allocations"]) == 1  # type: ignore[arg-type]
    api.post(f"/api/jobs/requests/{request_id}/cancel")


def test_terminate_a_running_executor(api: httpx.Client) -> None:
    api.post("/api/jobs/definitions", content=SLOW, headers={"Content-Type": "application/yaml"})
    request_id = api.post("/api/jobs/requests", json={"job_type": "slow-one"}).json()["id"]
    listed = wait_for(api, "/api/executors", lambda body: body["TotalRecords"] == 1)
    records: list[dict[str, Any]] = listed["Records"]  # type: ignore[assignment]
    (executor,) = records
    assert executor["job_request_id"] == request_id and executor["task_type"] == "wait"
    assert api.delete("/api/executors/nope", params={"antID": "embedded-ant"}).status_code == 404
    response = api.delete(f"/api/executors/{executor['id']}", params={"antID": executor["ant_id"]})
    assert response.status_code == 200
    done = wait_for(api, f"/api/jobs/requests/{request_id}", lambda r: r["job_state"] in ("FAILED", "COMPLETED"))
    tasks = {t["task_type"]: t for t in done["execution"]["tasks"]}  # type: ignore[index]
    assert tasks["wait"]["task_state"] == "FAILED" and tasks["wait"]["error_code"] == "ERR_CONTAINER_STOPPED_FAILED"
    assert tasks["after"]["task_state"] == "COMPLETED"  # the failure edge was followed
    assert api.delete(f"/api/executors/{executor['id']}").status_code == 409
