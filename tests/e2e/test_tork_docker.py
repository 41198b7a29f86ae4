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
                        work_dir=tmp_path / "work", docker_bind_allowed=(str(tmp_path / "shared"),))
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


MOUNTS = """name: tork mounts
tasks:
  - name: mounts, workdir and limits
    image: ubuntu:mantic
    mounts:
      - type: bind
        source: {shared}
        target: /shared
      - type: tmpfs
        target: /scratch
    workdir: /job/here
    files:
      note.txt: noted
    limits:
      memory: 64m
    run: |
      echo "$(pwd) $(cat note.txt)" > /shared/out.txt
      grep -q ' /scratch tmpfs ' /proc/mounts && echo tmpfs >> /shared/out.txt
      cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes
"""


def test_bind_and_tmpfs_mounts_workdir_and_limits_reach_the_container(docker_api: httpx.Client,
                                                                       tmp_path: Path) -> None:
    shared = tmp_path / "shared" / "in"
    job = wait_job(docker_api, post_job(docker_api, MOUNTS.format(shared=shared))["id"], timeout=120)
    assert job["state"] == "COMPLETED", job.get("execution")
    assert (shared / "out.txt").read_text().split() == ["/job/here", "noted", "tmpfs"]
    parts = docker_api.get(f"/tork/jobs/{job['id']}/log").json()["items"]
    assert str(64 * 1024 * 1024) in "".join(part["contents"] for part in parts)


def test_a_bind_mount_outside_the_allowed_directories_fails_its_task(docker_api: httpx.Client,
                                                                    tmp_path: Path) -> None:
    job = wait_job(docker_api, post_job(docker_api, MOUNTS.format(shared=tmp_path / "elsewhere"))["id"],
                   timeout=120)
    assert job["state"] == "FAILED"
    assert "not under an allowed bind directory" in job["execution"][0]["error"]
    assert not (tmp_path / "elsewhere").exists()
