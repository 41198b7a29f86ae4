"""Throughput of the embedded server: N one-task SHELL requests running `true`, submitted over REST.

Prints requests/s from the first submit to the last COMPLETED, and submit→start latency (median, p99)
both under that load and with an idle queue (one request at a time).

    .venv/bin/python bench/throughput.py            # starts its own server on SQLite (tasks in bubblewrap)
    .venv/bin/python bench/throughput.py --sandbox none   # tasks without the sandbox
    .venv/bin/python bench/throughput.py --url http://127.0.0.1:7777 --token …
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _http import LeanConnection  # noqa: E402
from _server import Target, embedded_server  # noqa: E402

JOB = """job_type: bench-true
tasks:
- task_type: run
  method: SHELL
  script:
    - true
"""


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def busy_cpu_seconds() -> float | None:
    """CPU time the whole machine spent busy so far (Linux), to show what a request costs in all processes."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return None
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def reference_loop_seconds() -> float:
    """A fixed piece of pure Python work, timed: the speed of this machine at the moment of the run
    (a shared VM's speed drifts; compare runs by this figure too)."""
    started = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i * i % 7
    return time.perf_counter() - started


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def prepare(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/jobs/definitions", content=JOB, headers={"Content-Type": "application/yaml"})
    response.raise_for_status()
    (await client.put("/api/jobs/definitions/bench-true/concurrency", data={"concurrency": "10000"})).raise_for_status()


async def submit_many(targets: list[Target], count: int, parallel: int) -> list[str]:
    ids: list[str] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker(target: Target) -> None:
        connection = LeanConnection(target.url, target.token)
        try:
            while not queue.empty():
                queue.get_nowait()
                status, body = await connection.request("POST", "/api/jobs/requests", {"job_type": "bench-true"})
                if status != 201:
                    raise RuntimeError(f"submit answered {status}: {body}")
                ids.append(body["id"])
        finally:
            await connection.close()

    await asyncio.gather(*(worker(targets[i % len(targets)]) for i in range(parallel)))
    return ids


async def wait_all(client: httpx.AsyncClient, total: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = (await client.get("/api/jobs/requests", params={"job_type": "bench-true", "job_state": "DONE",
                                                                 "page_size": 1})).json()
        if body["TotalRecords"] >= total:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("requests did not finish in time")


async def get_json(client: httpx.AsyncClient, path: str) -> dict[str, object]:
    """A GET, tried again when the connection broke under it (it reads only)."""
    for attempt in range(3):
        try:
            response = await client.get(path)
            response.raise_for_status()
            body: dict[str, object] = response.json()
            return body
        except httpx.TransportError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def fetch(client: httpx.AsyncClient, ids: list[str]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for start in range(0, len(ids), 50):
        out.extend(await asyncio.gather(*(get_json(client, f"/api/jobs/requests/{i}") for i in ids[start:start + 50])))
    return out


def latencies(rows: list[dict[str, object]]) -> list[float]:
    values = []
    for row in rows:
        tasks = (row.get("execution") or {}).get("tasks") or []  # type: ignore[union-attr]
        if tasks:
            values.append((_ts(tasks[0]["started_at"]) - _ts(str(row["created_at"]))) * 1000)
    return values


async def run(targets: list[Target], count: int, parallel: int, idle: int) -> None:
    """Submit over every target (queens) in turn; read results from the first."""
    reference = reference_loop_seconds()
    target = targets[0]
    headers = {"Authorization": f"Bearer {target.token}"}
    # Idle connections are dropped before the server's keep-alive timeout (uvicorn: 5 s) can close them
    # under a request just being sent.
    limits = httpx.Limits(max_connections=parallel + 8, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=target.url, headers=headers, timeout=60, limits=limits) as client:
        await prepare(client)
        await submit_many(targets, 20, 4)  # warm up
        await wait_all(client, 20, 60)
        started = time.monotonic()
        cpu_before = busy_cpu_seconds()
        ids = await submit_many(targets, count, parallel)
        submitted = time.monotonic()
        await wait_all(client, count + 20, 600)
        cpu_after = busy_cpu_seconds()
        rows = await fetch(client, ids)
        states = {str(r["job_state"]) for r in rows}
        first = min(_ts(str(r["created_at"])) for r in rows)
        last = max(_ts(str(r["ended_at"])) for r in rows)
        loaded = latencies(rows)
        idle_latency: list[float] = []
        for _ in range(idle):
            response = await client.post("/api/jobs/requests", json={"job_type": "bench-true"})
            request_id = response.json()["id"]
            while True:
                row = (await client.get(f"/api/jobs/requests/{request_id}")).json()
                if row["job_state"] in ("COMPLETED", "FAILED", "CANCELLED"):
                    break
            idle_latency.extend(latencies([row]))
    print(f"requests:                 {count} (states: {', '.join(sorted(states))})")
    print(f"submit phase:             {count / (submitted - started):.0f} submits/s over {parallel} connections")
    print(f"throughput:               {count / (last - first):.0f} requests/s (first submit → last COMPLETED, "
          f"{last - first:.2f}s)")
    if cpu_before is not None and cpu_after is not None:
        print(f"machine CPU per request:  {(cpu_after - cpu_before) * 1000 / count:.2f} ms (every process, "
              f"{os.cpu_count()} cores)")
    print(f"submit→start under load:  p50 {statistics.median(loaded):.1f} ms, p99 {percentile(loaded, 99):.1f} ms")
    print(f"machine speed:            a fixed Python loop took {reference:.2f}s before the run (lower is faster)")
    if idle_latency:
        print(f"submit→start idle queue:  p50 {statistics.median(idle_latency):.1f} ms, "
              f"p99 {percentile(idle_latency, 99):.1f} ms ({idle} requests one at a time)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--requests", type=int, default=2000)
    parser.add_argument("--parallel", type=int, default=32, help="concurrent submitting connections")
    parser.add_argument("--idle", type=int, default=200, help="requests for the idle-queue latency")
    parser.add_argument("--url")
    parser.add_argument("--token", default="")
    parser.add_argument("--sandbox", choices=("auto", "bwrap", "none"), default="auto",
                        help="how the server confines SHELL tasks (bwrap costs a sandbox per task)")
    args = parser.parse_args()
    if args.url:
        asyncio.run(run([Target(args.url, args.token)], args.requests, args.parallel, args.idle))
        return
    with embedded_server(["--sandbox", args.sandbox]) as target:
        asyncio.run(run([target], args.requests, args.parallel, args.idle))


if __name__ == "__main__":
    main()
