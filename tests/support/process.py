"""A real `myrmica server` process, for tests that kill it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Process:
    """A child process with a log file, stopped politely or killed hard."""

    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        raise NotImplementedError

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


class ServerProcess(_Process):
    def __init__(self, data_dir: Path, *, database_url: str = "", token: str = "myr_process_test",
                 port: int | None = None, extra: list[str] | None = None) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.token = token
        self.port = port or free_port()
        self.extra = extra or []
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def work_dir(self) -> Path:
        """Beside the data directory (never in it), so that it goes with the test's temporary files."""
        return self.data_dir.with_name(self.data_dir.name + "-work")

    def _args(self) -> tuple[list[str], dict[str, str]]:
        args = [sys.executable, "-m", "myrmica", "server", "--port", str(self.port), "--data-dir",
                str(self.data_dir), "--work-dir", str(self.work_dir), *self.extra]
        if self.database_url:
            args += ["--db", self.database_url]
        env = {**os.environ, "MYRMICA_ADMIN_TOKEN": self.token, "MYRMICA_SECRET_KEY": "shared-test-secret"}
        return args, env

    def run_to_exit(self, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Start a server that is expected to give up: its exit status and output (stdout and stderr)."""
        args, env = self._args()
        return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, check=False)

    def start(self, *, healthy: bool = True) -> ServerProcess:
        """Start and wait until it answers (with 200 on /api/health unless ``healthy`` is False)."""
        args, env = self._args()
        log = open(self.data_dir / f"server-{self.port}.log", "ab")  # noqa: SIM115 - the process owns it
        self.process = subprocess.Popen(args, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code in ((200,) if healthy else (200, 503)):
                    return self
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {self.log_text()[-2000:]}")
            time.sleep(0.05)

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"server-{self.port}.log"


    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)


class AntProcess(_Process):
    """A real `myrmica ant` process."""

    def __init__(self, directory: Path, broker_url: str, ant_id: str, *, capacity: int = 8,
                 extra: list[str] | None = None, env: dict[str, str] | None = None) -> None:
        self.directory = directory
        self.broker_url = broker_url
        self.ant_id = ant_id
        self.capacity = capacity
        self.extra = extra or []
        self.env = env  # added to this process's environment
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> AntProcess:
        log = open(self.directory / f"ant-{self.ant_id}.log", "ab")  # noqa: SIM115 - the process owns it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "myrmica", "ant", "--broker", self.broker_url, "--id", self.ant_id,
             "--capacity", str(self.capacity), "--work-dir", str(self.directory / f"work-{self.ant_id}"),
             "--drain-seconds", "5", *self.extra], stdout=log, stderr=log, env={**os.environ, **(self.env or {})})
        return self

    @property
    def log_path(self) -> Path:
        return self.directory / f"ant-{self.ant_id}.log"

