"""Engine-backed template functions: CountByJobTypeAndState gates a job on what else runs."""

from __future__ import annotations

import httpx

from tests.support.jobs import wait_state

GATED = """job_type: gated
skip_if: '{{ if gt (CountByJobTypeAndState "gated" "EXECUTING") 0 }} true {{ end }}'
tasks:
- task_type: hold
  method: SHELL
  script:
    - sleep 30
"""



def test_skip_if_counts_running_requests(api: httpx.Client) -> None:
    assert api.post("/api/jobs/definitions", content=GATED,
                    headers={"Content-Type": "application/yaml"}).status_code == 201
    first = api.post("/api/jobs/requests", json={"job_type": "gated"}).json()["id"]
    wait_state(api, first, "EXECUTING")
    second = api.post("/api/jobs/requests", json={"job_type": "gated"}).json()["id"]
    filtered = wait_state(api, second, ["FAILED", "COMPLETED", "EXECUTING"])
    assert (filtered["job_state"], filtered["error_code"]) == ("FAILED", "ERR_FILTERED_JOB")
    api.post(f"/api/jobs/requests/{first}/cancel")
