"""PostgreSQL going away for a while under distributed queens: nothing dies, nothing is lost."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from myrmica.queen.context import LEASE_SECONDS
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


def ant_idle(broker_url: str, ant_id: str) -> bool:
    """The ant's own last heartbeat (in Redis, which stays up) reports no task running."""
    client = redis.Redis.from_url(broker_url)
    try:
        raw = client.hget("myrmica:ants", ant_id)
    finally:
        client.close()
    return raw is not None and not json.loads(raw).get("running")


@pytest.mark.parametrize(("queens", "longer_than_a_lease"), [(1, False), (2, True)],
                         ids=["one-queen-short-outage", "two-queens-outage-longer-than-a-lease"])
def test_requests_running_through_a_postgresql_outage_all_complete(
        tmp_path: Path, redis_server: RedisServer, queens: int, longer_than_a_lease: bool) -> None:
    broker_url = fresh_redis(redis_server)
    with restartable_postgres(durable=True) as postgres:  # a crash loses no commit
        database_url = create_database(postgres.url, "outage")
        servers: list[ServerProcess] = []
        ant = AntProcess(tmp_path, broker_url, "steady").start()
        try:
            for n in range(queens):
                (tmp_path / f"queen{n}").mkdir()
                servers.append(ServerProcess(tmp_path / f"queen{n}", database_url=database_url,
                                             extra=["--broker", broker_url, "--no-embedded-ant"]).start())
            queen_ids = {httpx.get(f"{s.url}/api/health").json()["overall_status"]["Monitored"]["queen_id"]: s
                         for s in servers}
            with servers[0].client() as api:
                wait_for(lambda: any(a["alive"] for a in api.get("/api/ants").json()["Records"]), timeout=30,
                         what="the ant to register")
                assert api.post("/api/jobs/definitions", content=JOB,
                                headers={"Content-Type": "application/yaml"}).status_code == 201
                ids = [api.post("/api/jobs/requests", json={"job_type": "outlast"}).json()["id"] for _ in range(6)]
                wait_for(lambda: all(api.get(f"/api/jobs/requests/{i}").json()["job_state"] == "EXECUTING"
                                     for i in ids), timeout=30, what="every request to run")

                postgres.stop()  # mid-task: the ant's shells go on, their results have nowhere to be written
                stopped = time.monotonic()

                def reported_down() -> str | None:
                    status, error = database_health(servers[-1].url)
                    return error if status == 503 else None

                assert wait_for(reported_down, timeout=30, what="the queen to report the database down")
                refused = api.get("/api/jobs/requests")  # the API says why, and that it is worth retrying
                assert refused.status_code == 503 and "unreachable" in refused.json()["error"], refused.text
                assert refused.headers["Retry-After"]
                wait_for(lambda: ant_idle(broker_url, "steady"), timeout=30,
                         what="every task to end (its result reaching a queen during the outage)")
                if longer_than_a_lease:  # every lease lapses, the live queens' too
                    wait_for(lambda: time.monotonic() - stopped > LEASE_SECONDS + 2, timeout=LEASE_SECONDS + 5,
                             what="the outage to outlast the leases")
                assert all(s.process is not None and s.process.poll() is None for s in servers)  # none died
                postgres.start()

                def ended() -> list[dict[str, Any]] | None:
                    bodies = [api.get(f"/api/jobs/requests/{i}").json() for i in ids]
                    done = all(b.get("job_state") in ("COMPLETED", "FAILED", "CANCELLED") for b in bodies)
                    return bodies if done else None

                for body in wait_for(ended, timeout=90, what="every request to end"):
                    assert body["job_state"] == "COMPLETED", body
                    tasks = body["execution"]["tasks"]
                    assert len(tasks) == 1 and tasks[0]["retried"] == 0, tasks  # its one attempt, recorded once
                    entries = api.get(f"/api/jobs/requests/{body['id']}/logs").json()["lines"]
                    lines = [e["line"] for e in entries]
                    assert lines.count(f"done-{body['id']}") == 1, entries  # its log, kept through the outage
            for queen_id, server in queen_ids.items():
                for line in server.log_text().splitlines():  # each queen resumed only its own requests
                    if "resuming request" in line:
                        assert line.endswith(f"by {queen_id}"), line
        finally:
            ant.stop()
            for server in servers:
                server.stop()
