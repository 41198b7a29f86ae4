"""SHELL: every line of a task runs in its own ``/bin/sh`` on the ant host, in its own process group.

The line reaches the shell through its environment (``_MYRMICA_LINE``, unset before the line runs), not
its command line: a line's text, and the secrets a template put in it, are not in ``ps`` for other local
users to see. With a sandbox (``sandbox.py``) the shell runs inside bubblewrap. The environment is built
from scratch (``task_env.py``).

Phases run in order: ``before_script`` (a failure skips ``script``), ``script`` (the first failing line
stops it and decides the result), then ``after_script`` (always, unless the task was timed out or
cancelled; its failures are only logged). Output is read as it is produced, split into lines here
(lines longer than 64 KiB are split, never inside a secret), masked and handed to the log callback
until ``max_log_bytes`` is reached (a line counts at least ``MIN_LINE_CHARGE`` bytes: what storing it
costs, so ``yes`` cannot make millions of rows); after that the pipes are still drained so the process
never blocks. The cut is said when it happens (``[log truncated after N bytes: further output is
dropped]``, for a reader following the log live) and the task's log ends with one line ``[log truncated
after N bytes: … M bytes dropped]``.
While the log callback's transport is behind (``base.LogPressure``) the pipes are not read: a task
that floods its output waits on its own pipe.

Timeout and cancel: SIGTERM to the process group, SIGKILL after 2 s, and the executor waits until
the group is gone before it returns. Such a result is FAILED with exit code ``"-1"``.
Processes a line leaves running in the background are killed when the line's shell exits.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from myrmica.ant.executors.base import LogCallback, LogPressure, pressure_of
from myrmica.ant.executors.sandbox import Sandbox
from myrmica.ant.executors.spawn import SpawnedProcess, spawn_shell
from myrmica.ant.executors.task_env import base_environment
from myrmica.ant.executors.transfer import ArtifactTransfer
from myrmica.ant.executors.workdirs import WorkDirs
from myrmica.ant.executors.workspace import collect_artifacts, fetch_dependencies
from myrmica.broker.messages import TaskRequest, TaskResult
from myrmica.domain.masking import mask, mask_terms, safe_cut, secret_terms
from myrmica.domain.task_env import WHY, refused

MAX_LINE_BYTES = 64 * 1024
MIN_LINE_CHARGE = 16  # bytes a line counts against max_log_bytes at least
MAX_RESULT_BYTES = 1024 * 1024  # a task's result file is read up to this size
KILL_GRACE_SECS = 2.0  # SIGTERM → SIGKILL
PIPE_GRACE_SECS = 2.0  # how long to wait for the pipes once the group is dead
REAP_WAIT_SECS = 5.0  # how long to wait for killed group members to be reaped

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SET_OUTPUT_PREFIX = b"::set-output "
_SET_OUTPUT = re.compile(r"::set-output name=([^:]+)::(.*)\Z", re.DOTALL)


def stringify(value: Any) -> str:
    """A variable's value as an env var / form field: bools as true/false, containers as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=str)
    return str(value)


def build_env(request: TaskRequest, base: dict[str, str], extra: dict[str, str],
              left_out: list[str] | None = None) -> dict[str, str]:
    """``base`` overlaid with the request's variables, then its environment, then ``extra``. A variable
    whose name could change how programs load (``PATH``, ``LD_PRELOAD`` …) is left out, and its name
    added to ``left_out``."""
    env = dict(base)
    for source in (request.variables, request.environment):
        for name, value in source.items():
            text = stringify(value)
            if isinstance(name, str) and _ENV_NAME.match(name) and "\x00" not in text:
                if refused(name):
                    if left_out is not None and name not in left_out:
                        left_out.append(name)
                    continue
                env[name] = text
    env.update(extra)
    return env


