"""SHELL tasks in the bubblewrap sandbox, against real bwrap and /bin/sh processes (skipped without bwrap)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from myrmica.ant.executors.sandbox import (
    Sandbox,
    SandboxSettings,
    SandboxUnavailable,
    probe,
    resolve,
)
from myrmica.ant.executors.shell import ShellExecutor
from myrmica.broker.messages import TaskResult
from tests.unit.ant.test_shell_executor import Recorder, lines_are_not_on_the_command_line, make_request, run

WHY_NOT = probe("bwrap")
needs_bwrap = pytest.mark.skipif(WHY_NOT is not None, reason=f"no working bubblewrap: {WHY_NOT}")

TOKEN = "myr_admin_token_never_read"
KEY = "secret-key-never-read"


@pytest.fixture(params=["var-tmp", "tmp"])
def host(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Path]]:
    """A server's files as a task must not see them: a data directory and a credentials file elsewhere.
    Under /var/tmp they are hidden one by one; under /tmp they are not there at all (a sandbox's /tmp is
    its request's own)."""
    if request.param == "tmp":
        yield from _host(tmp_path)
        return
    base = Path(tempfile.mkdtemp(prefix="myrmica-sandbox-test-", dir="/var/tmp"))
    try:
        yield from _host(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _host(tmp_path: Path) -> Iterator[dict[str, Path]]:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "admin-token").write_text(TOKEN + "\n")
    (data / "secret.key").write_text(KEY)
    (data / "myrmica.db").write_bytes(b"SQLite format 3\x00" + TOKEN.encode())
    config = tmp_path / "config"
    config.mkdir()
    (config / "credentials.json").write_text(f'{{"token": "{TOKEN}"}}\n')
    yield {"data": data, "credentials": config / "credentials.json", "work": tmp_path / "work"}


def sandboxed(host: dict[str, Path], *, network: bool = True) -> ShellExecutor:
    sandbox = Sandbox.create("/usr/bin/bwrap", network=network, hide=[str(host["data"]), str(host["credentials"])])
    return ShellExecutor(host["work"], ant_id="ant-1", sandbox=sandbox)


async def task(executor: ShellExecutor, *script: str, request_id: str = "req1", task_type: str = "build",
               **fields: object) -> tuple[TaskResult, Recorder]:
    log = Recorder()
    result = await run(executor, make_request(task_type, request_id, script=list(script), **fields), log)
    return result, log


@needs_bwrap
async def test_a_task_cannot_read_the_servers_files(host: dict[str, Path]) -> None:
    executor = sandboxed(host)
    files = [host["data"] / "admin-token", host["data"] / "secret.key", host["data"] / "myrmica.db",
             host["credentials"]]
    checks = [f'if cat "{path}" >/dev/null 2>&1; then echo "read {path}"; else echo "denied {path}"; fi'
              for path in files]
    result, log = await task(executor, *checks, f'ls -A "{host["data"]}" | wc -l', f"cat {files[0]}")
    assert result.state == "FAILED" and result.failed_command == f"cat {files[0]}", result
    out = log.stream("stdout")
    assert out[:4] == [f"denied {path}" for path in files]
    assert out[4] == "0"  # the data directory is an empty directory in the sandbox
    assert not any(TOKEN in line or KEY in line for _, line in log.lines)
    assert any("No such file" in line for line in log.stream("stderr"))


@needs_bwrap
async def test_the_host_is_read_only_and_the_job_directory_writable(host: dict[str, Path]) -> None:
    executor = sandboxed(host)
    result, log = await task(executor, "touch /usr/myrmica-test 2>/dev/null && echo wrote-usr || echo usr-read-only",
                             'touch "$MYRMICA_JOB_DIR/kept" && touch "$HOME/.rc" && echo wrote-own', "pwd",
                             "grep CapEff /proc/self/status", f'umount "{host["data"]}" 2>/dev/null || echo no-umount')
    assert result.state == "COMPLETED", result
    out = log.stream("stdout")
    assert out[:2] == ["usr-read-only", "wrote-own"]
    assert Path(out[2]) == host["work"] / "req1" / "build"  # the same path inside as outside
    assert out[3].split() == ["CapEff:", "0000000000000000"]  # no capability, even when the ant is root
    assert out[4] == "no-umount"
    assert (host["work"] / "req1" / "kept").exists() and (host["work"] / "req1" / "build" / ".rc").exists()


@needs_bwrap
async def test_a_request_sees_only_its_own_directories_and_tmp(host: dict[str, Path]) -> None:
    executor = sandboxed(host)
    first, _ = await task(executor, "echo mine > /tmp/note", 'echo mine > "$MYRMICA_JOB_DIR/file"',
                          request_id="req-a")
    assert first.state == "COMPLETED", first
    again, log = await task(executor, "cat /tmp/note", "rm /tmp/note", request_id="req-a", task_type="later")
    assert again.state == "COMPLETED", again
    assert log.stream("stdout") == ["mine"]  # /tmp lasts across the lines and tasks of a request
    other, log = await task(executor, 'ls -A "$(dirname "$MYRMICA_JOB_DIR")"',
                            "cat /tmp/note 2>/dev/null || echo no-note",
                            f'cat "{host["work"] / "req-a" / "file"}" 2>/dev/null || echo no-file', request_id="req-b")
    assert other.state == "COMPLETED", other
    assert log.stream("stdout") == ["req-b", "no-note", "no-file"]
    # A request's /tmp is in its job directory on the host; left empty, it goes with it.
    assert not (host["work"] / "req-a" / ".tmp").exists()


@needs_bwrap
async def test_the_sandbox_shows_its_own_processes_only(host: dict[str, Path], monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.setenv("MYRMICA_ADMIN_TOKEN", TOKEN)  # in the ant's environment, as a server's may be
    executor = sandboxed(host)
    # (The pattern is written so that it does not match itself: the shell's own environment holds its line.)
    result, log = await task(executor, "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' "
                             "| grep -c 'MYRMICA_ADMIN_TOKE[N]=' || true", "ls /proc | grep -c '^[0-9]'")
    assert result.state == "COMPLETED", result
    assert log.stream("stdout")[0] == "0"
    assert int(log.stream("stdout")[1]) < 10


@needs_bwrap
async def test_without_network_only_loopback_is_there(host: dict[str, Path]) -> None:
    result, log = await task(sandboxed(host, network=False), "grep -c : /proc/net/dev", "grep -o 'lo:' /proc/net/dev")
    assert result.state == "COMPLETED", result
    assert log.stream("stdout") == ["1", "lo:"]


@needs_bwrap
async def test_exit_codes_timeouts_and_cancels_work_in_the_sandbox(host: dict[str, Path]) -> None:
    executor = sandboxed(host)
    failed, _ = await task(executor, "echo ok", "exit 3", "echo never")
    assert (failed.state, failed.exit_code, failed.failed_command) == ("FAILED", "3", "exit 3")
    missing, _ = await task(executor, "nonexistent-command-xyz")
    assert missing.exit_code == "127"
    timed_out, log = await task(executor, "echo $$; sleep 100 & sleep 100", timeout_secs=0.5)
    assert timed_out.error_code == "ERR_TASK_TIMED_OUT"
    cancel = asyncio.Event()
    started: list[str] = []

    def on_line(stream: str, line: str) -> None:
        started.append(line)
        cancel.set()

    result = await executor.execute(make_request(script=["echo started; exec sleep 100"]), on_line, cancel)
    assert result.error_code == "ERR_JOB_CANCELLED" and started == ["started"]


@needs_bwrap
async def test_a_working_directory_of_the_tasks_choosing(host: dict[str, Path], tmp_path: Path) -> None:
    executor = sandboxed(host)
    elsewhere = tmp_path / "elsewhere"
    result, log = await task(executor, "pwd", "touch made-here", working_dir=str(elsewhere))
    assert result.state == "COMPLETED", result
    assert Path(log.stream("stdout")[0]) == elsewhere and (elsewhere / "made-here").exists()
    inside, _ = await task(executor, "pwd", working_dir=str(host["data"] / "sub"), request_id="req-2")
    assert inside.state == "FAILED"
    assert "tasks may not see" in inside.error_message
    for holder in ("/", str(host["data"].parent)):  # it would bind the host's root, or the data directory
        holding, _ = await task(executor, "pwd", working_dir=holder, request_id="req-3")
        assert holding.state == "FAILED" and "holds" in holding.error_message, holding


@needs_bwrap
async def test_a_line_is_not_on_any_command_line_in_the_sandbox(host: dict[str, Path]) -> None:
    await lines_are_not_on_the_command_line(sandboxed(host))


def processes_of(job_dir: Path) -> list[int]:
    """Host PIDs of the processes whose environment says they belong to ``job_dir``'s request."""
    marker = f"MYRMICA_JOB_DIR={job_dir}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/environ", "rb") as environ:
                    if marker in environ.read().split(b"\0"):
                        found.append(int(entry.name))
            except OSError:
                continue
    return found


@needs_bwrap
async def test_leftover_processes_go_with_the_line(host: dict[str, Path]) -> None:
    executor = sandboxed(host)
    result, log = await task(executor, "sleep 100 & echo started", "setsid sleep 100 & echo again", timeout_secs=20)
    assert result.state == "COMPLETED", result
    assert log.stream("stdout") == ["started", "again"]
    assert processes_of(host["work"] / "req1") == []  # even the one that left the process group


# --- choosing the sandbox --------------------------------------------------------------------------------


def test_auto_without_bwrap_runs_tasks_unconfined_and_says_why() -> None:
    sandbox, line = resolve(SandboxSettings("auto", program="no-such-bwrap-xyz"))
    assert sandbox is None
    assert line.startswith("tasks run without a sandbox: no-such-bwrap-xyz not found (install bubblewrap)")
    assert "can read what the server's user can" in line


def test_bwrap_without_bwrap_refuses() -> None:
    with pytest.raises(SandboxUnavailable, match="no-such-bwrap-xyz not found"):
        resolve(SandboxSettings("bwrap", program="no-such-bwrap-xyz"))


def test_none_means_no_sandbox_and_a_bad_mode_is_refused() -> None:
    sandbox, line = resolve(SandboxSettings("none"))
    assert sandbox is None and "sandbox = none" in line
    with pytest.raises(ValueError, match="auto, bwrap, none"):
        resolve(SandboxSettings("sometimes"))


@needs_bwrap
def test_auto_with_bwrap_uses_it_and_says_so() -> None:
    sandbox, line = resolve(SandboxSettings("auto", network=False, hide=("/nonexistent-hidden",)))
    assert sandbox is not None and not sandbox.network and "/nonexistent-hidden" in sandbox.hide
    assert line == ("tasks run in a bubblewrap sandbox (the host read-only, the data directory and credentials "
                    "hidden, network off)")
    assert Sandbox.from_config(sandbox.to_config()) == sandbox
    assert Sandbox.from_config(None) is None
    assert os.path.isabs(sandbox.program)
