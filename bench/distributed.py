"""The throughput benchmark against two queens and two standalone ants on PostgreSQL and Redis.

Starts a throwaway PostgreSQL cluster and redis-server (Debian's packages), two `myrmica server
--no-embedded-ant` queens and two `myrmica ant` processes, all on 127.0.0.1, then submits N
one-task SHELL requests running `true`, alternating between the queens.

    .venv/bin/python bench/distributed.py [-n 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _server import Target  # noqa: E402
from tests.support.postgres import create_database, throwaway_postgres  # noqa: E402
from tests.support.process import free_port  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402
from throughput import run  # noqa: E402


def start_queen(directory: Path, database_url: str, broker_url: str, token: str) -> tuple[subprocess.Popen[bytes],
                                                                                             Target]:
    port = free_port()
    log = open(directory / f"queen-{port}.log", "ab")  # noqa: SIM115 - the process owns it
    process = subprocess.Popen(
        [sys.executable, "-m", "myrmica", "server", "--port", str(port), "--data-dir", str(directory / str(port)),
         "--db", database_url, "--broker", broker_url, "--no-embedded-ant", "--log-level", "warning"],
        env={**os.environ, "MYRMICA_ADMIN_TOKEN": token, "MYRMICA_SECRET_KEY": "bench"}, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return process, Target(url, token)
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("a queen did not start")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--requests", type=int, default=2000)
    parser.add_argument("--parallel", type=int, default=32)
    parser.add_argument("--idle", type=int, default=100)
    parser.add_argument("--capacity", type=int, default=25, help="tasks each ant runs at once")
    args = parser.parse_args()
    token = "myr_bench_" + uuid.uuid4().hex
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="myrmica-dist-") as tmp, throwaway_postgres() as cluster:
        directory = Path(tmp)
        redis = RedisServer(directory).start()
        try:
            database_url = create_database(cluster, "bench")
            first, target1 = start_queen(directory, database_url, redis.url, token)
            processes.append(first)
            second, target2 = start_queen(directory, database_url, redis.url, token)
            processes.append(second)
            for name in ("ant-1", "ant-2"):
                log = open(directory / f"{name}.log", "ab")  # noqa: SIM115 - the process owns it
                processes.append(subprocess.Popen(
                    [sys.executable, "-m", "myrmica", "ant", "--broker", redis.url, "--id", name, "--capacity",
                     str(args.capacity), "--work-dir", str(directory / name), "--log-level", "warning"],
                    stdout=log, stderr=log))
            deadline = time.monotonic() + 30
            while True:
                ants = httpx.get(f"{target1.url}/api/ants", headers={"Authorization": f"Bearer {token}"}).json()
                if len([a for a in ants["Records"] if a["alive"]]) >= 2:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("the ants did not register")
                time.sleep(0.2)
            print("setting:                  2 queens (PostgreSQL 15, Redis), 2 ants "
                  f"(capacity {args.capacity} each), all on 127.0.0.1")
            asyncio.run(run([target1, target2], args.requests, args.parallel, args.idle))
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
            redis.stop()


if __name__ == "__main__":
    main()
