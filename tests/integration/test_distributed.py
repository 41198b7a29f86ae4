"""Many queens on PostgreSQL and Redis, standalone ants as real processes, and things dying."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import fresh_redis
from tests.support.jobs import wait_for
from tests.support.postgres import create_database
from tests.support.process import AntProcess, ServerProcess
from tests.support.redis_server import RedisServer

SHORT = """job_type: short
max_concurrency: 1000
tasks:
- task_type: work
  method: SHELL
  retry: 3
  delay_between_retries: 10ms
  script:
    - sleep 0.05
    - echo done-$JobID
"""

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}


class Cluster:
    def __init__(self, directory: Path, database_url: str, broker_url: str) -> None:
        self.directory = directory
        self.database_url = database_url
        self.broker_url = broker_url
        self.queens: list[ServerProcess] = []
        self.ants: list[AntProcess] = []

    def queen(self) -> ServerProcess:
        data = self.directory / f"queen{len(self.queens)}"
        data.mkdir()
        queen = ServerProcess(data, database_url=self.database_url,
                              extra=["--broker", self.broker_url, "--no-embedded-ant"]).start()
        self.queens.append(queen)
        return queen

    def ant(self, name: str, capacity: int = 8) -> AntProcess:
        ant = AntProcess(self.directory, self.broker_url, name, capacity=capacity).start()
        self.ants.append(ant)
        return ant

    def stop(self) -> None:
        for process in [*self.ants, *self.queens]:
            process.stop()


@pytest.fixture
def cluster(tmp_path: Path, postgres_cluster: str, redis_server: RedisServer) -> Iterator[Cluster]:
    database_url = create_database(postgres_cluster, f"c_{uuid.uuid4().hex[:12]}")
    running = Cluster(tmp_path, database_url, fresh_redis(redis_server))
    try:
        yield running
    finally:
        running.stop()


def ants_alive(api: httpx.Client, names: set[str]) -> bool:
    return names <= {a["ant_id"] for a in api.get("/api/ants").json()["Records"] if a["alive"]}


def count_done(api: httpx.Client) -> int:
    body = api.get("/api/jobs/requests", params={"job_type": "short", "job_state": "DONE", "page_size": 1}).json()
    return int(body["TotalRecords"])


def submit_one(api: httpx.Client, job_type: str, work: str, ants: set[str]) -> str:
    """Once ``ants`` are alive: a job like SHORT whose task runs ``work`` instead, and one request of it."""
    wait_for(lambda: ants_alive(api, ants), timeout=30, what=f"ants {sorted(ants)} to register")
    job = SHORT.replace("job_type: short", f"job_type: {job_type}").replace("sleep 0.05", work)
    assert api.post("/api/jobs/definitions", content=job,
                    headers={"Content-Type": "application/yaml"}).status_code == 201
    return submit(api, job_type)


def submit(api: httpx.Client, job_type: str) -> str:
    return str(api.post("/api/jobs/requests", json={"job_type": job_type}).json()["id"])


def request(api: httpx.Client, request_id: str) -> dict[str, Any]:
    body: dict[str, Any] = api.get(f"/api/jobs/requests/{request_id}").json()
    return body


def only_task(api: httpx.Client, request_id: str) -> dict[str, Any] | None:
    tasks = (request(api, request_id).get("execution") or {}).get("tasks") or []
    return tasks[0] if len(tasks) == 1 else None


def final(api: httpx.Client, request_id: str, timeout: float = 60) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        body = request(api, request_id)
        return body if body["job_state"] in TERMINAL else None

    return wait_for(ended, timeout=timeout, what=f"request {request_id} to end")


def log_lines(api: httpx.Client, request_id: str) -> list[str]:
    return [entry["line"] for entry in api.get(f"/api/jobs/requests/{request_id}/logs").json()["lines"]]


def test_two_queens_share_the_work_and_see_each_others_requests(cluster: Cluster) -> None:
    first, second = cluster.queen(), cluster.queen()
    cluster.ant("ant-a")
    with first.client() as one, second.client() as two:
        wait_for(lambda: ants_alive(one, {"ant-a"}) and ants_alive(two, {"ant-a"}),
                 timeout=30, what="the ant to register")
        assert one.post("/api/jobs/definitions", content=SHORT,
                        headers={"Content-Type": "application/yaml"}).status_code == 201
        ids = [(one if i % 2 else two).post("/api/jobs/requests", json={"job_type": "short"}).json()["id"]
               for i in range(20)]
        wait_for(lambda: count_done(two) == 20, timeout=60, what="20 requests to end")
        for request_id in ids:
            body = one.get(f"/api/jobs/requests/{request_id}").json()
            assert body["job_state"] == "COMPLETED"
            lines = one.get(f"/api/jobs/requests/{request_id}/logs").json()["lines"]
            assert [entry["line"] for entry in lines if entry["stream"] == "stdout"] == [f"done-{request_id}"]
        health = one.get("/api/health").json()
        assert {s["Monitored"]["name"]: s["Monitored"]["kind"] for s in health["dependent_service_statuses"]} == {
            "database": "postgresql", "artifacts": "filesystem", "broker": "redis"}


def test_cancel_reaches_the_queen_that_runs_the_request(cluster: Cluster) -> None:
    first, second = cluster.queen(), cluster.queen()
    ant = cluster.ant("ant-a")
    slow = SHORT.replace("job_type: short", "job_type: slow").replace("sleep 0.05", "sleep 60")
    with first.client() as one, second.client() as two:
        wait_for(lambda: ants_alive(one, {"ant-a"}), timeout=30, what="the ant to register")
        one.post("/api/jobs/definitions", content=slow, headers={"Content-Type": "application/yaml"})
        request_id = one.post("/api/jobs/requests", json={"job_type": "slow"}).json()["id"]
        wait_for(lambda: one.get(f"/api/jobs/requests/{request_id}").json()["job_state"] == "EXECUTING", timeout=30,
                 what="the request to run")
        # whichever queen runs it, cancel through both: one of them does not run it
        for api in (one, two):
            response = api.post(f"/api/jobs/requests/{request_id}/cancel")
            assert response.status_code in (200, 409)
        body = one.get(f"/api/jobs/requests/{request_id}").json()
        assert body["job_state"] == "CANCELLED"
        wait_for(lambda: all(t["task_state"] == "CANCELLED" for t in
                             one.get(f"/api/jobs/requests/{request_id}").json()["execution"]["tasks"]), timeout=30,
                 what="the task to be cancelled")
        assert "ERR_JOB_CANCELLED" in ant.log_text() or ant.process is not None


def test_chaos_one_ant_and_one_queen_killed(cluster: Cluster) -> None:
    """300 short requests over two ants and two queens; one of each dies by kill -9 at a random moment."""
    seed = int(time.time())
    rng = random.Random(seed)
    first, second = cluster.queen(), cluster.queen()
    victim_ant, survivor_ant = cluster.ant("ant-a"), cluster.ant("ant-b")
    with second.client() as api, first.client() as doomed:
        wait_for(lambda: ants_alive(api, {"ant-a", "ant-b"}), timeout=30, what="both ants to register")
        assert api.post("/api/jobs/definitions", content=SHORT,
                        headers={"Content-Type": "application/yaml"}).status_code == 201
        ids: list[str] = []
        # Random moments, but mid-run: the ant dies once a random number of requests have ended, the
        # queen some more later, while both still have work in flight.
        ant_dies_at = rng.randint(20, 100)
        queen_dies_at = rng.randint(ant_dies_at + 10, 180)
        done_at_kills: list[int] = []
        failures: list[BaseException] = []

        def kill_at_random_moments() -> None:
            try:
                with second.client() as watcher:
                    wait_for(lambda: count_done(watcher) >= ant_dies_at, timeout=120, what="the ant's moment")
                    victim_ant.kill9()
                    done_at_kills.append(count_done(watcher))
                    wait_for(lambda: count_done(watcher) >= queen_dies_at, timeout=120, what="the queen's moment")
                    first.kill9()
                    done_at_kills.append(count_done(watcher))
            except BaseException as exc:  # surfaced by the test below, not lost in the thread
                failures.append(exc)

        kills = threading.Thread(target=kill_at_random_moments)
        kills.start()
        for i in range(300):
            client = doomed if i % 2 and first.process and first.process.poll() is None else api
            try:
                ids.append(client.post("/api/jobs/requests", json={"job_type": "short"}).json()["id"])
            except httpx.HTTPError:
                ids.append(api.post("/api/jobs/requests", json={"job_type": "short"}).json()["id"])
        kills.join()
        assert not failures, (seed, failures)
        assert len(done_at_kills) == 2 and max(done_at_kills) < len(ids), (seed, done_at_kills)  # mid-run
        wait_for(lambda: count_done(api) >= len(ids), timeout=240, what=f"all requests to end (seed {seed})")
        # (a submit cut off by the queen's death may have been stored too: it counts above, but not here)
        pending = set(ids)

        def each_ended() -> bool:
            pending.difference_update([i for i in list(pending)
                                       if api.get(f"/api/jobs/requests/{i}").json()["job_state"] in TERMINAL])
            return not pending

        wait_for(each_ended, timeout=60, what=f"each submitted request to end (seed {seed})")
        states: dict[str, int] = {}
        for request_id in ids:
            body = api.get(f"/api/jobs/requests/{request_id}").json()
            states[body["job_state"]] = states.get(body["job_state"], 0) + 1
            tasks = body["execution"]["tasks"]
            assert len(tasks) == 1, (seed, request_id, tasks)  # the task's final attempt recorded exactly once
            assert tasks[0]["task_state"] == "COMPLETED", (seed, request_id, tasks[0])
        assert states == {"COMPLETED": len(ids)}, (seed, states)
        assert survivor_ant.process is not None and survivor_ant.process.poll() is None


def test_a_late_result_after_a_split_is_recorded_once_and_never_over_the_newer_attempt(cluster: Cluster) -> None:
    """An ant cut off (SIGSTOP) mid-task is declared lost; its task is retried on another ant; when the
    cut-off ant comes back (SIGCONT) and reports the old attempt's result, that result is ignored."""
    queen = cluster.queen()
    split = cluster.ant("split")
    with queen.client() as api:
        request_id = submit_one(api, "split", "echo started; sleep 6", {"split"})

        def runs_on(ant_id: str) -> bool:
            task = only_task(api, request_id)
            return task is not None and task["task_state"] == "EXECUTING" and task["ant_id"] == ant_id

        wait_for(lambda: runs_on("split"), timeout=30, what="the task to run on the first ant")
        assert split.process is not None
        split.process.send_signal(signal.SIGSTOP)  # the split: no heartbeat, no result, its shell runs on
        try:
            cluster.ant("healthy")
            wait_for(lambda: runs_on("healthy"), timeout=60,
                     what="the task to be retried on the other ant once the first is declared lost")
        finally:
            split.process.send_signal(signal.SIGCONT)  # back: it reports the old attempt's result
        late = "attempt 0 has no waiting supervisor"
        wait_for(lambda: late in queen.log_text(), timeout=30, what="the late result to reach the queen")
        assert request(api, request_id)["job_state"] == "EXECUTING"  # not ended by it
        body = final(api, request_id, timeout=30)
        assert body["job_state"] == "COMPLETED", body
        tasks = body["execution"]["tasks"]
        assert len(tasks) == 1, tasks  # recorded once
        assert tasks[0]["ant_id"] == "healthy" and tasks[0]["retried"] == 1, tasks[0]  # the newer attempt's record
        assert "ant split lost" in queen.log_text()


