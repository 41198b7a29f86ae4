"""Engine-backed template functions: CountByJobTypeAndState gates a job on what else runs."""

from __future__ import annotations

import time

import httpx

GATED = """job_type: gated
skip_if: '{{ if gt (CountByJobTypeAndState "gated" "EXECUTING") 0 }} true {{ end }}'
tasks:
- task_type: hold
  method: SHELL
  script:
    - sleep 30
"""


def state_of(api: httpx.Client, request_id: str, wanted: set[str]) -> dict[str, object]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        body: dict[str, object] = api.get(f"/api/jobs/requests/{request_id}").json()
        if body["job_state"] in wanted:
            return body
        time.sleep(0.05)
    raise AssertionError(f"{request_id} never reached {wanted}")


def test_skip_if_counts_running_requests(api: httpx.Client) -> None:
    assert api.post("/api/jobs/definitions", content=GATED,
                    headers={"Content-Type": "application/yaml"}).status_code == 201
    first = api.post("/api/jobs/requests", json={"job_type": "gated"}).json()["id"]
    state_of(api, first, {"EXECUTING"})
    second = api.post("/api/jobs/requests", json={"job_type": "gated"}).json()["id"]
    filtered = state_of(api, second, {"FAILED", "COMPLETED", "EXECUTING"})
    assert (filtered["job_state"], filtered["error_code"]) == ("FAILED", "ERR_FILTERED_JOB")
    api.post(f"/api/jobs/requests/{first}/cancel")
