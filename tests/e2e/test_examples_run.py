"""Formicary's own example jobs that need no Docker or Kubernetes, run end to end on the embedded ant.

HTTP examples are pointed at a local stub instead of jsonplaceholder.typicode.com. The expected end
states follow Formicary's rules (spec §1.8) for what these scripts do on this machine.

The examples are read from ``../shared/examples/formicary/`` beside this checkout (see
tests/support/examples.py), which only the project's workspace has: elsewhere (a fresh clone) this
module is skipped at collection. The project's own examples run in test_project_examples.py.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import tempfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from myrmica.config import Settings
from tests.support.examples import FORMICARY_EXAMPLES, NO_SHARED_EXAMPLES
from tests.support.http_stub import HttpStub, http_stub
from tests.support.jobs import (
    TERMINAL,
    apply,
    count_containing,
    list_requests,
    log_text,
    run,
    submit,
    task,
    task_types,
    wait_state,
)

EXAMPLES = FORMICARY_EXAMPLES
if not EXAMPLES.is_dir():
    pytest.skip(NO_SHARED_EXAMPLES, allow_module_level=True)
PLACEHOLDER = "https://jsonplaceholder.typicode.com"


@pytest.fixture
def server_settings(server_settings: Settings) -> Settings:
    # The examples route their tasks by tag: builder and pulsar, plus the Language param of shell_build.
    # Their HTTP tasks call the local stub: 127.0.0.1 is on the test allow-list (refused by default).
    return dataclasses.replace(server_settings, ant_tags=("builder", "pulsar", "go"), http_allowed_hosts=("127.0.0.1",))


@pytest.fixture
def stub() -> Iterator[HttpStub]:
    with http_stub() as running:
        yield running


def example(name: str) -> str:
    return (EXAMPLES / name).read_text()


# --- shell_build.yaml --------------------------------------------------------------------------------


def test_shell_build_runs_its_templated_chain(api: httpx.Client) -> None:
    # `find /tmp` walks a directory other test sessions keep changing; a vanishing entry would make find
    # exit 1 and fail the task for reasons that have nothing to do with the engine.
    source = example("shell_build.yaml").replace("- find /tmp\n", "- find /tmp -maxdepth 1\n")
    apply(api, source)
    params = {"Language": "go", "SleepSecs": 0, "IsWindowsPlatform": False, "OSVersion": "22.04", "Token": "tok"}
    done = run(api, "shell-build", params, timeout=30)
    # unit-tests depends on build: build's artifacts (env.txt, ls.txt, whoami.txt) are extracted into its
    # working directory before `cat *.txt > all.txt` runs. int-tests may fail (allow_failure).
    assert task_types(done) == ["build", "unit-tests", "int-tests", "deploy", "notify"], task_types(done)
    assert done["job_state"] == "COMPLETED", (done["error_code"], done["error_message"])
    for name in ("build", "unit-tests", "deploy", "notify"):
        assert task(done, name)["task_state"] == "COMPLETED", task(done, name)
    lines = log_text(api, done["id"])
    assert "sleep 0" in lines
    env = log_text(api, done["id"], "int-tests")
    assert "t3k2=50" in env and "OSVersion=22.04" in env
    assert all(t["ant_id"] == "embedded-ant" for t in done["execution"]["tasks"])


# --- basic-job.yaml ----------------------------------------------------------------------------------


def first_failing_task(definition: dict[str, Any]) -> tuple[str, int] | None:
    """The first task of the chain whose script fails in a fresh empty directory here (sleeps skipped)."""
    for spec in definition["tasks"]:
        if spec.get("always_run"):
            continue
        with tempfile.TemporaryDirectory() as workdir:
            for line in spec["script"]:
                if line.startswith("sleep "):
                    continue
                code = subprocess.run(["/bin/sh", "-c", line], cwd=workdir, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL).returncode
                if code != 0:
                    return spec["task_type"], code
    return None


def test_basic_job_follows_formicary_rules_on_this_machine(api: httpx.Client) -> None:
    source = example("basic-job.yaml")
    definition = yaml.safe_load(source)
    chain = [t["task_type"] for t in definition["tasks"]]
    assert chain == [f"task{i}" for i in range(1, 10)]
    apply(api, source)
    done = run(api, "basic-job", timeout=30)
    failing = first_failing_task(definition)
    if failing is None:
        assert done["job_state"] == "COMPLETED", done
        assert task_types(done) == chain
        return
    # The chain stops at the first failing task (no failure edge), the job FAILS with its error, and the
    # always_run task9 runs once as clean-up.
    name, code = failing
    expected = chain[:chain.index(name) + 1] + ["task9"]
    assert task_types(done) == expected
    assert done["job_state"] == "FAILED"
    assert done["error_code"] == "ERR_TASK_EXECUTE"
    failed = task(done, name)
    assert failed["task_state"] == "FAILED"
    assert failed["exit_code"] == str(code)
    assert failed["failed_command"]
    assert task(done, "task9")["task_state"] == "COMPLETED"
    for earlier in expected[:-2]:
        assert task(done, earlier)["task_state"] == "COMPLETED"


# --- http_job.yaml and fork_job.yaml -----------------------------------------------------------------


def test_http_job_calls_every_method_then_fails_to_fork_a_missing_job(api: httpx.Client, stub: HttpStub) -> None:
    apply(api, example("http_job.yaml").replace(PLACEHOLDER, stub.url))
    done = run(api, "http-job", timeout=30)
    assert stub.calls() == [("GET", "/todos/1"), ("POST", "/todos"), ("PUT", "/todos/1"), ("DELETE", "/todos/1")]
    posted = next(s for s in stub.seen if s.method == "POST")
    assert isinstance(json.loads(posted.body), dict)
    assert task(done, "get")["exit_code"] == "200"
    assert task(done, "post")["exit_code"] == "201"
    assert task(done, "put")["exit_code"] == "200"
    assert task(done, "delete")["exit_code"] == "200"
    # bad-job does not exist: the FORK_JOB task fails, which has no failure edge: the job FAILS there.
    assert task_types(done) == ["get", "post", "put", "delete", "another-fork-task"]
    fork = task(done, "another-fork-task")
    assert fork["task_state"] == "FAILED"
    assert "bad-job" in fork["error_message"]
    assert done["job_state"] == "FAILED"
    assert list_requests(api)["TotalRecords"] == 1


def test_fork_job_fails_on_its_except_template_and_runs_notify(api: httpx.Client, stub: HttpStub) -> None:
    apply(api, example("http_job.yaml").replace(PLACEHOLDER, stub.url))
    apply(api, example("fork_job.yaml"))
    done = run(api, "fork-job", {"f1": "1000", "f2": "mykey"}, timeout=30)
    # `except: {{if gt .JobID 5}} true {{end}}` compares the request id (a ULID string) with a number:
    # a template error at run time, so init FAILS; it has no failure edge, so the job FAILS at init and
    # only the always_run notify task follows. Nothing is forked.
    init = task(done, "init")
    assert init["task_state"] == "FAILED"
    assert "incompatible types for comparison" in init["error_message"]
    assert task_types(done) == ["init", "notify"]
    assert task(done, "notify")["task_state"] == "COMPLETED", task(done, "notify")
    assert done["job_state"] == "FAILED"
    assert list_requests(api, job_type="http-job")["TotalRecords"] == 0
    assert stub.calls() == []


# --- retry-job.yaml, with SHELL instead of its KUBERNETES tasks ---------------------------------------


RETRY_JOB = """job_type: retry-job-shell
delay_between_retries: 10ms
retry: 2
tasks:
- task_type: first
  method: HTTP_GET
  timeout: 15s
  delay_between_retries: 10ms
  url: {url}/todos/1
  on_exit_code:
    10: PAUSE_JOB
    200: second
  on_completed: second
