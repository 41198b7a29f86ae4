"""A throwaway PostgreSQL cluster for the tests (Debian's postgresql 15; it refuses root, so as `postgres`)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return candidates[-1]


def _as_postgres(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


class PostgresCluster:
    """A throwaway cluster in a temporary directory; ``stop()`` and ``start()`` again keep its port.

    For speed it does not wait for its WAL at commit, so a crash (``stop()``) may lose the last
    commits — unlike a PostgreSQL set up for production. ``durable=True`` makes it wait, as such one does.
    """

    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable
        self.base = tempfile.mkdtemp(prefix="myrmica-pg-")
        self.data, self.sock = os.path.join(self.base, "data"), os.path.join(self.base, "sock")
        os.makedirs(self.sock)
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
            shutil.chown(self.sock, "postgres", "postgres")
        self.port = _free_port()
        subprocess.run(_as_postgres([_bin("initdb"), "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
                       check=True, stdout=subprocess.DEVNULL)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> PostgresCluster:
        options = f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off " \
                  f"-c synchronous_commit={'on' if self.durable else 'off'} -c full_page_writes=off " \
                  f"-c max_connections=200"
        subprocess.run(_as_postgres([_bin("pg_ctl"), "-D", self.data, "-o", options, "-l",
                                     os.path.join(self.base, "log"), "-w", "start"]), check=True,
                       stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while subprocess.run([_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL did not start")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        """Stop at once, as a crash would (``immediate``: no checkpoint, clients cut off)."""
        subprocess.run(_as_postgres([_bin("pg_ctl"), "-D", self.data, "-m", "immediate", "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """Yield a ``postgresql://`` URL of a fresh cluster, removed afterwards."""
    with restartable_postgres() as cluster:
        yield cluster.url


@contextmanager
def restartable_postgres(*, durable: bool = False) -> Iterator[PostgresCluster]:
    cluster = PostgresCluster(durable=durable)
    try:
        yield cluster.start()
    finally:
        cluster.remove()


def create_database(admin_url: str, name: str, *, template: str = "") -> str:
    """A new empty database on the cluster (or a copy of ``template``), so each test module starts clean."""
    import asyncio

    import asyncpg

    async def _create() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            copy = f' TEMPLATE "{template}"' if template else ""
            await conn.execute(f'CREATE DATABASE "{name}"{copy}')
        finally:
            await conn.close()

    asyncio.run(_create())
    return admin_url.rsplit("/", 1)[0] + "/" + name
