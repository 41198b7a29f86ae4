"""The engine end to end: SHELL tasks walked by exit codes, retries, filters, timeouts and templates.

Each test uploads a small definition, submits a request through the native API and polls the request
until it ends, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.jobs import (
    apply,
    count_containing,
    from_rfc3339,
    job_context,
    log_text,
    run,
    submit,
    task,
    task_types,
    wait_state,
    wait_task_process_gone,
)
from tests.support.live import LiveServer

# A script line that fails ($1 = exit code) until it has been run $2 times, counting in $MYRMICA_JOB_DIR.
COUNTER = ('n=$(cat "$MYRMICA_JOB_DIR/count-{name}" 2>/dev/null || echo 0); n=$((n+1)); '
           'echo $n > "$MYRMICA_JOB_DIR/count-{name}"; echo "{name} attempt $n"; '
           'if [ $n -le {fail_times} ]; then exit {code}; fi')


def counter(name: str, fail_times: int, code: int = 1) -> str:
    return COUNTER.format(name=name, fail_times=fail_times, code=code)


# --- happy path --------------------------------------------------------------------------------------


HAPPY = """job_type: e2e-happy
tasks:
- task_type: one
  method: SHELL
  script:
    - echo "one says hello"
    - echo "::set-output name=Greeting::hello-from-one"
  on_completed: two
- task_type: two
  method: SHELL
  script:
    - echo "two sees greeting=$Greeting"
"""


def test_two_shell_tasks_complete_and_pass_outputs(api: httpx.Client) -> None:
    apply(api, HAPPY)
    done = run(api, "e2e-happy")
    assert done["job_state"] == "COMPLETED", done
    assert done["error_code"] == ""
    assert task_types(done) == ["one", "two"]
    for name in ("one", "two"):
        row = task(done, name)
        assert row["task_state"] == "COMPLETED"
        assert row["exit_code"] == "0"
        assert row["ant_id"] == "embedded-ant"
        assert row["method"] == "SHELL"
    lines = log_text(api, done["id"])
    assert "one says hello" in lines
    assert "two sees greeting=hello-from-one" in lines
    assert done["execution"]["job_state"] == "COMPLETED"


def test_outputs_are_recorded_in_the_job_execution_context(api: httpx.Client) -> None:
    apply(api, HAPPY)
    done = run(api, "e2e-happy")
    assert done["job_state"] == "COMPLETED", done
    recorded = job_context(done)
    assert recorded.get("Greeting") == "hello-from-one", done["execution"]["contexts"]
    assert recorded.get("one-status") == "COMPLETED"
    assert recorded.get("two-status") == "COMPLETED"


def test_embedded_ant_is_listed(api: httpx.Client) -> None:
    body = api.get("/api/ants").json()
    ants = {ant["ant_id"]: ant for ant in body["Records"]}
    assert "embedded-ant" in ants
    assert "SHELL" in ants["embedded-ant"]["methods"]


# --- exit-code routing -------------------------------------------------------------------------------


ROUTED = """job_type: e2e-routed
tasks:
- task_type: check
  method: SHELL
  script:
    - echo checking; exit {{ .Code }}
  on_exit_code:
    3: other
  on_completed: normal
- task_type: other
  method: SHELL
  script:
    - echo took-the-3-branch
- task_type: normal
  method: SHELL
  script:
    - echo took-the-normal-branch
