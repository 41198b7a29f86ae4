"""The ``myrmica`` command as a user runs it: a real subprocess against a live server (on SQLite)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.live import LiveServer

# The command is a client of the API: one backend is enough here (the API is tested on every backend).
pytestmark = pytest.mark.modes("sqlite")

TWO_TASKS = """job_type: two-tasks
description: Two shell tasks, one after the other.
tasks:
- task_type: one
  method: SHELL
  script: ["echo one", "echo to-stderr >&2"]
  on_completed: two
- task_type: two
  method: SHELL
  script: ["echo two"]
"""

FAILING = """job_type: failing
tasks:
- task_type: only
  method: SHELL
  script: ["echo about to fail", "exit 3"]
"""

SLOW = """job_type: slow
tasks:
- task_type: talk
  method: SHELL
  script: ["echo start", "sleep 1", "echo done"]
"""

SLEEPER = """job_type: sleeper
tasks:
- task_type: nap
  method: SHELL
  script: ["sleep 30"]
"""

GATED = """job_type: gated
tasks:
- task_type: build
  method: SHELL
  script: ["echo built"]
  on_completed: gate
- task_type: gate
  method: MANUAL
  on_exit_code:
    APPROVED: ship
- task_type: ship
  method: SHELL
  script: ["echo shipped"]
