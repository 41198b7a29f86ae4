"""The Tork dialect's throughput on the embedded server, beside the native API's in the same run.

N one-task jobs whose task runs ``echo hello``: POSTed as YAML to ``/tork/jobs`` (Tork), and as
requests of one native definition whose SHELL task runs the same through bash (what a Tork task
runs) to ``/api/jobs/requests``. Each figure is jobs/s from the first submit to the last
COMPLETED. The two phases alternate (native, Tork, native, Tork) so that a drift of the machine's
speed touches both; each prints its own figure, and the ratio of the sums.

    .venv/bin/python bench/tork.py                 # -n 1000 per phase, two rounds
    .venv/bin/python bench/tork.py -n 2000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _http import LeanConnection  # noqa: E402
from _server import Target, embedded_server  # noqa: E402
from throughput import busy_cpu_seconds, reference_loop_seconds  # noqa: E402

TORK_JOB = b"name: bench echo\ntasks:\n  - name: echo\n    run: echo hello\n"
NATIVE = """job_type: bench-echo
tasks:
- task_type: echo
  method: SHELL
  script:
    - bash -c 'echo hello'
"""


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def submit_many(target: Target, count: int, parallel: int, tork: bool) -> None:
    left = [count]

    async def worker() -> None:
        connection = LeanConnection(target.url, target.token)
        try:
            while left[0] > 0:
                left[0] -= 1
                if tork:
                    status, body = await connection.request("POST", "/tork/jobs", raw=TORK_JOB,
                                                            content_type="text/yaml")
                    ok = status == 200
                else:
                    status, body = await connection.request("POST", "/api/jobs/requests", {"job_type": "bench-echo"})
                    ok = status == 201
                if not ok:
                    raise RuntimeError(f"submit answered {status}: {body}")
        finally:
            await connection.close()

    await asyncio.gather(*(worker() for _ in range(parallel)))


async def done_count(client: httpx.AsyncClient, tork: bool) -> int:
    if tork:
        body = (await client.get("/tork/jobs", params={"q": "completed", "size": 1})).json()
        return int(body["totalItems"])
    body = (await client.get("/api/jobs/requests", params={"job_type": "bench-echo", "job_state": "COMPLETED",
                                                             "page_size": 1})).json()
    return int(body["TotalRecords"])


async def wait_done(client: httpx.AsyncClient, total: int, tork: bool, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while await done_count(client, tork) < total:
        if time.monotonic() > deadline:
            raise TimeoutError("the jobs did not complete in time")
        await asyncio.sleep(0.2)


async def span(client: httpx.AsyncClient, count: int, tork: bool) -> tuple[float, float]:
    """First created and last completed time of the newest ``count`` jobs of the phase."""
    first, last = float("inf"), 0.0
    if tork:
        pages = (count + 19) // 20
        for number in range(1, pages + 1):
            body = (await client.get("/tork/jobs", params={"page": number, "size": 20})).json()
            for item in body["items"][: count - (number - 1) * 20]:
                first, last = min(first, _ts(item["createdAt"])), max(last, _ts(item["completedAt"]))
        return first, last
    pages = (count + 499) // 500
    for number in range(pages):
        body = (await client.get("/api/jobs/requests", params={"job_type": "bench-echo", "page": number,
                                                                 "page_size": 500})).json()
        for row in body["Records"][: count - number * 500]:
            first, last = min(first, _ts(row["created_at"])), max(last, _ts(row["ended_at"]))
    return first, last


async def phase(client: httpx.AsyncClient, target: Target, count: int, parallel: int, tork: bool,
                done_before: int) -> tuple[float, float]:
    cpu_before = busy_cpu_seconds()
    await submit_many(target, count, parallel, tork)
    await wait_done(client, done_before + count, tork)
    cpu_after = busy_cpu_seconds()
    first, last = await span(client, count, tork)
    cpu = (cpu_after - cpu_before) * 1000 / count if cpu_before is not None and cpu_after is not None else 0.0
    return count / (last - first), cpu


async def run(target: Target, count: int, parallel: int, rounds: int) -> None:
    reference = reference_loop_seconds()
    headers = {"Authorization": f"Bearer {target.token}"}
    limits = httpx.Limits(max_connections=8, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=target.url, headers=headers, timeout=60, limits=limits) as client:
        (await client.post("/api/jobs/definitions", content=NATIVE,
                           headers={"Content-Type": "application/yaml"})).raise_for_status()
        (await client.put("/api/jobs/definitions/bench-echo/concurrency",
                          data={"concurrency": "1000000"})).raise_for_status()
        done = {True: 0, False: 0}
        for tork in (False, True):  # warm up
            await submit_many(target, 20, 4, tork)
            done[tork] += 20
            await wait_done(client, done[tork], tork)
        figures: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
        for _ in range(rounds):
            for tork in (False, True):
                figures[tork].append(await phase(client, target, count, parallel, tork, done[tork]))
                done[tork] += count
    for tork, name in ((False, "native /api/jobs/requests"), (True, "Tork /tork/jobs (YAML)")):
        runs = ", ".join(f"{rate:.0f}" for rate, _ in figures[tork])
        cpu = ", ".join(f"{ms:.2f}" for _, ms in figures[tork])
        print(f"{name:28s} {runs} jobs/s (first submit → last COMPLETED, {count} jobs a run); "
              f"machine CPU per job {cpu} ms")
    native = sum(rate for rate, _ in figures[False])
    tork_total = sum(rate for rate, _ in figures[True])
    print(f"Tork / native:               {tork_total / native * 100:.0f} % (target: at least 80 %)")
    print(f"machine speed:               a fixed Python loop took {reference:.2f}s before the run "
          f"(lower is faster; {os.cpu_count()} cores)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--jobs", type=int, default=1000, help="jobs per phase")
    parser.add_argument("--parallel", type=int, default=32, help="concurrent submitting connections")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with embedded_server() as target:
        asyncio.run(run(target, args.jobs, args.parallel, args.rounds))


if __name__ == "__main__":
    main()
