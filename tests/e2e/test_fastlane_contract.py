"""Fastlane's contract, route by route (spec/fastlane.md §2, §4, §5, §8, §10): every 400 of the payload
with nothing stored, every 404/400 body of the read, stop and retry routes, a fresh execution's shape,
pagination, cron jobs in /status/, envs in the container and redacted in the job, and what a running
execution shows. On a real server and Docker engine (skipped, saying why, without one).
"""

from __future__ import annotations

import math
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect

from tests.e2e.test_fastlane import api, ended, enqueue, inbox  # noqa: F401 - api is the module's server
from tests.support.docker_engine import DockerEngine
from tests.support.jobs import wait_for

NOT_PARSED = "Failed to enqueue task because JSON body could not be parsed."
MISSING = "image and command must be filled in the request."
ONE = "Only ONE of 'startAt', 'startIn' and 'cron' should be in the request."
LATER = int(time.time()) + 5000


def test_every_refused_payload_is_400_with_its_text_and_stores_nothing(api: httpx.Client) -> None:  # noqa: F811
    task = f"bad-{uuid.uuid4().hex[:6]}"
    cases: list[tuple[bytes, str]] = [
        (b"", NOT_PARSED), (b"{not json", NOT_PARSED), (b"[1, 2]", NOT_PARSED), (b'"text"', NOT_PARSED),
        (b"\xff\xfe", NOT_PARSED),
        (b'{"image": "task1"}', MISSING), (b'{"command": "true"}', MISSING),
        (b'{"image": "", "command": "true"}', MISSING), (b'{"image": 3, "command": "true"}', MISSING),
        (b'{"image": "task1", "command": "true", "startIn": "1s", "cron": "* * * * *"}', ONE),
        (b'{"image": "task1", "command": "true", "startAt": 1, "startIn": "1s"}', ONE),
        (b'{"image": "task1", "command": "true", "startAt": 1, "cron": "* * * * *"}', ONE),
        # Stricter than Fastlane (which accepted these and then did nothing sensible), with Myrmica's texts:
        (b'{"image": "task1", "command": "true", "startIn": "soon"}',
         "startIn 'soon' is not a duration such as 10s, 2m30s or 4h30m25s."),
        (b'{"image": "task1", "command": "true", "cron": "* * *"}', "cron '* * *' is not a 5-field cron rule."),
        (b'{"image": "task1", "command": "true", "retries": -1}', "retries must be a non-negative integer."),
        (b'{"image": "task1", "command": "true", "timeout": "long"}', "timeout must be a non-negative integer."),
        (b'{"image": "task1", "command": "true", "startAt": "noon"}',
         "startAt must be a unix timestamp (a number of seconds)."),
        (b'{"image": "task1", "command": "true", "envs": ["A=1"]}', "envs must be an object of names to values."),
        (b'{"image": "task1", "command": "true", "webhooks": {"succeeds": "http://x"}}',
         "webhooks.succeeds must be a list."),
    ]
    job = str(uuid.uuid4())
    for body, text in cases:
        for method, path in (("POST", f"/tasks/{task}/"), ("PUT", f"/tasks/{task}/jobs/{job}/")):
            response = api.request(method, path, content=body)
            assert (response.status_code, response.text) == (400, text), (method, body)
            assert response.headers["content-type"].startswith("text/plain")
    response = api.put(f"/tasks/{task}/jobs/not-a-uuid", json={"image": "task1", "command": "true"})
    assert (response.status_code, response.text) == \
        (400, "The job_id not-a-uuid is not a valid UUID4. All job IDs must be UUID4.")
    assert api.get(f"/tasks/{task}/").json() == {"error": "Task not found.", "operation": "get_task"}
    assert api.get(f"/tasks/{task}/jobs/{job}/").json() == {"error": "Job not found in task.", "operation": "get_task"}
    assert all(item["taskId"] != task for page in _pages(api) for item in page["items"])


def _pages(api: httpx.Client) -> list[dict[str, Any]]:  # noqa: F811
    first: dict[str, Any] = api.get("/tasks/").json()
    return [first] + [api.get(f"/tasks/?page={n}").json() for n in range(2, first["pages"] + 1)]


