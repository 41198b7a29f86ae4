"""Steering requests through the API: cancel, pause, resume, restart, approve, schedule and de-duplicate."""

from __future__ import annotations

from datetime import timedelta

import httpx

from tests.support.jobs import (
    TERMINAL,
    apply,
    count_containing,
    from_rfc3339,
    get_request,
    in_seconds,
    list_requests,
    log_lines,
    log_text,
    read_pid,
    run,
    submit,
    submit_response,
    task,
    task_types,
    tasks,
    wait_for,
    wait_process_gone,
    wait_state,
)
from tests.support.live import LiveServer

COUNTER = ('n=$(cat "$MYRMICA_JOB_DIR/count-{name}" 2>/dev/null || echo 0); n=$((n+1)); '
           'echo $n > "$MYRMICA_JOB_DIR/count-{name}"; echo "{name} attempt $n"; '
           'if [ $n -le {fail_times} ]; then exit {code}; fi')


def counter(name: str, fail_times: int, code: int = 1) -> str:
    return COUNTER.format(name=name, fail_times=fail_times, code=code)


# --- cancel ------------------------------------------------------------------------------------------


SLEEPER = """job_type: e2e-sleeper
tasks:
- task_type: sleeper
  method: SHELL
  script:
    - echo $$ > "$MYRMICA_JOB_DIR/pid"; exec sleep 60
  on_completed: after
- task_type: after
  method: SHELL
  script:
    - echo after-ran
"""


def test_cancel_a_running_task_kills_its_process(api: httpx.Client, server: LiveServer) -> None:
    apply(api, SLEEPER)
    request = submit(api, "e2e-sleeper")
    pid = read_pid(server, request["id"])
    response = api.post(f"/api/jobs/requests/{request['id']}/cancel")
    assert response.status_code == 200, response.text
    assert response.json()["job_state"] == "CANCELLED"

    done = wait_state(api, request["id"], "CANCELLED", timeout=10)
    assert done["error_code"] == "ERR_JOB_CANCELLED"

    def sleeper_cancelled() -> dict[str, object] | None:
        row = task(get_request(api, request["id"]), "sleeper")
        return row if row["task_state"] == "CANCELLED" else None

    wait_for(sleeper_cancelled, timeout=10, what="the running task to be CANCELLED")
    assert task_types(get_request(api, request["id"])) == ["sleeper"]
    wait_process_gone(pid, timeout=10)
    assert "after-ran" not in log_text(api, request["id"])


# --- refusals ----------------------------------------------------------------------------------------


REQUIRED = """job_type: e2e-required
required_params:
  - Env
tasks:
- task_type: only
  method: SHELL
  script:
    - echo "env is $Env"
"""

DISABLED = """job_type: e2e-disabled
tasks:
- task_type: only
  method: SHELL
  script:
    - echo never
"""


def test_refused_submissions_create_nothing(api: httpx.Client) -> None:
    unknown = submit_response(api, "e2e-no-such-job")
    assert unknown.status_code == 404, unknown.text
    assert "e2e-no-such-job" in unknown.json()["error"]

    apply(api, REQUIRED)
    missing = submit_response(api, "e2e-required", {"Other": "x"})
    assert missing.status_code == 422, missing.text
    assert "Env" in missing.json()["error"]

    bad_time = submit_response(api, "e2e-required", {"Env": "dev"}, scheduled_at="tomorrow at noon")
    assert bad_time.status_code == 422, bad_time.text
    assert bad_time.json().get("field") == "scheduled_at"

    disabled = apply(api, DISABLED)
    assert api.post(f"/api/jobs/definitions/{disabled['id']}/disable").status_code == 200
    refused = submit_response(api, "e2e-disabled")
    assert refused.status_code == 409, refused.text
    assert "disabled" in refused.json()["error"]

    assert list_requests(api)["TotalRecords"] == 0
    assert list_requests(api)["Records"] == []


