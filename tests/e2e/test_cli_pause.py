"""Pause through the CLI: the help says a paused request resumes by itself, `requests show` says when,
and `logs` marks the boundary between the runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_cli import apply, as_json, cli, ok, wait_for
from tests.support.live import LiveServer

# The command is a client of the API: one backend is enough here.
pytestmark = pytest.mark.modes("sqlite")

PAUSES_ONCE = """job_type: pauses-once
pause_time: 60s
tasks:
- task_type: gate
  method: SHELL
  script:
    - echo gate run {{ .JobRetry }}
    {{ if lt .JobRetry 1 }}
    - exit 7
    {{ end }}
  on_exit_code:
    7: PAUSE_JOB
  on_completed: after
- task_type: after
  method: SHELL
  script:
    - echo after-ran
"""


def test_pause_and_restart_help_say_a_paused_request_resumes_by_itself() -> None:
    # Help is wrapped to the terminal's width, so the words are compared with the line breaks undone.
    pause = cli(None, "requests", "pause", "--help")
    assert pause.returncode == 0, pause.stderr
    pause_words = " ".join(pause.stdout.split())
    assert "resumes by itself" in pause_words and "pause_time" in pause_words, pause.stdout
    restart = cli(None, "requests", "restart", "--help")
    assert restart.returncode == 0, restart.stderr
    assert "resumes by itself" in " ".join(restart.stdout.split()), restart.stdout


def test_show_says_when_a_paused_request_resumes_and_logs_mark_the_runs(server: LiveServer, tmp_path: Path) -> None:
    apply(server, tmp_path, PAUSES_ONCE)
    request_id = as_json(server, "submit", "pauses-once")["id"]
    paused = wait_for(server, request_id, "PAUSED")
    assert paused["resumes_at"] == paused["scheduled_at"]

    shown = ok(server, "requests", "show", request_id)
    resume_line = next((line for line in shown.splitlines() if "resumes at:" in line), None)
    assert resume_line is not None, shown
    # The resume time, to the second, as the other times of `show` are written.
    assert paused["scheduled_at"][:19].replace("T", " ") in resume_line, (resume_line, paused["scheduled_at"])

    logs = ok(server, "logs", request_id).splitlines()
    assert any(line.startswith("── paused at ") and "; resumes at " in line for line in logs), logs

    ok(server, "requests", "restart", request_id)  # now, rather than in a minute
    done = wait_for(server, request_id, "COMPLETED", "FAILED", "CANCELLED")
    assert done["job_state"] == "COMPLETED", done
    logs = ok(server, "logs", request_id).splitlines()
    markers = [line for line in logs if line.startswith("── ")]
    assert [m.split(" at ")[0] for m in markers] == ["── paused", "── restarted"], logs
    assert "it was PAUSED" in markers[1]
    assert logs.index(markers[1]) < logs.index("[gate] gate run 2") and "[after] after-ran" in logs
