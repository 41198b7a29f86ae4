"""ShellExecutor against real /bin/sh processes."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from pathlib import Path

import pytest

from myrmica.ant.executors.shell import MAX_LINE_BYTES, MIN_LINE_CHARGE, ShellExecutor, _LineProtocol, _Run
from myrmica.broker.messages import TaskRequest, TaskResult
from myrmica.domain.masking import secret_terms


class Recorder:
    """Collects log lines; can fire a callback on each line (to react to output without sleeping)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def __call__(self, stream: str, line: str) -> None:
        self.lines.append((stream, line))

    def stream(self, name: str) -> list[str]:
        return [line for stream, line in self.lines if stream == name]


def make_request(task_type: str = "build", request_id: str = "req1", **kwargs: object) -> TaskRequest:
    return TaskRequest(request_id=request_id, task_execution_id=f"te-{task_type}", job_type="job",
                       task_type=task_type, method="SHELL", **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def executor(tmp_path: Path) -> ShellExecutor:
    return ShellExecutor(tmp_path / "work", ant_id="ant-1", ant_host="host-1")


async def run(executor: ShellExecutor, request: TaskRequest, log: Recorder | None = None,
              cancel: asyncio.Event | None = None) -> TaskResult:
    return await executor.execute(request, log if log is not None else Recorder(), cancel or asyncio.Event())


def assert_group_gone(pgid: int) -> None:
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)


async def test_success_streams_lines_in_order(executor: ShellExecutor) -> None:
    log = Recorder()
    before = time.time()
    result = await run(executor, make_request(script=["echo one; echo oops >&2; echo two", "printf 'three'"]),
                       log)
    assert result.state == "COMPLETED"
    assert result.exit_code == "0"
    assert result.error_code == "" and result.failed_command == ""
    assert log.stream("stdout") == ["one", "two", "three"]
    assert log.stream("stderr") == ["oops"]
    assert result.job_context == {"build-status": "COMPLETED"}
    assert (result.ant_id, result.ant_host) == ("ant-1", "host-1")
    assert before <= result.started_at <= result.ended_at <= time.time()
    assert (result.request_id, result.task_execution_id) == ("req1", "te-build")


async def test_environment_from_variables_and_environment(executor: ShellExecutor, tmp_path: Path) -> None:
    log = Recorder()
    request = make_request(
        variables={"NAME": "ant", "FLAG": True, "OFF": False, "COUNT": 3, "RATIO": 1.5,
                   "OBJ": {"a": [1, 2]}, "bad-name": "skipped", "OVERRIDE": "from-variables"},
        environment={"OVERRIDE": "from-environment"},
        script=['echo "$NAME|$FLAG|$OFF|$COUNT|$RATIO|$OVERRIDE"', 'echo "$OBJ"', "pwd",
                'echo "$MYRMICA_JOB_DIR"', 'echo "${PATH:+has-path}"', "env | grep -c '^bad-name=' || true"])
    result = await run(executor, request, log)
    assert result.state == "COMPLETED", result
    out = log.stream("stdout")
    assert out[0] == "ant|true|false|3|1.5|from-environment"
    assert json.loads(out[1]) == {"a": [1, 2]}
    job_dir = tmp_path / "work" / "req1"
    assert Path(out[2]).resolve() == (job_dir / "build").resolve()
    assert Path(out[3]) == job_dir
    assert out[4] == "has-path"  # PATH comes from the ant's, the rest of its environment does not
    assert out[5] == "0"


async def test_later_tasks_find_files_of_earlier_ones(executor: ShellExecutor) -> None:
    first = await run(executor, make_request("produce", script=["echo payload > out.txt"]))
    assert first.state == "COMPLETED"
    log = Recorder()
    second = await run(executor, make_request("consume", script=['cat "$MYRMICA_JOB_DIR/produce/out.txt"']), log)
    assert second.state == "COMPLETED"
    assert log.stream("stdout") == ["payload"]


