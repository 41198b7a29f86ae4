"""Tork's composite tasks on Myrmica's core composites, through /tork on one embedded server (SQLite, the
embedded ant running real shell tasks): the project's own ``examples/tork/`` files (always), ``parallel``,
``each`` (a non-list refused at submit when it can be known, else the task FAILED with Tork's words),
``subjob`` attached and detached (cancelling either cancels the other), ``pre``/``post``, a templated
``queue`` and the read shapes (``parallel.tasks``, ``each``, ``subjob.id``, ``position``, ``taskCount``,
``progress``) of GET /tork/jobs/{id} and /tork/tasks/{id}."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from myrmica.config import Settings
from tests.support.examples import PROJECT_EXAMPLES
from tests.support.live import live_server
from tests.support.tork import YAML, get_job, post_job, wait_job

TORK_OWN = PROJECT_EXAMPLES / "tork"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    root = tmp_path_factory.mktemp("tork-composites")
    settings = Settings(data_dir=root / "data", database_url=f"sqlite:///{root / 'myrmica.db'}",
                        admin_token="myr_test_" + uuid.uuid4().hex, embedded_ant=True, ant_id="embedded-ant",
                        work_dir=root / "work")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MYRMICA_CREDENTIALS", str(root / "credentials.json"))
        with live_server(settings) as live, live.client() as client:
            yield client


def _execution(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("execution") or [])


def _log(api: httpx.Client, job_id: str) -> list[str]:
    parts = api.get(f"/tork/jobs/{job_id}/log", params={"size": 100}).json()["items"]
    return [line for part in reversed(parts) for line in part["contents"].splitlines()]


def _named(job: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in _execution(job) if t.get("name") == name)


# --- the project's own examples ---------------------------------------------------------------------

EXPECTED = {  # file: (state, result, executions)
    "hello.yaml": ("COMPLETED", "hello world", 1),
    "each.yaml": ("COMPLETED", "1-2-3 / a:0 b:1", 9),
    "parallel.yaml": ("COMPLETED", "left+right", 5),
    "subjob.yaml": ("COMPLETED", "child says hi", 3),
    "prepost.yaml": ("COMPLETED", "main saw pre=, env=main", 1),
    "expressions.yaml": ("COMPLETED", "HELLO 11 [a b]", 4),
}


@pytest.fixture(scope="module")
def own_examples(api: httpx.Client) -> dict[str, dict[str, Any]]:
    """Every file of examples/tork/, submitted at once, once each has ended."""
    ids = {path.name: post_job(api, path.read_text())["id"] for path in sorted(TORK_OWN.glob("*.yaml"))}
    return {name: wait_job(api, job_id, timeout=60) for name, job_id in ids.items()}


def test_every_own_example_is_expected(own_examples: dict[str, dict[str, Any]]) -> None:
    assert sorted(own_examples) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_own_example_runs_to_its_documented_result(own_examples: dict[str, dict[str, Any]], name: str) -> None:
    job = own_examples[name]
    state, result, executions = EXPECTED[name]
    assert (job["state"], job.get("result"), len(_execution(job))) == (state, result, executions), \
        _execution(job)
    assert job["position"] == job["taskCount"] + 1 and job["progress"] == 100


def test_parallel_read_shapes(api: httpx.Client, own_examples: dict[str, dict[str, Any]]) -> None:
    job = own_examples["parallel.yaml"]
    parent = _named(job, "both sides")
    assert parent["position"] == 2 and parent["state"] == "COMPLETED"
    assert [t["name"] for t in parent["parallel"]["tasks"]] == ["left", "right"]
    assert parent["parallel"]["completions"] == 2
    children = [t for t in _execution(job) if t.get("parentId") == parent["id"]]
    assert sorted(t["name"] for t in children) == ["left", "right"]
    assert {t["position"] for t in children} == {2} and {t["state"] for t in children} == {"COMPLETED"}
    left = api.get(f"/tork/tasks/{_named(job, 'left')['id']}").json()
    assert (left["parentId"], left["position"], left["result"], left["var"]) == (parent["id"], 2, "left", "left")
    assert job["context"]["tasks"]["joined"] == "left+right"


def test_each_read_shapes_and_item_index_is_a_string(own_examples: dict[str, dict[str, Any]]) -> None:
    job = own_examples["each.yaml"]
    parent = _named(job, "numbers")
    assert parent["each"]["size"] == 3 and parent["each"]["completions"] == 3
    assert parent["each"]["concurrency"] == 2 and parent["each"]["task"]["name"] == "number {{ item.index }}"
    children = sorted((t for t in _execution(job) if t.get("parentId") == parent["id"]), key=lambda t: t["result"])
    assert [(t["position"], t["result"]) for t in children] == [(2, "1"), (2, "2"), (2, "3")]
    assert job["context"]["tasks"]["la"] == "a:0" and job["context"]["tasks"]["n2"] == "3"


def test_subjob_read_shapes(api: httpx.Client, own_examples: dict[str, dict[str, Any]]) -> None:
    job = own_examples["subjob.yaml"]
    attached = _named(job, "attached")
    assert attached["result"] == "child says hi" and attached["subjob"]["name"] == "the child"
    child = wait_job(api, attached["subjob"]["id"])
    assert (child["state"], child["result"], child["name"]) == ("COMPLETED", "child says hi", "the child")
    assert child["inputs"] == {"word": "{{ inputs.greeting }}"} or child["inputs"] == {"word": "hi"}
    assert _named(child, "speak")["result"] == "hi"
    detached = _named(job, "detached")
    assert detached["state"] == "COMPLETED" and detached["subjob"]["detached"] is True
    assert wait_job(api, detached["subjob"]["id"])["state"] == "COMPLETED"


def test_pre_and_post_run_in_order_around_the_task(api: httpx.Client,
                                                    own_examples: dict[str, dict[str, Any]]) -> None:
    job = own_examples["prepost.yaml"]
    lines = _log(api, job["id"])
    assert [line for line in lines if line.endswith(" ran")] == ["pre ran", "main ran", "post ran"]


def test_a_failing_pre_task_fails_the_task_and_the_main_never_runs(api: httpx.Client) -> None:
    job = wait_job(api, post_job(api, "name: bad pre\ntasks:\n  - name: t\n    pre:\n      - name: p\n"
                                      "        run: exit 3\n    run: echo main ran\n")["id"])
    assert job["state"] == "FAILED" and _execution(job)[0]["state"] == "FAILED"
    assert "main ran" not in _log(api, job["id"])


# --- each lists -------------------------------------------------------------------------------------

def test_an_each_over_a_non_list_known_at_submit_is_a_400_and_nothing_is_stored(api: httpx.Client) -> None:
    before = api.get("/tork/jobs").json()["totalItems"]
    for listed in ("'{{ 5 }}'", "'{{ inputs.x }}'", "'{{ \"text\" }}'"):
        body = (f"name: bad each\ninputs: {{x: abc}}\ntasks:\n  - name: e\n    each:\n      list: {listed}\n"
                "      task: {name: c, run: echo}\n")
        response = api.post("/tork/jobs", content=body, headers=YAML)
        assert (response.status_code, response.json()) == (400, {"message": "each.list does not evaluate to a list"})
    assert api.get("/tork/jobs").json()["totalItems"] == before


def test_an_each_over_a_non_list_known_only_at_run_time_fails_the_task(api: httpx.Client) -> None:
    body = ("name: late each\ntasks:\n  - name: first\n    var: x\n    run: echo -n 7 > $TORK_OUTPUT\n"
            "  - name: e\n    each:\n      list: '{{ tasks.x }}'\n      task: {name: c, run: echo}\n")
    job = wait_job(api, post_job(api, body)["id"])
    assert job["state"] == "FAILED"
    each = _named(job, "e")
    assert (each["state"], each["error"]) == ("FAILED", "each.list does not evaluate to a list")


# --- cancelling sub-jobs ----------------------------------------------------------------------------

SLOW_SUBJOB = """name: slow parent
tasks:
  - name: waits
    subjob:
      name: slow child
      tasks:
        - name: sleeps
          run: echo child started; sleep 600