def test_queens_started_together_on_a_fresh_database_all_come_up(tmp_path: Path, postgres_cluster: str,
                                                                  redis_server: RedisServer) -> None:
    """Each creates the schema, the admin user and the configured token if missing: together, once."""
    database_url = create_database(postgres_cluster, f"c_{uuid.uuid4().hex[:12]}")
    broker_url = fresh_redis(redis_server)
    queens = []
    for n in range(3):
        (tmp_path / f"queen{n}").mkdir()
        queens.append(ServerProcess(tmp_path / f"queen{n}", database_url=database_url,
                                    extra=["--broker", broker_url, "--no-embedded-ant"]))
    try:
        with ThreadPoolExecutor(len(queens)) as pool:
            list(pool.map(ServerProcess.start, queens))
        for queen in queens:
            with queen.client() as api:
                assert api.get("/api/ants").status_code == 200
    finally:
        for queen in queens:
            queen.stop()


def test_an_ant_on_sigterm_finishes_its_task_takes_no_more_and_exits(cluster: Cluster) -> None:
    queen = cluster.queen()
    leaving = cluster.ant("leaving")
    with queen.client() as api:
        first = submit_one(api, "drain", "sleep 2", {"leaving"})
        wait_for(lambda: (task := only_task(api, first)) is not None and task["task_state"] == "EXECUTING",
                 timeout=30, what="the task to run")
        assert leaving.process is not None
        leaving.process.send_signal(signal.SIGTERM)
        wait_for(lambda: not ants_alive(api, {"leaving"}), timeout=30, what="the ant to stop taking work")
        second = submit(api, "drain")
        cluster.ant("staying")
        for request_id, ant_id in ((first, "leaving"), (second, "staying")):
            body = final(api, request_id)
            assert body["job_state"] == "COMPLETED", body
            task = body["execution"]["tasks"][0]
            assert (task["ant_id"], task["retried"]) == (ant_id, 0), task  # finished where it ran, no retry
        assert leaving.process.wait(timeout=30) == 0, leaving.log_text()[-2000:]


