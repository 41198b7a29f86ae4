"""The rest of the Formicary API (issue 16) on one embedded SQLite server: ``skip_if`` decided before a
request waits for an ant, a new version's ``cron_trigger`` re-planning the waiting cron request, job-mode
``fan_out`` (``fork_job_type``) end to end, and the queue and S3 triggers of spec §2.8."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from myrmica.config import Settings
from tests.support.jobs import apply, get_request, submit, wait_for, wait_state
from tests.support.live import LiveServer, live_server

END = ("COMPLETED", "FAILED", "CANCELLED")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"),
                        database_url=f"sqlite:///{tmp_path_factory.mktemp('db') / 'myrmica.db'}",
                        admin_token="myr_test_" + uuid.uuid4().hex, embedded_ant=True, ant_id="embedded-ant",
                        work_dir=tmp_path_factory.mktemp("work"), sandbox="none")
    with live_server(settings) as live:
        yield live


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- skip_if before ants (spec §1.7 step 3) -------------------------------------------------------------

UNRUNNABLE = """job_type: {name}
skip_if: {{{{ .SkipMe }}}}
tasks:
- task_type: only
  method: SHELL
  tags: [no-ant-has-this-tag]
  script: ["echo only-ran"]
"""


def test_a_filtered_request_ends_without_waiting_for_an_ant(api: httpx.Client) -> None:
    name = unique("skip-no-ant")
    apply(api, UNRUNNABLE.format(name=name))
    kept = submit(api, name, {"SkipMe": False})
    filtered = submit(api, name, {"SkipMe": True})
    done = wait_state(api, filtered["id"], END, timeout=10)
    assert (done["job_state"], done["error_code"]) == ("FAILED", "ERR_FILTERED_JOB"), done
    assert done["schedule_attempts"] == 0 and done["execution"] is None, done
    # The other one (not filtered) does wait: no ant has the tag.
    waiting = wait_for(lambda: (r := get_request(api, kept["id"]))["schedule_attempts"] >= 1 and r or None,
                       timeout=10, what="a not-ready pass")
    assert waiting["job_state"] == "PENDING" and "no-ant-has-this-tag" in waiting["error_message"], waiting
    assert api.post(f"/api/jobs/requests/{kept['id']}/cancel").status_code == 200


# --- a new version re-plans the cron request (spec §1.7 "Cron") --------------------------------------------

CRON = """job_type: {name}
{cron}
tasks:
- task_type: tick
  method: SHELL
  script: ["echo {tag}"]
"""


def pending_cron(api: httpx.Client, name: str) -> list[dict[str, Any]]:
    body = api.get("/api/jobs/requests", params={"job_type": name, "job_state": "PENDING"}).json()
    return [r for r in body["Records"] if r["cron_triggered"]]


def test_a_new_version_with_another_cron_re_plans_the_waiting_request(api: httpx.Client) -> None:
    name = unique("replan")
    first = apply(api, CRON.format(name=name, cron='cron_trigger: "0 3 * * *"', tag="v1"))
    (planned,) = pending_cron(api, name)
    assert planned["scheduled_at"].endswith("T03:00:00Z") and planned["job_definition_id"] == first["id"]
    second = apply(api, CRON.format(name=name, cron='cron_trigger: "30 4 * * *"', tag="v2"))
    assert second["id"] != first["id"]
    (replanned,) = pending_cron(api, name)
    assert replanned["id"] != planned["id"] and replanned["job_definition_id"] == second["id"]
    assert replanned["scheduled_at"].endswith("T04:30:00Z"), replanned
    old = get_request(api, planned["id"])
    assert old["job_state"] == "CANCELLED" and "re-planned" in old["error_message"], old
    # Same schedule, new tasks: the waiting request is of the new version (it would run v2's tasks otherwise).
    third = apply(api, CRON.format(name=name, cron='cron_trigger: "30 4 * * *"', tag="v3"))
    (same_time,) = pending_cron(api, name)
    assert same_time["job_definition_id"] == third["id"] and same_time["scheduled_at"] == replanned["scheduled_at"]
    # Re-posting the same text is no new version: nothing moves.
    apply(api, CRON.format(name=name, cron='cron_trigger: "30 4 * * *"', tag="v3"))
    assert [r["id"] for r in pending_cron(api, name)] == [same_time["id"]]
    # A version that drops the cron leaves no cron request.
    apply(api, CRON.format(name=name, cron="", tag="v4"))
    assert pending_cron(api, name) == []
    assert get_request(api, same_time["id"])["job_state"] == "CANCELLED"


# --- job-mode fan-out written Formicary's way: FORK_JOB + fan_out.fork_job_type (spec §2.6) -----------------

FAN_CHILD = """job_type: {name}
tasks:
- task_type: work
  method: SHELL
  script:
    - echo "child works on $dataset (item $dataset_index)"
    - echo "::set-output name=rows::rows-of-$dataset"
