"""DOCKER: a task runs in one container on a Docker engine, each script line ``exec``'d into it.

Formicary's model: the container is created from ``container.image`` and kept alive by a small shell
loop; every line of ``before_script``, ``script`` and ``after_script`` is then run in it as
``sh -c`` through the engine's exec API, the line in its environment (not on its command line, which the
host's ``ps`` shows every local user: ``spawn.py``). So the phases share the container's filesystem and
processes, and each line has its own exit code, which gives the same per-line semantics as SHELL
(the first failing line stops its phase and names the failed command; ``after_script`` always runs,
its failures are only logged). The phase logic, line splitting, masking, log bounds, artifacts and
the result are SHELL's (this class extends :class:`ShellExecutor`); only "run one line" and the
container around the phases differ.

The task's job directory on the ant is bind-mounted at the same path in the container and is the
default working directory, so dependencies' artifacts are there before ``script`` and the files
``artifacts.paths`` names are collected from it afterwards, as for SHELL.

The client is ``aiodocker``: it speaks the Engine API on the ant's asyncio loop (aiohttp over the
unix socket), so a task's output streams in as it is produced with no thread per container, which
the blocking ``docker`` SDK would need.

Timeout and cancel remove the container at once (``force``): that kills every exec'd process.
The container is removed at the end in every case, with the volumes ``container.mounts`` made for it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path
from typing import Any

import aiodocker
from aiodocker.containers import DockerContainer

from myrmica.ant.executors.docker_options import DockerOptions, map_image
from myrmica.ant.executors.shell import (
    ShellExecutor,
    _Failure,
    _LineProtocol,
    _Run,
    build_env,
    job_dir_name,
)
from myrmica.ant.executors.spawn import LINE_VARIABLE, RUN_LINE
from myrmica.broker.messages import TaskRequest

log = logging.getLogger("myrmica.ant.docker")

LABEL_PREFIX = "io.myrmica."
# Keeps the container alive until it is removed; exits at once on SIGTERM.
KEEP_ALIVE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"]
_NAME_SAFE = re.compile(r"[^a-zA-Z0-9_.-]")


def nano_cpus(value: Any) -> int:
    """``"1"``, ``1.5``, ``"500m"`` (Kubernetes millicores) → NanoCPUs."""
    text = str(value).strip()
    cores = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    if cores <= 0:
        raise ValueError(f"{value!r} is not a positive number of CPUs")
    return int(cores * 1e9)


_MEMORY_UNITS = {"": 1, "b": 1, "k": 1024, "ki": 1024, "kb": 1024, "m": 1024**2, "mi": 1024**2, "mb": 1024**2,
                 "g": 1024**3, "gi": 1024**3, "gb": 1024**3}
_MEMORY = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*\Z")


def memory_bytes(value: Any) -> int:
    """``"128Mi"``, ``"1Gi"``, ``"256m"``, ``"1g"``, ``1048576`` → bytes (docker's k/m/g are powers of 1024)."""
    match = _MEMORY.match(str(value))
    unit = match.group(2).lower() if match else "?"
    if match is None or unit not in _MEMORY_UNITS:
        raise ValueError(f"{value!r} is not a memory size such as 128Mi or 1g")
    size = int(float(match.group(1)) * _MEMORY_UNITS[unit])
    if size <= 0:
        raise ValueError(f"{value!r} is not a positive memory size")
    return size


class DockerExecutor(ShellExecutor):
    methods: frozenset[str] = frozenset({"DOCKER"})

    def __init__(self, work_root: Path, options: DockerOptions, **kwargs: Any) -> None:
        super().__init__(work_root, **kwargs)
        self.options = options
        self._client: aiodocker.Docker | None = None
        self._containers: dict[int, DockerContainer] = {}  # id(run) → its container
        self._live: dict[int, dict[str, Any]] = {}  # id(run) → what the ant reports of its container

    def containers(self) -> list[dict[str, Any]]:
        """The live containers, for the ant's registration (``GET /api/executors`` lists them)."""
        return list(self._live.values())

    def client(self) -> aiodocker.Docker:
        if self._client is None:
            self._client = aiodocker.Docker(url=self.options.host)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def working_dir(self, request: TaskRequest) -> Path:
        # An absolute working_dir is a path in the container; the host side stays in the job dir.
        if request.working_dir and not request.working_dir.startswith("/"):
            return self.job_dir(request) / request.working_dir
        return self.job_dir(request) / job_dir_name(request.task_type)

    def container_name(self, request: TaskRequest) -> str:
        """``myrmica-<task execution>-<attempt>``; with ``container.name_prefix`` (Fastlane's
        ``fastlane-job-``) the prefix and the request's id (``-<attempt>`` after a task retry)."""
        prefix = str((request.container or {}).get("name_prefix") or "")
        if prefix:
            suffix = f"-{request.attempt}" if request.attempt > 1 else ""
            return _NAME_SAFE.sub("_", f"{prefix}{request.request_id}{suffix}")
        return _NAME_SAFE.sub("_", f"myrmica-{request.task_execution_id}-{request.attempt}")

    def labels(self, request: TaskRequest) -> dict[str, str]:
        return {f"{LABEL_PREFIX}{key}": str(value) for key, value in (
            ("ant", self.ant_id), ("request_id", request.request_id), ("job_type", request.job_type),
            ("task_type", request.task_type), ("task_execution_id", request.task_execution_id),
            ("attempt", request.attempt))}

    def config(self, request: TaskRequest, image: str, cwd: str, env: dict[str, str]) -> dict[str, Any]:
        """The Engine API create body; raises ValueError naming a bad container key."""
        spec = request.container or {}
        job_dir = str(self.job_dir(request))
        host: dict[str, Any] = {"Binds": [f"{job_dir}:{job_dir}", *self._binds(spec.get("volumes"))],
                                "NetworkMode": "host" if request.host_network else "none"}
        for key, convert, name in (("cpu_limit", nano_cpus, "NanoCpus"), ("memory_limit", memory_bytes, "Memory")):
            if spec.get(key) not in (None, ""):
                try:
                    host[name] = convert(spec[key])
                except ValueError as exc:
                    raise ValueError(f"container.{key}: {exc}") from None
        mounts = spec.get("mounts") or []
        if not isinstance(mounts, list) or any(
                not isinstance(m, dict) or m.get("type") not in ("volume", "tmpfs")
                or not str(m.get("target", "")).startswith("/") for m in mounts):
            raise ValueError("container.mounts: expected a list of {type: volume or tmpfs, target: /absolute/path}")
        if mounts:  # anonymous volumes (removed with the container: _remove's v=True) and tmpfs mounts
            host["Mounts"] = [{"Type": str(m["type"]), "Target": str(m["target"])} for m in mounts]
        workdir = request.working_dir if request.working_dir.startswith("/") else cwd
        return {"Image": image, "Cmd": KEEP_ALIVE, "Entrypoint": [], "Env": [f"{k}={v}" for k, v in env.items()],
                "WorkingDir": workdir, "Labels": self.labels(request), "HostConfig": host,
                "AttachStdout": False, "AttachStderr": False}

    def _binds(self, volumes: Any) -> list[str]:
        """Formicary's ``container.volumes``: bind mounts ``{name: "HOST:CONTAINER[:ro]"}`` or a list of
        such strings; the host side must be under ``bind_allowed``."""
        if volumes in (None, "", {}, []):
            return []
        items = list(volumes.values()) if isinstance(volumes, dict) else volumes
        if not isinstance(items, list):
            raise ValueError("container.volumes: expected a mapping or list of HOST:CONTAINER[:ro]")
        binds = []
        for item in items:
            if isinstance(item, dict):
                item = ":".join(str(p) for p in (item.get("host_path", ""), item.get("mount_path", ""))) + \
                    (":ro" if item.get("read_only") else "")
            source, _, target = str(item).partition(":")
            if not source.startswith("/") or not target.startswith("/"):
                raise ValueError(f"container.volumes: {item!r} is not HOST:CONTAINER with absolute paths")
            resolved = Path(source).resolve()
            if not any(resolved == Path(a).resolve() or Path(a).resolve() in resolved.parents
                       for a in self.options.bind_allowed):
                raise ValueError(f"container.volumes: {source} is not under an allowed bind directory "
                                 "(docker_bind_allowed)")
            binds.append(f"{resolved}:{target}")
        return binds

    async def _phases(self, run: _Run, loop: asyncio.AbstractEventLoop, cwd: str,
                      env: dict[str, str]) -> _Failure | None:
        request = run.request
        # The container's own PATH (execute() has logged the variables left out, as for SHELL).
        # The result file (``output_file_env``) is in the job directory, mounted at the same path.
        extra = {"MYRMICA_JOB_DIR": str(self.job_dir(request))}
        if request.output_file_env:
            extra[request.output_file_env] = str(self.output_file(request))
        env = build_env(request, {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, extra)
        image = str((request.container or {}).get("image") or "").strip()
        if not image:
            return _Failure("", -1, "a DOCKER task needs container.image")
        try:
            config = self.config(request, map_image(image, self.options.image_map), cwd, env)
        except ValueError as exc:
            return _Failure("", -1, str(exc))
        starting = loop.create_task(self._start(request, config))
        await asyncio.wait((starting, run.stop), return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            # Stopped while the engine creates or starts the container: let that call finish, then remove
            # the container. Cancelling the call would not stop the engine, which could then create or
            # start a container after its removal was tried, and leave it running.
            run.interrupted = True
            await asyncio.gather(starting, return_exceptions=True)
            await self._remove_named(self.container_name(request))
            return None
        try:
            container = starting.result()
        except (aiodocker.DockerError, OSError, RuntimeError) as exc:
            await self._remove_named(self.container_name(request))
            return _Failure("", -1, str(exc))
        self._containers[id(run)] = container
        self._live[id(run)] = {"container_id": container.id, "container_name": self.container_name(request),
                               "task_execution_id": request.task_execution_id, "attempt": request.attempt,
                               "image": config["Image"], "labels": config["Labels"], "started_at": time.time()}
        text = f"container {self.container_name(request)} started from {config['Image']}"
        run.emit("system", text, len(text) + 1)
        try:
            return await super()._phases(run, loop, cwd, env)
        finally:
            del self._containers[id(run)]
            self._live.pop(id(run), None)
            await self._remove(container)

    async def _start(self, request: TaskRequest, config: dict[str, Any]) -> DockerContainer:
        client = self.client()
        image = config["Image"]
        try:
            await client.images.inspect(image)
        except aiodocker.DockerError as exc:
            if exc.status != 404:
                raise
            try:
                await client.images.pull(image)
            except aiodocker.DockerError as pull_exc:
                raise RuntimeError(
                    f"cannot pull image {image}: {pull_exc.message} (is a registry reachable? "
                    "docker_image_map can map it to a local image)") from None
        try:
            container = await client.containers.create(config, name=self.container_name(request))
        except aiodocker.DockerError as exc:
            raise RuntimeError(f"cannot create the container: {exc.message}") from None
        try:
            await container.start()
        except aiodocker.DockerError as exc:
            await self._remove(container)
            raise RuntimeError(f"cannot start the container: {exc.message}") from None
        return container

    async def _remove(self, container: DockerContainer) -> None:
        try:
            await container.delete(force=True, v=True)
        except aiodocker.DockerError as exc:
            if exc.status not in (404, 409):  # gone already, or being removed
                log.warning("could not remove container %s: %s", container.id, exc.message)

    async def _remove_named(self, name: str) -> None:
        try:
            container = await self.client().containers.get(name)
        except aiodocker.DockerError:
            return
        await self._remove(container)

    async def _command(self, run: _Run, loop: asyncio.AbstractEventLoop, line: str, cwd: str,
                       env: dict[str, str], capture: list[str] | None) -> _Failure | None:
        container = self._containers[id(run)]
        protocol = _LineProtocol(run, loop, capture)
        workdir = run.request.working_dir if run.request.working_dir.startswith("/") else cwd
        try:
            execution = await container.exec(["sh", "-c", RUN_LINE], environment={**env, LINE_VARIABLE: line},
                                             workdir=workdir)
        except aiodocker.DockerError as exc:
            return _Failure(line, -1, f"could not be started: {exc.message}")
        reading = loop.create_task(self._read(execution.start(detach=False), protocol))
        await asyncio.wait((reading, run.stop), return_when=asyncio.FIRST_COMPLETED)
        if not reading.done():  # timed out or cancelled: removing the container kills the line
            run.interrupted = True
            await self._remove(container)
            _, pending = await asyncio.wait((reading,), timeout=5.0)
            for task in pending:
                task.cancel()
            return None
        if reading.exception() is not None:
            return _Failure(line, -1, f"lost its output stream: {reading.exception()}")
        try:
            code = (await execution.inspect()).get("ExitCode")
        except aiodocker.DockerError as exc:
            return _Failure(line, -1, f"has no exit code: {exc.message}")
        if code == 0:
            return None
        return _Failure(line, -1 if code is None else int(code))

    @staticmethod
    async def _read(stream: Any, protocol: _LineProtocol) -> None:
        """The exec's output into lines; while the log is behind (``base.LogPressure``) the stream is not
        read, so the engine stops reading the container's pipe and a flooding line waits on it."""
        pressure = protocol.run.pressure
        try:
            while True:
                message = await stream.read_out()
                if message is None:
                    break
                protocol.pipe_data_received(2 if message.stream == 2 else 1, message.data)
                if pressure is not None and not protocol.run.truncated and pressure.log_full():
                    await pressure.log_room()
        finally:
            await stream.close()
            protocol.pipe_connection_lost(1, None)
            protocol.pipe_connection_lost(2, None)

