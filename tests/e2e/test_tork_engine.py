"""What a Tork job's tasks do on Myrmica's engine (spec/tork.md §1.3, §2.3, §1.9): ``$TORK_OUTPUT``
results and ``var``, the job's ``output``, expressions evaluated when each task is created (env, var,
if), ``if: false`` → SKIPPED, ``run`` never templated, ``files`` — on SQLite and PostgreSQL, with the
embedded ant running real shell tasks."""

from __future__ import annotations

import httpx
import pytest

from tests.support.tork import run_job

pytestmark = pytest.mark.parametrize("server_settings", ["sqlite", "postgresql"], indirect=True)

HELLO = """name: hello world
output: "{{ tasks.hello }}"
tasks:
  - var: hello
    name: simple task
    run: echo -n hello world > $TORK_OUTPUT
"""

CHAINED = """name: chained
inputs:
  who: ants
  go: "yes"
secrets:
  token: tok-123
output: "{{ tasks.second }} / {{ upper(tasks.first) }}"
tasks:
  - name: first
    var: first
    run: printf '%s' "$WHO" > $TORK_OUTPUT
    env:
      WHO: "{{ inputs.who }}"
  - name: second
    var: "sec{{ 'ond' }}"
    run: echo -n "got $PREVIOUS and ${#TOKEN} chars for $JOB" > $TORK_OUTPUT
    env:
      PREVIOUS: "{{ tasks.first }}"
      TOKEN: "{{ secrets.token }}"
      JOB: "{{ job.name }}"
  - name: skipped
    if: "{{ inputs.go == 'no' }}"
    run: echo should not run; exit 1
  - name: literally false
    if: "false"
    run: exit 1
  - name: kept
    if: "{{ inputs.go == 'yes' }}"
    run: |
      echo 'braces {{ stay }} as they are'
      echo "only env: ${JobType:-none}"
"""


def test_hello_gives_hello_world(api: httpx.Client) -> None:
    job = run_job(api, HELLO)
    assert job["state"] == "COMPLETED" and job["result"] == "hello world"
    (task,) = job["execution"]
    assert task["result"] == "hello world" and task["var"] == "hello"
    assert job["context"]["tasks"] == {"hello": "hello world"}
    assert api.get(f"/tork/tasks/{task['id']}").json()["result"] == "hello world"


def test_later_tasks_see_earlier_results_and_if_skips_on_false(api: httpx.Client) -> None:
    job = run_job(api, CHAINED)
    assert job["state"] == "COMPLETED", job
    assert job["result"] == "got ants and 7 chars for chained / ANTS"
    states = [(t["name"], t["state"]) for t in job["execution"]]
    assert states == [("first", "COMPLETED"), ("second", "COMPLETED"), ("skipped", "SKIPPED"),
                      ("literally false", "SKIPPED"), ("kept", "COMPLETED")]
    assert job["context"]["tasks"] == {"first": "ants", "second": "got ants and 7 chars for chained"}
    log = "".join(p["contents"] for p in api.get(f"/tork/jobs/{job['id']}/log").json()["items"])
    assert "braces {{ stay }} as they are" in log
    assert "only env: none" in log  # no Formicary variable leaks into a Tork task's environment
    assert "should not run" not in log


def test_files_are_written_read_only_into_the_working_directory(api: httpx.Client) -> None:
    body = ("name: files\ntasks:\n  - name: script\n    var: out\n"
            "    run: |\n      bash ./hello.sh > $TORK_OUTPUT\n"
            "      echo \"mode $(stat -c %a hello.sh) $(cat data/list.txt | wc -l)\"\n"
            "    files:\n      hello.sh: echo -n \"from a file\"\n      data/list.txt: |\n        a\n        b\n")
    job = run_job(api, body)
    assert job["state"] == "COMPLETED", job
    assert job["execution"][0]["result"] == "from a file"
    log = "".join(p["contents"] for p in api.get(f"/tork/jobs/{job['id']}/log").json()["items"])
    assert "mode 444 2" in log  # read-only (as root, -w would say writable), subdirectories made


def test_an_expression_error_fails_the_task_and_the_job(api: httpx.Client) -> None:
    body = ("name: bad expr\ntasks:\n  - name: ok\n    run: echo ok\n"
            "  - name: broken\n    run: echo never\n    env:\n      X: \"{{ fromJSON('not json') }}\"\n")
    job = run_job(api, body)
    assert job["state"] == "FAILED"
    broken = job["execution"][-1]
    assert broken["name"] == "broken" and broken["state"] == "FAILED" and broken["error"]
    assert not broken["error"].startswith("template error")


def test_a_failing_output_fails_the_job_with_its_error_and_nothing_is_left_to_restart(api: httpx.Client) -> None:
    job = run_job(api, "name: bad output\noutput: '{{ bad_function() }}'\ntasks:\n  - name: t\n    run: echo\n")
    assert job["state"] == "FAILED"
    assert "unknown name bad_function" in job["error"]  # (Tork's test: the error holds this)
    assert job["execution"][0]["state"] == "COMPLETED"
    restart = api.put(f"/tork/jobs/{job['id']}/restart")
    assert (restart.status_code, restart.json()) == (400, {"message": "job has no more tasks to run"})


def test_results_stay_out_of_sight_of_secrets(api: httpx.Client) -> None:
    body = ("name: leaky\nsecrets:\n  pw: hunter2-pw\noutput: '{{ tasks.x }} {{ secrets.pw }}'\n"
            "tasks:\n  - name: t\n    var: x\n"
            "    run: echo -n \"pw=$PW\" > $TORK_OUTPUT\n    env:\n      PW: '{{ secrets.pw }}'\n")
    job = run_job(api, body)
    assert job["state"] == "COMPLETED"
    assert "hunter2" not in str(job)
    assert job["execution"][0]["result"] == "pw=[REDACTED]"
    assert job["result"] == "pw=[REDACTED] [REDACTED]"