async def test_explicit_working_dir(executor: ShellExecutor, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    log = Recorder()
    result = await run(executor, make_request(working_dir=str(target), script=["pwd"]), log)
    assert result.state == "COMPLETED"
    assert Path(log.stream("stdout")[0]).resolve() == target.resolve()


async def test_failing_line_stops_script_and_after_script_still_runs(executor: ShellExecutor) -> None:
    log = Recorder()
    request = make_request(script=["echo first", "sh -c 'exit 2'", "echo never"],
                           after_script=["echo cleanup"])
    result = await run(executor, request, log)
    assert result.state == "FAILED"
    assert result.exit_code == "2"
    assert result.failed_command == "sh -c 'exit 2'"
    assert result.error_code == "ERR_TASK_EXECUTE"
    assert "exited with 2" in result.error_message and "sh -c 'exit 2'" in result.error_message
    assert log.stream("stdout") == ["first", "cleanup"]
    assert result.job_context["build-status"] == "FAILED"


async def test_before_script_failure_skips_script(executor: ShellExecutor) -> None:
    log = Recorder()
    request = make_request(before_script=["echo setup", "exit 5", "echo not-this"], script=["echo main"],
                           after_script=["echo cleanup"])
    result = await run(executor, request, log)
    assert (result.state, result.exit_code, result.failed_command) == ("FAILED", "5", "exit 5")
    assert log.stream("stdout") == ["setup", "cleanup"]


async def test_after_script_failure_is_logged_but_does_not_fail(executor: ShellExecutor) -> None:
    log = Recorder()
    request = make_request(script=["echo ok"], after_script=["exit 7", "echo not-reached"])
    result = await run(executor, request, log)
    assert (result.state, result.exit_code) == ("COMPLETED", "0")
    assert log.stream("stdout") == ["ok"]
    assert any("exit 7" in line and "7" in line for line in log.stream("stderr"))


async def test_set_output_goes_to_job_context(executor: ShellExecutor) -> None:
    request = make_request("calc", script=["echo '::set-output name=ANSWER::42'",
                                           "echo '::set-output name=URL::http://x/a::b'", "echo plain"])
    result = await run(executor, request)
    assert result.job_context == {"ANSWER": "42", "URL": "http://x/a::b", "calc-status": "COMPLETED"}


async def test_report_stdout_collects_each_command(executor: ShellExecutor) -> None:
    request = make_request(script=["echo a; echo b", "echo err >&2", "echo c"], report_stdout=True)
    result = await run(executor, request)
    assert result.stdout == ["a\nb", "", "c"]
    without = await run(executor, make_request(script=["echo a"]))
    assert without.stdout == []


async def test_secrets_are_masked(executor: ShellExecutor) -> None:
    log = Recorder()
    request = make_request(variables={"TOKEN": "hunter2"}, secrets=["hunter2"],
                           script=['echo "token=$TOKEN"', 'echo "$TOKEN" >&2',
                                   "echo ::set-output name=T::hunter2", "test hunter2 = nope"])
    result = await run(executor, request, log)
    assert log.stream("stdout")[0] == "token=[****]"
    assert log.stream("stderr") == ["[****]"]
    assert all("hunter2" not in line for _, line in log.lines)
    assert result.failed_command == "test [****] = nope"
    assert "hunter2" not in result.error_message
    assert result.job_context["T"] == "[****]"


async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    executor = ShellExecutor(tmp_path, max_timeout_secs=30)
    log = Recorder()
    request = make_request(timeout_secs=0.5, script=["echo $$; sleep 100 & echo $!; sleep 100"],
                           after_script=["echo never"])
    started = time.monotonic()
    result = await run(executor, request, log)
    assert time.monotonic() - started < 10
    assert result.state == "FAILED"
    assert result.error_code == "ERR_TASK_TIMED_OUT"
    assert result.exit_code == "-1"
    assert "timed out" in result.error_message
    assert result.failed_command.startswith("echo $$")
    pgid, child = (int(line) for line in log.stream("stdout")[:2])
    assert_group_gone(pgid)
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)
    assert "never" not in log.stream("stdout")


async def test_timeout_escalates_to_sigkill(tmp_path: Path) -> None:
    executor = ShellExecutor(tmp_path)
    log = Recorder()
    request = make_request(timeout_secs=0.3, script=["trap '' TERM; echo $$; while :; do :; done"])
    result = await run(executor, request, log)
    assert result.error_code == "ERR_TASK_TIMED_OUT"
    assert_group_gone(int(log.stream("stdout")[0]))


