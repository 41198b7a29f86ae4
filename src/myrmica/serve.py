"""Running the server process under uvicorn.

Before anything touches the database (recovery resumes requests left in flight), the server takes
the data directory's lock and binds its port: a second server on the same data directory, or on a
port in use, exits at once and changes nothing. (uvicorn would bind only after the application's
start-up, that is after recovery.)
"""

from __future__ import annotations

import socket
import sys
from typing import TYPE_CHECKING

from myrmica.config import Settings, sandbox_settings
from myrmica.data_dir_lock import DataDirBusy, DataDirLock

if TYPE_CHECKING:
    from myrmica.runtime import Runtime


def build_runtime(settings: Settings) -> Runtime:
    from myrmica.queen.engine import Engine
    from myrmica.runtime import Runtime

    return Runtime(settings, services=[Engine(settings)])


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (raises OSError when the address is taken)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)  # listening already: connections wait in the backlog until start-up ends
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(False)
    return sock


def say_sandbox(settings: Settings) -> None:
    """Print how the embedded ant's tasks are confined, or exit when ``sandbox = bwrap`` cannot be had."""
    from myrmica.ant.executors.sandbox import SandboxUnavailable, resolve

    try:
        resolve(sandbox_settings(settings))
    except SandboxUnavailable as exc:
        print(f"myrmica: cannot start: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    sandbox, line = resolve(sandbox_settings(settings))
    print(f"myrmica: {line}; task directories in {settings.effective_work_dir}",
          file=sys.stdout if sandbox is not None else sys.stderr, flush=True)
    old = settings.data_dir / "work"
    if old.is_dir():
        print(f"myrmica: {old} holds task directories of an earlier version, which tasks could read the server's "
              "files from; remove it once no task of that version runs", file=sys.stderr, flush=True)


def serve(settings: Settings) -> None:
    """Lock, bind, then start; the application (and its imports) only once both are ours."""
    try:
        lock = DataDirLock.acquire(settings.data_dir)
    except DataDirBusy as exc:
        print(f"myrmica: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    try:
        try:
            sock = listen(settings.host, settings.port)
        except OSError as exc:
            print(f"myrmica: cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}",
                  file=sys.stderr, flush=True)
            raise SystemExit(1) from None
        if settings.embedded_ant:
            say_sandbox(settings)
        import uvicorn

        from myrmica.api.app import create_app

        app = create_app(build_runtime(settings))
        print(f"myrmica: serving on http://{settings.host}:{settings.port} "
              f"(data in {settings.data_dir}, database {settings.effective_database_url.split('@')[-1]})",
              flush=True)
        server = uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port,
                                               log_level=settings.log_level.lower(), access_log=False,
                                               lifespan="on"))
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:
            pass
        finally:
            sock.close()
        if not server.started:
            raise SystemExit(3)  # the application's start-up failed (uvicorn.run's STARTUP_FAILURE)
    finally:
        lock.release()
