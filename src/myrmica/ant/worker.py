"""An ant: registers what it can run, takes task requests from its own inbox, runs them, reports back."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from myrmica import __version__
from myrmica.ant.executors.base import Executor, LogPressure
from myrmica.ant.executors.shell import job_dir_name
from myrmica.ant.janitor import SWEEP_SECONDS, sweep
from myrmica.broker.base import AntSide
from myrmica.broker.messages import LogLine, TaskRequest, TaskResult

log = logging.getLogger("myrmica.ant")

HEARTBEAT_SECONDS = 5.0
DEFAULT_KEEP_WORK_SECONDS = 24 * 3600.0


class TaskLog:
    """A task's log callback: each line to the broker; ``pressure`` is the broker's backpressure, when
    it has any (``base.LogPressure``: the pipe to the queen of an embedded ant in its own process)."""

    __slots__ = ("_broker", "_request", "pressure")

    def __init__(self, broker: AntSide, request: TaskRequest) -> None:
        self._broker = broker
        self._request = request
        self.pressure: LogPressure | None = broker if isinstance(broker, LogPressure) else None

    def __call__(self, stream: str, text: str) -> None:
        request = self._request
        self._broker.send_log(LogLine(request.request_id, request.task_execution_id, request.task_type,
                                      stream, text, time.time(), request.reply_to))


class Ant:
    def __init__(self, ant_id: str, broker: AntSide, executors: Sequence[Executor], *, capacity: int,
                 tags: Sequence[str] = (), embedded: bool = False, work_root: Path | None = None,
                 keep_work_seconds: float = DEFAULT_KEEP_WORK_SECONDS) -> None:
        if capacity <= 0:
            raise ValueError(f"ant {ant_id}: capacity must be positive, not {capacity}")
        self.ant_id = ant_id
        self.host = socket.gethostname()
        self._broker = broker
        self._executors: dict[str, Executor] = {}
        for executor in executors:
            for method in executor.methods:
                self._executors[method] = executor
        self.capacity = capacity
        self.tags = sorted({t.strip().lower() for t in tags if t.strip()})
        self.embedded = embedded
        self.started_at = time.time()
        self.total_executed = 0
        self._running: dict[str, tuple[asyncio.Task[None], asyncio.Event, str]] = {}  # key → task, cancel, request
        self._loop_task: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._accepting = True
        self._handing_back: set[asyncio.Task[None]] = set()
        self._terminated: set[str] = set()
        self.work_root = work_root
        self.keep_work_seconds = keep_work_seconds
        self._janitor_task: asyncio.Task[None] | None = None

    @property
    def methods(self) -> list[str]:
        return sorted(self._executors)

    @property
    def load(self) -> int:
        return len(self._running)

    def registration(self) -> dict[str, Any]:
        return {"ant_id": self.ant_id, "host": self.host, "version": __version__, "methods": self.methods,
                "tags": self.tags, "max_capacity": self.capacity, "current_load": self.load,
                "total_executed": self.total_executed, "embedded": self.embedded,
                "started_at": self.started_at, "heartbeat_at": time.time(),
                "running": sorted(self._running), "accepting": self._accepting,
                "containers": self._live_containers()}

    def _live_containers(self) -> list[dict[str, Any]]:
        containers: list[dict[str, Any]] = []
        for executor in {id(e): e for e in self._executors.values()}.values():
            listing = getattr(executor, "containers", None)
            if listing is not None:
                containers.extend(listing())
        return containers

    async def start(self) -> None:
        await self._broker.register(self.registration())
        self._loop_task = asyncio.create_task(self._loop(), name=f"ant-{self.ant_id}")
        self._heartbeat_task = asyncio.create_task(self._heartbeats(), name=f"ant-{self.ant_id}-heartbeat")
        if self.work_root is not None:
            self._janitor_task = asyncio.create_task(self._janitor(), name=f"ant-{self.ant_id}-janitor")

    async def wait_inbox_closed(self) -> None:
        """Until the broker ends this ant's inbox (for the embedded ant: its server went away)."""
        if self._loop_task is not None:
            await asyncio.shield(self._loop_task)

    async def stop(self, *, drain_seconds: float = 10.0) -> None:
        """Stop taking work; let running tasks finish for a while, then cancel what is left."""
        self._accepting = False
        await self._broker.register(self.registration())
        if self._running:
            tasks = [task for task, _, _ in self._running.values()]
            _, pending = await asyncio.wait(tasks, timeout=drain_seconds)
            for _, cancel, _ in self._running.values():
                cancel.set()
            if pending:
                await asyncio.wait(pending, timeout=5)
        for task in (self._heartbeat_task, self._loop_task, self._janitor_task):
            if task is not None:
                task.cancel()
        self._accepting = False
        for executor in {id(e): e for e in self._executors.values()}.values():
            close = getattr(executor, "close", None)  # a client session (DOCKER's) to end
            if close is not None:
                try:
                    await close()
                except Exception:
                    log.exception("ant %s: closing an executor failed", self.ant_id)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self._broker.register(self.registration())
            except Exception:
                log.exception("ant %s: heartbeat failed; will retry", self.ant_id)

    async def _janitor(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self.sweep_work(time.time())
            except Exception:
                log.exception("ant %s: sweeping old job directories failed; will retry", self.ant_id)

    async def sweep_work(self, now: float) -> list[str]:
        """Remove the job directories no running task uses whose newest task began over the kept time ago."""
        if self.work_root is None:
            return []
        in_use = {job_dir_name(request_id) for _, _, request_id in self._running.values()}
        removed = await asyncio.to_thread(sweep, self.work_root, older_than=now - self.keep_work_seconds,
                                          in_use=in_use)
        if removed:
            log.info("ant %s: removed %d old job directories", self.ant_id, len(removed))
        return removed

    async def _loop(self) -> None:
        async for message in self._broker.messages(self.ant_id):
            try:
                executing = self._handle(message)
            except Exception:
                log.exception("ant %s: could not handle a message; dropped: %r", self.ant_id,
                              {k: message.get(k) for k in ("action", "task_execution_id")})
                executing = False
            if not executing:
                await self._broker.ack(self.ant_id, message)

    def _handle(self, message: dict[str, Any]) -> bool:
        """Act on a message; True when it started a task (acknowledged once its result is sent)."""
        action = message.get("action")
        if action == "EXECUTE":
            raw = message.get("request")
            request = raw if isinstance(raw, TaskRequest) else TaskRequest.from_dict(raw or {})
            if not request.task_execution_id or not request.method:
                raise ValueError("an EXECUTE message without a task execution id or method")
            key = f"{request.task_execution_id}:{request.attempt}"
            if key in self._running:
                log.info("ant %s: duplicate request %s ignored", self.ant_id, key)
                return False
            if not self._accepting:
                log.warning("ant %s: stopping; task %s handed back", self.ant_id, key)
                handed_back = TaskResult(request.request_id, request.task_execution_id, request.attempt, "FAILED",
                                         exit_code="-1", error_code="ERR_ANT_DRAINING",
                                         error_message=f"ant {self.ant_id} is shutting down",
                                         ant_id=self.ant_id, reply_to=request.reply_to)
                task = asyncio.create_task(self._hand_back(handed_back, message))
                self._handing_back.add(task)
                task.add_done_callback(self._handing_back.discard)
                return True
            cancel = asyncio.Event()
            task = asyncio.create_task(self._execute(request, cancel, key, message))
            self._running[key] = (task, cancel, request.request_id)
            return True
        elif action in ("CANCEL", "TERMINATE"):
            target = str(message.get("task_execution_id", ""))
            for key, (_, cancel, _) in self._running.items():
                if key.split(":", 1)[0] == target:
                    if action == "TERMINATE":
                        self._terminated.add(key)
                    cancel.set()
        else:
            log.warning("ant %s: unknown message action %r ignored", self.ant_id, action)
        return False

    async def _hand_back(self, result: TaskResult, message: dict[str, Any]) -> None:
        await self._broker.send_result(result, message)

    async def _execute(self, request: TaskRequest, cancel: asyncio.Event, key: str,
                       message: dict[str, Any]) -> None:
        started = time.time()
        executor = self._executors.get(request.method)
        emit = TaskLog(self._broker, request)
        try:
            if executor is None:
                result = TaskResult(request.request_id, request.task_execution_id, request.attempt, "FAILED",
                                    exit_code="-1", error_code="ERR_ANT_EXECUTION_FAILED",
                                    error_message=f"ant {self.ant_id} cannot run method {request.method}")
            else:
                result = await executor.execute(request, emit, cancel)
        except Exception as exc:  # an executor bug must still produce a result
            log.exception("ant %s: executor failed on %s", self.ant_id, key)
            result = TaskResult(request.request_id, request.task_execution_id, request.attempt, "FAILED",
                                exit_code="-1", error_code="ERR_ANT_EXECUTION_FAILED",
                                error_message=f"{type(exc).__name__}: {exc}")
        result.ant_id, result.ant_host, result.reply_to = self.ant_id, self.host, request.reply_to
        if key in self._terminated:  # stopped by an administrator: a task failure, not a cancelled job
            self._terminated.discard(key)
            result.state, result.error_code = "FAILED", "ERR_CONTAINER_STOPPED_FAILED"
            result.error_message = f"terminated on ant {self.ant_id} by an administrator"
        result.started_at = result.started_at or started
        result.ended_at = result.ended_at or time.time()
        self.total_executed += 1
        self._running.pop(key, None)
        try:
            await self._broker.send_result(result, message)
        except Exception:
            log.exception("ant %s: could not send the result of %s", self.ant_id, key)