def test_operations_in_the_wrong_state_are_409_with_the_state(api: httpx.Client) -> None:
    apply(api, REQUIRED)
    done = run(api, "e2e-required", {"Env": "dev"})
    assert done["job_state"] == "COMPLETED", done
    assert "env is dev" in log_text(api, done["id"])
    base = f"/api/jobs/requests/{done['id']}"
    for action in ("cancel", "pause", "restart", "restart?hard=true", "trigger"):
        response = api.post(f"{base}/{action}")
        assert response.status_code == 409, (action, response.text)
        assert "COMPLETED" in response.json()["error"], (action, response.text)
    vote = api.post(f"{base}/tasks/only/vote", json={"decision": "APPROVED", "comments": "ok"})
    assert vote.status_code == 409, vote.text
    assert "COMPLETED" in vote.json()["error"]
    review = api.post(f"{base}/review", json={"task_type": "only", "status": "APPROVED", "comments": "ok"})
    assert review.status_code == 409, review.text
    assert get_request(api, done["id"])["job_state"] == "COMPLETED"

    waiting = submit(api, "e2e-required", {"Env": "dev"}, scheduled_at=in_seconds(120))
    assert waiting["job_state"] == "PENDING"
    base = f"/api/jobs/requests/{waiting['id']}"
    for action in ("pause", "restart"):
        response = api.post(f"{base}/{action}")
        assert response.status_code == 409, (action, response.text)
        assert "PENDING" in response.json()["error"], (action, response.text)
    vote = api.post(f"{base}/tasks/only/vote", json={"decision": "APPROVED", "comments": "ok"})
    assert vote.status_code == 409, vote.text
    assert "PENDING" in vote.json()["error"]
    assert api.post(f"{base}/cancel").status_code == 200
    assert get_request(api, waiting["id"])["job_state"] == "CANCELLED"
    assert list_requests(api)["TotalRecords"] == 2


# --- pause and resume --------------------------------------------------------------------------------


PAUSABLE = """job_type: e2e-pausable
pause_time: 1s
tasks:
- task_type: one
  method: SHELL
  script:
    - echo one-ran
  on_completed: two
- task_type: two
  method: SHELL
  script:
    - 'if [ -f "$MYRMICA_JOB_DIR/paused-once" ]; then echo two-finished;
       else touch "$MYRMICA_JOB_DIR/paused-once"; echo $$ > "$MYRMICA_JOB_DIR/pid"; exec sleep 60; fi'
  on_completed: three
- task_type: three
  method: SHELL
  script:
    - echo three-ran
"""


def test_pause_a_running_request_then_it_resumes_by_itself(api: httpx.Client, server: LiveServer) -> None:
    apply(api, PAUSABLE)
    request = submit(api, "e2e-pausable")
    pid = read_pid(server, request["id"])
    response = api.post(f"/api/jobs/requests/{request['id']}/pause")
    assert response.status_code == 200, response.text
    paused = response.json()
    assert paused["job_state"] == "PAUSED"
    assert paused["paused_count"] == 1
    assert paused["retried"] == 1, "a pause counts in retried (JobRetry), as in Formicary"
    assert paused["resumes_at"] == paused["scheduled_at"]

    done = wait_state(api, request["id"], TERMINAL, timeout=15)
    assert done["job_state"] == "COMPLETED", done
    assert done["resumes_at"] is None
    lines = log_text(api, request["id"])
    assert count_containing(lines, "one-ran") == 1, "a task completed before the pause ran again"
    # The boundary between the two runs is in the log, after the first run's lines and before the second's.
    markers = [line for line in log_lines(api, request["id"]) if line["stream"] == "marker"]
    assert [m["line"].split(" at ")[0] for m in markers] == ["paused", "resumed"], markers
    assert "; resumes at " in markers[0]["line"]
    assert lines.index(markers[0]["line"]) > lines.index("one-ran")
    assert lines.index(markers[1]["line"]) < lines.index("two-finished")
    # A task filter keeps the markers: they are the boundaries of that task's runs too.
    assert [line["stream"] for line in log_lines(api, request["id"], "two")].count("marker") == 2
    assert "two-finished" in lines and "three-ran" in lines
    assert [t for t in task_types(done) if t == "one"] == ["one"]
    assert task(done, "two")["task_state"] == "COMPLETED"
    # It waited pause_time (1s) before resuming.
    wait = from_rfc3339(paused["scheduled_at"]) - from_rfc3339(paused["updated_at"])
    assert wait >= timedelta(seconds=0.9), f"the request was due again {wait.total_seconds():.6f}s after its pause"
    assert from_rfc3339(task(done, "two")["started_at"]) >= from_rfc3339(paused["scheduled_at"])
    # The task that was running when the request paused was stopped.
    wait_process_gone(pid, timeout=10)


PAUSE_JOB = f"""job_type: e2e-pause-job
pause_time: 1s
tasks:
- task_type: before
  method: SHELL
  script:
    - echo before-ran
  on_completed: gate
- task_type: gate
  method: SHELL
  script:
    - '{counter("gate", 1, 7)}'
  on_exit_code:
    7: PAUSE_JOB
  on_completed: after
- task_type: after
  method: SHELL
  script:
    - echo after-ran
"""