def write_files(cwd: Path, files: dict[str, str]) -> None:
    """Each file (a relative path) written read-only into ``cwd``; a name that would leave it is refused."""
    root = cwd.resolve()
    for name, content in files.items():
        target = (cwd / name).resolve()
        if not name or os.path.isabs(name) or not target.is_relative_to(root) or target == root:
            raise ValueError(f"file {name!r} is outside the working directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        target.write_text(content, encoding="utf-8")
        target.chmod(0o444)


def _path_part(name: str) -> str:
    cleaned = name.replace("/", "_").replace("\\", "_").replace("\x00", "_")
    return "_" if cleaned in ("", ".", "..") else cleaned


def job_dir_name(request_id: str) -> str:
    """The name of a request's job directory under an ant's work root."""
    return _path_part(request_id)


def _utf8_cut(data: bytes, limit: int) -> int:
    """A split point ≤ limit that does not cut a UTF-8 sequence in two (when avoidable)."""
    cut = limit
    while cut > limit - 3 and cut > 0 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    return cut if cut > 0 else limit


def _signal_group(pgid: int, sig: int) -> bool:
    """Signal a process group; False when the group no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _wait_group_gone(pgid: int) -> None:
    """Kill and wait until no member of the group is left (orphans are reaped by init)."""
    deadline = time.monotonic() + REAP_WAIT_SECS
    delay = 0.002
    while _signal_group(pgid, signal.SIGKILL) and time.monotonic() < deadline:
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)


@dataclass
class _Run:
    """The state of one task execution shared by its commands."""

    request: TaskRequest
    log: LogCallback
    max_log_bytes: int
    stop: asyncio.Future[str]
    terms: list[str] = field(default_factory=list)  # what to mask (domain/masking.py)
    byte_terms: list[bytes] = field(default_factory=list)
    span: int = 0  # bytes a long line is held back past 64 KiB, so that no cut falls inside a secret
    prefix: list[str] = field(default_factory=list)  # the sandbox's command before the shell
    logged: int = 0
    truncated: bool = False
    interrupted: bool = False
    current_line: str = ""
    job_context: dict[str, Any] = field(default_factory=dict)
    stdout: list[str] = field(default_factory=list)
    capture_left: int = 0
    dropped: int = 0  # bytes of output not logged past max_log_bytes
    pressure: LogPressure | None = None

    def emit(self, stream: str, text: str, size: int) -> None:
        if self.truncated:
            self.dropped += size
            return
        charge = size if size >= MIN_LINE_CHARGE else MIN_LINE_CHARGE
        if self.logged + charge > self.max_log_bytes:
            self.truncated = True
            self.dropped += size
            # Said at once, not only at the end: a reader following the log live (a websocket, ``logs
            # --follow``) learns why it goes quiet while the task still prints.
            self._call("system", f"[log truncated after {self.logged} bytes: further output is dropped]")
            return
        self.logged += charge
        self._call(stream, text)

    def end_log(self) -> None:
        """The one line that says the log was cut, and how much of it was dropped."""
        if self.truncated:
            self._call("system", f"[log truncated after {self.logged} bytes: … {self.dropped} bytes dropped]")

    def _call(self, stream: str, text: str) -> None:
        try:  # noqa: SIM105 (a plain try is cheaper than suppress() on this per-line path)
            self.log(stream, text)
        except Exception:  # a broken log sink must not break the task
            pass


class _LineProtocol(asyncio.SubprocessProtocol):
    """Splits the child's stdout/stderr into lines as the data arrives."""

    def __init__(self, run: _Run, loop: asyncio.AbstractEventLoop, capture: list[str] | None) -> None:
        self.run = run
        self.capture = capture
        self.captured_truncated = False
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self._pending: dict[int, bytes] = {1: b"", 2: b""}
        self.transport: SpawnedProcess | None = None  # paused while the log is behind
        self._resuming: asyncio.Task[None] | None = None

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        pending = self._pending.get(fd, b"")
        if pending:
            data = pending + data
        if self._quiet(fd) and _SET_OUTPUT_PREFIX not in data:
            # Nothing wants these lines: keep only the unfinished tail.
            end = data.rfind(b"\n") + 1
            tail = data[end:]
            self.run.dropped += end
            if len(tail) > MAX_LINE_BYTES:
                self.run.dropped += len(tail)
                tail = b""
            self._pending[fd] = tail
            return
        parts = data.split(b"\n")
        rest = parts.pop()
        for part in parts:
            self._line(fd, self._emit_long(fd, part, complete=True))
        self._pending[fd] = self._emit_long(fd, rest, complete=False)
        pressure = self.run.pressure
        if pressure is not None and self._resuming is None and self.transport is not None and pressure.log_full():
            self.transport.pause_reading()
            self._resuming = asyncio.get_running_loop().create_task(self._resume(self.transport, pressure))

    async def _resume(self, transport: SpawnedProcess, pressure: LogPressure) -> None:
        try:
            await pressure.log_room()
        finally:
            self._resuming = None
            transport.resume_reading()

    def _emit_long(self, fd: int, text: bytes, *, complete: bool) -> bytes:
        """Emit full-size pieces of an over-long line; return what is left of it. A piece never ends
        inside a secret (it ends before it), so each piece is masked alone; the unfinished end of a line
        is held until the bytes a secret could span past the cut have arrived."""
        span = self.run.span
        while len(text) > MAX_LINE_BYTES and (complete or len(text) >= MAX_LINE_BYTES + span):
            cut = _utf8_cut(text, MAX_LINE_BYTES)
            if span:
                cut = safe_cut(text, cut, self.run.byte_terms)
            self._line(fd, text[:cut])
            text = text[cut:]
        return text

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        rest = self._pending.pop(fd, b"")
        if rest:
            self._line(fd, self._emit_long(fd, rest, complete=True))

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def _quiet(self, fd: int) -> bool:
        return self.run.truncated and (fd != 1 or self.capture is None or self.captured_truncated)

    def _line(self, fd: int, raw: bytes) -> None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        run = self.run
        is_stdout = fd == 1
        set_output = is_stdout and raw.startswith(_SET_OUTPUT_PREFIX)
        capture = self.capture if is_stdout and not self.captured_truncated else None
        if run.truncated and not set_output and capture is None:
            run.dropped += len(raw) + 1
            return
        text = raw.decode("utf-8", "replace")
        terms = run.terms
        masked = mask_terms(text, terms) if terms else text
        run.emit("stdout" if is_stdout else "stderr", masked, len(raw) + 1)
        if set_output:
            match = _SET_OUTPUT.match(text)
            if match:
                run.job_context[match.group(1).strip()] = mask_terms(match.group(2), terms)
        if capture is not None:
            size = len(raw) + 1
            if size > run.capture_left:
                self.captured_truncated = True
                capture.append(f"[stdout truncated after {run.max_log_bytes - run.capture_left} bytes]")
            else:
                run.capture_left -= size
                capture.append(masked)


@dataclass
class _Failure:
    line: str
    code: int
    message: str = ""


class ShellExecutor:
    methods: frozenset[str] = frozenset({"SHELL"})

    def __init__(self, work_root: Path, *, ant_id: str = "", ant_host: str = "",
                 max_log_bytes: int = 10 * 1024 * 1024, max_timeout_secs: float = 3600.0,
                 sandbox: Sandbox | None = None, transfer: ArtifactTransfer | None = None) -> None:
        self.work_root = Path(work_root)
        self.transfer = transfer  # None: artifacts pass between tasks in the job directory only
        self.ant_id = ant_id
        self.ant_host = ant_host
        self.max_log_bytes = max_log_bytes
        self.max_timeout_secs = max_timeout_secs
        self.sandbox = sandbox
        self.base_env = base_environment()
        self.workdirs = WorkDirs(self.work_root)

    def job_dir(self, request: TaskRequest) -> Path:
        return self.work_root / job_dir_name(request.request_id)

    def working_dir(self, request: TaskRequest) -> Path:
        if request.working_dir:
            return self.job_dir(request) / request.working_dir  # an absolute path stays absolute
        return self.job_dir(request) / _path_part(request.task_type)

    def timeout_for(self, request: TaskRequest) -> float:
        wanted = request.timeout_secs
        return min(wanted, self.max_timeout_secs) if wanted > 0 else self.max_timeout_secs

    async def execute(self, request: TaskRequest, log: LogCallback, cancel: asyncio.Event) -> TaskResult:
        started = time.time()
        loop = asyncio.get_running_loop()
        run = _Run(request, log, self.max_log_bytes, loop.create_future(), capture_left=self.max_log_bytes,
                   pressure=pressure_of(log))
        if request.secrets:
            run.terms = secret_terms(request.secrets)
            run.byte_terms = [term.encode() for term in run.terms]
            run.span = max(len(term) for term in run.byte_terms) - 1
        timeout = self.timeout_for(request)
        failure: _Failure | None
        job_dir = self.job_dir(request)
        cwd = self.working_dir(request)
        recyclable = not request.working_dir  # only the default layout comes from and goes to the pool
        ready = self.workdirs.enter(job_dir, cwd if recyclable else None)
        kept: list[dict[str, Any]] = []
        try:
            if not ready:
                # In a worker thread: creating directories is kernel work that can take a millisecond
                # on a busy disk, and the ant's loop has other tasks to start and read meanwhile.
                await asyncio.to_thread(os.makedirs, cwd, exist_ok=True)
            left_out: list[str] = []
            extra = {"MYRMICA_JOB_DIR": str(job_dir)}
            if request.output_file_env:
                output = self.output_file(request)
                output.unlink(missing_ok=True)  # (left by an ant that died; the task creates it, as `> $VAR`)
                extra[request.output_file_env] = str(output)
            env = build_env(request, {**self.base_env, "HOME": str(cwd)}, extra, left_out)
            if left_out:
                text = f"left out of the task's environment: {', '.join(left_out)} ({WHY})"
                run.emit("system", text, len(text) + 1)
            if request.files:
                write_files(cwd, request.files)
            if self.sandbox is not None:
                self.sandbox.prepare(self.work_root, job_dir)
                run.prefix = self.sandbox.prefix(cwd=cwd, job_dir=job_dir, work_root=self.work_root)
        except (OSError, ValueError) as exc:
            failure = _Failure("", -1, f"cannot prepare the working directory: {exc}")
        else:
            timer = loop.call_later(timeout, _trigger, run.stop, "timeout")
            watcher: asyncio.Task[Any] | None = None
            if cancel.is_set():
                _trigger(run.stop, "cancel")
            else:
                watcher = loop.create_task(cancel.wait())
                watcher.add_done_callback(lambda t: t.cancelled() or _trigger(run.stop, "cancel"))
            try:
                await self._fetch(request, run, cwd)
                failure = await self._phases(run, loop, str(cwd), env)
            finally:
                timer.cancel()
                if watcher is not None:
                    watcher.cancel()
            kept = await self._collect(request, run, cwd, succeeded=failure is None and not run.interrupted)
        finally:
            self.workdirs.leave(job_dir, cwd if recyclable else None)
        run.end_log()
        result = self._result(request, run, failure, timeout, started)
        result.artifacts = kept
        if request.output_file_env:
            result.result = mask(self.take_output(request), request.secrets)
        return result

    def output_file(self, request: TaskRequest) -> Path:
        """Where a task's result is written: in its job directory, not among its working files."""
        return self.job_dir(request) / f".output-{_path_part(request.task_execution_id)}-{request.attempt}"

    def take_output(self, request: TaskRequest) -> str:
        """The result file's content (at most ``MAX_RESULT_BYTES``), and the file is gone."""
        path = self.output_file(request)
        try:
            with path.open("rb") as file:
                data = file.read(MAX_RESULT_BYTES + 1)
        except OSError:
            return ""
        finally:
            path.unlink(missing_ok=True)
        if len(data) > MAX_RESULT_BYTES:
            data = data[:_utf8_cut(data, MAX_RESULT_BYTES)]
        return data.decode("utf-8", "replace")

    async def _fetch(self, request: TaskRequest, run: _Run, cwd: Path) -> None:
        if self.transfer is not None and (request.downloads or request.cache):
            await self.transfer.fetch(request, cwd, lambda text: run.emit("system", text, len(text) + 1))
            return
        if request.dependencies:
            for task_type in fetch_dependencies(cwd, self.job_dir(request), request.dependencies):
                text = f"dependency {task_type} left no artifacts"
                run.emit("system", text, len(text) + 1)

    async def _collect(self, request: TaskRequest, run: _Run, cwd: Path, *, succeeded: bool) -> list[dict[str, Any]]:
        if self.transfer is not None and request.artifact_prefix:
            return await self.transfer.keep(request, cwd, lambda text: run.emit("system", text, len(text) + 1),
                                            succeeded=succeeded, interrupted=run.interrupted)
        when = request.artifacts_when.lower()
        if not request.artifact_paths or (when == "onsuccess" and not succeeded) or \
                (when == "onfailure" and succeeded):
            return []
        try:
            kept = collect_artifacts(cwd, self.job_dir(request), request.task_type, request.artifact_paths)
        except OSError as exc:
            text = f"could not keep artifacts: {exc}"
        else:
            text = f"artifacts kept: {', '.join(kept) if kept else 'none matched'}"
        run.emit("system", text, len(text) + 1)
        return []

    async def _phases(self, run: _Run, loop: asyncio.AbstractEventLoop, cwd: str,
                      env: dict[str, str]) -> _Failure | None:
        request = run.request
        failure = await self._phase(run, loop, request.before_script, cwd, env, report=False)
        if failure is None:
            failure = await self._phase(run, loop, request.script, cwd, env, report=request.report_stdout)
        if request.after_script and not run.interrupted:
            after = await self._phase(run, loop, request.after_script, cwd, env, report=False)
            if after is not None and not run.interrupted:
                line = mask(after.line, request.secrets)
                text = f'after_script: command "{line}" {after.message or _exit_text(after.code)}'
                run.emit("stderr", text, len(text.encode()) + 1)
        return failure

    async def _phase(self, run: _Run, loop: asyncio.AbstractEventLoop, lines: list[str], cwd: str,
                     env: dict[str, str], *, report: bool) -> _Failure | None:
        for line in lines:
            if run.stop.done():
                run.interrupted = True
                return None
            run.current_line = line
            capture: list[str] | None = [] if report else None
            failure = await self._command(run, loop, line, cwd, env, capture)
            if capture is not None:
                run.stdout.append("\n".join(capture))
            if run.interrupted:
                return None
            if failure is not None:
                return failure
        return None

    async def _command(self, run: _Run, loop: asyncio.AbstractEventLoop, line: str, cwd: str,
                       env: dict[str, str], capture: list[str] | None) -> _Failure | None:
        protocol = _LineProtocol(run, loop, capture)
        try:
            transport = await spawn_shell(protocol, line, cwd=cwd, env=env, prefix=run.prefix)
        except (OSError, ValueError) as exc:
            return _Failure(line, -1, f"could not be started: {exc}")
        pgid = transport.get_pid()
        protocol.transport = transport
        try:
            if not protocol.exited.done():
                await asyncio.wait((protocol.exited, run.stop), return_when=asyncio.FIRST_COMPLETED)
            if not protocol.exited.done():  # timed out or cancelled
                run.interrupted = True
                _signal_group(pgid, signal.SIGTERM)
                await asyncio.wait((protocol.exited,), timeout=KILL_GRACE_SECS)
            if _signal_group(pgid, signal.SIGKILL):  # something was left running in the group
                await _wait_group_gone(pgid)
            if not protocol.closed.done():  # only a process outside the group can still hold the pipes
                await asyncio.wait((protocol.closed, run.stop), timeout=PIPE_GRACE_SECS,
                                   return_when=asyncio.FIRST_COMPLETED)
        finally:
            if transport.get_returncode() is None:  # we are being cancelled ourselves
                _signal_group(pgid, signal.SIGKILL)
            transport.close()
        code = transport.get_returncode()
        if run.interrupted or code == 0:
            return None
        return _Failure(line, -1 if code is None else code)

    def _result(self, request: TaskRequest, run: _Run, failure: _Failure | None, timeout: float,
                started: float) -> TaskResult:
        result = TaskResult(request.request_id, request.task_execution_id, request.attempt, "COMPLETED",
                            ant_id=self.ant_id, ant_host=self.ant_host, job_context=run.job_context,
                            stdout=run.stdout, started_at=started)
        if run.interrupted:
            reason = run.stop.result()
            result.state, result.exit_code = "FAILED", "-1"
            result.failed_command = mask(run.current_line, request.secrets)
            if reason == "cancel":
                result.error_code, result.error_message = "ERR_JOB_CANCELLED", "task cancelled"
            else:
                result.error_code = "ERR_TASK_TIMED_OUT"
                result.error_message = f"task timed out after {timeout:g}s"
        elif failure is not None:
            line = mask(failure.line, request.secrets)
            result.state, result.exit_code = "FAILED", str(failure.code)
            result.failed_command, result.error_code = line, "ERR_TASK_EXECUTE"
            detail = failure.message or _exit_text(failure.code)
            result.error_message = mask(f'command "{line}" {detail}' if line else detail, request.secrets)
        result.exit_message = result.error_message
        result.job_context[f"{request.task_type}-status"] = result.state
        result.ended_at = time.time()
        return result


def _exit_text(code: int) -> str:
    return f"was killed by signal {-code}" if code < 0 else f"exited with {code}"


def _trigger(stop: asyncio.Future[str], reason: str) -> bool:
    if not stop.done():
        stop.set_result(reason)
    return True
