"""The embedded ant's own process: ``python -m myrmica.ant.child FD CONFIG``.

The server starts it with one end of a socket pair (file descriptor ``FD``) and its settings as JSON.
Running the ant here lets spawning and reading tasks use a second core while the server's event loop
schedules and records. The process ends when the server closes its end, or on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from myrmica.ant.executors.docker_options import DockerOptions
from myrmica.ant.executors.egress import EgressGuard
from myrmica.ant.executors.factory import build_executors
from myrmica.ant.executors.sandbox import Sandbox
from myrmica.ant.worker import Ant
from myrmica.artifacts import open_artifact_store
from myrmica.broker.pipe import LINE_LIMIT, PipeAntSide

log = logging.getLogger("myrmica.ant")


async def run_child(fd: int, config: dict[str, Any]) -> None:
    sock = socket.socket(fileno=fd)
    reader, writer = await asyncio.open_unix_connection(sock=sock, limit=LINE_LIMIT)
    side = PipeAntSide(reader, writer)
    ant_id = str(config["ant_id"])
    docker: dict[str, Any] = config.get("docker") or {}
    http: dict[str, Any] = config.get("http") or {}
    executors = build_executors(config["methods"], work_root=Path(config["work_root"]), ant_id=ant_id,
                                max_log_bytes=int(config["max_log_bytes"]),
                                max_timeout_secs=float(config["max_timeout_secs"]),
                                docker=DockerOptions.from_settings(docker.get("host", ""),
                                                                   tuple(docker.get("image_map", ())),
                                                                   tuple(docker.get("bind_allowed", ()))),
                                sandbox=Sandbox.from_config(config.get("sandbox")),
                                http_guard=EgressGuard.of(bool(http.get("allow_private")),
                                                          list(http.get("allowed_hosts") or ())),
                                artifacts=open_artifact_store(str(config["artifacts_url"]))
                                if config.get("artifacts_url") else None)
    ant = Ant(ant_id, side, executors, capacity=int(config["capacity"]), tags=config["tags"], embedded=True,
              work_root=Path(config["work_root"]), keep_work_seconds=float(config["keep_work_seconds"]))
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.add_signal_handler(signal.SIGINT, lambda: None)  # Ctrl-C reaches the server, which closes our stream
    await ant.start()
    inbox_closed = asyncio.ensure_future(ant.wait_inbox_closed())
    stop_requested = asyncio.ensure_future(stopping.wait())
    await asyncio.wait([inbox_closed, stop_requested], return_when=asyncio.FIRST_COMPLETED)
    stop_requested.cancel()
    await ant.stop(drain_seconds=0)
    await side.close()  # the results of the stopped tasks (and their last lines) first


def main() -> None:
    fd, config = int(sys.argv[1]), json.loads(sys.argv[2])
    logging.basicConfig(level=str(config.get("log_level", "info")).upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        import uvloop

        uvloop.run(run_child(fd, config))
    except ImportError:
        asyncio.run(run_child(fd, config))


if __name__ == "__main__":
    main()
