"""SHELL tasks in a bubblewrap sandbox: the host read-only, the task's job directory writable, the
server's files hidden.

Each command line runs as ``bwrap … /bin/sh -c …`` (Debian package ``bubblewrap``), in its own mount,
PID and IPC namespaces with every capability dropped (a server running as root would otherwise let a
task unmount what hides its files):

- the host's root is mounted read-only (``--ro-bind / /``), with a fresh ``/dev`` (only ``null``,
  ``zero``, ``random``, ``tty`` … — no disks) and a ``/proc`` that shows the sandbox's processes only (so
  not the server's environment);
- the ant's work root is an empty tmpfs, and only the request's job directory is bound back in, read and
  write: a task sees its own request's directories, never another request's;
- ``/tmp`` is the request's own ``<job dir>/.tmp``, kept across the lines and tasks of the request;
- each hidden path (the data directory, the credentials file, the database when it is elsewhere, the
  config file, the Docker socket …) is an empty tmpfs when it is a directory, and an unreadable empty
  file (mode 0) when it is a file: ``cat`` of it fails with "Permission denied";
- with ``network`` off, the sandbox has its own network namespace with only a loopback device.

``auto`` uses bubblewrap when a probe run of it works here, else runs tasks unconfined with a warning;
``bwrap`` refuses to start without it; ``none`` never uses it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("myrmica.ant")

MODES = ("auto", "bwrap", "none")
TMP_DIR = ".tmp"  # a request's /tmp in the sandbox, inside its job directory
BLOCKER = ".hidden"  # the empty mode-0 file bound over each hidden file, in the work root
PROBE_TIMEOUT_SECS = 10.0
# Root-owned daemons' sockets: a task running as root could ask them to run something outside.
DAEMON_SOCKETS = ("/run/docker.sock", "/var/run/docker.sock", "/run/containerd/containerd.sock",
                  "/run/dbus/system_bus_socket", "/run/systemd/private")
# --as-pid-1: the shell is the namespace's first process, and bwrap waits for it. (With bwrap's own init
# there, bwrap exits as soon as that init reports the shell's status, leaving the init a zombie in the
# task's process group until the host's init reaps it, which the executor would wait for.) So the shell
# ignores SIGTERM sent from outside (as any PID 1 without a handler does): a timed-out or cancelled line
# stops when its other processes end, or at SIGKILL after the grace.
_BASE = ("--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--cap-drop", "ALL",
         "--unshare-pid", "--unshare-ipc", "--as-pid-1", "--die-with-parent")


class SandboxUnavailable(RuntimeError):
    """``sandbox = bwrap`` was asked for and bubblewrap does not work here."""


@dataclass(frozen=True)
class SandboxSettings:
    """What the settings ask for; :func:`resolve` turns it into a :class:`Sandbox` or none."""

    mode: str = "none"
    network: bool = True
    hide: tuple[str, ...] = ()  # host paths tasks must not see (files or directories)
    program: str = "bwrap"


def _absolute(path: str) -> str:
    return os.path.realpath(os.path.expanduser(path))


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


@dataclass(frozen=True)
class Sandbox:
    program: str  # bwrap's absolute path
    network: bool = True
    hide: tuple[str, ...] = field(default=())  # absolute, symbolic links resolved

    @classmethod
    def create(cls, program: str, *, network: bool, hide: Iterable[str]) -> Sandbox:
        paths = dict.fromkeys(_absolute(p) for p in (*hide, *DAEMON_SOCKETS) if p)
        return cls(program, network, tuple(paths))

    def to_config(self) -> dict[str, Any]:
        return {"program": self.program, "network": self.network, "hide": list(self.hide)}

    @classmethod
    def from_config(cls, data: dict[str, Any] | None) -> Sandbox | None:
        """The sandbox a server resolved, for its embedded ant's process (None: no sandbox)."""
        if not data:
            return None
        return cls(str(data["program"]), bool(data.get("network", True)), tuple(str(p) for p in data.get("hide", ())))

    def describe(self) -> str:
        return ("tasks run in a bubblewrap sandbox (the host read-only, the data directory and credentials "
                f"hidden, network {'allowed' if self.network else 'off'})")

    def prefix(self, *, cwd: Path, job_dir: Path, work_root: Path) -> list[str]:
        """bwrap and its options for a command in ``cwd``, which must exist (like ``<job dir>/.tmp``)."""
        job, root, here = _absolute(str(job_dir)), _absolute(str(work_root)), _absolute(str(cwd))
        for path in self.hide:
            if _under(job, path) or _under(here, path):
                raise ValueError(f"the working directory {here} is in {path}, which tasks may not see")
        outside = not _under(here, job)  # a working_dir of the task's own choosing: bound in, read and write
        if outside:
            for path in (root, *self.hide):
                if _under(path, here):
                    raise ValueError(f"the working directory {here} holds {path}, which tasks may not see")
        argv = [self.program, *_BASE]
        if not self.network:
            argv.append("--unshare-net")
        argv += ["--bind", os.path.join(job, TMP_DIR), "/tmp", "--tmpfs", root, "--bind", job, job]
        if outside:
            if _under(here, root):
                raise ValueError(f"the working directory {here} is another request's")
            argv += ["--bind", here, here]
        blocker = os.path.join(root, BLOCKER)
        for path in self.hide:
            if _under(path, "/tmp"):  # /tmp is the request's own: nothing of the host's is there
                continue
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                continue
            if stat.S_ISDIR(mode):
                argv += ["--tmpfs", path]
            elif not stat.S_ISLNK(mode):
                argv += ["--ro-bind", blocker, path]
        argv += ["--chdir", here, "--"]
        return argv

    def prepare(self, work_root: Path, job_dir: Path) -> None:
        """What ``prefix`` needs on the host: the request's ``/tmp`` (and, once, the blocker file)."""
        try:
            os.mkdir(job_dir / TMP_DIR)
        except FileExistsError:
            pass
        except FileNotFoundError:  # a task with a working_dir of its own: no job directory yet
            os.makedirs(job_dir / TMP_DIR, exist_ok=True)
        if work_root not in _blockers:
            blocker = work_root / BLOCKER
            with contextlib.suppress(PermissionError):  # it exists, mode 0, and this user is not root
                os.close(os.open(blocker, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0))
            os.chmod(blocker, 0)
            _blockers.add(work_root)


