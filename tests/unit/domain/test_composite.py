"""Composite tasks as pure rules: their kinds, where their children are, how the children's ends decide the
parent's, and what an upload may not do."""

from __future__ import annotations

from typing import Any

import pytest

from myrmica.domain.composite import (
    Child,
    Kind,
    descendants,
    fail_fast,
    find_task,
    item_task,
    kind,
    leaf_tasks,
    limit_of,
    outcome,
    walk_tasks,
)
from myrmica.domain.definition_model import JobDefinitionSpec, TaskDefinition
from myrmica.domain.errors import ValidationError
from myrmica.domain.graph import validate_graph


def spec(*tasks: dict[str, Any]) -> JobDefinitionSpec:
    return JobDefinitionSpec.model_validate({"job_type": "j", "tasks": list(tasks)})


def shell(name: str, **more: Any) -> dict[str, Any]:
    return {"task_type": name, "method": "SHELL", "script": [f"echo {name}"], **more}


NESTED = spec(
    shell("first", on_completed="group"),
    {"task_type": "group", "method": "SHELL", "on_completed": "each",
     "parallel": [shell("group.1"), {"task_type": "group.2", "parallel": [shell("group.2.1"), shell("group.2.2")]}]},
    {"task_type": "each", "fan_out": {"items": "[1, 2]", "task": shell("each.item")}, "on_completed": "formicary"},
    shell("formicary", fan_out={"source": "Regions", "item_var": "region", "max_parallel": 2}),
)


def task(name: str) -> TaskDefinition:
    found = find_task(NESTED, name)
    assert found is not None, name
    return found


def test_kinds_of_tasks() -> None:
    assert kind(task("group")) is Kind.PARALLEL and kind(task("group.2")) is Kind.PARALLEL
    assert kind(task("each")) is Kind.FAN_OUT and kind(task("formicary")) is Kind.FAN_OUT
    assert kind(task("first")) is None and kind(task("group.2.1")) is None
    jobs = TaskDefinition.model_validate({"task_type": "jobs", "method": "FAN_OUT_JOB",
                                          "fan_out": {"source": "X", "fork_job_type": "child"}})
    assert kind(jobs) is None  # it forks requests: a queen method, not a composite of tasks


def test_children_are_found_at_any_depth_in_order() -> None:
    assert [t.task_type for t in walk_tasks(NESTED.tasks)] == [
        "first", "group", "group.1", "group.2", "group.2.1", "group.2.2", "each", "each.item", "formicary"]
    assert task("group.2.2").script == ["echo group.2.2"]
    assert find_task(NESTED, "nowhere") is None


def test_leaf_tasks_are_what_ants_run() -> None:
    assert [t.task_type for t in leaf_tasks(NESTED.tasks)] == [
        "first", "group.1", "group.2.1", "group.2.2", "each.item", "formicary"]
    with_aux = TaskDefinition.model_validate(shell("main", pre=[shell("p")], post=[shell("q")]))
    assert [t.task_type for t in leaf_tasks([with_aux])] == ["main", "p", "q"]


def test_an_item_runs_the_fan_outs_task_or_the_task_itself() -> None:
    assert item_task(task("each")).task_type == "each.item"
    own = item_task(task("formicary"))
    assert own.task_type == "formicary" and own.fan_out is None and own.method.value == "SHELL"
    assert own.script == ["echo formicary"] and own.on_exit_code == {}


def test_how_many_run_at_once() -> None:
    assert limit_of(task("formicary"), 10, cap=100) == 2
    assert limit_of(task("each"), 10, cap=100) == 10  # 0: all of them
    assert limit_of(task("each"), 500, cap=100) == 100  # never above the server's cap
    assert limit_of(task("each"), 0, cap=100) == 1


def test_who_fails_fast() -> None:
    assert fail_fast(task("group"))
    assert not fail_fast(task("formicary"))
    assert fail_fast(TaskDefinition.model_validate({"task_type": "t", "fan_out": {"items": "[]", "fail_fast": True}}))


def ended(index: int, state: str = "COMPLETED", code: str = "", message: str = "", **more: Any) -> Child:
    return Child(index, state, "0" if state == "COMPLETED" else "1", code, message, **more)