- task_type: second
  method: SHELL
  retry: 2
  delay_between_retries: 10ms
  script:
    - echo "second attempt"; exit {{{{ .Code }}}}
  on_exit_code:
    1: FATAL
    2: RESTART_TASK
    3: ERR_XYZ
  on_completed: third
- task_type: third
  method: SHELL
  script:
    - date
"""


def test_retry_job_shape_with_shell_tasks(api: httpx.Client, stub: HttpStub) -> None:
    apply(api, RETRY_JOB.format(url=stub.url))
    ids = {code: submit(api, "retry-job-shell", {"Code": code})["id"] for code in (0, 1, 2, 3)}
    ended = {code: wait_state(api, request_id, TERMINAL, timeout=30) for code, request_id in ids.items()}

    ok = ended[0]
    assert ok["job_state"] == "COMPLETED", ok
    assert task(ok, "first")["exit_code"] == "200"
    assert task_types(ok) == ["first", "second", "third"]

    fatal = ended[1]
    assert fatal["job_state"] == "FAILED"
    assert fatal["error_code"] == "ERR_FATAL"
    assert fatal["retried"] == 0, "FATAL is not retried at the job level"
    assert task(fatal, "second")["retried"] == 0
    assert count_containing(log_text(api, fatal["id"]), "second attempt") == 1

    for code, error in ((2, "ERR_RESTART_TASK"), (3, "ERR_XYZ")):
        failed = ended[code]
        assert failed["job_state"] == "FAILED", failed
        assert failed["error_code"] == error
        # Three attempts of the task (retry: 2) in each of three walks (job retry: 2).
        assert failed["retried"] == 2
        assert task(failed, "second")["retried"] == 2
        lines = log_text(api, failed["id"])
        assert count_containing(lines, "second attempt") == 9
        assert "third" not in task_types(failed)
    assert sum(1 for s in stub.seen if s.method == "GET") == 4, "first ran once per request (reused on job retries)"
