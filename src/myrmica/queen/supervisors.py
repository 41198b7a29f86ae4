"""The supervisors this queen runs: started for each request it claims, found by request id to be
stopped (cancel, pause, shutdown), and the requests whose walk a database outage interrupted."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator

from myrmica.queen.context import RunContext
from myrmica.queen.ports import RunTools
from myrmica.queen.supervisor import JobSupervisor
from myrmica.queen.tasklets import Tasklets

log = logging.getLogger("myrmica.queen")

SHUTDOWN_WAIT_SECONDS = 10.0


class SupervisorRegistry:
    def __init__(self) -> None:
        self._running: dict[str, JobSupervisor] = {}

    def get(self, request_id: str) -> JobSupervisor | None:
        return self._running.get(request_id)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._running))

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._running

    def add(self, supervisor: JobSupervisor) -> None:
        self._running[supervisor.run.request_id] = supervisor

    def done(self, supervisor: JobSupervisor) -> None:
        if self._running.get(supervisor.run.request_id) is supervisor:
            del self._running[supervisor.run.request_id]

    async def stop_all(self) -> None:
        """Shutdown: every walk stops where it is; the requests stay EXECUTING under this queen's lease,
        and recovery resumes them after a restart."""
        supervisors = list(self._running.values())
        for supervisor in supervisors:
            supervisor.stop_reason = "shutdown"
            if supervisor.task is not None:
                supervisor.task.cancel()
        tasks = [s.task for s in supervisors if s.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=SHUTDOWN_WAIT_SECONDS)


class Interruptions:
    """Requests whose supervisor stopped because the database went away: resumed when it answers."""

    def __init__(self) -> None:
        self._ids: set[str] = set()

    def interrupt(self, request_id: str, exc: BaseException) -> None:
        log.warning("request %s paused its walk: the database is unreachable (%s); it resumes when the database "
                    "answers", request_id, type(exc).__name__)
        self._ids.add(request_id)

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._ids

    def ids(self) -> set[str]:
        return set(self._ids)

    def forget(self, request_ids: Iterable[str]) -> None:
        self._ids.difference_update(request_ids)


class Supervisors:
    """Starts a supervisor for a claimed request (the scheduler's launcher)."""

    def __init__(self, tools: RunTools, registry: SupervisorRegistry) -> None:
        self._tools = tools
        self._registry = registry
        self._tasklets = Tasklets(tools)

    def launch(self, run: RunContext) -> None:
        supervisor = JobSupervisor(self._tools, self._tasklets, run, on_done=self._registry.done)
        self._registry.add(supervisor)
        supervisor.task = asyncio.create_task(supervisor.supervise(), name=f"job-{run.request_id}")
