"""`myrmica ant` and queens as processes, with bad settings and unreachable or foreign peers."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import pytest

from myrmica.ant.executors.sandbox import probe
from myrmica.broker.messages import TaskResult
from myrmica.broker.redis import RedisBroker
from tests.conftest import fresh_redis
from tests.support.jobs import log_text
from tests.support.postgres import create_database
from tests.support.process import AntProcess, ServerProcess, free_port
from tests.support.redis_server import RedisServer


def run_ant(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "myrmica", "ant", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_ant_refuses_an_unknown_method() -> None:
    result = run_ant("--broker", "redis://127.0.0.1:1/0", "--methods", "SHELL,TELEPORT")
    assert result.returncode == 2
    assert "refusing to start" in result.stderr and "TELEPORT" in result.stderr


def test_ant_refuses_a_capacity_of_zero() -> None:
    result = run_ant("--broker", "redis://127.0.0.1:1/0", "--capacity", "0")
    assert result.returncode == 2 and "--capacity must be positive" in result.stderr


def test_ant_refuses_an_unknown_sandbox() -> None:
    result = run_ant("--broker", "redis://127.0.0.1:1/0", "--sandbox", "sometimes")
    assert result.returncode == 2 and "sandbox must be one of auto, bwrap, none" in result.stderr


SNOOP = """job_type: snoop
tasks:
- task_type: look
  method: SHELL
  script:
    - cat {secret} 2>/dev/null || echo denied
    - env | cut -d= -f1 | sort | tr '\\n' ' '
"""


@pytest.mark.skipif(probe("bwrap") is not None, reason=f"no working bubblewrap: {probe('bwrap')}")
def test_a_standalone_ant_runs_tasks_in_the_same_sandbox(tmp_path: Path, postgres_cluster: str,
                                                        redis_server: RedisServer) -> None:
    broker_url = fresh_redis(redis_server)
    database_url = create_database(postgres_cluster, f"q_{uuid.uuid4().hex[:12]}")
    hidden = Path(tempfile.mkdtemp(prefix="myrmica-ant-test-", dir="/var/tmp"))  # outside /tmp, hidden by name
    (hidden / "secret").write_text("the-ants-secret")
    queen = ServerProcess(tmp_path, database_url=database_url, extra=["--broker", broker_url, "--no-embedded-ant"])
    ant = AntProcess(tmp_path, broker_url, "boxed", extra=["--sandbox-hide", str(hidden)],
                     env={"MYRMICA_BROKER_PASSWORD": "redis-password", "AWS_SECRET_ACCESS_KEY": "aws"})
    try:
        queen.start()
        ant.start()
        with queen.client() as api:
            response = api.post("/api/jobs/definitions", content=SNOOP.format(secret=hidden / "secret"),
                                headers={"Content-Type": "application/yaml"})
            assert response.status_code == 201, response.text
            request = api.post("/api/jobs/requests", json={"job_type": "snoop"}).json()
            deadline = time.monotonic() + 60
            while (state := api.get(f"/api/jobs/requests/{request['id']}").json()["job_state"]) not in (
                    "COMPLETED", "FAILED"):
                assert time.monotonic() < deadline, ant.log_text()
                time.sleep(0.1)
            assert state == "COMPLETED", ant.log_text()
            lines = log_text(api, request["id"])
        assert lines[0] == "denied"
        names = set(lines[1].split())
        assert "PATH" in names and not names & {"MYRMICA_BROKER_PASSWORD", "AWS_SECRET_ACCESS_KEY"}, names
        assert "ant boxed: tasks run in a bubblewrap sandbox" in ant.log_text()
    finally:
        ant.stop()
        queen.stop()
        shutil.rmtree(hidden, ignore_errors=True)


def test_ant_says_when_its_broker_does_not_answer_and_stops_on_sigterm(tmp_path: Path) -> None:
    ant = AntProcess(tmp_path, f"redis://127.0.0.1:{free_port()}/0", "lonely").start()
    try:
        deadline = time.monotonic() + 20
        while "unreachable" not in ant.log_text():
            assert time.monotonic() < deadline, ant.log_text()
            time.sleep(0.1)
    finally:
        ant.stop()
    assert ant.process is not None and ant.process.returncode == 0, ant.log_text()


def test_queen_with_a_dead_broker_reports_it_and_recovers(tmp_path: Path, postgres_cluster: str) -> None:
    port = free_port()
    database_url = create_database(postgres_cluster, f"q_{uuid.uuid4().hex[:12]}")
    queen = ServerProcess(tmp_path, database_url=database_url,
                          extra=["--broker", f"redis://127.0.0.1:{port}/0", "--no-embedded-ant"]).start(healthy=False)
    redis = RedisServer(tmp_path, port=port)
    try:
        health = httpx.get(f"{queen.url}/api/health", timeout=10)
        assert health.status_code == 503
        broker = next(s for s in health.json()["dependent_service_statuses"] if s["Monitored"]["name"] == "broker")
        assert broker["HealthError"]
        redis.start()
        deadline = time.monotonic() + 30
        while httpx.get(f"{queen.url}/api/health", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "the queen did not recover when Redis came up"
            time.sleep(0.2)
        assert "unreachable" in queen.log_text()
    finally:
        queen.stop()
        redis.stop()


def test_a_reply_for_an_unknown_task_is_ignored_and_logged(tmp_path: Path, postgres_cluster: str,
                                                           redis_server: RedisServer) -> None:
    broker_url = fresh_redis(redis_server)
    database_url = create_database(postgres_cluster, f"q_{uuid.uuid4().hex[:12]}")
    queen = ServerProcess(tmp_path, database_url=database_url, extra=["--broker", broker_url]).start()
    try:
        queen_id = httpx.get(f"{queen.url}/api/health").json()["overall_status"]["Monitored"]["queen_id"]

        async def send() -> None:
            stranger = RedisBroker(broker_url)
            await stranger.start()
            try:
                await stranger.send_result(TaskResult("no-such-request", "no-such-task", 0, "COMPLETED",
                                                      reply_to=queen_id))
            finally:
                await stranger.stop()

        asyncio.run(send())
        deadline = time.monotonic() + 20
        while "no-such-task" not in queen.log_text():
            assert time.monotonic() < deadline, queen.log_text()[-2000:]
            time.sleep(0.1)
        assert httpx.get(f"{queen.url}/api/health").status_code == 200
        with queen.client() as api:
            assert api.get("/api/jobs/requests").json()["TotalRecords"] == 0
    finally:
        queen.stop()


@pytest.mark.parametrize("junk", [b"not json", b'{"kind": "execute"}'])
def test_foreign_entries_on_an_ants_stream_do_not_stop_it(tmp_path: Path, redis_server: RedisServer,
                                                         junk: bytes) -> None:
    import redis

    broker_url = fresh_redis(redis_server)
    ant = AntProcess(tmp_path, broker_url, "sturdy").start()
    client = redis.Redis.from_url(broker_url)
    try:
        deadline = time.monotonic() + 20
        while not client.hexists("myrmica:ants", "sturdy"):
            assert time.monotonic() < deadline, ant.log_text()
            time.sleep(0.1)
        client.xadd("myrmica:ant:sturdy", {"m": junk})
        while "skipped" not in ant.log_text():
            assert time.monotonic() < deadline, ant.log_text()
            time.sleep(0.1)
        assert ant.process is not None and ant.process.poll() is None
    finally:
        client.close()
        ant.stop()
