"""DOCKER tasks end to end on a local engine, beside the engine's own ``docker run`` rate in the same run.

A throwaway dockerd (tests/support/docker_engine.py: root, ``--bridge=none``, the busybox test image)
and an embedded server whose ant uses it. Phase "engine": N ``docker run --rm --network none IMAGE true``
with P at a time (the CLI against the same engine). Phase "myrmica": N requests of a one-task DOCKER
definition whose script is ``true``, submitted to the native API; the figure is containers/s from the
first request's creation to the last one's end. The phases alternate (engine, myrmica, engine,
myrmica) so that a drift of the machine touches both; the ratio is of the sums.

    .venv/bin/python bench/docker.py             # -n 100 a phase, 4 at a time, two rounds (as root)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import embedded_server  # noqa: E402
from tests.support.docker_engine import TEST_IMAGE, DockerEngine, _docker_cli, throwaway_engine  # noqa: E402

DEFINITION = f"""job_type: bench-docker
tasks:
- task_type: run
  method: DOCKER
  container:
    image: {TEST_IMAGE}
  script:
    - "true"
"""


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def engine_phase(engine: DockerEngine, count: int, parallel: int) -> float:
    left = [count]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            process = await asyncio.create_subprocess_exec(
                _docker_cli(), "-H", engine.host, "run", "--rm", "--network", "none", TEST_IMAGE, "true",
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
            _, err = await process.communicate()
            if process.returncode != 0:
                raise RuntimeError(f"docker run failed: {err.decode(errors='replace')}")

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(parallel)))
    return count / (time.monotonic() - start)


async def myrmica_phase(client: httpx.AsyncClient, count: int, parallel: int, done_before: int) -> float:
    left = [count]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            response = await client.post("/api/jobs/requests", json={"job_type": "bench-docker"})
            if response.status_code != 201:
                raise RuntimeError(f"submit answered {response.status_code}: {response.text}")

    await asyncio.gather(*(worker() for _ in range(parallel)))
    deadline = time.monotonic() + 600
    while True:
        body = (await client.get("/api/jobs/requests", params={"job_type": "bench-docker", "page_size": 1,
                                                                 "job_state": "COMPLETED"})).json()
        if int(body["TotalRecords"]) >= done_before + count:
            break
        failed = (await client.get("/api/jobs/requests", params={"job_type": "bench-docker", "page_size": 1,
                                                                   "job_state": "FAILED"})).json()
        if int(failed["TotalRecords"]):
            raise RuntimeError(f"a DOCKER request failed: {failed['Records'][0].get('error_message')}")
        if time.monotonic() > deadline:
            raise TimeoutError("the requests did not complete in time")
        await asyncio.sleep(0.2)
    first, last = float("inf"), 0.0
    for number in range((count + 499) // 500):
        body = (await client.get("/api/jobs/requests", params={"job_type": "bench-docker", "page": number,
                                                                 "page_size": 500})).json()
        for row in body["Records"][: count - number * 500]:
            first, last = min(first, _ts(row["created_at"])), max(last, _ts(row["ended_at"]))
    return count / (last - first)


async def run(engine: DockerEngine, url: str, token: str, count: int, parallel: int, rounds: int) -> None:
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        (await client.post("/api/jobs/definitions", content=DEFINITION,
                           headers={"Content-Type": "application/yaml"})).raise_for_status()
        (await client.put("/api/jobs/definitions/bench-docker/concurrency",
                          data={"concurrency": "1000000"})).raise_for_status()
        await engine_phase(engine, 4, 2)  # warm up both
        await myrmica_phase(client, 4, 2, 0)
        done = 4
        figures: dict[str, list[float]] = {"engine": [], "myrmica": []}
        for _ in range(rounds):
            figures["engine"].append(await engine_phase(engine, count, parallel))
            figures["myrmica"].append(await myrmica_phase(client, count, parallel, done))
            done += count
    for name, label in (("engine", "engine `docker run --rm … true`"), ("myrmica", "Myrmica DOCKER task `true`")):
        print(f"{label:34s} {', '.join(f'{r:.1f}' for r in figures[name])} containers/s "
              f"({count} a run, {parallel} at a time)")
    print(f"Myrmica / engine:                  {sum(figures['myrmica']) / sum(figures['engine']) * 100:.0f} % "
          "(target: at least 80 %)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--containers", type=int, default=100, help="containers per phase")
    parser.add_argument("--parallel", type=int, default=4, help="containers at a time")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with throwaway_engine() as engine, \
            embedded_server(env={"MYRMICA_DOCKER_HOST": engine.host}) as target:
        asyncio.run(run(engine, target.url, target.token, args.containers, args.parallel, args.rounds))


if __name__ == "__main__":
    main()