"""

# The shape of Formicary's fixtures/fan_out_job_fork_job.yaml, with our child's name.
FAN_PARENT = """job_type: {name}
job_variables:
  datasets: '["ds-1","ds-2"]'
tasks:
  - task_type: setup
    method: SHELL
    script:
      - echo "preparing"
    on_completed: process
  - task_type: process
    method: FORK_JOB
    fan_out:
      source: datasets
      item_var: dataset
      fork_job_type: {child}
      max_parallel: 2
      fail_fast: false
    on_completed: summarize
  - task_type: summarize
    method: SHELL
    script:
      - echo "done FanOutMode={{{{.FanOutMode}}}} count={{{{.FanOutItemCount}}}} first={{{{.dataset_0_rows}}}}"
"""


def test_a_fork_job_task_with_fan_out_fork_job_type_forks_one_child_per_item(api: httpx.Client) -> None:
    child, parent = unique("fan-child"), unique("fan-parent")
    apply(api, FAN_CHILD.format(name=child))
    apply(api, FAN_PARENT.format(name=parent, child=child))
    done = wait_state(api, submit(api, parent)["id"], END, timeout=30)
    assert done["job_state"] == "COMPLETED", done
    process = next(t for t in done["execution"]["tasks"] if t["task_type"] == "process")
    values = {c["name"]: c["value"] for c in process["contexts"]}
    assert values["FanOutMode"] == "job" and str(values["FanOutItemCount"]) == "2", values
    assert values["dataset_0_status"] == values["dataset_1_status"] == "COMPLETED"
    assert (values["dataset_0_rows"], values["dataset_1_rows"]) == ("rows-of-ds-1", "rows-of-ds-2")
    children = api.get("/api/jobs/requests", params={"job_type": child}).json()["Records"]
    assert sorted(c["params"]["dataset"] for c in children) == ["ds-1", "ds-2"]
    assert all(c["parent_id"] == done["id"] and c["cascade_cancel"] for c in children)
    lines = [e["line"] for e in api.get(f"/api/jobs/requests/{done['id']}/logs").json()["lines"]]
    assert "done FanOutMode=job count=2 first=rows-of-ds-1" in lines, lines


def test_a_job_fan_out_keeps_at_most_max_parallel_children_running(api: httpx.Client) -> None:
    child, parent = unique("fan-child"), unique("fan-parent")
    apply(api, FAN_CHILD.format(name=child).replace('    - echo "child works',
                                                    '    - sleep 0.2\n    - echo "child works'))
    apply(api, FAN_PARENT.format(name=parent, child=child).replace('\'["ds-1","ds-2"]\'',
                                                                   '\'["ds-1","ds-2","ds-3","ds-4","ds-5"]\''))
    done = wait_state(api, submit(api, parent)["id"], END, timeout=30)
    assert done["job_state"] == "COMPLETED", done
    children = sorted((get_request(api, c["id"]) for c in
                       api.get("/api/jobs/requests", params={"job_type": child}).json()["Records"]),
                      key=lambda c: int(c["params"]["dataset_index"]))
    assert [c["params"]["dataset"] for c in children] == ["ds-1", "ds-2", "ds-3", "ds-4", "ds-5"]
    for index, made in enumerate(children):  # when each was made, fewer than 2 earlier ones still ran
        running = [c for c in children[:index] if c["execution"]["ended_at"] > made["created_at"]]
        assert len(running) < 2, (index, made["created_at"], [(c["created_at"], c["execution"]["ended_at"])
                                                              for c in children])
