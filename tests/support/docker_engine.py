"""A throwaway Docker engine (Debian's dockerd) and a local busybox test image, for the DOCKER tests.

No registry is reachable in CI, so the image is made here: a rootfs holding /bin/busybox (Debian's
busybox-static) with a symlink per applet, imported with ``docker import``. The engine runs with no
bridge and no iptables rules: containers use ``--network none`` (or the host's network).
``scripts/test`` installs docker.io and busybox-static; this module installs nothing.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

TEST_IMAGE = "myrmica-test/busybox:latest"
APPLETS = ("sh", "echo", "cat", "sleep", "true", "false", "ls", "env", "pwd", "printf", "mkdir", "rm",
           "seq", "head", "tail", "wc", "test", "touch", "id", "hostname", "yes", "grep", "kill", "ps",
           "mktemp", "base64", "chmod", "cut", "cp")


class EngineUnavailable(RuntimeError):
    """The engine cannot run here; the message says why (tests skip with it)."""


def ping(socket_path: Path, timeout: float = 1.0) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(timeout)
            sock.connect(str(socket_path))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return b"OK" in sock.recv(4096)
    except OSError:
        return False


@dataclass
class DockerEngine:
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.directory / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket_path}"

    def docker(self, *args: str, input_bytes: bytes | None = None, timeout: float = 120) -> str:
        """Run the docker CLI against this engine; raises with its output when it fails."""
        done = subprocess.run([_docker_cli(), "-H", self.host, *args], input=input_bytes, capture_output=True,
                              timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)}: {done.stderr.decode(errors='replace')}")
        return done.stdout.decode(errors="replace")

    def start(self) -> DockerEngine:
        if os.geteuid() != 0:
            raise EngineUnavailable("the Docker engine needs root (dockerd runs as root here)")
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise EngineUnavailable("dockerd is not installed (scripts/test installs Debian's docker.io)")
        if not Path("/bin/busybox").exists():
            raise EngineUnavailable("/bin/busybox is missing (scripts/test installs busybox-static)")
        log = open(self.directory / "dockerd.log", "ab")  # noqa: SIM115 - the process owns it
        self.process = subprocess.Popen(
            [dockerd, "--bridge=none", "--iptables=false", "--ip-masq=false",
             "--data-root", str(self.directory / "data"), "--exec-root", str(self.directory / "exec"),
             "-H", self.host, "--pidfile", str(self.directory / "docker.pid")],
            stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 60
        while not ping(self.socket_path):
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.log_text()[-1500:]
                self.stop()
                raise EngineUnavailable(f"dockerd did not start (no kernel support?): {tail}")
            time.sleep(0.05)
        self.import_test_image()
        return self

    def import_test_image(self) -> None:
        rootfs = self.directory / "rootfs.tar"
        with tarfile.open(rootfs, "w") as tar:
            for name in ("bin", "tmp", "work"):
                info = tarfile.TarInfo(name)
                info.type, info.mode = tarfile.DIRTYPE, 0o1777 if name == "tmp" else 0o755
                tar.addfile(info)
            tar.add("/bin/busybox", arcname="bin/busybox")
            for applet in APPLETS:
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type, link.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(link)
            # Debian's busybox has no bash applet (and a `bash` link to busybox would look for one): a
            # /bin/bash that runs busybox sh stands in for Tork examples naming bash.
            script = b'#!/bin/sh\nexec /bin/sh "$@"\n'
            info = tarfile.TarInfo("bin/bash")
            info.mode, info.size = 0o755, len(script)
            tar.addfile(info, io.BytesIO(script))
        self.docker("import", "-c", "ENV PATH=/bin", str(rootfs), TEST_IMAGE)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)

    def log_text(self) -> str:
        path = self.directory / "dockerd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def containers(self, *filters: str) -> list[str]:
        """Ids of the containers (running or not) that match ``label=…`` style filters."""
        args = ["ps", "-aq", "--no-trunc"] + [f"--filter={f}" for f in filters]
        return self.docker(*args).split()


def _docker_cli() -> str:
    return shutil.which("docker") or "/usr/bin/docker"


def _unmount_under(directory: Path) -> None:
    with open("/proc/mounts") as mounts:
        points = [line.split()[1] for line in mounts if len(line.split()) > 1]
    for point in sorted((p for p in points if p.startswith(f"{directory}/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


@contextmanager
def throwaway_engine() -> Iterator[DockerEngine]:
    # A short path: a unix socket path must stay under 108 bytes.
    directory = Path(tempfile.mkdtemp(prefix="myrmica-dk-", dir="/tmp"))
    engine = DockerEngine(directory)
    try:
        yield engine.start()
    finally:
        engine.stop()
        _unmount_under(directory)  # dockerd leaves exec/netns/default mounted
        shutil.rmtree(directory, ignore_errors=True)