def test_a_put_creates_with_a_canonical_id_and_non_dict_metadata_is_ignored(api: httpx.Client) -> None:  # noqa: F811
    task, job = f"put-{uuid.uuid4().hex[:6]}", str(uuid.uuid4())
    out = api.put(f"/tasks/{task}/jobs/{job.upper()}", json={"image": "task1", "command": "true",
                                                               "metadata": "not a dict", "timeout": 99_999,
                                                               "startAt": LATER})
    assert out.status_code == 200 and out.json()["jobId"] == job and out.json()["executionId"] is None
    assert out.json()["jobUrl"].endswith(f"/tasks/{task}/jobs/{job}/")
    meta = api.get(f"/tasks/{task}/job/{job}/").json()["job"]["metadata"]
    assert "custom" not in meta and meta["timeout"] == 1800  # min(timeout, the hard limit)
    again = enqueue(api, task, command="true", startAt=LATER)  # the same task: still one task
    assert again["taskUrl"] == out.json()["taskUrl"]
    assert sum(item["taskId"] == task for page in _pages(api) for item in page["items"]) == 1
    assert next(item for page in _pages(api) for item in page["items"] if item["taskId"] == task)["jobsCount"] == 2
    for job_id in (job, again["jobId"]):
        api.post(f"/tasks/{task}/jobs/{job_id}/stop")


def test_pagination_envelope_and_page_errors(api: httpx.Client) -> None:  # noqa: F811
    for n in range(11):  # more than a page, whatever the other tests stored
        enqueue(api, f"page-{n:02d}-{uuid.uuid4().hex[:6]}", command="true", startAt=LATER)
    first = api.get("/tasks/").json()
    total = first["total"]
    assert first["pages"] == math.ceil(total / 10) >= 2 and first["perPage"] == 10 and len(first["items"]) == 10
    assert (first["hasNext"], first["hasPrev"], first["prevUrl"]) == (True, False, None)
    assert first["nextUrl"].endswith("/fastlane/tasks/?page=2")
    last = api.get(f"/tasks/?page={first['pages']}").json()
    assert (last["hasNext"], last["hasPrev"], last["nextUrl"]) == (False, True, None)
    assert last["prevUrl"].endswith(f"/fastlane/tasks/?page={first['pages'] - 1}")
    assert len(last["items"]) == total - 10 * (first["pages"] - 1)
    assert set(first["items"][0]) == {"taskId", "createdAt", "lastModifiedAt", "url", "jobsCount"}
    for page in ("0", "-1", "abc"):
        response = api.get(f"/tasks/?page={page}")
        assert (response.status_code, response.json()) == \
            (400, {"error": "Tasks pagination page param should be a positive integer.", "operation": "get_tasks"})
    assert api.get(f"/tasks/?page={first['pages'] + 1}").status_code == 404


