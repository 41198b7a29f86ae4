"""Parallel work inside a job: task fan-out over a list, and forked child jobs awaited by their parent."""

from __future__ import annotations

import httpx

from tests.support.jobs import (
    TERMINAL,
    apply,
    contexts,
    get_request,
    job_context,
    job_dir,
    list_requests,
    log_text,
    read_pid,
    run,
    submit,
    task,
    task_types,
    wait_for,
    wait_state,
)
from tests.support.live import LiveServer

FAN_OUT = """job_type: e2e-fan-out
job_variables:
  Regions: '["us", "eu", "ap", "sa"]'
tasks:
- task_type: deploy
  method: SHELL
  fan_out:
    source: Regions
    item_var: region
    max_parallel: 2
  script:
    - echo "deploying $region"
    - touch "$MYRMICA_JOB_DIR/running.$region"; sleep 0.3;
      ls "$MYRMICA_JOB_DIR" | grep -c '^running' >> "$MYRMICA_JOB_DIR/observed";
      rm "$MYRMICA_JOB_DIR/running.$region"
    - echo "::set-output name=deployed::done-$region"
  on_completed: report
- task_type: report
  method: SHELL
  script:
    - echo "report count=$FanOutItemCount first=$region_0_status"
"""


def test_fan_out_runs_one_item_per_list_element_with_bounded_parallelism(api: httpx.Client, server: LiveServer
                                                                         ) -> None:
    apply(api, FAN_OUT)
    done = run(api, "e2e-fan-out", timeout=20)
    assert done["job_state"] == "COMPLETED", done
    assert task_types(done) == ["deploy", "report"]
    deploy = task(done, "deploy")
    assert deploy["task_state"] == "COMPLETED"
    items = deploy.get("items") or []
    assert [item["item_index"] for item in items] == [0, 1, 2, 3]
    assert all(item["task_state"] == "COMPLETED" and item["exit_code"] == "0" for item in items), items
    assert all(item["ant_id"] == "embedded-ant" for item in items)

    regions = ["us", "eu", "ap", "sa"]
    lines = log_text(api, done["id"])
    for region in regions:
        assert f"deploying {region}" in lines
    observed = [int(n) for n in (job_dir(server, done["id"]) / "observed").read_text().split()]
    assert len(observed) == 4 and max(observed) <= 2, observed

    result = contexts(deploy["contexts"])
    assert result["FanOutItemCount"] == "4"
    assert result["FanOutMode"] == "task"
    for index, region in enumerate(regions):
        assert result[f"region_{index}_status"] == "COMPLETED"
        assert result[f"region_{index}_exit_code"] == "0"
        assert result[f"region_{index}_deployed"] == f"done-{region}"
    # The merged results are job context too: later tasks see them.
    assert "report count=4 first=COMPLETED" in lines


CHILD = """job_type: e2e-child
tasks:
- task_type: work
  method: SHELL
  script:
    - echo "child got $Input"
    - echo "::set-output name=ChildResult::result-$Input"
"""

PARENT = """job_type: e2e-parent
tasks:
- task_type: fork
  method: FORK_JOB
  fork_job_type: e2e-child
  sub_workflow:
    input_params:
      - name: Input
        value: "{{ .Seed }}"
  on_completed: wait
- task_type: wait
  method: AWAIT_FORKED_JOB
  await_forked_tasks:
    - fork
  on_completed: use
- task_type: use
  method: SHELL
  script:
    - echo "parent sees $ChildResult"
"""


def test_fork_and_await_a_child_job(api: httpx.Client) -> None:
    apply(api, CHILD)
    apply(api, PARENT)
    done = run(api, "e2e-parent", {"Seed": "abc"}, timeout=20)
    assert done["job_state"] == "COMPLETED", done
    assert task_types(done) == ["fork", "wait", "use"]
    fork = contexts(task(done, "fork")["contexts"])
    child_id = fork["fork.ForkedJobID"]
    assert fork["fork.ForkedJobType"] == "e2e-child"

    child = get_request(api, child_id)
    assert child["job_state"] == "COMPLETED"
    assert child["parent_id"] == done["id"]
    assert child["cascade_cancel"] is True
    assert child["params"]["Input"] == "abc"
    assert "child got abc" in log_text(api, child_id)

    waited = contexts(task(done, "wait")["contexts"])
    assert waited["RequestIDs"] == child_id
    assert waited["ChildResult"] == "result-abc"
    assert job_context(done)["ChildResult"] == "result-abc"
    assert "parent sees result-abc" in log_text(api, done["id"])


SLOW_CHILD = """job_type: e2e-slow-child
tasks:
- task_type: nap
  method: SHELL
  script:
    - echo $$ > "$MYRMICA_JOB_DIR/pid"; exec sleep 60
"""

WAITING_PARENT = """job_type: e2e-waiting-parent
tasks:
- task_type: fork
  method: FORK_JOB
  fork_job_type: e2e-slow-child
  on_completed: wait
- task_type: wait
  method: AWAIT_FORKED_JOB
  await_forked_tasks:
    - fork
"""


def test_cancelling_a_parent_cancels_its_forked_child(api: httpx.Client, server: LiveServer) -> None:
    apply(api, SLOW_CHILD)
    apply(api, WAITING_PARENT)
    parent = submit(api, "e2e-waiting-parent")

    def child_id() -> str | None:
        records = list_requests(api, job_type="e2e-slow-child")["Records"]
        return str(records[0]["id"]) if records else None

    child = wait_for(child_id, timeout=15, what="the parent to fork its child")
    read_pid(server, child)  # the child is running its task
    response = api.post(f"/api/jobs/requests/{parent['id']}/cancel")
    assert response.status_code == 200, response.text
    assert wait_state(api, parent["id"], TERMINAL, timeout=10)["job_state"] == "CANCELLED"
    ended = wait_state(api, child, TERMINAL, timeout=10)
    assert ended["job_state"] == "CANCELLED"
    assert ended["error_code"] == "ERR_JOB_CANCELLED"
    assert ended["parent_id"] == parent["id"]