"""

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")


def env() -> dict[str, str]:
    # Wide tables (no ellipsis in ids) and no colour codes: the output is read as text.
    return {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}


def command(server: LiveServer | None, *args: str) -> list[str]:
    base = [sys.executable, "-m", "myrmica"]
    if server is not None:
        base += ["--url", server.url, "--token", server.token]
    return [*base, *args]


def cli(server: LiveServer | None, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(server, *args), capture_output=True, text=True, timeout=timeout, env=env())


def ok(server: LiveServer, *args: str, timeout: float = 60) -> str:
    result = cli(server, *args, timeout=timeout)
    assert result.returncode == 0, (args, result.returncode, result.stdout, result.stderr)
    return result.stdout


def as_json(server: LiveServer, *args: str) -> Any:
    return json.loads(ok(server, "--json", *args))


def apply(server: LiveServer, tmp_path: Path, *sources: str) -> None:
    paths = []
    for i, source in enumerate(sources):
        path = tmp_path / f"job-{i}.yaml"
        path.write_text(source)
        paths.append(str(path))
    ok(server, "definitions", "apply", *paths)


def submitted_id(stdout: str) -> str:
    first = stdout.splitlines()[0]
    assert first.startswith("submitted request "), stdout
    return first.split()[2]


def wait_for(server: LiveServer, request_id: str, *states: str, seconds: float = 30) -> dict[str, Any]:
    """Poll the API until the request is in one of ``states``; its body."""
    deadline = time.monotonic() + seconds
    with server.client() as api:
        while True:
            body: dict[str, Any] = api.get(f"/api/jobs/requests/{request_id}").json()
            if body["job_state"] in states:
                return body
            assert time.monotonic() < deadline, f"request {request_id} stayed {body['job_state']}, not in {states}"
            time.sleep(0.05)


# ---------------------------------------------------------------------------------------------- help


HELP = [
    ((), ["submit", "requests", "logs", "ants", "definitions", "--url", "--token", "--json"]),
    (("submit",), ["--param", "-p", "--param-json", "--secret", "--priority", "--scheduled-at", "--user-key",
                   "--wait", "--timeout"]),
    (("requests",), ["list", "show", "cancel", "restart", "pause", "trigger", "approve", "reject"]),
    (("requests", "list"), ["--job-type", "--state", "--page", "--page-size"]),
    (("requests", "show"), ["ID"]),
    (("requests", "cancel"), ["ID"]),
    (("requests", "restart"), ["--hard", "--version"]),
    (("requests", "pause"), ["ID"]),
    (("requests", "trigger"), ["ID"]),
    (("requests", "approve"), ["TASK", "--comments"]),
    (("requests", "reject"), ["TASK", "--comments"]),
    (("logs",), ["--follow", "-f", "--task"]),
    (("ants",), ["--help"]),
    (("definitions",), ["apply", "list", "show", "graph"]),
    (("server",), ["--ant-tags", "--ant-methods", "[default: 127.0.0.1]", "[default: none]"]),
]


@pytest.mark.parametrize(("args", "mentions"), HELP, ids=[" ".join(a) or "myrmica" for a, _ in HELP])
def test_help_exits_0_and_mentions_the_options(args: tuple[str, ...], mentions: list[str]) -> None:
    result = cli(None, *args, "--help")
    assert result.returncode == 0, result.stderr
    for word in mentions:
        assert word in result.stdout or word.lower() in result.stdout.lower(), (args, word, result.stdout)


def test_a_bad_param_is_a_usage_error() -> None:
    result = cli(None, "--url", "http://127.0.0.1:9", "submit", "x", "-p", "no-equals-sign")
    assert result.returncode == 2
    assert "NAME=VALUE" in result.stderr


# ---------------------------------------------------------------------------------------------- definitions


def test_definitions_apply_list_and_show(server: LiveServer, tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text(TWO_TASKS)
    out = ok(server, "definitions", "apply", str(path))
    assert "two-tasks" in out and "created version 1" in out
    assert "unchanged at version 1" in ok(server, "definitions", "apply", str(path))
    listed = ok(server, "definitions", "list")
    assert "two-tasks" in listed and "SHELL" in listed
    assert [d["job_type"] for d in as_json(server, "definitions", "list")["Records"]] == ["two-tasks"]
    shown = ok(server, "definitions", "show", "two-tasks")
    assert "two-tasks" in shown and "one" in shown and "two" in shown
    assert ok(server, "definitions", "show", "two-tasks", "--yaml").strip() == TWO_TASKS.strip()
    assert [t["task_type"] for t in as_json(server, "definitions", "show", "two-tasks")["tasks"]] == ["one", "two"]


def test_definitions_apply_prints_warnings_and_refuses_unknown_keys(server: LiveServer, tmp_path: Path) -> None:
    path = tmp_path / "with-resources.yaml"
    path.write_text(TWO_TASKS.replace("tasks:", "resources:\n  resource_type: License\ntasks:"))
    out = ok(server, "definitions", "apply", str(path))
    assert "created version 1" in out
    assert "warning: job key 'resources': stored, not enforced" in out
    typo = tmp_path / "typo.yaml"
    typo.write_text(TWO_TASKS.replace('script: ["echo two"]', 'scripts: ["echo two"]'))
    result = cli(server, "definitions", "apply", str(typo))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "unknown key 'scripts' in task 'two'" in result.stderr and "did you mean 'script'?" in result.stderr


# ---------------------------------------------------------------------------------------------- submit, logs, show


def test_submit_wait_completes_and_the_request_can_be_read_back(server: LiveServer, tmp_path: Path) -> None:
    apply(server, tmp_path, TWO_TASKS)
    result = cli(server, "submit", "two-tasks", "--wait", "--timeout", "60")
    assert result.returncode == 0, (result.stdout, result.stderr)
    request_id = submitted_id(result.stdout)
    lines = result.stdout.splitlines()
    assert "task one COMPLETED" in result.stdout and "task two COMPLETED" in result.stdout
    assert lines[-1] == f"request {request_id} COMPLETED"

    logs = ok(server, "logs", request_id).splitlines()
    assert logs == ["[one] one", "[one] to-stderr", "[two] two"]
    assert ok(server, "logs", request_id, "--task", "two").splitlines() == ["[two] two"]
    assert [line["stream"] for line in as_json(server, "logs", request_id)["lines"]] == ["stdout", "stderr", "stdout"]

    shown = ok(server, "requests", "show", request_id)
    assert request_id in shown and "COMPLETED" in shown and "embedded-ant" in shown
    body = as_json(server, "requests", "show", request_id)
    assert body["job_state"] == "COMPLETED"
    assert [(t["task_type"], t["task_state"], t["exit_code"]) for t in body["execution"]["tasks"]] == \
        [("one", "COMPLETED", "0"), ("two", "COMPLETED", "0")]

    listed = as_json(server, "requests", "list")
    assert [r["id"] for r in listed["Records"]] == [request_id] and listed["TotalRecords"] == 1
    assert as_json(server, "requests", "list", "--state", "FAILED")["Records"] == []
    assert as_json(server, "requests", "list", "--job-type", "two-tasks", "--state", "DONE")["TotalRecords"] == 1
    assert as_json(server, "requests", "list", "--page", "2", "--page-size", "1")["Records"] == []
    assert request_id in ok(server, "requests", "list")


def test_submit_json_wait_prints_the_final_request(server: LiveServer, tmp_path: Path) -> None:
    apply(server, tmp_path, TWO_TASKS)
    result = cli(server, "--json", "submit", "two-tasks", "--wait")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["job_state"] == "COMPLETED"
    assert [t["task_state"] for t in body["execution"]["tasks"]] == ["COMPLETED", "COMPLETED"]


def test_submit_sends_params_secrets_priority_and_user_key(server: LiveServer, tmp_path: Path) -> None:
    apply(server, tmp_path, TWO_TASKS)
    created = as_json(server, "submit", "two-tasks", "-p", "name=x=y", "-p", "flag=true", "--param", "n=7",
                      "--param-json", "count=3", "--param-json", 'list=["a", 1]', "--secret", "password=hunter2",
                      "--priority", "5", "--user-key", "key-1", "--scheduled-at", "2099-01-01T00:00:00Z")
    assert created["params"] == {"name": "x=y", "flag": "true", "n": "7", "count": 3, "list": ["a", 1],
                                 "password": "****"}
    assert created["job_priority"] == 5 and created["user_key"] == "key-1"
    # While the request is live (here: PENDING until 2099), its user key names it.
    again = ok(server, "submit", "two-tasks", "--user-key", "key-1")
    assert again.startswith(f"existing request for this user key: {created['id']}")
    shown = ok(server, "requests", "show", created["id"])
    assert "password=****" in shown and "hunter2" not in shown and "key-1" in shown
    assert f"cancelled {created['id']}" in ok(server, "requests", "cancel", created["id"])


def test_a_scheduled_request_waits_until_triggered(server: LiveServer, tmp_path: Path) -> None:
    apply(server, tmp_path, TWO_TASKS)
    created = as_json(server, "submit", "two-tasks", "--scheduled-at", "2099-01-02T15:04:05Z")
    assert created["job_state"] == "PENDING" and created["scheduled_at"].startswith("2099-01-02T15:04:05")
    out = ok(server, "requests", "trigger", created["id"])
    assert f"triggered {created['id']}" in out
    assert wait_for(server, created["id"], *TERMINAL)["job_state"] == "COMPLETED"


def test_a_failing_job_exits_1_and_says_why(server: LiveServer, tmp_path: Path) -> None:
    apply(server, tmp_path, FAILING)
    result = cli(server, "submit", "failing", "--wait")
    assert result.returncode == 1, (result.stdout, result.stderr)
    request_id = submitted_id(result.stdout)
    assert "task only FAILED (exit 3" in result.stdout
    last = result.stdout.splitlines()[-1]
    assert last.startswith(f"request {request_id} FAILED: ERR_") and "exit 3" in last
    assert ok(server, "logs", request_id).splitlines() == ["[only] about to fail"]
    assert json.loads(cli(server, "--json", "submit", "failing", "--wait").stdout)["job_state"] == "FAILED"

    out = ok(server, "requests", "restart", request_id)
    assert f"restarted {request_id}" in out
    body = wait_for(server, request_id, "FAILED")
    assert body["retried"] == 1
    assert "restarted" in ok(server, "requests", "restart", request_id, "--hard", "--version", "1")


def test_logs_follow_prints_lines_as_they_come_and_ends_with_the_request(server: LiveServer,
                                                                         tmp_path: Path) -> None:
    apply(server, tmp_path, SLOW)
    created = as_json(server, "submit", "slow")
    result = cli(server, "logs", "-f", created["id"], timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[talk] start", "[talk] done"]
    assert wait_for(server, created["id"], *TERMINAL, seconds=1)["job_state"] == "COMPLETED"
    # Following a request that has already ended prints everything and ends at once.
    assert ok(server, "logs", "--follow", created["id"], "--task", "talk").splitlines() == \
        ["[talk] start", "[talk] done"]
    followed = [json.loads(line) for line in ok(server, "--json", "logs", "-f", created["id"]).splitlines()]
    assert [line["line"] for line in followed] == ["start", "done"]


# ---------------------------------------------------------------------------------------------- steering


def test_cancel_a_running_request_ends_a_waiting_submit_with_2(server: LiveServer, tmp_path: Path) -> None:
    apply(server, tmp_path, SLEEPER)
    waiter = subprocess.Popen(command(server, "submit", "sleeper", "--wait"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env())
    try:
        assert waiter.stdout is not None
        request_id = submitted_id(waiter.stdout.readline())
        wait_for(server, request_id, "EXECUTING")
        out = ok(server, "requests", "cancel", request_id)
        assert f"cancelled {request_id} (CANCELLED)" in out
        stdout, stderr = waiter.communicate(timeout=30)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    assert waiter.returncode == 2, (stdout, stderr)
    assert stdout.splitlines()[-1].startswith(f"request {request_id} CANCELLED")
    again = cli(server, "requests", "cancel", request_id)
    assert again.returncode == 1 and "error:" in again.stderr and "409" in again.stderr


def test_wait_timeout_exits_3_and_leaves_the_request_running(server: LiveServer, tmp_path: Path) -> None:
    apply(server, tmp_path, SLEEPER)
    result = cli(server, "submit", "sleeper", "--wait", "--timeout", "0.5")
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "timed out" in result.stderr
    request_id = submitted_id(result.stdout)
    wait_for(server, request_id, "EXECUTING")
    out = ok(server, "requests", "pause", request_id)
    assert f"paused {request_id}" in out
    assert wait_for(server, request_id, "PAUSED")["job_state"] == "PAUSED"
    assert "CANCELLED" in ok(server, "requests", "cancel", request_id)


def test_approve_and_reject_a_manual_task(server: LiveServer, tmp_path: Path) -> None:
    apply(server, tmp_path, GATED)
    approved = as_json(server, "submit", "gated")["id"]
    wait_for(server, approved, "MANUAL_APPROVAL_REQUIRED")
    out = ok(server, "requests", "approve", approved, "gate", "--comments", "looks good")
    assert "gate" in out and "APPROVED" in out
    assert wait_for(server, approved, *TERMINAL)["job_state"] == "COMPLETED"
    assert "[ship] shipped" in ok(server, "logs", approved)

    rejected = as_json(server, "submit", "gated")["id"]
    wait_for(server, rejected, "MANUAL_APPROVAL_REQUIRED")
    missing = cli(server, "requests", "reject", rejected, "gate")
    assert missing.returncode == 2 and "--comments" in missing.stderr
    vote = as_json(server, "requests", "reject", rejected, "gate", "--comments", "not today")
    assert vote["decision"] == "REJECTED" and vote["rejected"] is True
    final = wait_for(server, rejected, *TERMINAL)
    assert final["job_state"] == "FAILED"
    assert "ship" not in [t["task_type"] for t in final["execution"]["tasks"]]


# ---------------------------------------------------------------------------------------------- ants, errors


def test_ants_lists_the_embedded_ant(server: LiveServer) -> None:
    out = ok(server, "ants")
    assert "embedded-ant" in out and "SHELL" in out and "yes" in out
    records = as_json(server, "ants")["Records"]
    assert [a["ant_id"] for a in records] == ["embedded-ant"] and records[0]["alive"] is True


def test_server_errors_become_an_error_line_and_exit_1(server: LiveServer) -> None:
    for args in (("requests", "show", "no-such-request"), ("logs", "no-such-request"),
                 ("logs", "-f", "no-such-request"), ("submit", "no-such-job")):
        result = cli(server, *args)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert result.stderr.startswith("error:"), (args, result.stderr)
    bad_token = subprocess.run([sys.executable, "-m", "myrmica", "--url", server.url, "--token", "wrong", "ants"],
                               capture_output=True, text=True, timeout=60, env=env())
    assert bad_token.returncode == 1 and "401" in bad_token.stderr
