"""In distributed mode tasks on different ants exchange artifacts through S3 (moto's server on 127.0.0.1):
a queen on PostgreSQL and Redis, two standalone ants with different tags, a task on one that keeps a file
and a task on the other that lists it in ``dependencies``."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.conftest import fresh_redis
from tests.integration.test_distributed import Cluster, ants_alive
from tests.support.jobs import wait_for
from tests.support.postgres import create_database
from tests.support.process import AntProcess, ServerProcess
from tests.support.redis_server import RedisServer
from tests.support.s3 import S3Server, moto_s3

JOB = """job_type: handover
tasks:
- task_type: make
  method: SHELL
  tags: [maker]
  script:
    - mkdir -p out && echo made-on-$(hostname)-$JobID > out/made.txt
  artifacts:
    paths: [out]
  on_completed: take
- task_type: take
  method: SHELL
  tags: [taker]
  dependencies: [make]
  script:
    - cat out/made.txt
"""


@pytest.fixture
def s3() -> Iterator[S3Server]:
    with moto_s3() as server:
        yield server


def test_tasks_on_two_ants_exchange_artifacts_through_s3(tmp_path: Path, postgres_cluster: str,
                                                         redis_server: RedisServer, s3: S3Server) -> None:
    bucket = f"art-{uuid.uuid4().hex[:8]}"
    url = s3.url(bucket, "formicary")
    cluster = Cluster(tmp_path, create_database(postgres_cluster, f"a_{uuid.uuid4().hex[:12]}"),
                      fresh_redis(redis_server))
    try:
        data = tmp_path / "queen0"
        data.mkdir()
        queen = ServerProcess(data, database_url=cluster.database_url,
                              extra=["--broker", cluster.broker_url, "--no-embedded-ant", "--artifacts", url]).start()
        cluster.queens.append(queen)
        for name, tag in (("ant-make", "maker"), ("ant-take", "taker")):
            cluster.ants.append(AntProcess(tmp_path, cluster.broker_url, name,
                                           extra=["--tags", tag, "--artifacts", url]).start())
        with queen.client() as api:
            wait_for(lambda: ants_alive(api, {"ant-make", "ant-take"}), timeout=30, what="both ants")
            assert api.post("/api/jobs/definitions", content=JOB,
                            headers={"Content-Type": "application/yaml"}).status_code in (200, 201)
            request_id = api.post("/api/jobs/requests", json={"job_type": "handover"}).json()["id"]
            done = wait_for(lambda: (body := api.get(f"/api/jobs/requests/{request_id}").json())["job_state"]
                            in ("COMPLETED", "FAILED", "CANCELLED") and body, timeout=60, what="the request")
            assert done["job_state"] == "COMPLETED", done
            by_task = {t["task_type"]: t for t in done["execution"]["tasks"]}
            assert (by_task["make"]["ant_id"], by_task["take"]["ant_id"]) == ("ant-make", "ant-take")
            lines = api.get(f"/api/jobs/requests/{request_id}/logs", params={"task_type": "take"}).json()["lines"]
            assert any(f"-{request_id}" in entry["line"] and entry["stream"] == "stdout" for entry in lines), lines
            artifact = by_task["make"]["artifacts"][0]
            assert artifact["bucket"] == bucket
            download = api.get(f"/api/artifacts/{artifact['id']}/download")
            assert download.status_code == 200
            with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
                assert archive.namelist() == ["out/made.txt"]
        objects = boto3.client("s3", endpoint_url=s3.endpoint).list_objects_v2(Bucket=bucket)["Contents"]
        keys = [o["Key"] for o in objects]
        assert len(keys) == 1 and keys[0].startswith("formicary/")
        assert keys[0].endswith(f"/job-{request_id}/make/{by_task['make']['id']}-0.zip")
    finally:
        cluster.stop()