async def test_max_timeout_caps_the_request(tmp_path: Path) -> None:
    executor = ShellExecutor(tmp_path, max_timeout_secs=0.3)
    result = await run(executor, make_request(script=["sleep 100"]))
    assert result.error_code == "ERR_TASK_TIMED_OUT"
    assert executor.timeout_for(make_request(timeout_secs=1000)) == 0.3


async def test_cancel_kills_the_whole_process_group(executor: ShellExecutor) -> None:
    cancel = asyncio.Event()
    pids: list[int] = []

    def log(stream: str, line: str) -> None:
        if stream == "stdout" and line.isdigit():
            pids.append(int(line))
            if len(pids) == 2:  # both the shell and its background child are running
                cancel.set()

    request = make_request(script=["echo $$; sleep 100 & echo $!; sleep 100", "echo never"])
    result = await executor.execute(request, log, cancel)
    assert result.state == "FAILED"
    assert result.error_code == "ERR_JOB_CANCELLED"
    assert result.exit_code == "-1"
    assert_group_gone(pids[0])
    with pytest.raises(ProcessLookupError):
        os.kill(pids[1], 0)


async def test_cancel_before_start_runs_nothing(executor: ShellExecutor, tmp_path: Path) -> None:
    cancel = asyncio.Event()
    cancel.set()
    marker = tmp_path / "ran"
    result = await run(executor, make_request(script=[f"touch {marker}"]), cancel=cancel)
    assert result.error_code == "ERR_JOB_CANCELLED"
    assert not marker.exists()


async def test_background_leftovers_are_killed_when_the_line_ends(executor: ShellExecutor) -> None:
    log = Recorder()
    result = await run(executor, make_request(script=["sleep 100 & echo $$"], timeout_secs=20), log)
    assert result.state == "COMPLETED"
    assert_group_gone(int(log.stream("stdout")[0]))


async def test_megabytes_of_output_stay_bounded(tmp_path: Path) -> None:
    limit = 1024 * 1024
    executor = ShellExecutor(tmp_path, max_log_bytes=limit)
    log = Recorder()
    request = make_request(script=["yes | head -c 30000000", "echo '::set-output name=DONE::yes'"])
    result = await run(executor, request, log)
    assert result.state == "COMPLETED", result
    assert result.job_context["DONE"] == "yes"  # still parsed after the log was cut
    logged = [line for stream, line in log.lines if stream != "system"]
    assert sum(len(line) + 1 for line in logged) <= limit
    assert len(logged) > limit // MIN_LINE_CHARGE - 10  # a 2-byte line counts as MIN_LINE_CHARGE
    assert log.lines[-1][0] == "system"
    kept, dropped = map(int, re.fullmatch(r"\[log truncated after (\d+) bytes: … (\d+) bytes dropped\]",
                                          log.lines[-1][1]).groups())  # type: ignore[union-attr]
    assert kept == len(logged) * MIN_LINE_CHARGE
    assert dropped == 30_000_000 - 2 * len(logged) + len("::set-output name=DONE::yes\n")
    assert log.stream("system") == [f"[log truncated after {kept} bytes: further output is dropped]",
                                    log.lines[-1][1]]  # said when it happens, then counted at the end


async def test_long_lines_are_split(executor: ShellExecutor) -> None:
    log = Recorder()
    result = await run(executor, make_request(script=["head -c 200000 /dev/zero | tr '\\0' x; echo",
                                                      "printf 'tail-without-newline'"]), log)
    assert result.state == "COMPLETED"
    out = log.stream("stdout")
    assert [len(line) for line in out[:-1]] == [MAX_LINE_BYTES] * 3 + [200000 - 3 * MAX_LINE_BYTES]
    assert out[-1] == "tail-without-newline"


async def test_command_that_cannot_start_fails(tmp_path: Path) -> None:
    executor = ShellExecutor(tmp_path)
    result = await run(executor, make_request(script=["nonexistent-command-xyz"]))
    assert (result.state, result.exit_code) == ("FAILED", "127")