def test_pause_job_exit_code_pauses_and_the_job_resumes(api: httpx.Client) -> None:
    apply(api, PAUSE_JOB)
    request = submit(api, "e2e-pause-job")
    paused = wait_state(api, request["id"], "PAUSED", timeout=15)
    assert paused["error_code"] == "ERR_PAUSE_JOB"
    assert task(paused, "gate")["task_state"] == "PAUSED"
    wait = from_rfc3339(paused["scheduled_at"]) - from_rfc3339(paused["updated_at"])
    assert wait >= timedelta(seconds=0.9), f"the request was due again {wait.total_seconds():.6f}s after its pause"
    done = wait_state(api, request["id"], TERMINAL, timeout=15)
    assert done["job_state"] == "COMPLETED", done
    assert done["paused_count"] == 1
    lines = log_text(api, request["id"])
    assert count_containing(lines, "before-ran") == 1
    assert count_containing(lines, "gate attempt") == 2
    assert task(done, "gate")["task_state"] == "COMPLETED"
    assert "after-ran" in lines


# Formicary's docs/examples/pause-job.yaml, on SHELL: the task pauses its job until JobRetry reaches 4.
# Only because each pause adds one to retried (JobRetry) does the loop end.
PAUSE_UNTIL_RETRY = """job_type: e2e-pause-until-retry
pause_time: 100ms
tasks:
- task_type: first
  method: SHELL
  script:
    - echo first-ran
  on_completed: second
- task_type: second
  method: SHELL
  script:
    - date
    {{ if lt .JobRetry 4 }}
    - echo bad job retry {{ .JobRetry }}
    - exit 1
    {{ else }}
    - echo good job retry {{ .JobRetry }}
    - exit 0
    {{ end }}
  on_exit_code:
    1: PAUSE_JOB
  on_completed: third
- task_type: third
  method: SHELL
  script:
    - echo third-ran
"""


def test_a_task_that_pauses_its_job_until_job_retry_reaches_a_number_ends(api: httpx.Client) -> None:
    apply(api, PAUSE_UNTIL_RETRY)
    done = run(api, "e2e-pause-until-retry", timeout=30)
    assert done["job_state"] == "COMPLETED", done
    assert (done["paused_count"], done["retried"]) == (4, 4)
    lines = log_text(api, done["id"])
    assert [line for line in lines if "job retry" in line] == [
        "bad job retry 0", "bad job retry 1", "bad job retry 2", "bad job retry 3", "good job retry 4"]
    assert count_containing(lines, "first-ran") == 1 and "third-ran" in lines
    markers = [line["line"].split(" at ")[0] for line in log_lines(api, done["id"]) if line["stream"] == "marker"]
    assert markers == ["paused", "resumed"] * 4


# --- restart -----------------------------------------------------------------------------------------


RESTARTABLE = f"""job_type: e2e-restartable
tasks:
- task_type: a
  method: SHELL
  script:
    - echo a-ran
    - echo "::set-output name=FromA::value-of-a"
  on_completed: b
- task_type: b
  method: SHELL
  script:
    - '{counter("b", 1)}'
    - echo "b sees FromA=$FromA"
"""


def test_soft_restart_reuses_completed_tasks(api: httpx.Client) -> None:
    apply(api, RESTARTABLE)
    failed = run(api, "e2e-restartable")
    assert failed["job_state"] == "FAILED"
    first_execution = failed["job_execution_id"]
    response = api.post(f"/api/jobs/requests/{failed['id']}/restart")
    assert response.status_code == 200, response.text
    assert response.json()["job_state"] == "PENDING"

    done = wait_state(api, failed["id"], TERMINAL)
    assert done["job_state"] == "COMPLETED", done
    assert done["retried"] == 1
    assert done["last_job_execution_id"] == first_execution
    assert done["job_execution_id"] != first_execution
    lines = log_text(api, done["id"])
    assert count_containing(lines, "a-ran") == 1
    assert count_containing(lines, "b attempt") == 2
    reused = {row["name"]: row["value"] for row in task(done, "a")["contexts"]}
    assert "ReusedPreviousResultFromTaskExecution" in reused
    # The reused task's outputs are part of the new run's context.
    assert "b sees FromA=value-of-a" in lines


