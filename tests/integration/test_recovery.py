"""kill -9 of the server while requests run; after a restart every request ends, nothing runs twice."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.jobs import wait_for
from tests.support.process import ServerProcess

JOB = """job_type: recover-me
max_concurrency: 20
tasks:
- task_type: first
  method: SHELL
  script:
    - echo first-ran
  on_completed: slow
- task_type: slow
  method: SHELL
  retry: 1
  delay_between_retries: 10ms
  script:
    - echo slow-started
    - sleep 3
  on_completed: last
- task_type: last
  method: SHELL
  script:
    - echo last-ran
"""

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}


def states(api: httpx.Client, ids: list[str]) -> list[str]:
    return [api.get(f"/api/jobs/requests/{i}").json()["job_state"] for i in ids]


def test_kill_9_mid_run_then_restart_finishes_every_request(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path).start()
    try:
        with server.client() as api:
            assert api.post("/api/jobs/definitions", content=JOB,
                            headers={"Content-Type": "application/yaml"}).status_code == 201
            ids = [api.post("/api/jobs/requests", json={"job_type": "recover-me"}).json()["id"] for _ in range(6)]

            def all_in_slow() -> bool:
                for request_id in ids:
                    body = api.get(f"/api/jobs/requests/{request_id}").json()
                    tasks = (body.get("execution") or {}).get("tasks") or []
                    if not any(t["task_type"] == "slow" and t["task_state"] == "EXECUTING" for t in tasks):
                        return False
                    lines = api.get(f"/api/jobs/requests/{request_id}/logs").json()["lines"]
                    if "slow-started" not in [entry["line"] for entry in lines]:
                        return False  # log lines are written in batches every 50 ms; wait for this one
                return True

            wait_for(all_in_slow, timeout=30, what="every request to be running its slow task")
        server.kill9()
        server.start()
        with server.client() as api:
            wait_for(lambda: set(states(api, ids)) <= TERMINAL,
                     timeout=60, what="every request to end after the restart")
            for request_id in ids:
                body = api.get(f"/api/jobs/requests/{request_id}").json()
                assert body["job_state"] == "COMPLETED", body
                tasks = body["execution"]["tasks"]
                assert [t["task_type"] for t in tasks] == ["first", "slow", "last"]  # each recorded once
                slow = tasks[1]
                assert slow["task_state"] == "COMPLETED" and slow["retried"] == 1  # the cut-off attempt counted
                lines = [entry["line"] for entry in api.get(f"/api/jobs/requests/{request_id}/logs").json()["lines"]]
                assert lines.count("first-ran") == 1  # the completed task did not run again
                assert lines.count("last-ran") == 1
                assert lines.count("slow-started") == 2
    finally:
        server.stop()


def test_restart_with_no_retries_left_fails_the_task_cleanly(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path).start()
    job = JOB.replace("  retry: 1\n", "").replace("recover-me", "recover-strict")
    try:
        with server.client() as api:
            api.post("/api/jobs/definitions", content=job, headers={"Content-Type": "application/yaml"})
            request_id = api.post("/api/jobs/requests", json={"job_type": "recover-strict"}).json()["id"]

            def in_slow() -> bool:
                tasks = (api.get(f"/api/jobs/requests/{request_id}").json().get("execution") or {}).get("tasks") or []
                return any(t["task_type"] == "slow" and t["task_state"] == "EXECUTING" for t in tasks)

            wait_for(in_slow, timeout=30, what="the slow task to run")
        server.kill9()
        server.start()
        with server.client() as api:
            wait_for(lambda: states(api, [request_id])[0] in TERMINAL, timeout=60, what="the request to end")
            body = api.get(f"/api/jobs/requests/{request_id}").json()
            assert body["job_state"] == "FAILED"
            slow = body["execution"]["tasks"][1]
            assert slow["task_state"] == "FAILED" and slow["error_code"] == "ERR_ANT_LOST"
    finally:
        server.stop()
