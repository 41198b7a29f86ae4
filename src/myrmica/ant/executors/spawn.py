"""Starting a command cheaply from a large server process.

``subprocess.Popen`` uses ``vfork`` on Linux, which costs the same whatever the parent's size;
uvloop's spawn forks the whole address space, which in a server of a few hundred MB costs a
millisecond or more of the event loop's time per command. So commands start through Popen, and
their pipes and exit are then watched by the running loop (the exit through a pidfd).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Sequence
from typing import Any


class _PipeReader(asyncio.Protocol):
    def __init__(self, owner: SpawnedProcess, fd: int) -> None:
        self._owner = owner
        self._fd = fd

    def data_received(self, data: bytes) -> None:
        self._owner.protocol.pipe_data_received(self._fd, data)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner.pipe_closed(self._fd, exc)


class SpawnedProcess:
    """Transport-like handle: ``get_pid``, ``get_returncode``, ``close``; drives a SubprocessProtocol."""

    def __init__(self, process: subprocess.Popen[bytes], protocol: asyncio.SubprocessProtocol,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.process = process
        self.protocol = protocol
        self._loop = loop
        self._open_pipes = 2
        self._exited = False
        self._pipe_transports: list[asyncio.BaseTransport] = []
        self._pidfd = os.pidfd_open(process.pid)
        loop.add_reader(self._pidfd, self._on_exit)

    async def connect(self) -> None:
        assert self.process.stdout is not None and self.process.stderr is not None
        for fd, pipe in ((1, self.process.stdout), (2, self.process.stderr)):
            transport, _ = await self._loop.connect_read_pipe(lambda fd=fd: _PipeReader(self, fd), pipe)  # type: ignore[misc]
            self._pipe_transports.append(transport)

    def _on_exit(self) -> None:
        if self._exited:
            return
        try:
            pid, status = os.waitpid(self.process.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = self.process.pid, 0
        if pid == 0:
            return
        self.process.returncode = os.waitstatus_to_exitcode(status)
        self._exited = True
        self._loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self.protocol.process_exited()
        self._maybe_done()

    def pipe_closed(self, fd: int, exc: Exception | None) -> None:
        self.protocol.pipe_connection_lost(fd, exc)
        self._open_pipes -= 1
        self._maybe_done()

    def _maybe_done(self) -> None:
        if self._exited and self._open_pipes <= 0:
            self.protocol.connection_lost(None)

    def pause_reading(self) -> None:
        """Stop reading the pipes (the process blocks once they are full): the log is behind."""
        for transport in self._pipe_transports:
            if isinstance(transport, asyncio.ReadTransport) and not transport.is_closing():
                transport.pause_reading()

    def resume_reading(self) -> None:
        for transport in self._pipe_transports:
            if isinstance(transport, asyncio.ReadTransport) and not transport.is_closing():
                transport.resume_reading()

    def get_pid(self) -> int:
        return self.process.pid

    def get_returncode(self) -> int | None:
        return self.process.returncode

    def close(self) -> None:
        for transport in self._pipe_transports:
            transport.close()
        if not self._exited:
            try:
                self._loop.remove_reader(self._pidfd)
                os.close(self._pidfd)
            except (OSError, ValueError):
                pass
            self._exited = True


# The shell reads its line from the environment, so the line (and the secrets a template put in it) is not
# on a command line, which every local user can read (``ps``, ``/proc/PID/cmdline``); a process's
# environment is readable by its own user only. ``unset`` keeps it from the line's own processes.
LINE_VARIABLE = "_MYRMICA_LINE"
RUN_LINE = f'eval "unset {LINE_VARIABLE}; ${LINE_VARIABLE}"'


async def spawn_shell(protocol: asyncio.SubprocessProtocol, line: str, *, cwd: str, env: dict[str, str],
                      prefix: Sequence[str] = (), **_: Any) -> SpawnedProcess:
    """Run ``line`` in ``/bin/sh`` (after ``prefix``: a sandbox's command) in its own session, stdin from
    /dev/null, stdout and stderr piped."""
    loop = asyncio.get_running_loop()
    process = subprocess.Popen([*prefix, "/bin/sh", "-c", RUN_LINE], stdin=subprocess.DEVNULL,  # noqa: ASYNC220 - vfork is the point
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                               env={**env, LINE_VARIABLE: line}, start_new_session=True, close_fds=True)
    handle = SpawnedProcess(process, protocol, loop)
    await handle.connect()
    return handle
