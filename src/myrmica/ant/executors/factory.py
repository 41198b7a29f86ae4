"""The executors an ant runs, from the methods it is told to take."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from myrmica.ant.executors.base import Executor
from myrmica.ant.executors.http import HttpExecutor
from myrmica.ant.executors.shell import ShellExecutor


def build_executors(methods: Iterable[str], *, work_root: Path, ant_id: str, max_log_bytes: int = 10 * 1024 * 1024,
                    max_timeout_secs: float = 3600.0) -> list[Executor]:
    wanted = set(methods)
    executors: list[Executor] = [
        ShellExecutor(work_root, ant_id=ant_id, max_log_bytes=max_log_bytes, max_timeout_secs=max_timeout_secs),
        HttpExecutor(ant_id=ant_id, max_timeout_secs=max_timeout_secs),
    ]
    return [executor for executor in executors if executor.methods & wanted]