"""


def test_exit_code_routes_to_a_task(api: httpx.Client) -> None:
    apply(api, ROUTED)
    three = submit(api, "e2e-routed", {"Code": 3})
    zero = submit(api, "e2e-routed", {"Code": 0})
    four = submit(api, "e2e-routed", {"Code": 4})

    done = wait_state(api, three["id"], ("COMPLETED", "FAILED", "CANCELLED"))
    # As Formicary (spec §1.8 rule 5): the branch runs, and the failed task still fails the job.
    assert done["job_state"] == "FAILED", done
    assert done["error_code"] == "ERR_TASK_EXECUTE"
    assert task_types(done) == ["check", "other"]
    assert task(done, "check")["task_state"] == "FAILED"
    assert task(done, "check")["exit_code"] == "3"
    assert task(done, "other")["task_state"] == "COMPLETED"
    assert "took-the-3-branch" in log_text(api, done["id"])

    done = wait_state(api, zero["id"], ("COMPLETED", "FAILED", "CANCELLED"))
    assert done["job_state"] == "COMPLETED"
    assert task_types(done) == ["check", "normal"]

    done = wait_state(api, four["id"], ("COMPLETED", "FAILED", "CANCELLED"))
    assert done["job_state"] == "FAILED"
    assert done["error_code"] == "ERR_TASK_EXECUTE"
    assert task_types(done) == ["check"]
    assert task(done, "check")["exit_code"] == "4"



ROUTED_OPTIONAL = ROUTED.replace("e2e-routed", "e2e-routed-optional").replace(
    "  on_exit_code:\n    3: other", "  allow_failure: true\n  on_exit_code:\n    3: other")


def test_exit_code_branch_of_an_optional_task_completes_the_job(api: httpx.Client) -> None:
    """The way to let an exit-code branch end well (the README's departures list says so)."""
    assert "allow_failure: true" in ROUTED_OPTIONAL
    apply(api, ROUTED_OPTIONAL)
    done = run(api, "e2e-routed-optional", {"Code": 3})
    assert done["job_state"] == "COMPLETED", done
    assert task_types(done) == ["check", "other"]
    assert task(done, "check")["task_state"] == "FAILED"
    assert task(done, "check")["exit_code"] == "3"

FATAL = """job_type: e2e-fatal
tasks:
- task_type: doomed
  method: SHELL
  retry: 2
  delay_between_retries: 10ms
  script:
    - echo "doomed ran"; exit 1
  on_exit_code:
    1: FATAL
  on_failed: cleanup
  on_completed: last
- task_type: cleanup
  method: SHELL
  script:
    - echo cleanup-ran
- task_type: last
  method: SHELL
  always_run: true
  script:
    - echo always-ran
"""


def test_fatal_exit_code_fails_at_once_without_retries(api: httpx.Client) -> None:
    apply(api, FATAL)
    done = run(api, "e2e-fatal")
    assert done["job_state"] == "FAILED"
    assert done["error_code"] == "ERR_FATAL"
    doomed = task(done, "doomed")
    assert doomed["task_state"] == "FAILED"
    assert doomed["error_code"] == "ERR_FATAL"
    assert doomed["exit_code"] == "1"
    assert doomed["retried"] == 0
    lines = log_text(api, done["id"])
    assert count_containing(lines, "doomed ran") == 1
    # FATAL skips the failure edge; only always_run tasks follow.
    assert "cleanup" not in task_types(done)
    assert task(done, "last")["task_state"] == "COMPLETED"
    assert "always-ran" in lines


RESTART_TASK = f"""job_type: e2e-restart-task
tasks:
- task_type: flaky
  method: SHELL
  retry: 2
  delay_between_retries: 10ms
  script:
    - '{counter("flaky", 1, 2)}'
  on_exit_code:
    2: RESTART_TASK
  on_completed: done
- task_type: done
  method: SHELL
  script:
    - echo done-ran
"""


def test_restart_task_exit_code_retries_the_task(api: httpx.Client) -> None:
    apply(api, RESTART_TASK)
    done = run(api, "e2e-restart-task")
    assert done["job_state"] == "COMPLETED", done
    flaky = task(done, "flaky")
    assert flaky["task_state"] == "COMPLETED"
    assert flaky["retried"] == 1
    lines = log_text(api, done["id"])
    assert "flaky attempt 1" in lines and "flaky attempt 2" in lines
    assert task_types(done) == ["flaky", "done"]


NO_COMPLETED_EDGE = """job_type: e2e-no-completed-edge
tasks:
- task_type: fine
  method: SHELL
  script:
    - echo fine
  on_exit_code:
    2: other
- task_type: other
  method: SHELL
  script:
    - echo other
"""


def test_completed_task_without_a_completed_edge_is_an_invalid_next_task(api: httpx.Client) -> None:
    # Formicary's rule (spec §1.8 step 4, §10.14): exit-code edges but none for COMPLETED/0.
    apply(api, NO_COMPLETED_EDGE)
    done = run(api, "e2e-no-completed-edge")
    assert done["job_state"] == "FAILED"
    assert done["error_code"] == "ERR_INVALID_NEXT_TASK"
    assert task(done, "fine")["task_state"] == "COMPLETED"
    assert task_types(done) == ["fine"]


ERR_XYZ = """job_type: e2e-err-xyz
tasks:
- task_type: custom
  method: SHELL
  script:
    - exit 3
  on_exit_code:
    3: ERR_XYZ
"""


def test_err_exit_code_becomes_the_error_code(api: httpx.Client) -> None:
    apply(api, ERR_XYZ)
    done = run(api, "e2e-err-xyz")
    assert done["job_state"] == "FAILED"
    assert done["error_code"] == "ERR_XYZ"
    custom = task(done, "custom")
    assert custom["task_state"] == "FAILED"
    assert custom["error_code"] == "ERR_XYZ"
    assert custom["exit_code"] == "3"


COMPLETED_MAPPING = """job_type: e2e-completed-mapping
tasks:
- task_type: warn
  method: SHELL
  script:
    - echo warning; exit 5
  on_exit_code:
    5: COMPLETED
  on_completed: next
- task_type: next
  method: SHELL
  script:
    - echo next-ran
"""


def test_non_zero_code_mapped_to_completed(api: httpx.Client) -> None:
    apply(api, COMPLETED_MAPPING)
    done = run(api, "e2e-completed-mapping")
    assert done["job_state"] == "COMPLETED", done
    warn = task(done, "warn")
    assert warn["task_state"] == "COMPLETED"
    assert warn["exit_code"] == "5"
    assert task_types(done) == ["warn", "next"]
    assert "next-ran" in log_text(api, done["id"])


ON_FAILED = """job_type: e2e-on-failed
tasks:
- task_type: build
  method: SHELL
  script:
    - echo building; exit 1
  on_completed: ship
  on_failed: recover
- task_type: ship
  method: SHELL
  script:
    - echo shipped
- task_type: recover
  method: SHELL
  script:
    - echo recovered
"""


def test_on_failed_edge_runs_and_the_job_still_fails(api: httpx.Client) -> None:
    apply(api, ON_FAILED)
    done = run(api, "e2e-on-failed")
    assert task_types(done) == ["build", "recover"]
    assert task(done, "recover")["task_state"] == "COMPLETED"
    assert "recovered" in log_text(api, done["id"])
    # Rule 5: the generic failure edge runs, but the failed task still fails the job.
    assert done["job_state"] == "FAILED"
    assert done["error_code"] == "ERR_TASK_EXECUTE"


# --- retries -----------------------------------------------------------------------------------------


TASK_RETRY = f"""job_type: e2e-task-retry
tasks:
- task_type: flaky
  method: SHELL
  retry: 2
  delay_between_retries: 10ms
  script:
    - '{counter("flaky", 2)}'
"""


def test_task_retries_until_success(api: httpx.Client) -> None:
    apply(api, TASK_RETRY)
    done = run(api, "e2e-task-retry")
    assert done["job_state"] == "COMPLETED", done
    flaky = task(done, "flaky")
    assert flaky["task_state"] == "COMPLETED"
    assert flaky["exit_code"] == "0"
    assert flaky["retried"] == 2
    lines = log_text(api, done["id"])
    for attempt in (1, 2, 3):
        assert count_containing(lines, f"flaky attempt {attempt}") == 1


TASK_RETRY_EXHAUSTED = """job_type: e2e-task-retry-exhausted
tasks:
- task_type: broken
  method: SHELL
  retry: 1
  delay_between_retries: 10ms
  script:
    - echo broken-attempt; exit 9
"""


def test_task_retries_are_bounded(api: httpx.Client) -> None:
    apply(api, TASK_RETRY_EXHAUSTED)
    done = run(api, "e2e-task-retry-exhausted")
    assert done["job_state"] == "FAILED"
    broken = task(done, "broken")
    assert broken["retried"] == 1
    assert broken["exit_code"] == "9"
    assert count_containing(log_text(api, done["id"]), "broken-attempt") == 2


BACKOFF = f"""job_type: e2e-backoff
tasks:
- task_type: flaky
  method: SHELL
  retry: 3
  retry_backoff_policy:
    min: 10ms
    max: 40ms
    factor: 2
    jitter: true
  script:
    - '{counter("flaky", 2)}'
"""


def test_retry_backoff_policy_is_accepted_and_used(api: httpx.Client) -> None:
    definition = apply(api, BACKOFF)
    policy = definition["tasks"][0]["retry_backoff_policy"]
    assert policy["min"] == 10_000_000 and policy["max"] == 40_000_000
    done = run(api, "e2e-backoff", timeout=15)
    assert done["job_state"] == "COMPLETED", done
    assert task(done, "flaky")["retried"] == 2


JOB_RETRY = f"""job_type: e2e-job-retry
retry: 1
delay_between_retries: 10ms
tasks:
- task_type: prepare
  method: SHELL
  script:
    - echo prepare-ran
  on_completed: flaky
- task_type: flaky
  method: SHELL
  script:
    - '{counter("flaky", 1)}'
"""


def test_job_retry_reruns_failed_tasks_only(api: httpx.Client) -> None:
    apply(api, JOB_RETRY)
    done = run(api, "e2e-job-retry")
    assert done["job_state"] == "COMPLETED", done
    assert done["retried"] == 1
    lines = log_text(api, done["id"])
    assert count_containing(lines, "prepare-ran") == 1
    assert count_containing(lines, "flaky attempt") == 2
    assert task(done, "prepare")["task_state"] == "COMPLETED"
    assert task(done, "flaky")["task_state"] == "COMPLETED"
    assert sorted(task_types(done)) == ["flaky", "prepare"]


# --- optional, cleanup, skipped and filtered tasks ---------------------------------------------------


ALLOW_FAILURE = """job_type: e2e-allow-failure
tasks:
- task_type: optional
  method: SHELL
  allow_failure: true
  script:
    - echo optional-failing; exit 1
  on_completed: after
- task_type: after
  method: SHELL
  script:
    - echo after-ran
"""


def test_allow_failure_continues_and_completes(api: httpx.Client) -> None:
    apply(api, ALLOW_FAILURE)
    done = run(api, "e2e-allow-failure")
    assert done["job_state"] == "COMPLETED", done
    optional = task(done, "optional")
    assert optional["task_state"] == "FAILED"
    assert optional["exit_code"] == "1"
    assert optional["allow_failure"] is True
    assert task(done, "after")["task_state"] == "COMPLETED"


ALWAYS_RUN = """job_type: e2e-always-run
tasks:
- task_type: first
  method: SHELL
  script:
    - echo first-failing; exit 1
  on_completed: second
- task_type: second
  method: SHELL
  script:
    - echo second-ran
  on_completed: cleanup
- task_type: cleanup
  method: SHELL
  always_run: true
  script:
    - echo cleanup-ran
"""


def test_always_run_task_runs_after_a_failure(api: httpx.Client) -> None:
    apply(api, ALWAYS_RUN)
    done = run(api, "e2e-always-run")
    assert done["job_state"] == "FAILED"
    assert done["error_code"] == "ERR_TASK_EXECUTE"
    assert task_types(done) == ["first", "cleanup"]
    assert task(done, "cleanup")["task_state"] == "COMPLETED"
    lines = log_text(api, done["id"])
    assert "cleanup-ran" in lines
    assert "second-ran" not in lines


EXCEPT = """job_type: e2e-except
tasks:
- task_type: maybe
  method: SHELL
  except: {{ .SkipIt }}
  script:
    - echo maybe-ran
  on_completed: then
- task_type: then
  method: SHELL
  script:
    - echo then-ran
"""


def test_except_skips_a_task(api: httpx.Client) -> None:
    apply(api, EXCEPT)
    skipped = submit(api, "e2e-except", {"SkipIt": True})
    ran = submit(api, "e2e-except", {"SkipIt": False})

    done = wait_state(api, skipped["id"], ("COMPLETED", "FAILED", "CANCELLED"))
    assert done["job_state"] == "COMPLETED", done
    maybe = task(done, "maybe")
    assert maybe["task_state"] == "COMPLETED"
    assert maybe["exit_code"] == "SKIPPED"
    assert maybe["exit_message"] == "Skipped task due to except flag"
    lines = log_text(api, done["id"])
    assert "maybe-ran" not in lines
    assert "then-ran" in lines

    done = wait_state(api, ran["id"], ("COMPLETED", "FAILED", "CANCELLED"))
    assert done["job_state"] == "COMPLETED"
    assert task(done, "maybe")["exit_code"] == "0"
    assert "maybe-ran" in log_text(api, done["id"])


SKIP_IF = """job_type: e2e-skip-if
skip_if: {{ .SkipMe }}
tasks:
- task_type: only
  method: SHELL
  script:
    - echo only-ran
"""


def test_skip_if_filters_the_request(api: httpx.Client) -> None:
    apply(api, SKIP_IF)
    filtered = submit(api, "e2e-skip-if", {"SkipMe": True})
    kept = submit(api, "e2e-skip-if", {"SkipMe": False})

    done = wait_state(api, filtered["id"], ("COMPLETED", "FAILED", "CANCELLED"))
    assert done["job_state"] == "FAILED"
    assert done["error_code"] == "ERR_FILTERED_JOB"
    assert task_types(done) == []
    assert log_text(api, done["id"]) == []

    done = wait_state(api, kept["id"], ("COMPLETED", "FAILED", "CANCELLED"))
    assert done["job_state"] == "COMPLETED", done
    assert "only-ran" in log_text(api, done["id"])


# --- timeouts ----------------------------------------------------------------------------------------


TASK_TIMEOUT = """job_type: e2e-task-timeout
tasks:
- task_type: slow
  method: SHELL
  timeout: 1s
  script:
    - echo $$ > "$MYRMICA_JOB_DIR/pid"; exec sleep 30
  on_completed: never
  on_failed: handler
- task_type: never
  method: SHELL
  script:
    - echo never-ran
- task_type: handler
  method: SHELL
  script:
    - echo handler-ran
"""


def elapsed(row: dict[str, Any], start: str = "started_at", end: str = "ended_at") -> float:
    return (from_rfc3339(row[end]) - from_rfc3339(row[start])).total_seconds()


def test_task_timeout_kills_the_process_and_follows_the_failure_edge(api: httpx.Client, server: LiveServer
                                                                     ) -> None:
    apply(api, TASK_TIMEOUT)
    done = run(api, "e2e-task-timeout", timeout=15)
    slow = task(done, "slow")
    assert slow["task_state"] == "FAILED"
    assert slow["error_code"] == "ERR_TASK_TIMED_OUT"
    took = elapsed(slow)
    assert 0.9 <= took < 10, f"a 1s task timeout fired after {took:.3f}s ({slow['error_message']!r})"
    assert task_types(done) == ["slow", "handler"]
    assert "handler-ran" in log_text(api, done["id"])
    assert done["job_state"] == "FAILED"
    assert done["error_code"] == "ERR_TASK_TIMED_OUT"
    wait_task_process_gone(server, done["id"])


JOB_TIMEOUT = """job_type: e2e-job-timeout
timeout: 1s
tasks:
- task_type: slow
  method: SHELL
  script:
    - echo $$ > "$MYRMICA_JOB_DIR/pid"; exec sleep 30
"""


def test_job_timeout_fails_the_job_and_stops_its_task(api: httpx.Client, server: LiveServer) -> None:
    apply(api, JOB_TIMEOUT)
    done = run(api, "e2e-job-timeout", timeout=15)
    assert done["job_state"] == "FAILED"
    assert done["error_code"] == "ERR_TASK_TIMED_OUT"
    took = elapsed(done["execution"])
    assert 0.9 <= took < 10, f"a 1s job timeout fired after {took:.3f}s ({done['error_message']!r})"
    # The task that was running when the job ran out of time is over too, and its process is gone.
    slow = task(done, "slow")
    assert slow["task_state"] in ("FAILED", "CANCELLED"), slow
    wait_task_process_gone(server, done["id"])


# --- templates ---------------------------------------------------------------------------------------


BAD_TEMPLATE = """job_type: e2e-bad-template
tasks:
- task_type: render
  method: SHELL
  script:
    - echo {{ index .Missing 3 }}
  on_completed: fine
  on_failed: handler
- task_type: fine
  method: SHELL
  script:
    - echo fine-ran
- task_type: handler
  method: SHELL
  script:
    - echo handler-ran
"""


def test_template_error_at_run_time_fails_the_task_and_follows_the_failure_edge(api: httpx.Client) -> None:
    apply(api, BAD_TEMPLATE)
    done = run(api, "e2e-bad-template")
    render = task(done, "render")
    assert render["task_state"] == "FAILED"
    assert "index" in render["error_message"]
    assert render["error_code"] == "ERR_TEMPLATE"
    assert task_types(done) == ["render", "handler"]
    # Only the failing task's own template is broken: the handler renders and runs.
    assert task(done, "handler")["task_state"] == "COMPLETED", task(done, "handler")
    assert "handler-ran" in log_text(api, done["id"])
    assert done["job_state"] == "FAILED"


BAD_FUNCTION_CALL = """job_type: e2e-bad-call
tasks:
- task_type: render
  method: SHELL
  script:
    - echo {{ Add "x" 1 }}
"""


def test_bad_function_call_in_a_template_fails_the_task(api: httpx.Client) -> None:
    apply(api, BAD_FUNCTION_CALL)
    done = run(api, "e2e-bad-call")
    assert done["job_state"] == "FAILED"
    render = task(done, "render")
    assert render["task_state"] == "FAILED"
    assert render["error_code"] == "ERR_TEMPLATE"
    assert "Add" in render["error_message"]
    assert done["error_code"] == "ERR_TEMPLATE"
