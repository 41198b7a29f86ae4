"""One server per data directory: an exclusive ``flock`` on ``<data-dir>/server.lock``, which holds its pid.

A second server on a data directory that a live one uses would otherwise "resume" the live server's
requests (failing them while their processes run on unseen). The lock is taken before anything
reads the database; the kernel drops it when the process ends, even on ``kill -9``, so a stale file
never blocks a restart. The descriptor is not inherited by child processes (the embedded ant).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from myrmica.security.private_files import private_dir

LOCK_NAME = "server.lock"


class DataDirBusy(Exception):
    def __init__(self, data_dir: Path, pid: int | None) -> None:
        self.data_dir = data_dir
        self.pid = pid
        super().__init__(f"another server (pid {pid if pid is not None else '?'}) is using {data_dir}")


class DataDirLock:
    def __init__(self, data_dir: Path, fd: int) -> None:
        self.data_dir = data_dir
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, data_dir: Path) -> DataDirLock:
        """Lock ``data_dir`` for this process, or raise :class:`DataDirBusy` at once (never waits)."""
        private_dir(data_dir)
        fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise DataDirBusy(data_dir, pid) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(data_dir, fd)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the only descriptor drops the lock
            self._fd = None


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
