"""PostgreSQL going away for a while under a distributed queen: nothing dies, nothing is lost."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import fresh_redis
from tests.support.jobs import wait_for
from tests.support.postgres import create_database, restartable_postgres
from tests.support.process import AntProcess, ServerProcess
from tests.support.redis_server import RedisServer

JOB = """job_type: outlast
max_concurrency: 100
tasks:
- task_type: work
  method: SHELL
  script:
    - echo started-$JobID
    - sleep 3
    - echo done-$JobID
"""


def database_health(url: str) -> tuple[int, str]:
    response = httpx.get(f"{url}/api/health", timeout=10)
    database = next(s for s in response.json()["dependent_service_statuses"] if s["Monitored"]["name"] == "database")
    return response.status_code, str(database["HealthError"])


def test_requests_running_through_a_postgresql_outage_all_complete(tmp_path: Path,
                                                                    redis_server: RedisServer) -> None:
    with restartable_postgres(durable=True) as postgres:  # a crash loses no commit
        queen = ServerProcess(tmp_path, database_url=create_database(postgres.url, "outage"),
                              extra=["--broker", fresh_redis(redis_server), "--no-embedded-ant"]).start()
        ant = AntProcess(tmp_path, redis_server.url, "steady").start()
        try:
            with queen.client() as api:
                wait_for(lambda: any(a["alive"] for a in api.get("/api/ants").json()["Records"]), timeout=30,
                         what="the ant to register")
                assert api.post("/api/jobs/definitions", content=JOB,
                                headers={"Content-Type": "application/yaml"}).status_code == 201
                ids = [api.post("/api/jobs/requests", json={"job_type": "outlast"}).json()["id"] for _ in range(5)]
                wait_for(lambda: all(api.get(f"/api/jobs/requests/{i}").json()["job_state"] == "EXECUTING"
                                     for i in ids), timeout=30, what="every request to run")

                postgres.stop()  # mid-task: the ant's shells go on, their results have nowhere to be written
                def reported_down() -> str | None:
                    status, error = database_health(queen.url)
                    return error if status == 503 else None

                assert wait_for(reported_down, timeout=30, what="the queen to report the database down")
                refused = api.get("/api/jobs/requests")  # the API says why, and that it is worth retrying
                assert refused.status_code == 503 and "unreachable" in refused.json()["error"], refused.text
                assert refused.headers["Retry-After"]
                outage_ends = time.monotonic() + 5  # longer than the tasks: their results arrive in the outage
                wait_for(lambda: time.monotonic() > outage_ends, timeout=10, what="the outage to last")
                assert queen.process is not None and queen.process.poll() is None  # it did not die
                postgres.start()

                wait_for(lambda: database_health(queen.url)[0] == 200, timeout=60, what="the queen to recover")
                def ended() -> list[dict[str, Any]] | None:
                    bodies = [api.get(f"/api/jobs/requests/{i}").json() for i in ids]
                    done = all(b["job_state"] in ("COMPLETED", "FAILED", "CANCELLED") for b in bodies)
                    return bodies if done else None

                for body in wait_for(ended, timeout=90, what="every request to end"):
                    assert body["job_state"] == "COMPLETED", body
                    tasks = body["execution"]["tasks"]
                    assert len(tasks) == 1 and tasks[0]["retried"] == 0, tasks  # its one attempt, recorded once
                    entries = api.get(f"/api/jobs/requests/{body['id']}/logs").json()["lines"]
                    lines = [e["line"] for e in entries]
                    assert lines.count(f"done-{body['id']}") == 1, entries  # its log, kept through the outage
        finally:
            ant.stop()
            queen.stop()
