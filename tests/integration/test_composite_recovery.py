"""kill -9 of the server while composite tasks run: after a restart a parallel group's, a fan-out's and a
child job's work goes on from where it was — ended children are not run again, cut-off ones count one
attempt, children not started yet start, and a fork finds the child request it made (never a second)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.support.jobs import wait_for
from tests.support.process import ServerProcess

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}

COMPOSITE = """job_type: recover-composite
tasks:
- task_type: group
  parallel:
  - task_type: quick
    method: SHELL
    script: [echo quick-ran]
  - task_type: slow-a
    method: SHELL
    retry: 1
    delay_between_retries: 10ms
    script: [echo slow-a-started, sleep 3]
  - task_type: slow-b
    method: SHELL
    retry: 1
    delay_between_retries: 10ms
    script: [echo slow-b-started, sleep 3]
  on_completed: each
- task_type: each
  fan_out:
    items: '[1, 2, 3]'
    max_parallel: 1
    task:
      task_type: one
      method: SHELL
      script: ['echo "item-{{ .item }}-ran"']
"""

FORKING = """job_type: recover-fork
tasks:
- task_type: fork
  method: FORK_JOB
  child_job:
    definition:
      job_type: recover-fork-child
      tasks:
      - task_type: work
        method: SHELL
        retry: 1
        delay_between_retries: 10ms
        script: [echo child-started, sleep 3]
  on_completed: after
- task_type: after
  method: SHELL
  script: [echo after-ran]
"""


def body(api: httpx.Client, request_id: str) -> dict[str, Any]:
    response = api.get(f"/api/jobs/requests/{request_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def lines(api: httpx.Client, request_id: str) -> list[str]:
    return [entry["line"] for entry in api.get(f"/api/jobs/requests/{request_id}/logs").json()["lines"]]


def executing(api: httpx.Client, request_id: str, task_types: set[str], printed: set[str]) -> bool:
    tasks = (body(api, request_id).get("execution") or {}).get("tasks") or []
    running = {item["task_type"] for task in tasks for item in [task, *(task.get("items") or [])]
               if item["task_state"] == "EXECUTING"}
    return task_types <= running and printed <= set(lines(api, request_id))  # lines are stored in 50 ms batches


def upload(api: httpx.Client, source: str) -> None:
    response = api.post("/api/jobs/definitions", content=source, headers={"Content-Type": "application/yaml"})
    assert response.status_code == 201, response.text


def test_kill_9_inside_a_parallel_group_then_restart_goes_on_with_its_children(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path).start()
    try:
        with server.client() as api:
            upload(api, COMPOSITE)
            request_id = api.post("/api/jobs/requests", json={"job_type": "recover-composite"}).json()["id"]
            wait_for(lambda: executing(api, request_id, {"slow-a", "slow-b"}, {"quick-ran", "slow-a-started",
                                                                                 "slow-b-started"}),
                     timeout=30, what="both slow children to run")
        server.kill9()
        server.start()
        with server.client() as api:
            wait_for(lambda: body(api, request_id)["job_state"] in TERMINAL, timeout=60, what="the request to end")
            done = body(api, request_id)
            assert done["job_state"] == "COMPLETED", done
            tasks = done["execution"]["tasks"]
            assert [t["task_type"] for t in tasks] == ["group", "each"]
            group = tasks[0]["items"]
            assert [(t["task_type"], t["task_state"], t["retried"]) for t in group] == [
                ("quick", "COMPLETED", 0), ("slow-a", "COMPLETED", 1), ("slow-b", "COMPLETED", 1)]
            each = tasks[1]["items"]
            assert [(t["item_index"], t["task_state"]) for t in each] == [(0, "COMPLETED"), (1, "COMPLETED"),
                                                                        (2, "COMPLETED")]
            printed = lines(api, request_id)
            assert printed.count("quick-ran") == 1  # the child that ended before the crash did not run again
            assert printed.count("slow-a-started") == 2 and printed.count("slow-b-started") == 2
            assert [printed.count(f"item-{n}-ran") for n in (1, 2, 3)] == [1, 1, 1]
    finally:
        server.stop()


def test_kill_9_while_a_fork_waits_for_its_child_then_restart_finds_that_child(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path).start()
    try:
        with server.client() as api:
            upload(api, FORKING)
            request_id = api.post("/api/jobs/requests", json={"job_type": "recover-fork"}).json()["id"]

            def child_running() -> str | None:
                children = api.get("/api/jobs/requests", params={"parent_id": request_id}).json()["Records"]
                if children and executing(api, children[0]["id"], {"work"}, {"child-started"}):
                    return str(children[0]["id"])
                return None

            child_id = wait_for(child_running, timeout=30, what="the child request to run")
        server.kill9()
        server.start()
        with server.client() as api:
            wait_for(lambda: body(api, request_id)["job_state"] in TERMINAL, timeout=60, what="the parent to end")
            assert body(api, request_id)["job_state"] == "COMPLETED"
            children = api.get("/api/jobs/requests", params={"parent_id": request_id}).json()["Records"]
            assert [c["id"] for c in children] == [child_id]  # the same child, not a second one
            child = body(api, child_id)
            assert child["job_state"] == "COMPLETED"
            assert child["execution"]["tasks"][0]["retried"] == 1  # its own cut-off attempt counted
            assert lines(api, child_id).count("child-started") == 2
            assert lines(api, request_id).count("after-ran") == 1
    finally:
        server.stop()
