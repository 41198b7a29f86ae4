"""The ant inside a server: in its own process (and core) with the in-process broker; with Redis it
runs in the queen's process."""

from __future__ import annotations

import socket

from myrmica.ant.executors.factory import build_executors
from myrmica.ant.executors.sandbox import resolve as resolve_sandbox
from myrmica.ant.worker import Ant
from myrmica.artifacts import open_artifact_store
from myrmica.broker.base import Broker
from myrmica.config import Settings, artifacts_url, docker_options, http_guard, sandbox_settings
from myrmica.queen.ant_process import EmbeddedAntProcess
from myrmica.queen.ants import AntRegistry


class EmbeddedAnt:
    def __init__(self, settings: Settings, broker: Broker, ants: AntRegistry, *, queen_id: str,
                 distributed: bool) -> None:
        self._settings = settings
        self._broker = broker
        self._ants = ants
        self._queen_id = queen_id
        self._distributed = distributed
        self.ant: Ant | EmbeddedAntProcess | None = None

    async def start(self) -> None:
        settings = self._settings
        ant_id = settings.ant_id or (f"embedded-{socket.gethostname()}-{settings.port}" if self._distributed
                                     else "embedded-ant")
        work_root = settings.effective_work_dir
        sandbox, _ = resolve_sandbox(sandbox_settings(settings))  # serve() has said which, or refused to start
        if not self._distributed and settings.embedded_ant_process:
            process = EmbeddedAntProcess(self._broker, {
                "ant_id": ant_id, "methods": list(settings.ant_methods), "tags": list(settings.ant_tags),
                "capacity": settings.ant_capacity, "work_root": str(work_root),
                "sandbox": sandbox.to_config() if sandbox is not None else None,
                "max_log_bytes": settings.max_log_bytes_per_task, "max_timeout_secs": settings.max_task_timeout_secs,
                "keep_work_seconds": settings.ant_keep_work_hours * 3600, "log_level": settings.log_level,
                "http": http_guard(settings).to_config(),
                "artifacts_url": artifacts_url(settings),
                "docker": {"host": settings.docker_host, "image_map": list(settings.docker_image_map),
                           "bind_allowed": list(settings.docker_bind_allowed)}})
            await process.start()
            self.ant = process
            return
        executors = build_executors(settings.ant_methods, work_root=work_root, ant_id=f"{self._queen_id}-ant",
                                    max_log_bytes=settings.max_log_bytes_per_task,
                                    max_timeout_secs=settings.max_task_timeout_secs,
                                    docker=docker_options(settings), sandbox=sandbox,
                                    http_guard=http_guard(settings),
                                    artifacts=open_artifact_store(artifacts_url(settings)))
        ant = self.ant = Ant(ant_id, self._broker, executors, capacity=settings.ant_capacity,
                             tags=settings.ant_tags, embedded=True, work_root=work_root,
                             keep_work_seconds=settings.ant_keep_work_hours * 3600)
        await ant.start()
        await self._ants.on_registration(ant.registration())  # known at once, not at next poll

    async def stop(self) -> None:
        if isinstance(self.ant, Ant):
            await self.ant.stop(drain_seconds=0)
        elif self.ant is not None:
            await self.ant.stop()