"""


def _child_id(api: httpx.Client, parent_id: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        task = next(iter(_execution(get_job(api, parent_id))), None)
        if task and (task.get("subjob") or {}).get("id"):
            child_id = str(task["subjob"]["id"])
            if get_job(api, child_id)["state"] == "RUNNING":
                return child_id
        time.sleep(0.05)  # nothing announces the fork over HTTP: look again shortly
    raise AssertionError("the sub-job did not start")


def test_cancelling_the_parent_cancels_its_subjob(api: httpx.Client) -> None:
    parent = post_job(api, SLOW_SUBJOB)["id"]
    child = _child_id(api, parent)
    assert api.put(f"/tork/jobs/{parent}/cancel").json() == {"status": "OK"}
    assert wait_job(api, parent)["state"] == "CANCELLED"
    assert wait_job(api, child)["state"] == "CANCELLED"


def test_cancelling_the_subjob_cancels_its_parent(api: httpx.Client) -> None:
    parent = post_job(api, SLOW_SUBJOB)["id"]
    child = _child_id(api, parent)
    assert api.put(f"/tork/jobs/{child}/cancel").json() == {"status": "OK"}
    assert wait_job(api, child)["state"] == "CANCELLED"
    assert wait_job(api, parent)["state"] == "CANCELLED"


# --- image ------------------------------------------------------------------------------------------

def test_an_image_without_a_docker_engine_is_refused_naming_the_gap(api: httpx.Client) -> None:
    response = api.post("/tork/jobs", content="name: img\ntasks:\n  - name: t\n    image: alpine\n    run: echo\n",
                        headers=YAML)
    assert response.status_code == 400
    assert response.json()["message"].startswith("not supported by this server yet: image (a Docker engine")
