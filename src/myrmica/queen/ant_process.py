"""Starting and stopping the embedded ant in its own process (see ``myrmica.ant.child``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import subprocess
import sys
from typing import Any

from myrmica.broker.base import Broker
from myrmica.broker.memory import MemoryBroker
from myrmica.broker.pipe import LINE_LIMIT, PipeQueenBridge

log = logging.getLogger("myrmica.queen")

START_SECONDS = 60.0


class EmbeddedAntProcess:
    def __init__(self, broker: Broker, config: dict[str, Any]) -> None:
        self._broker = broker
        self._config = config
        self.ant_id = str(config["ant_id"])
        self._process: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._bridge: PipeQueenBridge | None = None

    async def start(self) -> None:
        ours, theirs = socket.socketpair()
        try:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "myrmica.ant.child", str(theirs.fileno()), json.dumps(self._config),
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        finally:
            theirs.close()
        reader, writer = await asyncio.open_unix_connection(sock=ours, limit=LINE_LIMIT)
        settle = self._broker.settle_logs if isinstance(self._broker, MemoryBroker) else None
        bridge = self._bridge = PipeQueenBridge(self._broker, self.ant_id, reader, writer, settle=settle)
        self._tasks = [asyncio.create_task(bridge.inbound(), name="embedded-ant-in"),
                       asyncio.create_task(bridge.outbound(), name="embedded-ant-out")]
        registered = asyncio.ensure_future(bridge.registered.wait())
        done, _ = await asyncio.wait([registered, self._tasks[0]], timeout=START_SECONDS,
                                     return_when=asyncio.FIRST_COMPLETED)
        if registered not in done:
            registered.cancel()
            await self.stop()
            raise RuntimeError("the embedded ant process did not start")
        log.info("embedded ant %s runs in process %d", self.ant_id, self._process.pid)

    async def stop(self) -> None:
        """Close the stream (the ant stops its tasks and exits), then wait for the process."""
        for task in self._tasks[1:]:
            task.cancel()
        if self._bridge is not None:
            self._bridge.close()
        process = self._process
        if process is not None:
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                process.kill()
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)