async def test_many_quick_tasks_run_concurrently(executor: ShellExecutor) -> None:
    requests = [make_request(f"t{i}", script=["true"]) for i in range(50)]
    results = await asyncio.gather(*(run(executor, request) for request in requests))
    assert {result.state for result in results} == {"COMPLETED"}


# --- secrets in long and multi-line output -----------------------------------------------------------

LONG_SECRET = "s3cr3t-0123456789-abcdef"


def protocol_for(secrets: list[str]) -> tuple[_LineProtocol, Recorder]:
    log = Recorder()
    loop = asyncio.new_event_loop()
    try:
        run_state = _Run(make_request(secrets=secrets), log, 10 * 1024 * 1024, loop.create_future())
        run_state.terms = secret_terms(secrets)
        run_state.byte_terms = [term.encode() for term in run_state.terms]
        run_state.span = max(len(term) for term in run_state.byte_terms) - 1
        return _LineProtocol(run_state, loop, None), log
    finally:
        loop.close()


@pytest.mark.parametrize("chunk", [1, 7, 4096, 65536, 65540, 10**6])
def test_a_secret_across_the_64k_split_is_masked_however_the_output_arrives(chunk: int) -> None:
    protocol, log = protocol_for([LONG_SECRET])
    for offset in (-20, -10, -1, 0, 1, 10):  # the secret starts this far from the 64 KiB cut
        data = b"x" * (MAX_LINE_BYTES + offset) + LONG_SECRET.encode() + b"y" * 70000 + b"\n"
        for start in range(0, len(data), chunk):
            protocol.pipe_data_received(1, data[start:start + chunk])
    protocol.pipe_connection_lost(1, None)
    out = log.stream("stdout")
    assert len(out) >= 6 * 2
    assert all(len(line.encode()) <= MAX_LINE_BYTES for line in out if "[****]" not in line)
    for fragment in ("s3cr3t", "0123456789", "abcdef"):
        assert all(fragment not in line for line in out), fragment
    assert sum(line.count("[****]") for line in out) == 6


def test_a_secret_at_the_end_of_an_unfinished_line_is_masked() -> None:
    protocol, log = protocol_for([LONG_SECRET])
    protocol.pipe_data_received(2, b"x" * (MAX_LINE_BYTES - 5) + LONG_SECRET.encode()[:12])
    protocol.pipe_data_received(2, LONG_SECRET.encode()[12:])
    protocol.pipe_connection_lost(2, None)  # no newline: the rest is flushed at the end
    assert "".join(log.stream("stderr")) == "x" * (MAX_LINE_BYTES - 5) + "[****]"


async def test_a_secret_across_the_64k_split_is_masked_in_a_real_task(executor: ShellExecutor) -> None:
    log = Recorder()
    request = make_request(variables={"TOKEN": LONG_SECRET}, secrets=[LONG_SECRET],
                           script=[f"head -c {MAX_LINE_BYTES - 6} /dev/zero | tr '\\0' x; echo \"$TOKEN\""])
    result = await run(executor, request, log)
    assert result.state == "COMPLETED", result
    out = log.stream("stdout")
    assert "".join(out) == "x" * (MAX_LINE_BYTES - 6) + "[****]"
    assert all("s3cr3t" not in line and "abcdef" not in line for line in out)


PRIVATE_KEY = ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
               "-----END PRIVATE KEY-----")


async def test_every_line_of_a_multi_line_secret_is_masked(executor: ShellExecutor) -> None:
    log = Recorder()
    request = make_request(variables={"KEY": PRIVATE_KEY}, secrets=[PRIVATE_KEY],
                           script=['printf "%s\\n" "$KEY"',
                                   'printf "%s\\n" "$KEY" | sed -n 2p | tr -d "\\n"; echo " <- 2nd"',
                                   "echo ::set-output name=K::$(echo \"$KEY\" | sed -n 3p)"])
    result = await run(executor, request, log)
    assert result.state == "COMPLETED", result
    out = log.stream("stdout")
    assert out[:4] == ["[****]"] * 4
    assert out[4] == "[****] <- 2nd"
    assert result.job_context["K"] == "[****]"
    for secret_line in PRIVATE_KEY.splitlines()[1:3]:
        assert all(secret_line not in line for _, line in log.lines)


