"""``myrmica ant``: a standalone worker that takes tasks from queens through Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from pathlib import Path
from typing import Annotated

import typer
from platformdirs import user_data_dir

from myrmica.ant.executors.docker_options import DockerOptions
from myrmica.ant.executors.egress import EgressGuard
from myrmica.ant.executors.sandbox import Sandbox, SandboxSettings, SandboxUnavailable, resolve
from myrmica.cli.output import err_console
from myrmica.security.private_files import credentials_path

log = logging.getLogger("myrmica.ant")

RUNNABLE = ("SHELL", "HTTP_GET", "HTTP_POST_FORM", "HTTP_POST_JSON", "HTTP_PUT_FORM", "HTTP_PUT_JSON", "HTTP_DELETE",
            "HTTP_ENDPOINT", "DOCKER")


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


async def run_ant(broker_url: str, ant_id: str, methods: list[str], tags: list[str], capacity: int,
                  work_dir: Path, drain_seconds: float, keep_work_hours: float = 24.0,
                  docker: DockerOptions | None = None, sandbox: Sandbox | None = None,
                  http_guard: EgressGuard | None = None, artifacts_url: str = "") -> None:
    from myrmica.ant.executors.factory import build_executors
    from myrmica.ant.worker import Ant
    from myrmica.artifacts import open_artifact_store
    from myrmica.broker.redis import RedisBroker

    broker = RedisBroker(broker_url)
    store = open_artifact_store(artifacts_url) if artifacts_url else None
    executors = build_executors(methods, work_root=work_dir, ant_id=ant_id, docker=docker, sandbox=sandbox,
                                http_guard=http_guard, artifacts=store)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await broker.start()
    ant = Ant(ant_id, broker, executors, capacity=capacity, tags=tags, work_root=work_dir,
              keep_work_seconds=keep_work_hours * 3600)
    started = False
    while not stopping.is_set() and not started:
        try:
            await ant.start()
            started = True
        except Exception as exc:  # the broker does not answer yet: say so, and keep trying
            log.warning("ant %s could not register yet (%s); retrying", ant_id, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=2)
    if started:
        log.info("ant %s ready: methods %s, tags %s, capacity %d, broker %s", ant_id, ant.methods, ant.tags,
                 capacity, broker_url.split("@")[-1])
        await stopping.wait()
        log.info("ant %s stopping: no new work; waiting up to %.0fs for %d running task(s)", ant_id, drain_seconds,
                 ant.load)
        await ant.stop(drain_seconds=drain_seconds)
    await broker.stop()
    log.info("ant %s stopped", ant_id)


def ant(
    broker: Annotated[str | None, typer.Option(help="Redis URL the queens use (env MYRMICA_BROKER_URL).",
                                               envvar="MYRMICA_BROKER_URL")] = None,
    ant_id: Annotated[str | None, typer.Option("--id", help="This ant's name. [default: host-pid]")] = None,
    methods: Annotated[str, typer.Option(help="Comma-separated methods to run.")] = ",".join(RUNNABLE),
    tags: Annotated[str, typer.Option(help="Comma-separated tags; a task runs here only if it has all of its tags.")]
    = "",
    capacity: Annotated[int, typer.Option(help="Tasks run at once.")] = 10,
    work_dir: Annotated[Path | None, typer.Option(help="Where tasks get their working directories.")] = None,
    drain_seconds: Annotated[float, typer.Option(help="On SIGTERM, how long running tasks may finish.")] = 60.0,
    keep_work_hours: Annotated[float, typer.Option(
        help="Remove a request's job directory this long after its last task here began.")] = 24.0,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    docker_host: Annotated[str, typer.Option(
        help="The Docker engine DOCKER tasks run on; DOCKER is taken only if it answers at start. "
             "[default: unix:///var/run/docker.sock]", envvar="MYRMICA_DOCKER_HOST")] = "",
    docker_image_map: Annotated[str, typer.Option(
        help="Comma-separated IMAGE=LOCAL_IMAGE: run LOCAL_IMAGE where a task names IMAGE (or * for any).",
        envvar="MYRMICA_DOCKER_IMAGE_MAP")] = "",
    docker_bind_allowed: Annotated[str, typer.Option(
        help="Comma-separated host directories DOCKER tasks may bind-mount.",
        envvar="MYRMICA_DOCKER_BIND_ALLOWED")] = "",
    sandbox: Annotated[str, typer.Option(
        help="How SHELL tasks are confined: auto (bubblewrap when it works, else none with a warning), bwrap "
             "(refuse to start without it) or none.", envvar="MYRMICA_SANDBOX")] = "auto",
    sandbox_network: Annotated[bool, typer.Option(
        "--sandbox-network/--no-sandbox-network", help="Whether sandboxed tasks reach the network.",
        envvar="MYRMICA_SANDBOX_NETWORK")] = True,
    sandbox_hide: Annotated[str, typer.Option(
        help="Comma-separated host paths sandboxed tasks must not see (besides Myrmica's default data directory, "
             "the CLI's credentials and the Docker socket).", envvar="MYRMICA_SANDBOX_HIDE")] = "",
    http_allow_private: Annotated[bool, typer.Option(
        "--http-allow-private/--no-http-allow-private",
        help="Whether HTTP tasks may reach private, loopback and link-local addresses.",
        envvar="MYRMICA_HTTP_ALLOW_PRIVATE")] = False,
    http_allowed_hosts: Annotated[str, typer.Option(
        help="Comma-separated hosts (host or host:port) HTTP tasks may reach even when private.",
        envvar="MYRMICA_HTTP_ALLOWED_HOSTS")] = "",
    artifacts: Annotated[str, typer.Option(
        help="The artifact store the queens use: s3://bucket/prefix?endpoint_url=… (credentials from the AWS_* "
             "variables or a profile) or file:///shared/path. Without it, a task's artifacts reach only later "
             "tasks of its request that run on this ant.", envvar="MYRMICA_ARTIFACTS_URL")] = "",
) -> None:
    """Run a standalone worker: register with the queens through Redis and run the tasks they send."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not broker:
        err_console.print("[red]error:[/red] --broker redis://host:6379/0 (or MYRMICA_BROKER_URL) is required")
        raise typer.Exit(2)
    wanted = [m.upper() for m in _split(methods)]
    unknown = [m for m in wanted if m not in RUNNABLE]
    if unknown or not wanted:
        log.error("refusing to start: this ant cannot run %s (it runs %s)", ", ".join(unknown) or "nothing",
                  ", ".join(RUNNABLE))
        raise typer.Exit(2)
    if capacity <= 0:
        log.error("refusing to start: --capacity must be positive, not %d", capacity)
        raise typer.Exit(2)
    if keep_work_hours < 0:
        log.error("refusing to start: --keep-work-hours must not be negative, not %g", keep_work_hours)
        raise typer.Exit(2)
    try:
        docker = DockerOptions.from_settings(docker_host, tuple(_split(docker_image_map)),
                                             tuple(_split(docker_bind_allowed)))
    except ValueError as exc:
        log.error("refusing to start: %s", exc)
        raise typer.Exit(2) from exc
    name = ant_id or f"{socket.gethostname()}-{os.getpid()}"
    root = work_dir or Path.home() / ".cache" / "myrmica" / "ant" / name
    # What tasks must not see: a server's default data directory and the CLI's credentials on this machine,
    # the Docker engine's socket, and what --sandbox-hide names.
    hide = [user_data_dir("myrmica"), str(credentials_path()), *_split(sandbox_hide)]
    if docker_host.startswith("unix://"):
        hide.append(docker_host.removeprefix("unix://"))
    try:
        confined, line = resolve(SandboxSettings(sandbox.strip().lower(), sandbox_network, tuple(hide)))
    except (SandboxUnavailable, ValueError) as exc:
        log.error("refusing to start: %s", exc)
        raise typer.Exit(2) from exc
    (log.info if confined is not None else log.warning)("ant %s: %s", name, line)
    guard = EgressGuard.of(http_allow_private, _split(http_allowed_hosts))
    if artifacts:
        from myrmica.artifacts import open_artifact_store

        try:
            open_artifact_store(artifacts)
        except ValueError as exc:
            log.error("refusing to start: %s", exc)
            raise typer.Exit(2) from exc
    try:
        import uvloop

        uvloop.run(run_ant(broker, name, wanted, _split(tags), capacity, root, drain_seconds, keep_work_hours,
                           docker, confined, guard, artifacts))
    except ImportError:
        asyncio.run(run_ant(broker, name, wanted, _split(tags), capacity, root, drain_seconds, keep_work_hours,
                            docker, confined, guard, artifacts))
