"""Task working directories, made cheap by recycling the empty ones.

A SHELL task needs two directories: its request's job directory and its own working directory in it.
Creating a directory allocates an inode and a block, which on some filesystems costs far more than
renaming one (ext4 on the 2-core test VM: about 0.3–0.5 ms of kernel CPU for a ``mkdir`` against
0.03 ms for a ``rename``). Most tasks leave their directory empty, so an empty directory a task
leaves behind is moved to a pool of spares (``<work root>/.spare/``) instead of staying, and the
next task's directories are renamed out of that pool; only when it is empty is one created.

A job directory's ``.tmp`` (a sandboxed request's ``/tmp``, ``sandbox.py``) does not count when it holds
only empty directories: it is removed first.

Only the default layout (``<job dir>/<task type>``) is recycled. A directory with anything in it
stays where it is, for the janitor to remove once it is old (``ant/janitor.py``).
"""

from __future__ import annotations

import os
from collections import Counter
from itertools import count
from pathlib import Path

SPARE_DIR = ".spare"  # the janitor skips names starting with a dot
MAX_SPARES = 1024
DISPOSABLE = ".tmp"  # in a job directory: removed when it holds only empty directories


def _prune(path: Path) -> None:
    """Remove ``path`` if it holds nothing but (nested) empty directories."""
    try:
        os.rmdir(path)
        return
    except FileNotFoundError:
        return
    except OSError:
        pass
    for top, _dirs, files in os.walk(path, topdown=False):
        if files:
            return
        try:
            os.rmdir(top)
        except OSError:
            return


def _empty(path: Path) -> bool:
    try:
        with os.scandir(path) as entries:
            return next(entries, None) is None
    except OSError:
        return False


class WorkDirs:
    """Hands out and takes back job and task directories under one work root (one ant's)."""

    def __init__(self, root: Path, *, max_spares: int = MAX_SPARES) -> None:
        self.root = root
        self.max_spares = max_spares
        self._spare_root = root / SPARE_DIR
        self._spares: list[str] | None = None  # names in the pool, read from disk on first use
        self._names = count()
        self._prefix = f"{os.getpid()}-{os.urandom(4).hex()}-"
        self._users: Counter[Path] = Counter()  # directory → tasks of this ant running in it now

    def _pool(self) -> list[str]:
        if self._spares is None:
            try:
                self._spares = [e.name for e in os.scandir(self._spare_root) if e.is_dir(follow_symlinks=False)]
            except FileNotFoundError:
                self._spares = []
        return self._spares

    def take(self, path: Path) -> bool:
        """Make ``path`` exist from a spare (its parent must exist); False when none could be used,
        and then the caller creates it."""
        if path.is_dir():
            return True
        spares = self._pool()
        while spares:
            name = spares.pop()
            try:
                os.rename(self._spare_root / name, path)
            except FileNotFoundError:
                if not path.parent.is_dir():
                    spares.append(name)
                    return False
                continue  # that spare went away (another process sharing the root): try the next
            except OSError:  # path appeared meanwhile, or cannot be replaced
                spares.append(name)
                return path.is_dir()
            return True
        return False

    def give_back(self, path: Path) -> None:
        """``path`` is no longer used: if it is empty it joins the pool (or goes, when the pool is full)."""
        if not _empty(path):
            return
        spares = self._pool()
        try:
            if len(spares) >= self.max_spares:
                os.rmdir(path)
                return
            name = f"{self._prefix}{next(self._names)}"
            try:
                os.rename(path, self._spare_root / name)
            except FileNotFoundError:
                os.makedirs(self._spare_root, exist_ok=True)
                os.rename(path, self._spare_root / name)
            spares.append(name)
        except OSError:
            pass  # something was written into it meanwhile: it stays

    def enter(self, job_dir: Path, task_dir: Path | None) -> bool:
        """A task starts in ``task_dir`` inside ``job_dir`` (None: a directory of the task's own
        choosing, never taken from the pool): True when both exist now."""
        self._users[job_dir] += 1
        if task_dir is None:
            return False
        self._users[task_dir] += 1
        return self.take(job_dir) and self.take(task_dir)

    def leave(self, job_dir: Path, task_dir: Path | None) -> None:
        """A task ended and its processes are gone; its directories go to the pool if empty and unused
        (the items of a fan-out share theirs)."""
        for path in (task_dir, job_dir):
            if path is not None:
                self._users[path] -= 1
                if self._users[path] <= 0:
                    del self._users[path]
                    if path is job_dir:
                        _prune(path / DISPOSABLE)
                    self.give_back(path)
