"""Tork's own example jobs (``../shared/examples/tork/``, verbatim from runabol/tork) POSTed to /tork/jobs on one
embedded server, each to Tork's documented result (spec/tork.md §4, §5: hello 1 execution with "hello world",
parallel 9, each 12 — ``sequence`` excludes its stop —, subjob 6, timeout FAILED).

Every file names an ``image``; there is no Docker engine here, so the server runs them on the shell runtime
(``tork_image_on_shell``, the documented setting). ``retry.yaml`` (``entrypoint``) and ``prepost.yaml``
(a ``volume`` mount) use container fields the shell cannot honour: they are refused with a 400 naming the
gap, never run differently; on a server with a Docker engine (our own dockerd, busybox test image; skipped
saying why when it cannot start) they run: retry's ``entrypoint`` runs ``run``, prepost's pre task writes the
task's volume. The directory exists only in the project's workspace: elsewhere (a fresh clone)
this module is skipped (tests/support/examples.py); the project's own examples/tork/ run in
test_tork_composites.py.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from myrmica.config import Settings
from tests.support.docker_engine import TEST_IMAGE, DockerEngine
from tests.support.examples import NO_SHARED_EXAMPLES, TORK_EXAMPLES
from tests.support.live import live_server
from tests.support.tork import YAML, wait_job

if not TORK_EXAMPLES.is_dir():
    pytest.skip(NO_SHARED_EXAMPLES, allow_module_level=True)

RUNS = {  # file: (state, result pattern or None, executions)
    "hello.yaml": ("COMPLETED", "hello world", 1),
    "job_output.yaml": ("COMPLETED", r"hello \d+", 1),
    "parallel.yaml": ("COMPLETED", None, 9),
    "each.yaml": ("COMPLETED", None, 12),
    "subjob.yaml": ("COMPLETED", None, 6),
    "timeout.yaml": ("FAILED", None, 1),
}
REFUSED = {"retry.yaml": "container", "prepost.yaml": "container"}  # file: the gap its 400 names


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    root = tmp_path_factory.mktemp("tork-examples")
    settings = Settings(data_dir=root / "data", database_url=f"sqlite:///{root / 'myrmica.db'}",
                        admin_token="myr_test_" + uuid.uuid4().hex, embedded_ant=True, ant_id="embedded-ant",
                        work_dir=root / "work", tork_image_on_shell=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MYRMICA_CREDENTIALS", str(root / "credentials.json"))
        with live_server(settings) as live, live.client() as client:
            yield client


@pytest.fixture(scope="module")
def answers(api: httpx.Client) -> dict[str, httpx.Response]:
    return {path.name: api.post("/tork/jobs", content=path.read_text(), headers=YAML)
            for path in sorted(TORK_EXAMPLES.glob("*.yaml"))}


@pytest.fixture(scope="module")
def ended(api: httpx.Client, answers: dict[str, httpx.Response]) -> dict[str, dict[str, Any]]:
    """Every accepted example once it has ended (they run at the same time)."""
    return {name: wait_job(api, answer.json()["id"], timeout=60) for name, answer in answers.items()
            if answer.status_code == 200}


def test_every_example_is_accounted_for(answers: dict[str, httpx.Response]) -> None:
    assert sorted(answers) == sorted({**RUNS, **REFUSED})


@pytest.mark.parametrize("name", sorted(RUNS))
def test_example_runs_to_tork_s_documented_result(ended: dict[str, dict[str, Any]], name: str) -> None:
    state, result, executions = RUNS[name]
    job = ended[name]
    assert job["state"] == state, job.get("execution")
    assert len(job.get("execution") or []) == executions, [t.get("name") for t in job.get("execution") or []]
    if result is not None:
        assert re.fullmatch(result, job.get("result", "")), job.get("result")


def test_each_gives_tork_s_results_by_item(ended: dict[str, dict[str, Any]]) -> None:
    kept = ended["each.yaml"]["context"]["tasks"]
    assert {k: kept[k] for k in sorted(kept)} == {f"eachTask{i}": str(i + 1) for i in range(4)}


def test_the_subjob_output_is_its_parent_task_s_result(ended: dict[str, dict[str, Any]]) -> None:
    job = ended["subjob.yaml"]
    assert job["context"]["tasks"]["subJobOutput"] == "data"
    attached = next(t for t in job["execution"] if t["name"] == "sub job with output")
    assert attached["result"] == "data" and attached["subjob"]["id"]


def test_the_timeout_example_fails_its_task_on_the_deadline(ended: dict[str, dict[str, Any]]) -> None:
    task = ended["timeout.yaml"]["execution"][0]
    assert task["state"] == "FAILED" and task["error"] == "context deadline exceeded", task


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_example_using_container_fields_is_refused_naming_the_gap(answers: dict[str, httpx.Response],
                                                                   name: str) -> None:
    answer = answers[name]
    assert answer.status_code == 400
    assert answer.json()["message"].startswith(f"not supported by this server yet: {REFUSED[name]} (")


@pytest.fixture(scope="module")
def docker_ended(docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """retry.yaml and prepost.yaml on a server with a Docker engine, once they have ended."""
    root = tmp_path_factory.mktemp("tork-examples-docker")
    settings = Settings(data_dir=root / "data", database_url=f"sqlite:///{root / 'myrmica.db'}",
                        admin_token="myr_test_" + uuid.uuid4().hex, embedded_ant=True, ant_id="embedded-ant",
                        work_dir=root / "work", docker_host=docker_engine.host,
                        docker_image_map=(f"ubuntu:mantic={TEST_IMAGE}",))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MYRMICA_CREDENTIALS", str(root / "credentials.json"))
        with live_server(settings) as live, live.client() as client:
            answers = {name: client.post("/tork/jobs", content=(TORK_EXAMPLES / name).read_text(), headers=YAML)
                       for name in sorted(REFUSED)}
            assert {n: a.status_code for n, a in answers.items()} == dict.fromkeys(REFUSED, 200), answers
            return {name: wait_job(client, answer.json()["id"], timeout=120) for name, answer in answers.items()}


def test_prepost_shares_its_volume_with_the_pre_task(docker_ended: dict[str, dict[str, Any]],
                                                     docker_engine: DockerEngine) -> None:
    job = docker_ended["prepost.yaml"]
    assert (job["state"], job["execution"][0].get("result")) == ("COMPLETED", "im a pre task\n"), job
    assert docker_engine.docker("volume", "ls", "-q").strip() == ""  # removed with the task's container


def test_retry_runs_its_entrypoint_at_most_three_times(docker_ended: dict[str, dict[str, Any]]) -> None:
    job = docker_ended["retry.yaml"]
    assert job["state"] in ("COMPLETED", "FAILED"), job
    task = job["execution"][-1]
    retries = task["retry"]["attempts"]  # retries after the first run: limit 2, at most 3 runs
    assert retries == 2 if job["state"] == "FAILED" else 0 <= retries <= 2, task
    if job["state"] == "COMPLETED":
        assert task.get("result") == "heads"