_blockers: set[Path] = set()  # work roots whose blocker file is ready


def probe(program: str, *, network: bool = True) -> str | None:
    """None when bubblewrap runs a command here as tasks would run; else why not."""
    path = shutil.which(program)
    if path is None:
        return f"{program} not found (install bubblewrap)"
    argv = [path, *_BASE, *([] if network else ["--unshare-net"]), "--", "/bin/true"]
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=PROBE_TIMEOUT_SECS,
                              env={"PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{path} could not run: {exc}"
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        return f"{path} does not work here: {detail[-1] if detail else f'exit status {done.returncode}'}"
    return None


_resolved: dict[SandboxSettings, tuple[Sandbox | None, str]] = {}


def resolve(settings: SandboxSettings) -> tuple[Sandbox | None, str]:
    """The sandbox in force and the line that says so; raises :class:`SandboxUnavailable` when
    ``bwrap`` was asked for and does not work (a probe runs once per process and settings)."""
    if settings.mode not in MODES:
        raise ValueError(f"sandbox must be one of {', '.join(MODES)}, not {settings.mode!r}")
    if settings.mode == "none":
        return None, "tasks run without a sandbox (sandbox = none): a task can read what the server's user can"
    cached = _resolved.get(settings)
    if cached is None:
        reason = probe(settings.program, network=settings.network)
        if reason is None:
            program = shutil.which(settings.program) or settings.program
            sandbox = Sandbox.create(program, network=settings.network, hide=settings.hide)
            cached = (sandbox, sandbox.describe())
        elif settings.mode == "bwrap":
            raise SandboxUnavailable(f"sandbox = bwrap, but {reason}")
        else:
            cached = (None, f"tasks run without a sandbox: {reason} — a task can read what the server's user can")
        _resolved[settings] = cached
    return cached