def test_hard_restart_reruns_every_task(api: httpx.Client) -> None:
    apply(api, RESTARTABLE)
    failed = run(api, "e2e-restartable")
    assert failed["job_state"] == "FAILED"
    response = api.post(f"/api/jobs/requests/{failed['id']}/restart", params={"hard": "true"})
    assert response.status_code == 200, response.text
    assert response.json()["hard_restart"] is True
    done = wait_state(api, failed["id"], TERMINAL)
    assert done["job_state"] == "COMPLETED", done
    lines = log_text(api, done["id"])
    assert count_containing(lines, "a-ran") == 2
    assert count_containing(lines, "b attempt") == 2
    assert "ReusedPreviousResultFromTaskExecution" not in {row["name"] for row in task(done, "a")["contexts"]}


# --- manual approval ---------------------------------------------------------------------------------


APPROVAL = """job_type: e2e-approval
tasks:
- task_type: build
  method: SHELL
  script:
    - echo built
  on_completed: approve
- task_type: approve
  method: MANUAL
  on_exit_code:
    APPROVED: deploy
    REJECTED: rollback
- task_type: deploy
  method: SHELL
  script:
    - echo deployed
- task_type: rollback
  method: SHELL
  script:
    - echo rolled-back
"""


def awaiting(api: httpx.Client) -> dict[str, object]:
    apply(api, APPROVAL)
    request = submit(api, "e2e-approval")
    waiting = wait_state(api, request["id"], "MANUAL_APPROVAL_REQUIRED")
    gate = task(waiting, "approve")
    assert gate["task_state"] == "MANUAL_APPROVAL_REQUIRED"
    assert gate["exit_code"] == "AWAITING_APPROVAL"
    assert waiting["current_task"] == "approve"
    return waiting


def test_manual_approval_approved_continues(api: httpx.Client) -> None:
    waiting = awaiting(api)
    vote = api.post(f"/api/jobs/requests/{waiting['id']}/tasks/approve/vote",
                    json={"decision": "APPROVED", "comments": "ship it"})
    assert vote.status_code == 200, vote.text
    done = wait_state(api, str(waiting["id"]), TERMINAL)
    assert done["job_state"] == "COMPLETED", done
    gate = task(done, "approve")
    assert gate["task_state"] == "COMPLETED"
    assert gate["exit_code"] == "APPROVED"
    assert task_types(done) == ["build", "approve", "deploy"]
    lines = log_text(api, done["id"])
    assert count_containing(lines, "built") == 1
    assert "deployed" in lines and "rolled-back" not in lines


def test_manual_rejection_needs_comments_and_follows_the_rejected_branch(api: httpx.Client) -> None:
    waiting = awaiting(api)
    url = f"/api/jobs/requests/{waiting['id']}/tasks/approve/vote"
    silent = api.post(url, json={"decision": "REJECTED", "comments": "  "})
    assert silent.status_code == 422, silent.text
    assert get_request(api, str(waiting["id"]))["job_state"] == "MANUAL_APPROVAL_REQUIRED"

    vote = api.post(url, json={"decision": "REJECTED", "comments": "not today"})
    assert vote.status_code == 200, vote.text
    done = wait_state(api, str(waiting["id"]), TERMINAL)
    gate = task(done, "approve")
    assert gate["task_state"] == "FAILED"
    assert gate["exit_code"] == "REJECTED"
    assert gate["error_code"] == "ERR_MANUAL_REJECTION"
    assert gate["comments"] == "not today"
    # Myrmica follows the REJECTED edge (Formicary fails at once, spec §10.6); the rejected task still
    # fails the job (spec §1.8 rule 5).
    assert task_types(done) == ["build", "approve", "rollback"]
    assert "rolled-back" in log_text(api, done["id"])
    assert done["job_state"] == "FAILED", done
    assert done["error_code"] == "ERR_MANUAL_REJECTION"


def test_review_endpoint_old_form_approves(api: httpx.Client) -> None:
    waiting = awaiting(api)
    review = api.post(f"/api/jobs/requests/{waiting['id']}/review",
                      json={"execution_id": waiting["job_execution_id"], "task_type": "approve",
                            "status": "APPROVED", "comments": "old client"})
    assert review.status_code == 200, review.text
    done = wait_state(api, str(waiting["id"]), TERMINAL)
    assert done["job_state"] == "COMPLETED", done
    assert task(done, "approve")["exit_code"] == "APPROVED"


# --- scheduling and idempotency ----------------------------------------------------------------------


QUICK = """job_type: e2e-quick
tasks:
- task_type: only
  method: SHELL
  script:
    - echo quick-ran
"""


def test_scheduled_request_waits_until_due(api: httpx.Client) -> None:
    apply(api, QUICK)
    request = submit(api, "e2e-quick", scheduled_at=in_seconds(2))
    assert request["job_state"] == "PENDING"
    assert get_request(api, request["id"])["job_state"] == "PENDING"
    done = wait_state(api, request["id"], TERMINAL, timeout=15)
    assert done["job_state"] == "COMPLETED", done
    due = from_rfc3339(request["scheduled_at"])
    assert from_rfc3339(done["execution"]["started_at"]) >= due
    assert tasks(done) and from_rfc3339(task(done, "only")["started_at"]) >= due


