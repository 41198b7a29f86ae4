"""The executors an ant runs, from the methods it is told to take."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from myrmica.ant.executors.base import Executor
from myrmica.ant.executors.docker_options import DockerOptions, engine_answers
from myrmica.ant.executors.egress import EgressGuard
from myrmica.ant.executors.http import HttpExecutor
from myrmica.ant.executors.sandbox import Sandbox
from myrmica.ant.executors.shell import ShellExecutor
from myrmica.ant.executors.transfer import ArtifactTransfer
from myrmica.artifacts.store import ArtifactStore

log = logging.getLogger("myrmica.ant")


def build_executors(methods: Iterable[str], *, work_root: Path, ant_id: str, max_log_bytes: int = 10 * 1024 * 1024,
                    max_timeout_secs: float = 3600.0, docker: DockerOptions | None = None,
                    sandbox: Sandbox | None = None, http_guard: EgressGuard | None = None,
                    artifacts: ArtifactStore | None = None) -> list[Executor]:
    """DOCKER is included only when the engine at ``docker.host`` answers now (else a warning says so).
    SHELL tasks run in ``sandbox`` when one is given; HTTP tasks pass ``http_guard`` (default: private,
    loopback and link-local targets refused); ``artifacts``: the store tasks' artifacts go to."""
    wanted = set(methods)
    transfer = ArtifactTransfer(artifacts) if artifacts is not None else None
    executors: list[Executor] = [
        ShellExecutor(work_root, ant_id=ant_id, max_log_bytes=max_log_bytes, max_timeout_secs=max_timeout_secs,
                      sandbox=sandbox, transfer=transfer),
        HttpExecutor(ant_id=ant_id, max_timeout_secs=max_timeout_secs, guard=http_guard),
    ]
    if "DOCKER" in wanted:
        options = docker or DockerOptions()
        if engine_answers(options.host):
            from myrmica.ant.executors.docker import DockerExecutor  # aiodocker only where DOCKER runs

            executors.append(DockerExecutor(work_root, options, ant_id=ant_id, max_log_bytes=max_log_bytes,
                                            max_timeout_secs=max_timeout_secs, transfer=transfer))
        else:
            log.warning("ant %s does not take DOCKER tasks: no Docker engine answers at %s", ant_id, options.host)
    return [executor for executor in executors if executor.methods & wanted]