def test_error_bodies_of_the_read_stop_and_retry_routes(api: httpx.Client) -> None:  # noqa: F811
    task = f"errors-{uuid.uuid4().hex[:6]}"
    later = enqueue(api, task, command="echo later", startAt=LATER)
    job, unknown, nobody = later["jobId"], str(uuid.uuid4()), "01NOSUCHEXECUTION000000000"
    base = f"/tasks/{task}/jobs/{job}"

    def error(method: str, path: str) -> tuple[int, dict[str, Any]]:
        response = api.request(method, path)
        return response.status_code, response.json()

    assert error("GET", f"{base}/executions/{nobody}/") == \
        (404, {"error": f"Job Execution ({nobody}) not found in job ({job}).", "operation": "get_job_execution"})
    assert error("GET", f"/tasks/other-{task}/jobs/{job}/executions/{nobody}") == \
        (404, {"error": f"Task (other-{task}) or Job ({job}) not found.", "operation": "get_job_execution"})
    for part in ("stdout", "stderr", "logs"):
        assert error("GET", f"/tasks/{task}/jobs/{unknown}/{part}/") == \
            (404, {"error": f"Task ({task}) or Job ({unknown}) not found.", "operation": "retrieve_execution_details"})
        assert error("GET", f"{base}/executions/{nobody}/{part}") == \
            (400, {"error": "No executions found in job with specified arguments.",
                   "operation": "retrieve_execution_details"})
    assert error("POST", f"/tasks/{task}/jobs/{unknown}/stop/") == \
        (404, {"error": "Job not found in task.", "operation": "stop_job"})
    assert error("POST", f"{base}/executions/{nobody}/stop") == \
        (404, {"error": f"Job Execution ({nobody}) not found in Job ({job}).", "operation": "stop_job_execution"})
    assert error("POST", f"/tasks/{task}/jobs/{unknown}/retry") == \
        (404, {"error": "Job not found in task.", "operation": "retry_job"})
    assert error("POST", f"{base}/retry/") == (400, {"error": "Can't retry a scheduled job.", "operation": "retry_job"})
    cron = enqueue(api, task, command="true", cron="0 0 1 1 *")  # no execution until it fires
    cron_base = f"/tasks/{task}/jobs/{cron['jobId']}"
    assert error("GET", f"{cron_base}/stdout") == \
        (400, {"error": f"No executions found in job ({cron['jobId']}).", "operation": "retrieve_execution_details"})
    assert error("POST", f"{cron_base}/retry") == \
        (400, {"error": "No execution yet to retry.", "operation": "retry_job"})
    # A fresh (scheduled) execution: nothing run yet, its text routes empty with no exit code.
    (fresh,) = api.get(f"{base}/").json()["job"]["executions"]
    assert {k: fresh[k] for k in ("status", "log", "error", "exitCode", "startedAt", "finishedAt", "image",
                                  "command")} == {"status": "enqueued", "log": None, "error": None, "exitCode": None,
                                                  "startedAt": None, "finishedAt": None, "image": "task1",
                                                  "command": "echo later"}
    for part in ("stdout", "stderr", "logs"):
        response = api.get(f"{base}/{part}/")
        assert (response.status_code, response.text, response.headers["Fastlane-Exit-Code"]) == (200, "", "None")
    root = str(api.base_url).rstrip("/").replace("http://", "ws://")
    headers = {"Authorization": api.headers["Authorization"]}
    with connect(f"{root}{base}/ws/", additional_headers=headers, open_timeout=10) as socket:
        assert list(socket) == [] and socket.close_reason == "retry"  # not running yet: the page retries
    with connect(f"{root}/tasks/{task}/jobs/{unknown}/ws", additional_headers=headers, open_timeout=10) as socket:
        with pytest.raises(ConnectionClosedError):  # closed with 1008 (policy violation), not a normal close
            socket.recv(timeout=10)
        assert socket.close_code == 1008
    for job_id in (job, cron["jobId"]):
        api.post(f"/tasks/{task}/jobs/{job_id}/stop")


def test_a_cron_job_is_scheduled_shown_in_status_and_stopped(api: httpx.Client) -> None:  # noqa: F811
    task = f"cron-{uuid.uuid4().hex[:6]}"
    out = enqueue(api, task, command="echo tick", cron="*/10 * * * *")
    assert out["executionId"] is None and out["executionUrl"] is None and out["queueJobId"]
    job = api.get(f"/tasks/{task}/jobs/{out['jobId']}/").json()["job"]
    assert job["scheduled"] is True and job["metadata"]["cron"] == "*/10 * * * *" and job["executionCount"] == 0
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    upcoming = now + timedelta(minutes=10 - now.minute % 10)  # the next */10 match, in UTC
    shown = [j for j in api.get("/status/").json()["jobs"]["scheduled"] if j["url"] == out["jobUrl"]]
    assert len(shown) == 1 and shown[0]["nextScheduledAt"] == upcoming.replace(tzinfo=None).isoformat()
    assert shown[0]["stopUrl"] == f"{out['jobUrl']}stop/" and shown[0]["task"]["id"] == task
    assert api.post(f"/tasks/{task}/jobs/{out['jobId']}/stop/").status_code == 200
    assert api.get(f"/tasks/{task}/jobs/{out['jobId']}/").json()["job"]["scheduled"] is False
    assert all(j["url"] != out["jobUrl"] for j in api.get("/status/").json()["jobs"]["scheduled"])
    back = api.put(f"/tasks/{task}/jobs/{out['jobId']}/", json={"image": "task1", "command": "echo tick",
                                                                 "cron": "*/10 * * * *"})
    assert back.status_code == 200 and api.get(f"/tasks/{task}/jobs/{out['jobId']}/").json()["job"]["scheduled"]
    api.post(f"/tasks/{task}/jobs/{out['jobId']}/stop/")


