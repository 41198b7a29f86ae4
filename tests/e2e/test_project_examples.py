"""The project's own examples (``examples/`` at the top of the repository), uploaded and run to their end.

These are the files the README's tour uses, so a fresh clone can follow it line by line.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from myrmica.config import Settings
from tests.support.examples import PROJECT_EXAMPLES
from tests.support.http_stub import HttpStub, http_stub
from tests.support.jobs import (
    TERMINAL,
    apply,
    count_containing,
    list_requests,
    log_text,
    run,
    submit,
    submit_response,
    task,
    task_types,
    wait_for,
    wait_state,
)

EXAMPLES = PROJECT_EXAMPLES
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


def example(name: str) -> str:
    return (EXAMPLES / name).read_text()


@pytest.fixture
def server_settings(server_settings: Settings) -> Settings:
    # http.yaml calls the local stub: 127.0.0.1 is on the test allow-list (refused by default).
    return dataclasses.replace(server_settings, http_allowed_hosts=("127.0.0.1",))


@pytest.fixture
def stub() -> Iterator[HttpStub]:
    with http_stub() as running:
        yield running


def test_the_examples_are_the_ones_the_readme_describes() -> None:
    names = [path.name for path in EXAMPLE_FILES]
    assert names == ["approval.yaml", "build-test-deploy.yaml", "cron.yaml", "fan-out.yaml", "fork-await.yaml",
                     "hello.yaml", "http.yaml"]
    described = re.findall(r"^\| \[`([\w-]+\.yaml)`\]", (EXAMPLES / "README.md").read_text(), re.MULTILINE)
    assert sorted(described) == names


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.name for p in EXAMPLE_FILES])
def test_each_example_uploads_without_warnings(api: httpx.Client, path: Path) -> None:
    response = api.post("/api/jobs/definitions", content=path.read_text(),
                        headers={"Content-Type": "application/yaml"})
    assert response.status_code == 201, response.text
    assert response.json()["warnings"] == []


def test_hello_needs_its_name_and_greets(api: httpx.Client) -> None:
    apply(api, example("hello.yaml"))
    refused = submit_response(api, "hello")
    assert refused.status_code in (400, 422) and "Name" in refused.text, refused.text
    done = run(api, "hello", {"Name": "world"})
    assert done["job_state"] == "COMPLETED", done
    assert task_types(done) == ["greet", "done"]
    lines = log_text(api, done["id"])
    assert "hello world" in lines and "done greeting hello world" in lines


def test_build_test_deploy_deploys_when_the_tests_pass(api: httpx.Client) -> None:
    apply(api, example("build-test-deploy.yaml"))
    done = run(api, "build-test-deploy")
    assert done["job_state"] == "COMPLETED", done
    assert task_types(done) == ["build", "test", "deploy"]
    assert "app 1.0" in log_text(api, done["id"], "test"), "the build's artifact reached the test task"
    assert "deploying app 1.0" in log_text(api, done["id"], "deploy")


def test_build_test_deploy_retries_failing_tests_then_takes_the_failure_branch(api: httpx.Client) -> None:
    apply(api, example("build-test-deploy.yaml"))
    done = run(api, "build-test-deploy", {"FailTests": True, "Version": "2.0"})
    assert task_types(done) == ["build", "test", "report-failure"]
    failed = task(done, "test")
    assert failed["task_state"] == "FAILED" and failed["retried"] == 2
    assert count_containing(log_text(api, done["id"], "test"), "app 2.0") == 3, "three attempts"
    assert "the tests of 2.0 failed; not deploying" in log_text(api, done["id"], "report-failure")
    # The branch runs, yet a failed task that is not allow_failure still fails the job (spec §1.8 rule 5).
    assert done["job_state"] == "FAILED"


def test_fan_out_runs_one_item_per_region(api: httpx.Client) -> None:
    apply(api, example("fan-out.yaml"))
    done = run(api, "fan-out")
    assert done["job_state"] == "COMPLETED", done
    assert task_types(done) == ["deploy", "report"]
    items = task(done, "deploy").get("items") or []
    assert [item["task_state"] for item in items] == ["COMPLETED"] * 3
    lines = log_text(api, done["id"])
    assert {"deploying to us", "deploying to eu", "deploying to ap"} <= set(lines)
    assert "deployed to 3 regions; the first one COMPLETED" in lines


def test_fork_await_runs_hello_as_a_child_and_reads_its_output(api: httpx.Client) -> None:
    apply(api, example("hello.yaml"))
    apply(api, example("fork-await.yaml"))
    done = run(api, "fork-await")
    assert done["job_state"] == "COMPLETED", done
    assert task_types(done) == ["fork", "wait", "after"]
    assert "the forked hello said hello fork" in log_text(api, done["id"], "after")
    (child,) = list_requests(api, job_type="hello")["Records"]
    assert child["job_state"] == "COMPLETED" and child["parent_id"] == done["id"]


def test_approval_waits_for_a_vote_then_deploys_or_reports_the_rejection(api: httpx.Client) -> None:
    apply(api, example("approval.yaml"))
    outcomes = {}
    for decision in ("APPROVED", "REJECTED"):
        request = submit(api, "approval")
        wait_state(api, request["id"], "MANUAL_APPROVAL_REQUIRED")
        vote = api.post(f"/api/jobs/requests/{request['id']}/tasks/approve-release/vote",
                        json={"decision": decision, "comments": "from the test"})
        assert vote.status_code == 200, vote.text
        outcomes[decision] = wait_state(api, request["id"], TERMINAL)
    approved, rejected = outcomes["APPROVED"], outcomes["REJECTED"]
    assert approved["job_state"] == "COMPLETED", approved
    assert task_types(approved) == ["build", "approve-release", "deploy"]
    # As Formicary: a job whose REJECTED branch ran ends FAILED, though that branch's task succeeded.
    assert rejected["job_state"] == "FAILED", rejected
    assert task_types(rejected) == ["build", "approve-release", "notify-rejected"]
    assert "the release was rejected" in log_text(api, rejected["id"])


def test_cron_keeps_its_next_request_waiting_and_it_runs_when_triggered(api: httpx.Client) -> None:
    apply(api, example("cron.yaml"))

    def waiting() -> list[dict[str, object]]:
        body = list_requests(api, job_type="nightly-report", job_state="PENDING")
        return [r for r in body["Records"] if r["cron_triggered"]]

    (first,) = waiting()
    assert str(first["scheduled_at"]).endswith("02:00:00Z") or "T02:00:00" in str(first["scheduled_at"])
    assert api.post(f"/api/jobs/requests/{first['id']}/trigger").status_code == 200
    done = wait_state(api, str(first["id"]), TERMINAL)
    assert done["job_state"] == "COMPLETED", done
    assert any(line.startswith("report for ") for line in log_text(api, done["id"]))
    following = wait_for(lambda: waiting() or None, what="the next cron request")
    assert len(following) == 1 and following[0]["id"] != first["id"]


def test_http_gets_the_url_given_as_a_param(api: httpx.Client, stub: HttpStub) -> None:
    apply(api, example("http.yaml"))
    url = f"{stub.url}/health"
    done = run(api, "http-check", {"URL": url})
    assert done["job_state"] == "COMPLETED", done
    assert stub.calls() == [("GET", "/health")]
    assert task(done, "fetch")["exit_code"] == "200"
    assert f"{url} answered" in log_text(api, done["id"], "report")
