"""Removing old job directories from an ant's work root, away from the hot path.

Each request leaves a job directory on the ant that ran its tasks: a working directory per task and
the artifacts passed between them. A job directory whose newest task began more than the kept time
ago, and that no running task uses, is removed. The ant sweeps every few minutes, in a worker thread.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Collection
from pathlib import Path

SWEEP_SECONDS = 300.0


def sweep(work_root: Path, *, older_than: float, in_use: Collection[str]) -> list[str]:
    """Remove the job directories last changed before ``older_than`` (epoch seconds) whose names are
    not ``in_use``; the names removed. Names starting with a dot (the pool of spare directories) stay."""
    try:
        entries = list(os.scandir(work_root))
    except FileNotFoundError:
        return []
    removed: list[str] = []
    for entry in entries:
        if entry.name in in_use or entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_mtime >= older_than:
                continue
        except FileNotFoundError:
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(entry.name)
    return removed
