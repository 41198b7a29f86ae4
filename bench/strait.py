"""The Strait dialect's throughput on the embedded server: N triggers of one job whose endpoint is a
local no-op HTTP server (an asyncio one in a child process, answering ``200 {}`` with keep-alive).

Prints runs/s from the first trigger to the last COMPLETED run, and the trigger latency (POST
``/v1/jobs/{id}/trigger`` → 201) p50 and p99 as the client saw it; beside it, in the same run, the same
number of native requests (``POST /api/jobs/requests``) of a definition with the same HTTP_ENDPOINT
task, so a reader can tell the dialect's cost from the engine's. Target: at least 500 runs/s.

    .venv/bin/python bench/strait.py                # -n 2000, 32 connections, two rounds
    .venv/bin/python bench/strait.py -n 5000 --parallel 64 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _http import LeanConnection  # noqa: E402
from _server import Target, embedded_server  # noqa: E402
from throughput import busy_cpu_seconds, reference_loop_seconds  # noqa: E402

NOOP_SERVER = r"""
import asyncio, sys

async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:].strip())
            if length:
                await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]))
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def trigger_many(target: Target, job_id: str, count: int, parallel: int) -> list[float]:
    left = [count]
    latencies: list[float] = []

    async def worker() -> None:
        connection = LeanConnection(target.url, target.token)
        try:
            while left[0] > 0:
                left[0] -= 1
                started = time.perf_counter()
                status, body = await connection.request("POST", f"/v1/jobs/{job_id}/trigger",
                                                        {"payload": {"n": left[0]}})
                latencies.append(time.perf_counter() - started)
                if status != 201:
                    raise RuntimeError(f"trigger answered {status}: {body}")
        finally:
            await connection.close()

    await asyncio.gather(*(worker() for _ in range(parallel)))
    return latencies


NATIVE = """job_type: bench-endpoint
max_concurrency: 1000000
tasks:
- task_type: call
  method: HTTP_ENDPOINT
  url: {url}
  timeout: 30s
  endpoint:
    payload_param: payload
"""


async def submit_native(target: Target, count: int, parallel: int) -> list[float]:
    left = [count]
    latencies: list[float] = []

    async def worker() -> None:
        connection = LeanConnection(target.url, target.token)
        try:
            while left[0] > 0:
                left[0] -= 1
                started = time.perf_counter()
                status, body = await connection.request("POST", "/api/jobs/requests", {
                    "job_type": "bench-endpoint", "params": {"payload": {"n": left[0]}}})
                latencies.append(time.perf_counter() - started)
                if status != 201:
                    raise RuntimeError(f"submit answered {status}: {body}")
        finally:
            await connection.close()

    await asyncio.gather(*(worker() for _ in range(parallel)))
    return latencies


async def completed(client: httpx.AsyncClient, job_type: str) -> int:
    body = (await client.get("/api/jobs/requests", params={"job_type": job_type, "job_state": "COMPLETED",
                                                             "page_size": 1})).json()
    return int(body["TotalRecords"])


async def unfinished(client: httpx.AsyncClient, job_type: str) -> int:
    body = (await client.get("/api/jobs/requests", params={"job_type": job_type, "job_state": "FAILED",
                                                             "page_size": 1})).json()
    return int(body["TotalRecords"])


async def wait_done(client: httpx.AsyncClient, job_type: str, total: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while await completed(client, job_type) < total:
        if await unfinished(client, job_type):
            raise RuntimeError("a run failed: see the server's log")
        if time.monotonic() > deadline:
            raise TimeoutError("the runs did not complete in time")
        await asyncio.sleep(0.2)


async def span(client: httpx.AsyncClient, job_type: str, count: int) -> tuple[float, float]:
    first, last = float("inf"), 0.0
    for number in range((count + 499) // 500):
        body = (await client.get("/api/jobs/requests", params={"job_type": job_type, "page": number,
                                                                 "page_size": 500})).json()
        for row in body["Records"][: count - number * 500]:
            first, last = min(first, _ts(row["created_at"])), max(last, _ts(row["ended_at"]))
    return first, last


async def run(target: Target, endpoint: str, count: int, parallel: int, rounds: int,
              kinds: tuple[str, ...] = ("native", "strait")) -> None:
    reference = reference_loop_seconds()
    headers = {"Authorization": f"Bearer {target.token}"}
    async with httpx.AsyncClient(base_url=target.url, headers=headers, timeout=60) as client:
        created = await client.post("/v1/jobs", json={"name": "bench", "slug": "bench", "endpoint_url": endpoint,
                                                      "max_attempts": 1, "timeout_secs": 30})
        created.raise_for_status()
        job_id = created.json()["id"]
        job_type = f"strait-{job_id}"
        await trigger_many(target, job_id, 50, 4)  # warm up
        done = 50
        await wait_done(client, job_type, done)
        (await client.post("/api/jobs/definitions", content=NATIVE.format(url=endpoint),
                           headers={"Content-Type": "application/yaml"})).raise_for_status()
        native_done = 0
        for number in range(1, rounds + 1):
            for kind in kinds:
                cpu_before = busy_cpu_seconds()
                if kind == "strait":
                    latencies = sorted(await trigger_many(target, job_id, count, parallel))
                    done += count
                    await wait_done(client, job_type, done)
                else:
                    latencies = sorted(await submit_native(target, count, parallel))
                    native_done += count
                    await wait_done(client, "bench-endpoint", native_done)
                cpu_after = busy_cpu_seconds()
                first, last = await span(client, job_type if kind == "strait" else "bench-endpoint", count)
                cpu = (cpu_after - cpu_before) * 1000 / count if cpu_before is not None and cpu_after is not None \
                    else 0
                p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
                what = "Strait POST /v1/jobs/{id}/trigger" if kind == "strait" else "native POST /api/jobs/requests"
                print(f"round {number} {what}: {count / (last - first):.0f} runs/s (first submit → last COMPLETED, "
                      f"{count} runs, {parallel} connections); submit p50 {statistics.median(latencies) * 1000:.1f} "
                      f"ms, p99 {p99 * 1000:.1f} ms; machine CPU per run {cpu:.2f} ms")
    print(f"machine speed: a fixed Python loop took {reference:.2f}s before the run (lower is faster; "
          f"{os.cpu_count()} cores). Target: at least 500 runs/s.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--runs", type=int, default=2000, help="triggers per round")
    parser.add_argument("--parallel", type=int, default=32, help="concurrent triggering connections")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", default="", help="run the server under cProfile, its stats to this file")
    parser.add_argument("--only", choices=("native", "strait"), help="run only that half (to profile it alone)")
    args = parser.parse_args()
    port = _free_port()
    noop = subprocess.Popen([sys.executable, "-c", NOOP_SERVER, str(port)])
    try:
        with embedded_server(env={"MYRMICA_HTTP_ALLOWED_HOSTS": f"127.0.0.1:{port}"},
                             profile=args.profile) as target:
            asyncio.run(run(target, f"http://127.0.0.1:{port}/hook", args.runs, args.parallel, args.rounds,
                            (args.only,) if args.only else ("native", "strait")))
    finally:
        noop.terminate()
        noop.wait(timeout=10)


if __name__ == "__main__":
    main()
