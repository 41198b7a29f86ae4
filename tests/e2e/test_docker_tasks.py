"""Formicary definitions with ``method: DOCKER`` through a real server, on a real Docker engine.

The registry image (``alpine``) runs as the local busybox test image through ``docker_image_map``.
Embedded (SQLite: the ant in its own process) and distributed (PostgreSQL + Redis: the ant in the server).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from myrmica.config import Settings
from tests.conftest import fresh_redis
from tests.support.docker_engine import TEST_IMAGE, DockerEngine
from tests.support.jobs import TERMINAL, apply, job_context, log_text, run, submit, task, wait_for, wait_state
from tests.support.live import live_server
from tests.support.postgres import create_database

DOCKER_JOB = """job_type: e2e-docker
tasks:
- task_type: build
  method: DOCKER
  container:
    image: alpine:3.19
    memory_limit: 64Mi
  environment:
    GREETING: hello
  before_script:
    - echo prepared > /tmp/state
  script:
    - echo "$GREETING from $(cat /tmp/state) container"
    - echo "::set-output name=Built::yes"
  after_script:
    - echo cleaning up
  on_completed: check
- task_type: check
  method: DOCKER
  container:
    image: alpine
  script:
    - echo "check sees Built=$Built"
"""


@pytest.fixture(params=["sqlite", "postgresql+redis"])
def docker_api(request: pytest.FixtureRequest, docker_engine: DockerEngine,
               tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[httpx.Client]:
    if request.param == "sqlite":
        database_url, broker_url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'myrmica.db'}", ""
    else:
        database_url = create_database(request.getfixturevalue("postgres_cluster"), f"t_{uuid.uuid4().hex[:12]}")
        broker_url = fresh_redis(request.getfixturevalue("redis_server"))
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), database_url=database_url, broker_url=broker_url,
                        admin_token="myr_test_" + uuid.uuid4().hex, embedded_ant=True, ant_id="embedded-ant",
                        docker_host=docker_engine.host, docker_image_map=(f"alpine={TEST_IMAGE}",),
                        work_dir=tmp_path_factory.mktemp("work"))
    monkeypatch.setenv("MYRMICA_CREDENTIALS", str(tmp_path_factory.mktemp("cli") / "credentials.json"))
    with live_server(settings) as live, live.client() as client:
        yield client


def test_a_formicary_docker_job_completes(docker_api: httpx.Client, docker_engine: DockerEngine) -> None:
    ants = docker_api.get("/api/ants").json()
    assert "DOCKER" in str(ants), ants
    apply(docker_api, DOCKER_JOB)
    done = run(docker_api, "e2e-docker", timeout=120)
    assert done["job_state"] == "COMPLETED", (done.get("error_message"), log_text(docker_api, done["id"]))
    lines = log_text(docker_api, done["id"], "build")
    assert "hello from prepared container" in lines and "cleaning up" in lines
    assert "check sees Built=yes" in log_text(docker_api, done["id"], "check")
    assert task(done, "check")["exit_code"] == "0"
    assert job_context(done).get("Built") == "yes"
    assert docker_engine.containers(f"label=io.myrmica.request_id={done['id']}") == []


LONG_JOB = """job_type: e2e-docker-long
tasks:
- task_type: wait
  method: DOCKER
  container:
    image: alpine
  script:
    - echo waiting; sleep 600
"""


def test_executors_lists_a_live_container_and_delete_stops_it(docker_api: httpx.Client,
                                                              docker_engine: DockerEngine) -> None:
    apply(docker_api, LONG_JOB)
    request = submit(docker_api, "e2e-docker-long")

    def listed() -> dict[str, Any] | None:
        records = docker_api.get("/api/executors").json()["Records"]
        return next((r for r in records if r.get("container_name")), None)

    record = wait_for(listed, timeout=60, what="the container in /api/executors")
    assert record["event_type"] == "ContainerLifecycleEvent" and record["method"] == "DOCKER"
    assert record["container_state"] == "EXECUTING" and record["ant_id"] == "embedded-ant"
    assert record["labels"]["io.myrmica.request_id"] == request["id"]
    assert record["labels"]["io.myrmica.task_type"] == "wait"
    assert docker_engine.containers(f"id={record['container_id']}") == [record["container_id"]]
    response = docker_api.delete(f"/api/executors/{record['container_id']}")
    assert response.status_code == 200, response.text
    assert response.json()["id"] == record["id"]
    done = wait_state(docker_api, request["id"], TERMINAL, timeout=60)
    assert done["job_state"] in ("FAILED", "CANCELLED"), done
    assert docker_engine.containers(f"label=io.myrmica.request_id={request['id']}") == []
