"""Starting a throwaway embedded server for a benchmark, or using one given by URL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx


@dataclass
class Target:
    url: str
    token: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def embedded_server(extra_args: list[str] | None = None, env: dict[str, str] | None = None,
                    profile: str = "") -> Iterator[Target]:
    """The server in a child process; with ``profile``, under cProfile, its stats written there when it stops."""
    port = _free_port()
    token = "myr_bench_" + os.urandom(8).hex()
    with tempfile.TemporaryDirectory(prefix="myrmica-bench-") as data_dir, \
            tempfile.TemporaryDirectory(prefix="myrmica-bench-work-") as work_dir:
        process = subprocess.Popen(
            [sys.executable, *(["-m", "cProfile", "-o", profile] if profile else []),
             "-m", "myrmica", "server", "--port", str(port), "--data-dir", data_dir,
             "--work-dir", work_dir, "--log-level", "warning", *(extra_args or [])],
            env={**os.environ, "MYRMICA_ADMIN_TOKEN": token, **(env or {})},
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(data_dir, "server.log"), "w"))  # noqa: SIM115
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the benchmark server did not start")
            time.sleep(0.1)
        try:
            yield Target(url, token)
        finally:
            if profile:  # SIGINT: the server stops by itself, so cProfile writes its stats
                process.send_signal(signal.SIGINT)
            else:
                process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