def test_envs_reach_the_container_and_are_redacted_in_the_job(api: httpx.Client) -> None:  # noqa: F811
    task = f"envs-{uuid.uuid4().hex[:6]}"
    envs = {"SMTP_SERVER": "my-smtp-server", "PASSWORD_ENV": "hunter2", "clientSecret": "s3", "Key": "k",
            "client_id": "c", "name": "kept"}
    out = enqueue(api, task, command="sh -c 'echo $SMTP_SERVER $PASSWORD_ENV $clientSecret $name'", envs=envs)
    assert ended(api, task, out["jobId"], out["executionId"])["log"] == "my-smtp-server hunter2 s3 kept\n"
    shown = api.get(f"/tasks/{task}/jobs/{out['jobId']}/").json()["job"]["metadata"]["envs"]
    assert shown == {"SMTP_SERVER": "my-smtp-server", "PASSWORD_ENV": "***", "clientSecret": "***", "Key": "***",
                     "client_id": "***", "name": "kept"}


def test_a_running_execution_its_container_status_and_a_job_stop_that_cancels_its_retry(
        api: httpx.Client, docker_engine: DockerEngine) -> None:  # noqa: F811
    task = f"running-{uuid.uuid4().hex[:6]}"
    out = enqueue(api, task, command="sleep 600")
    base = f"/tasks/{task}/jobs/{out['jobId']}"
    wait_for(lambda: api.get(f"{base}/executions/{out['executionId']}/").json()["execution"]["status"] == "running",
             timeout=60, what="the container to run")
    # ``running`` from its task's start on (the container is created in it): the container follows.
    wait_for(lambda: docker_engine.containers(f"name=fastlane-job-{out['executionId']}", "status=running"),
             timeout=30, what="the container fastlane-job-<execution>")
    running = api.get("/status/").json()["containers"]["running"]
    assert {"host": "fastlane-ant", "port": None, "id": f"fastlane-job-{out['executionId']}"} in running
    for part in ("stdout", "stderr", "logs"):  # empty while it runs
        response = api.get(f"{base}/executions/{out['executionId']}/{part}")
        assert (response.text, response.headers["Fastlane-Exit-Code"]) == ("", "None")
    execution = api.get(f"{base}/executions/{out['executionId']}/").json()["execution"]
    assert execution["startedAt"] is not None and execution["finishedAt"] is None and execution["log"] is None
    api.post(f"{base}/stop")
    assert ended(api, task, out["jobId"], out["executionId"])["status"] == "stopped"
    # A failure with retries left makes a new execution due 2 s later; a job stop cancels it.
    failing = enqueue(api, task, command="sh -c 'exit 1'", retries=3)
    fail_base = f"/tasks/{task}/jobs/{failing['jobId']}"
    wait_for(lambda: api.get(f"{fail_base}/").json()["job"]["executionCount"] == 2, timeout=60, what="the retry")
    assert api.post(f"{fail_base}/stop/").status_code == 200
    statuses = [e["status"] for e in api.get(f"{fail_base}/").json()["job"]["executions"]]
    assert statuses == ["stopped", "failed"]  # newest first: the retry never ran


def test_job_details_show_the_20_newest_executions_newest_first(api: httpx.Client) -> None:  # noqa: F811
    task = f"many-{uuid.uuid4().hex[:6]}"
    out = enqueue(api, task, command="echo never", expiration=int(time.time()) - 10)  # each one expires at once
    base = f"/tasks/{task}/jobs/{out['jobId']}"
    for _ in range(21):
        assert api.post(f"{base}/retry").status_code == 200
    job = wait_for(lambda: (j := api.get(f"{base}/").json()["job"])["executions"][0]["status"] == "expired" and j,
                   timeout=60, what="the last execution to expire")
    assert job["executionCount"] == 22 and len(job["executions"]) == 20
    created = [e["createdAt"] for e in job["executions"]]
    assert created == sorted(created, reverse=True) and out["executionId"] not in {
        e["executionId"] for e in job["executions"]}