def test_logs_follow_through_either_queen_while_the_request_runs(cluster: Cluster) -> None:
    first, second = cluster.queen(), cluster.queen()
    cluster.ant("ant-a")
    with first.client() as api:
        request_id = submit_one(api, "talk", "echo start; sleep 2", {"ant-a"})
        followers = [subprocess.Popen([sys.executable, "-m", "myrmica", "--url", queen.url, "--token", queen.token,
                                       "logs", "-f", request_id], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True) for queen in (first, second)]
        try:
            # one of the two queens runs the request, the other only hears of it through Redis
            outputs = [follower.communicate(timeout=60) for follower in followers]
        finally:
            for follower in followers:
                if follower.poll() is None:
                    follower.kill()
        assert request(api, request_id)["job_state"] == "COMPLETED"
    for follower, (stdout, stderr) in zip(followers, outputs, strict=True):
        assert follower.returncode == 0, stderr
        assert stdout.splitlines() == ["[work] start", f"[work] done-{request_id}"], (stdout, stderr)


def test_a_queen_killed_mid_task_is_replaced_and_the_running_task_is_recorded_not_rerun(cluster: Cluster) -> None:
    doomed = cluster.queen()
    cluster.ant("ant-a")
    with doomed.client() as api:
        request_id = submit_one(api, "adopted", "echo start; sleep 3", {"ant-a"})
        wait_for(lambda: request(api, request_id)["job_state"] == "EXECUTING", timeout=30,
                 what="the request to run on the first queen")
    # Killed before its heir starts, so that the task is surely still running when it dies (a slow start
    # of the heir must not let the first queen finish the request itself).
    doomed.kill9()  # its task goes on on the ant, and its result goes to the dead queen's reply stream
    heir = cluster.queen()
    with heir.client() as api:
        body = final(api, request_id, timeout=90)
        assert body["job_state"] == "COMPLETED", body
        task = body["execution"]["tasks"][0]
        assert (task["task_state"], task["retried"], task["ant_id"]) == ("COMPLETED", 0, "ant-a"), task
        assert log_lines(api, request_id) == ["start", f"done-{request_id}"]  # ran once, its log kept
    assert f"resuming request {request_id}" in heir.log_text()
