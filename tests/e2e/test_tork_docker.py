"""A Tork task with ``image`` on the DOCKER executor when the server has a Docker engine (a real dockerd of
our own; skipped, saying why, when it cannot start). The image name is mapped to the local busybox test image
by ``docker_image_map``, as for Formicary's DOCKER tasks. Embedded mode (SQLite) only."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from myrmica.config import Settings
from tests.support.docker_engine import TEST_IMAGE, DockerEngine
from tests.support.live import live_server
from tests.support.tork import post_job, wait_job

JOB = """name: tork in docker
output: "{{ tasks.where }}"
tasks:
  - name: in a container
    image: ubuntu:mantic
    var: where
    env:
      WHO: "{{ inputs.who }}"
    files:
      note.txt: hello
    run: |
      echo "running in $(test -e /.dockerenv && echo docker || echo the host)"
      echo -n "$WHO $(cat note.txt) $(test -e /.dockerenv && echo docker)" > $TORK_OUTPUT
inputs:
  who: tork
"""


@pytest.fixture
def docker_api(docker_engine: DockerEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
               ) -> Iterator[httpx.Client]:
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'myrmica.db'}",
                        admin_token="myr_test_" + uuid.uuid4().hex, embedded_ant=True, ant_id="embedded-ant",
                        docker_host=docker_engine.host, docker_image_map=(f"ubuntu:mantic={TEST_IMAGE}",),
                        work_dir=tmp_path / "work")
    monkeypatch.setenv("MYRMICA_CREDENTIALS", str(tmp_path / "credentials.json"))
    with live_server(settings) as live, live.client() as client:
        yield client


def test_a_tork_task_with_an_image_runs_in_a_container(docker_api: httpx.Client, docker_engine: DockerEngine
                                                       ) -> None:
    job = wait_job(docker_api, post_job(docker_api, JOB)["id"], timeout=120)
    assert (job["state"], job.get("result")) == ("COMPLETED", "tork hello docker"), job.get("execution")
    parts = docker_api.get(f"/tork/jobs/{job['id']}/log").json()["items"]
    assert "running in docker" in "".join(part["contents"] for part in parts)
    assert docker_engine.containers("label=io.myrmica.job_type") == []
