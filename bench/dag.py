"""Engine overhead per task: a 50-task sequential SHELL definition.

Prints the wall time of the request (first task start → last task end), the scripts' own time
(the sum of each task's run time measured by the ant), and the engine's overhead per task:
(wall time − scripts' time) / tasks.

    .venv/bin/python bench/dag.py [--tasks 50] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import Target, embedded_server  # noqa: E402


def definition(tasks: int) -> str:
    lines = ["job_type: bench-dag", "tasks:"]
    for i in range(tasks):
        lines += [f"- task_type: t{i}", "  method: SHELL", "  script:", "    - true"]
        if i < tasks - 1:
            lines.append(f"  on_completed: t{i + 1}")
    return "\n".join(lines) + "\n"


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def run(target: Target, tasks: int, runs: int) -> None:
    client = httpx.Client(base_url=target.url, headers={"Authorization": f"Bearer {target.token}"}, timeout=60)
    client.post("/api/jobs/definitions", content=definition(tasks),
                headers={"Content-Type": "application/yaml"}).raise_for_status()
    overheads, walls = [], []
    for _ in range(runs + 1):  # the first run warms up
        request_id = client.post("/api/jobs/requests", json={"job_type": "bench-dag"}).json()["id"]
        while True:
            body = client.get(f"/api/jobs/requests/{request_id}").json()
            if body["job_state"] in ("COMPLETED", "FAILED", "CANCELLED"):
                break
            time.sleep(0.02)
        assert body["job_state"] == "COMPLETED", body["error_message"]
        rows = body["execution"]["tasks"]
        wall = _ts(rows[-1]["ended_at"]) - _ts(body["created_at"])
        own = sum(_ts(r["ended_at"]) - _ts(r["started_at"]) for r in rows)
        walls.append(wall)
        overheads.append((wall - own) / len(rows))
    walls, overheads = walls[1:], overheads[1:]
    print(f"tasks per request:        {tasks} sequential SHELL `true`")
    print(f"wall time per request:    median {statistics.median(walls) * 1000:.0f} ms over {runs} runs")
    print(f"engine overhead per task: median {statistics.median(overheads) * 1000:.2f} ms "
          f"(min {min(overheads) * 1000:.2f}, max {max(overheads) * 1000:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--url")
    parser.add_argument("--token", default="")
    args = parser.parse_args()
    if args.url:
        run(Target(args.url, args.token), args.tasks, args.runs)
        return
    with embedded_server() as target:
        run(target, args.tasks, args.runs)


if __name__ == "__main__":
    main()