def test_trigger_runs_a_scheduled_request_now(api: httpx.Client) -> None:
    apply(api, QUICK)
    request = submit(api, "e2e-quick", scheduled_at=in_seconds(300))
    due = from_rfc3339(request["scheduled_at"])
    triggered = api.post(f"/api/jobs/requests/{request['id']}/trigger")
    assert triggered.status_code == 200, triggered.text
    done = wait_state(api, request["id"], TERMINAL, timeout=10)
    assert done["job_state"] == "COMPLETED", done
    assert from_rfc3339(done["execution"]["started_at"]) < due - timedelta(seconds=200)


def test_user_key_makes_submission_idempotent(api: httpx.Client) -> None:
    apply(api, QUICK)
    first = submit_response(api, "e2e-quick", user_key="e2e-key-1", scheduled_at=in_seconds(300))
    assert first.status_code == 201, first.text
    again = submit_response(api, "e2e-quick", user_key="e2e-key-1", scheduled_at=in_seconds(300))
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["user_key"] == "e2e-key-1"
    assert list_requests(api)["TotalRecords"] == 1
    # Once the request is over, the key is free again.
    assert api.post(f"/api/jobs/requests/{first.json()['id']}/cancel").status_code == 200
    later = submit_response(api, "e2e-quick", user_key="e2e-key-1")
    assert later.status_code == 201, later.text
    assert later.json()["id"] != first.json()["id"]
    assert wait_state(api, later.json()["id"], TERMINAL)["job_state"] == "COMPLETED"


# --- per-user and per-organization concurrency ---------------------------------------------------

SLOW_SHARED = """job_type: e2e-slow-shared
tasks:
- task_type: wait
  method: SHELL
  script:
    - sleep 30
"""


def _limited_tokens(server: LiveServer) -> dict[str, str]:
    """Two users of one organization allowed 2 concurrent requests; "solo" alone may run 1 of its own."""
    import asyncio

    from myrmica.security.crypto import SecretBox
    from myrmica.security.tokens import generate_token, hash_token
    from myrmica.store.store import open_store

    async def make() -> dict[str, str]:
        store = await open_store(server.settings.effective_database_url, SecretBox("test-only"))
        try:
            org = await store.accounts.create_org("limited-org", max_concurrency=2)
            tokens: dict[str, str] = {}
            for name, org_id, limit in (("solo", org["id"], 1), ("other", org["id"], 0)):
                user = await store.accounts.create_user(name, organization_id=org_id, max_concurrency=limit)
                token = generate_token()
                await store.accounts.issue_token(user["id"], "t", token, hash_token(token))
                tokens[name] = token
            return tokens
        finally:
            await store.close()

    return asyncio.run(make())


def test_users_and_organizations_run_no_more_than_their_concurrency(server: LiveServer) -> None:
    tokens = _limited_tokens(server)
    with server.client(tokens["solo"]) as solo, server.client(tokens["other"]) as other:
        apply(solo, SLOW_SHARED)
        first = submit(solo, "e2e-slow-shared")
        wait_state(solo, first["id"], "EXECUTING")
        second = submit(solo, "e2e-slow-shared")
        waiting = wait_for(lambda: (row := get_request(solo, second["id"]))["schedule_attempts"] > 0 and row,
                           what="the user's second request to be held back")
        assert waiting["job_state"] == "PENDING" and "user's 1 concurrent" in waiting["error_message"]
        third = submit(other, "e2e-slow-shared")  # same organization, another user without a limit of its own
        wait_state(other, third["id"], "EXECUTING")
        fourth = submit(other, "e2e-slow-shared")
        held = wait_for(lambda: (row := get_request(other, fourth["id"]))["schedule_attempts"] > 0 and row,
                        what="the organization's third request to be held back")
        assert held["job_state"] == "PENDING" and "organization's 2 concurrent" in held["error_message"]
        for client, request in ((solo, first), (other, third)):
            assert client.post(f"/api/jobs/requests/{request['id']}/cancel").status_code == 200
        wait_state(solo, second["id"], "EXECUTING", timeout=30)
        wait_state(other, fourth["id"], "EXECUTING", timeout=30)
        for client, request in ((solo, second), (other, fourth)):
            client.post(f"/api/jobs/requests/{request['id']}/cancel")