# --- the environment -----------------------------------------------------------------------------------


async def test_the_environment_is_built_from_scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYRMICA_ADMIN_TOKEN", "myr_admin_from_the_server_env")
    monkeypatch.setenv("MYRMICA_SECRET_KEY", "server-secret-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    monkeypatch.setenv("PATH", "relative/bin::/usr/bin:/bin:/usr/bin")
    monkeypatch.setenv("LANG", "C.UTF-8")
    executor = ShellExecutor(tmp_path / "work")
    log = Recorder()
    result = await run(executor, make_request(variables={"NAME": "ant"}, script=["env", 'echo "home=$HOME"', "pwd"]),
                       log)
    assert result.state == "COMPLETED", result
    out = log.stream("stdout")
    env = dict(line.split("=", 1) for line in out[:-2])
    cwd = out[-1]
    assert not {"MYRMICA_ADMIN_TOKEN", "MYRMICA_SECRET_KEY", "AWS_SECRET_ACCESS_KEY", "_MYRMICA_LINE"} & set(env)
    assert set(env) - {"PWD", "OLDPWD", "SHLVL", "_"} == {"PATH", "HOME", "LANG", "USER", "LOGNAME", "NAME",
                                                          "MYRMICA_JOB_DIR"}
    assert env["PATH"] == "/usr/bin:/bin"  # the ant's, without its relative and empty entries
    assert out[-2] == f"home={cwd}" and env["HOME"] == cwd  # HOME is the task's own directory
    assert not any("server-secret-key" in line or "aws-secret" in line for _, line in log.lines)


async def test_variables_that_change_how_programs_load_are_left_out(executor: ShellExecutor) -> None:
    log = Recorder()
    request = make_request(variables={"LD_PRELOAD": "/tmp/evil.so", "PATH": "/evil", "OK": "yes"},
                           environment={"BASH_ENV": "/tmp/evil.sh", "PYTHONPATH": "/evil"},
                           script=['echo "${LD_PRELOAD-unset} ${BASH_ENV-unset} ${PYTHONPATH-unset} $OK"',
                                   'echo "$PATH"'])
    result = await run(executor, request, log)
    assert result.state == "COMPLETED", result
    assert log.stream("stdout")[0] == "unset unset unset yes"
    assert "/evil" not in log.stream("stdout")[1]
    [line] = log.stream("system")
    assert line.startswith("left out of the task's environment: LD_PRELOAD, PATH, BASH_ENV, PYTHONPATH"), line


# --- the command line ---------------------------------------------------------------------------------


def command_lines() -> list[bytes]:
    lines = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                    lines.append(handle.read())
            except OSError:
                continue
    return lines


async def wait_for_path(path: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        await asyncio.sleep(0.01)


async def lines_are_not_on_the_command_line(executor: ShellExecutor) -> None:
    """A line holding a secret, running (blocked on a FIFO the test opens): the secret is in no process's
    command line on the machine (``ps`` shows every user's), and the task's own processes agree."""
    secret = "argv-secret-" + os.urandom(6).hex()
    gate = executor.work_root / "req-argv" / "build" / "gate"
    request = make_request(request_id="req-argv", variables={"TOKEN": secret}, secrets=[secret], timeout_secs=30,
                           script=[f'T="{secret}"; cat /proc/$$/cmdline /proc/$PPID/cmdline | tr "\\0" " "; echo; '
                                   'mkfifo gate; read x < gate; echo "released $x"'])
    log = Recorder()
    running = asyncio.ensure_future(run(executor, request, log))
    await wait_for_path(gate)
    seen = [line for line in command_lines() if secret.encode() in line]
    fd = os.open(gate, os.O_WRONLY)  # the task waits in open() for reading, so this does not block
    os.write(fd, b"go\n")
    os.close(fd)
    result = await running
    assert result.state == "COMPLETED", result
    assert seen == [], seen
    assert log.stream("stdout")[-1] == "released go"
    assert "argv-secret" not in log.stream("stdout")[0]


async def test_a_line_is_not_on_any_command_line(executor: ShellExecutor) -> None:
    await lines_are_not_on_the_command_line(executor)
