"""The Tork dialect's job and task routes against a live server (SQLite and PostgreSQL), with the
embedded ant running the tasks: Tork's shapes, states, texts and statuses (spec/tork.md §3, §5)."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.support.jobs import wait_for
from tests.support.live import LiveServer
from tests.support.tork import YAML, get_job, post_job, run_job, wait_job

pytestmark = pytest.mark.parametrize("server_settings", ["sqlite", "postgresql"], indirect=True)

TORK_ID = re.compile(r"[0-9a-f]{32}")
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z")

HELLO = """name: hello job
description: says hello
tags: [greeting]
inputs:
  who: world
secrets:
  token: s3cr3t-value
tasks:
  - name: first
    description: says hello
    run: echo hello; echo "the token is $TOKEN"
    env:
      TOKEN: s3cr3t-value
  - name: second
    run: echo second
"""

SLOW = """name: slow job
tasks:
  - name: nap
    run: echo napping; sleep 60
  - name: after
    run: echo after
"""

FAILING = """name: failing job
tasks:
  - name: ok
    run: echo fine
  - name: broken
    run: echo about to fail; exit 3
  - name: never
    run: echo never
"""


def test_health_needs_no_key_and_says_up(server: LiveServer) -> None:
    response = httpx.get(f"{server.url}/tork/health")
    assert response.status_code == 200
    assert response.json() == {"status": "UP", "version": "0.1.153"}


def test_a_submitted_job_is_a_pending_summary_then_runs_its_tasks_in_order(api: httpx.Client) -> None:
    summary = post_job(api, HELLO)
    assert TORK_ID.fullmatch(summary["id"])
    assert summary["state"] == "PENDING" and summary["position"] == 0 and summary["taskCount"] == 2
    assert summary["name"] == "hello job" and summary["description"] == "says hello"
    assert summary["tags"] == ["greeting"] and summary["inputs"] == {"who": "world"}
    assert summary["createdBy"]["username"] == "guest" and TIME.fullmatch(summary["createdAt"])
    assert "tasks" not in summary and "execution" not in summary and "secrets" not in summary

    job = wait_job(api, summary["id"], "COMPLETED")
    assert job["position"] == 3 and job["progress"] == 100
    assert TIME.fullmatch(job["startedAt"]) and TIME.fullmatch(job["completedAt"])
    assert [t["name"] for t in job["tasks"]] == ["first", "second"]
    assert job["tasks"][0]["description"] == "says hello"  # as submitted
    execution = job["execution"]
    assert [(t["position"], t["name"], t["state"]) for t in execution] == [(1, "first", "COMPLETED"),
                                                                           (2, "second", "COMPLETED")]
    for task in execution:
        assert TORK_ID.fullmatch(task["id"]) and task["jobId"] == job["id"] and task["queue"] == "default"
        assert TIME.fullmatch(task["completedAt"]) and "failedAt" not in task and "error" not in task
    assert job["context"]["job"] == {"id": job["id"], "name": "hello job"}
    assert job["context"]["inputs"] == {"who": "world"}
    # secrets: the map, and every value inside strings, read [REDACTED]
    assert job["secrets"] == {"token": "[REDACTED]"} and job["context"]["secrets"] == {"token": "[REDACTED]"}
    assert "s3cr3t-value" not in str(job)
    assert execution[0]["env"] == {"TOKEN": "[REDACTED]"}


def test_the_list_is_newest_first_with_tork_paging(api: httpx.Client) -> None:
    ids = [post_job(api, f"name: listed {i}\ntasks:\n  - name: t\n    run: echo {i}\n")["id"] for i in range(3)]
    page = api.get("/tork/jobs").json()
    assert [item["id"] for item in page["items"]] == ids[::-1]
    assert page["number"] == 1 and page["size"] == 3 and page["totalItems"] == 3 and page["totalPages"] == 1
    assert all("tasks" not in item and "execution" not in item for item in page["items"])
    two = api.get("/tork/jobs", params={"size": 2, "page": 2}).json()
    assert [item["id"] for item in two["items"]] == ids[:1] and two["size"] == 1 and two["totalPages"] == 2
    assert api.get("/tork/jobs", params={"size": 0}).json()["size"] == 1  # clamped to 1..20
    assert api.get("/tork/jobs", params={"page": -3}).json()["number"] == 1
    bad = api.get("/tork/jobs", params={"page": "x"})
    assert bad.status_code == 404 and bad.json() == {"message": "invalid page number: x"}
    assert api.get("/tork/jobs", params={"size": "1.5"}).json() == {"message": "invalid size: 1.5"}


def test_a_native_request_is_not_a_tork_job(api: httpx.Client) -> None:
    api.post("/api/jobs/definitions", content="job_type: native\ntasks:\n- task_type: a\n  method: SHELL\n"
                                              "  script: [echo a]\n", headers={"Content-Type": "application/yaml"})
    native = api.post("/api/jobs/requests", json={"job_type": "native"}).json()
    hex_id = native["id"]
    from ulid import ULID

    response = api.get(f"/tork/jobs/{ULID.from_str(hex_id).hex}")
    assert response.status_code == 404 and response.json() == {"message": "job not found"}
    assert api.get("/tork/jobs").json()["totalItems"] == 0


def test_unknown_ids_and_paths_answer_tork_404s(api: httpx.Client) -> None:
    for path, message in (("/tork/jobs/0123456789abcdef0123456789abcdef", "job not found"),
                          ("/tork/jobs/not-an-id", "job not found"),
                          ("/tork/jobs/0123456789abcdef0123456789abcdef/log", "job not found"),
                          ("/tork/tasks/0123456789abcdef0123456789abcdef", "task not found"),
                          ("/tork/tasks/nope/log", "task not found"),
                          ("/tork/no-such-route", "Not Found")):
        response = api.get(path)
        assert (response.status_code, response.json()) == (404, {"message": message}), path
    assert api.put("/tork/jobs/0123456789abcdef0123456789abcdef/cancel").json() == {"message": "job not found"}
    wrong = api.delete("/tork/jobs")
    assert wrong.status_code == 405 and wrong.json() == {"message": "Method Not Allowed"}


def test_keys_are_bearer_tokens_with_torks_answers(server: LiveServer) -> None:
    missing = httpx.get(f"{server.url}/tork/jobs")
    assert (missing.status_code, missing.json()) == (400, {"message": "missing key in request header"})
    wrong = httpx.get(f"{server.url}/tork/jobs", headers={"Authorization": "Bearer nope"})
    assert (wrong.status_code, wrong.json()) == (401, {"message": "Unauthorized"})


def test_a_failed_task_fails_the_job_and_the_rest_never_run(api: httpx.Client) -> None:
    job = run_job(api, FAILING)
    assert job["state"] == "FAILED" and "failedAt" in job and "error" not in job  # Tork keeps no job error
    assert [(t["name"], t["state"]) for t in job["execution"]] == [("ok", "COMPLETED"), ("broken", "FAILED")]
    broken = job["execution"][1]
    assert broken["error"] == "error executing command: exit status 3" and "failedAt" in broken
    assert job["position"] == 2 and job["progress"] == 33.33  # Tork's round2((position - 1) / taskCount × 100)
    listed = api.get("/tork/jobs").json()["items"][0]
    assert (listed["state"], listed["position"], listed["progress"]) == ("FAILED", 2, 33.33)


def test_a_timeout_fails_the_task_with_the_deadline_text(api: httpx.Client) -> None:
    job = run_job(api, "name: timing out\ntasks:\n  - name: sleepy\n    timeout: 1s\n    run: sleep 30\n")
    assert job["state"] == "FAILED"
    assert job["execution"][0]["error"] == "context deadline exceeded"


def test_cancel_and_restart_texts_and_states(api: httpx.Client) -> None:
    job_id = post_job(api, SLOW)["id"]
    wait_for(lambda: (get_job(api, job_id).get("execution") or [{}])[0].get("state") == "RUNNING",
             what="the first task to run")
    again = api.put(f"/tork/jobs/{job_id}/restart")
    assert (again.status_code, again.json()) == (400, {"message": "job is RUNNING and can not be restarted"})
    cancelled = api.put(f"/tork/jobs/{job_id}/cancel")
    assert (cancelled.status_code, cancelled.json()) == (200, {"status": "OK"})
    wait_job(api, job_id, "CANCELLED")
    wait_for(lambda: get_job(api, job_id)["execution"][0]["state"] == "CANCELLED", what="the task's cancel")
    twice = api.put(f"/tork/jobs/{job_id}/cancel")
    assert (twice.status_code, twice.json()) == (400, {"message": "job is not running"})
    restarted = api.put(f"/tork/jobs/{job_id}/restart")
    assert (restarted.status_code, restarted.json()) == (200, {"status": "OK"})
    wait_job(api, job_id, "RUNNING")
    assert api.put(f"/tork/jobs/{job_id}/cancel").status_code == 200
    wait_job(api, job_id, "CANCELLED")


def test_a_completed_job_cannot_be_restarted_nor_cancelled(api: httpx.Client) -> None:
    job = run_job(api, "name: done\ntasks:\n  - name: t\n    run: 'true'\n")
    restart = api.put(f"/tork/jobs/{job['id']}/restart")
    assert (restart.status_code, restart.json()) == (400, {"message": "job is COMPLETED and can not be restarted"})
    assert api.put(f"/tork/jobs/{job['id']}/cancel").json() == {"message": "job is not running"}


def test_a_failed_job_restarts_at_the_task_that_failed(api: httpx.Client, tmp_path: object) -> None:
    marker = f"/tmp/tork-restart-{id(tmp_path)}"
    body = (f"name: flaky\ntasks:\n  - name: one\n    run: echo one\n"
            f"  - name: two\n    run: 'if [ -e {marker} ]; then echo ok; else touch {marker}; exit 1; fi'\n")
    job = run_job(api, body)
    assert job["state"] == "FAILED"
    assert api.put(f"/tork/jobs/{job['id']}/restart").json() == {"status": "OK"}
    done = wait_job(api, job["id"], "COMPLETED")
    ones = [t for t in done["execution"] if t["name"] == "one"]
    assert len(ones) == 1  # the completed task is not run again


def test_logs_are_tork_parts_newest_first(api: httpx.Client) -> None:
    job = run_job(api, HELLO)
    log = api.get(f"/tork/jobs/{job['id']}/log").json()
    assert log["number"] == 1 and log["totalItems"] == log["size"] >= 2
    first_task, second_task = (t["id"] for t in job["execution"])
    assert log["items"][0]["taskId"] == second_task and log["items"][-1]["taskId"] == first_task
    contents = "".join(part["contents"] for part in log["items"])
    assert "hello\n" in contents and "second\n" in contents
    assert "the token is [REDACTED]" in contents and "s3cr3t" not in contents
    for part in log["items"]:
        assert TORK_ID.fullmatch(part["id"]) and part["number"] >= 1 and TIME.fullmatch(part["createdAt"])
    found = api.get(f"/tork/jobs/{job['id']}/log", params={"q": "SECOND"}).json()
    assert [p["taskId"] for p in found["items"]] == [second_task]
    task_log = api.get(f"/tork/tasks/{first_task}/log").json()
    assert {p["taskId"] for p in task_log["items"]} == {first_task}
    assert api.get(f"/tork/jobs/{job['id']}/log", params={"size": 1}).json()["totalPages"] == log["totalItems"]


def test_a_task_reads_as_a_tork_task(api: httpx.Client) -> None:
    job = run_job(api, HELLO)
    first = job["execution"][0]
    task = api.get(f"/tork/tasks/{first['id']}").json()
    assert task == first


def test_wait_mode_answers_the_full_job_once_it_ends(api: httpx.Client) -> None:
    body = "name: waited\nwait:\n  timeout: 30s\ntasks:\n  - name: t\n    run: echo waited\n"
    response = api.post("/tork/jobs", content=body, headers=YAML)
    assert response.status_code == 200
    job = response.json()
    assert job["state"] == "COMPLETED" and job["execution"][0]["state"] == "COMPLETED"


def test_wait_mode_times_out_with_408(api: httpx.Client) -> None:
    body = "name: too slow\nwait:\n  timeout: 500ms\ntasks:\n  - name: t\n    run: sleep 60\n"
    response = api.post("/tork/jobs", content=body, headers=YAML)
    assert (response.status_code, response.json()) == (408, {"message": "timeout waiting for job to complete"})
    job_id = api.get("/tork/jobs").json()["items"][0]["id"]
    assert api.put(f"/tork/jobs/{job_id}/cancel").status_code == 200  # it runs on: the answer was only late
    wait_for(lambda: get_job(api, job_id)["state"] == "CANCELLED", what="the cancel")
