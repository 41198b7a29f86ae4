"""What the ``myrmica`` command shows people: why a request waits, tables that fit 80 columns without
cutting ids, job types or states, pages counted from 1, and task graphs drawn or refused clearly."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from myrmica.config import Settings
from tests.e2e.test_cli import TWO_TASKS, apply, as_json, cli, command, env, ok, submitted_id, wait_for
from tests.support.live import LiveServer, live_server
from tests.support.process import ServerProcess

SQLITE = pytest.mark.parametrize("server_settings", ["sqlite"], indirect=True)

NEEDS_BUILDER = """job_type: needs-builder
tasks:
- task_type: build
  method: SHELL
  tags: [builder]
  script: ["echo built on a builder"]
"""

# Fails its first attempt (counting in the job directory), then waits for a manual approval.
RELEASE = """job_type: release
tasks:
- task_type: flaky
  method: SHELL
  retry: 1
  delay_between_retries: 10ms
  script:
    - 'n=$(cat "$MYRMICA_JOB_DIR/count" 2>/dev/null || echo 0); echo $((n+1)) > "$MYRMICA_JOB_DIR/count"; [ $n -ge 1 ]'
  on_completed: approve-release
- task_type: approve-release
  method: MANUAL
"""

WAITING = "waiting: no live ant can run SHELL with tags [builder]"


def cli_at(columns: int, server: LiveServer, *args: str) -> str:
    result = subprocess.run(command(server, *args), capture_output=True, text=True, timeout=60,
                            env={**env(), "COLUMNS": str(columns)})
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout


def assert_uncut(output: str, *values: str) -> None:
    assert "…" not in output, output
    for value in values:
        assert value in output, (value, output)


def assert_fits(output: str, columns: int = 80) -> None:
    too_wide = [line for line in output.splitlines() if len(line) > columns]
    assert not too_wide, "\n".join(too_wide)


# ---------------------------------------------------------------------------------------------- why it waits


@SQLITE
def test_submit_wait_and_requests_list_say_why_a_request_waits(server: LiveServer, tmp_path: Path) -> None:
    apply(server, tmp_path, NEEDS_BUILDER)
    waiter = subprocess.Popen(command(server, "submit", "needs-builder", "--wait", "--timeout", "60"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    try:
        assert waiter.stdout is not None
        request_id = submitted_id(waiter.stdout.readline())
        seen = []
        for line in waiter.stdout:  # ends at the latest when --timeout does
            seen.append(line.rstrip("\n"))
            if "waiting:" in line:
                break
        assert seen[-1] == f"request {request_id} {WAITING}", seen

        wide = cli_at(200, server, "requests", "list")
        row = next(line for line in wide.splitlines() if line.startswith(request_id))
        assert "PENDING" in row and WAITING in row, wide
        # Too narrow for a reason column: the reason goes on its own line, below the table.
        narrow = cli_at(80, server, "requests", "list")
        reason = narrow[narrow.index(f"{request_id}  waiting:"):]
        assert " ".join(reason.split()).startswith(f"{request_id} {WAITING}"), narrow
        assert_fits(narrow)

        ok(server, "requests", "cancel", request_id)
        stdout, stderr = waiter.communicate(timeout=30)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    assert waiter.returncode == 2, (stdout, stderr)
    timed_out = cli(server, "submit", "needs-builder", "--wait", "--timeout", "3")
    assert timed_out.returncode == 3, (timed_out.stdout, timed_out.stderr)
    if "waiting:" in timed_out.stdout:  # the scheduler has seen it within the 3 s (as on any unloaded machine)
        assert f"is PENDING ({WAITING}) and goes on" in timed_out.stderr, timed_out.stderr
    ok(server, "requests", "cancel", submitted_id(timed_out.stdout))
    # Once they have ended the requests no longer wait, so no reason is shown for them.
    assert "waiting" not in cli_at(200, server, "requests", "list")


@SQLITE
def test_submit_wait_in_a_terminal_shows_the_reason_in_its_live_view(server: LiveServer, tmp_path: Path) -> None:
    apply(server, tmp_path, NEEDS_BUILDER)
    main, child = pty.openpty()
    waiter = subprocess.Popen(command(server, "submit", "needs-builder", "--wait", "--timeout", "60"),
                              stdin=child, stdout=child, stderr=child, close_fds=True,
                              env={**env(), "TERM": "xterm", "COLUMNS": "80"})
    os.close(child)
    screen = ""
    deadline = time.monotonic() + 60
    try:
        while WAITING not in screen:
            ready, _, _ = select.select([main], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"no waiting line in the live view: {screen!r}"
            screen += re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", os.read(main, 65536).decode(errors="replace"))
        found = re.search(r"submitted request (\w+)", screen)
        assert found is not None, screen
        ok(server, "requests", "cancel", found.group(1))
        with contextlib.suppress(OSError):  # read on (so the view never blocks on a full terminal) until it exits
            while select.select([main], [], [], max(0.0, deadline - time.monotonic()))[0] and os.read(main, 65536):
                pass
        assert waiter.wait(timeout=30) == 2
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
        os.close(main)


def test_the_server_gives_its_embedded_ant_tags_and_methods(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYRMICA_CREDENTIALS", str(tmp_path / "credentials.json"))
    server = ServerProcess(tmp_path, extra=["--ant-tags", "builder,linux", "--ant-methods", "SHELL"]).start()
    try:
        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "myrmica", "--url", server.url, "--token", server.token,
                                   *args], capture_output=True, text=True, timeout=60, env=env())

        ants = json.loads(run("--json", "ants").stdout)["Records"]
        assert [(a["methods"], a["tags"]) for a in ants] == [(["SHELL"], ["builder", "linux"])]
        path = tmp_path / "needs-builder.yaml"
        path.write_text(NEEDS_BUILDER)
        assert run("definitions", "apply", str(path)).returncode == 0
        done = run("submit", "needs-builder", "--wait", "--timeout", "60")
        assert done.returncode == 0, (done.stdout, done.stderr)
        assert "waiting" not in done.stdout
    finally:
        server.stop()

    refused = subprocess.run([sys.executable, "-m", "myrmica", "server", "--data-dir", str(tmp_path / "other"),
                              "--ant-methods", "SHELL,KUBERNETES"], capture_output=True, text=True, timeout=60,
                             env=env())
    assert refused.returncode == 2
    assert "ant_methods: the embedded worker cannot run KUBERNETES" in refused.stderr


# ---------------------------------------------------------------------------------------------- 80 columns


@SQLITE
def test_tables_at_80_columns_cut_no_id_job_type_or_state(server: LiveServer, tmp_path: Path) -> None:
    apply(server, tmp_path, RELEASE)
    created = as_json(server, "submit", "release")
    body = wait_for(server, created["id"], "MANUAL_APPROVAL_REQUIRED")
    definition_id = as_json(server, "definitions", "show", "release")["id"]

    listed = cli_at(80, server, "requests", "list")
    assert_uncut(listed, created["id"], "release v1", "MANUAL_APPROVAL_REQUIRED", "page 1 of 1")
    assert_fits(listed)

    shown = cli_at(80, server, "requests", "show", created["id"])
    tasks = shown[shown.index("\nTasks"):]  # the lines above are facts, each kept whole on one line
    assert_uncut(tasks, "approve-release", "MANUAL_APPROVAL_REQUIRED", "COMPLETED", "embedded-ant")
    assert_fits(tasks)
    flaky = next(line for line in shown.splitlines() if line.startswith("flaky "))
    # Two attempts, and (on any machine) either milliseconds or seconds with a tenth.
    assert re.search(r"\s(\d{1,3}ms|\d+\.\ds) ×2(\s|$)", flaky), shown
    assert [t["retried"] for t in body["execution"]["tasks"]][0] == 1

    for args, values in ((("definitions", "list"), ("release", definition_id)),
                         (("definitions", "show", "release"), ("approve-release", "MANUAL", "SHELL")),
                         (("ants",), ("embedded-ant",))):
        out = cli_at(80, server, *args)
        assert_uncut(out, *values)
        assert_fits(out)
    ok(server, "requests", "cancel", created["id"])


@SQLITE
def test_request_pages_are_counted_from_1(server: LiveServer, tmp_path: Path) -> None:
    apply(server, tmp_path, TWO_TASKS)
    later = ("--scheduled-at", "2099-01-01T00:00:00Z")  # they wait, so nothing runs
    first, second = (as_json(server, "submit", "two-tasks", *later)["id"] for _ in range(2))
    assert "page 1 of 2" in ok(server, "requests", "list", "--page-size", "1")
    page_2 = ok(server, "requests", "list", "--page", "2", "--page-size", "1")
    assert "page 2 of 2" in page_2 and first in page_2 and second not in page_2
    # Scripts get the API's own envelope, whose Page counts from 0.
    assert as_json(server, "requests", "list", "--page", "2", "--page-size", "1")["Page"] == 1
    assert as_json(server, "definitions", "list", "--page", "2")["Records"] == []
    for args in (("requests", "list", "--page", "0"), ("definitions", "list", "--page", "0")):
        refused = cli(server, *args)
        assert refused.returncode == 2 and "--page" in refused.stderr, refused.stderr


# ---------------------------------------------------------------------------------------------- graphs


@SQLITE
def test_definitions_graph_writes_png_svg_and_dot(server: LiveServer, tmp_path: Path) -> None:
    apply(server, tmp_path, TWO_TASKS)
    png = tmp_path / "two.png"
    assert f"wrote {png} (png" in ok(server, "definitions", "graph", "two-tasks", "-o", str(png))
    assert png.read_bytes().startswith(b"\x89PNG")
    svg = tmp_path / "two.svg"
    ok(server, "definitions", "graph", "two-tasks", "-o", str(svg))
    assert "<svg" in svg.read_text()
    assert '"one" -> "two"' in ok(server, "definitions", "graph", "two-tasks", "--format", "dot")
    forced = tmp_path / "graph.out"
    ok(server, "definitions", "graph", "two-tasks", "--format", "svg", "-o", str(forced))
    assert "<svg" in forced.read_text()
    missing = cli(server, "definitions", "graph", "no-such-job", "-o", str(tmp_path / "none.png"))
    assert missing.returncode == 1 and missing.stderr.startswith("error: 404")
    assert not (tmp_path / "none.png").exists()


@pytest.fixture
def no_graphviz_server(server_settings: Settings, tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """A server whose Graphviz program is missing."""
    monkeypatch.setenv("MYRMICA_CREDENTIALS", str(tmp_path / "credentials.json"))
    with live_server(dataclasses.replace(server_settings, graphviz_dot=str(tmp_path / "no" / "dot"))) as live:
        yield live


@SQLITE
def test_without_graphviz_the_graph_is_a_clear_error_not_a_file(no_graphviz_server: LiveServer,
                                                                 tmp_path: Path) -> None:
    server = no_graphviz_server
    apply(server, tmp_path, TWO_TASKS)
    with server.client() as api:
        for route in ("dot.png", "dot.svg"):
            answer = api.get(f"/api/jobs/definitions/two-tasks/{route}")
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"].startswith("application/json")
            assert "Graphviz is not installed" in answer.json()["error"]
        request_id = api.post("/api/jobs/requests", json={"job_type": "two-tasks", "scheduled_at":
                                                          "2099-01-01T00:00:00Z"}).json()["id"]
        assert api.get(f"/api/jobs/requests/{request_id}/dot.png").status_code == 503
        assert api.get("/api/jobs/definitions/two-tasks/dot").status_code == 200  # the text needs no Graphviz
    png = tmp_path / "two.png"
    result = cli(server, "definitions", "graph", "two-tasks", "-o", str(png))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith("error: 503: Graphviz is not installed"), result.stderr
    assert not png.exists()
    assert '"one" -> "two"' in ok(server, "definitions", "graph", "two-tasks")


def test_graph_help_names_its_options() -> None:
    result = cli(None, "definitions", "graph", "--help")
    assert result.returncode == 0
    for word in ("--output", "-o", "--format", "dot", "svg", "png"):
        assert word in result.stdout, word