def test_outcome_waits_for_every_child_unless_one_failed_fast() -> None:
    group = task("group")
    assert outcome(group, [ended(0), Child(1, "EXECUTING")]) is None
    assert outcome(group, [ended(0), ended(1)]).state == "COMPLETED"  # type: ignore[union-attr]
    failed = outcome(group, [ended(0, "FAILED", "ERR_TASK_EXECUTE", "boom"), Child(1, "EXECUTING")])
    assert failed is not None and (failed.state, failed.error_code, failed.error_message) == (
        "FAILED", "ERR_TASK_EXECUTE", "boom")
    slow = task("formicary")  # not fail-fast: the others end first
    assert outcome(slow, [ended(0, "FAILED", "ERR_TASK_EXECUTE"), Child(1, "READY")]) is None
    assert outcome(slow, [ended(0, "FAILED", "ERR_TASK_EXECUTE"), ended(1)]).state == "FAILED"  # type: ignore[union-attr]


def test_outcome_prefers_a_real_failure_to_the_cancellations_it_caused() -> None:
    group = task("group")
    children = [ended(0, "CANCELLED", "ERR_JOB_CANCELLED", "cancelled: another task of its group failed"),
                ended(1, "FAILED", "ERR_TASK_TIMED_OUT", "too slow")]
    decided = outcome(group, children)
    assert decided is not None and (decided.state, decided.error_code) == ("FAILED", "ERR_TASK_TIMED_OUT")


def test_a_cancelled_child_job_cancels_its_parent() -> None:
    # A fork whose child request was cancelled ends FAILED with ERR_JOB_CANCELLED (so does Tork's parent job).
    decided = outcome(task("group"), [ended(0), ended(1, "FAILED", "ERR_JOB_CANCELLED", "cancelled by request")])
    assert decided is not None and (decided.state, decided.error_code) == ("CANCELLED", "ERR_JOB_CANCELLED")


def test_allowed_failures_and_empty_lists_complete() -> None:
    decided = outcome(task("group"), [ended(0, "FAILED", "ERR_TASK_EXECUTE", allow_failure=True), ended(1)])
    assert decided is not None and decided.state == "COMPLETED"
    assert outcome(task("each"), []) is not None and outcome(task("each"), []).state == "COMPLETED"  # type: ignore[union-attr]


def test_descendants_of_rows() -> None:
    rows = [{"id": "a", "parent_task_id": None}, {"id": "b", "parent_task_id": "a"},
            {"id": "c", "parent_task_id": "b"}, {"id": "d", "parent_task_id": None}, {"id": "e", "parent_task_id": "d"}]
    assert [r["id"] for r in descendants(rows, {"a"})] == ["b", "c"]
    assert descendants(rows, {"c"}) == []


@pytest.mark.parametrize(("document", "message"), [
    ({"task_type": "t", "parallel": [shell("t")]}, "duplicate task_type 't'"),
    ({"task_type": "t", "parallel": [shell("a")], "fan_out": {"items": "[]"}},
     "only one of parallel, fan_out and child_job"),
    ({"task_type": "t", "method": "SHELL", "child_job": {"definition": {"job_type": "c", "tasks": [shell("x")]}}},
     "child_job must have method FORK_JOB"),
    ({"task_type": "t", "fan_out": {"source": "X", "items": "[]"}}, "source or items, not both"),
    ({"task_type": "t", "fan_out": {}}, "fan_out needs a source"),
    ({**shell("t"), "pre": [{"task_type": "p", "parallel": [shell("q")]}]}, "cannot be composite"),
    ({"task_type": "t", "method": "FORK_JOB", "child_job": {"definition": {"job_type": "c"}}},
     "child_job.definition: tasks: Field required"),
    ({"task_type": "t", "method": "FORK_JOB", "child_job": {"definition": {"job_type": "c", "tasks": [
        shell("x", on_completed="nowhere")]}}}, "points at 'nowhere'"),
    ({"task_type": "t", "method": "FORK_JOB"}, "needs fork_job_type (or child_job)"),
])
def test_upload_rules(document: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_graph(spec(document))
    assert message in caught.value.message


def test_nesting_is_bounded() -> None:
    deepest: dict[str, Any] = shell("leaf")
    for level in range(10):
        deepest = {"task_type": f"level-{level}", "parallel": [deepest]}
    with pytest.raises(ValidationError, match="nest more than 8 levels"):
        validate_graph(spec(deepest))


def test_a_valid_nested_definition_passes() -> None:
    validate_graph(NESTED)
    child = {"job_type": "child", "tasks": [shell("x")]}
    validate_graph(spec({"task_type": "fork", "method": "FORK_JOB", "child_job": {"definition": child}}))
