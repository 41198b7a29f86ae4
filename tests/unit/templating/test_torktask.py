"""The fields of a Tork task that are templated (Tork's internal/eval EvaluateTask tests), and each.list."""

from __future__ import annotations

import random
from typing import Any

import pytest

from myrmica.templating.expr import ExprError, each_context, tork_context
from myrmica.templating.torktask import each_list, evaluate_task

CTX = tork_context(
    inputs={"SOMEVAR": "SOME DATA", "SOMENAME": "John Smith", "TAG": "maverick", "QUEUE": "default", "NAME": "world"},
    secrets={"token": "s3cr3t"},
    tasks={"first": "one"},
    job={"id": "j1", "name": "job"},
)


def ev(task: dict[str, Any]) -> dict[str, Any]:
    return evaluate_task(task, CTX)


def test_noop_and_literal() -> None:
    assert ev({}) == {}
    assert ev({"env": {"HELLO": "WORLD"}}) == {"env": {"HELLO": "WORLD"}}


def test_env_name_image_queue_var() -> None:
    out = ev(
        {
            "name": "{{ inputs.SOMENAME }}y",
            "image": "ubuntu:{{ inputs.TAG }}",
            "queue": "{{ inputs.QUEUE }}",
            "var": "v{{ tasks.first }}",
            "env": {"HELLO": "{{inputs.SOMEVAR}}", "TOKEN": "{{ secrets.token }}"},
        }
    )
    assert out == {
        "name": "John Smithy",
        "image": "ubuntu:maverick",
        "queue": "default",
        "var": "vone",
        "env": {"HELLO": "SOME DATA", "TOKEN": "s3cr3t"},
    }


def test_functions_and_if() -> None:
    out = evaluate_task({"env": {"RAND_NUM": "{{ randomInt() }}"}}, CTX, rng=random.Random(3))
    assert int(out["env"]["RAND_NUM"]) >= 0
    assert ev({"if": "{{ 1 == 1 }}"})["if"] == "true"
    assert ev({"if": "{{ 1 == 2 }}"})["if"] == "false"
    assert ev({"if": "{{ !(1 == 2) }}"})["if"] == "true"


def test_run_is_never_evaluated() -> None:
    task = {"run": "Hello {{ inputs.NAME }}", "name": "n {{ inputs.NAME }}"}
    out = ev(task)
    assert out["run"] == "Hello {{ inputs.NAME }}"
    assert out["name"] == "n world"


def test_pre_post_parallel_and_cmd() -> None:
    out = ev(
        {
            "pre": [{"env": {"HELLO": "{{ inputs.SOMEVAR }}"}, "run": "{{ x }}"}],
            "post": [{"env": {"HELLO": "{{ inputs.SOMEVAR }}"}}],
            "parallel": {"tasks": [{"env": {"HELLO": "{{ inputs.SOMEVAR }}"}, "name": "{{ job.name }}"}]},
            "cmd": ["{{ inputs.TAG }}", "{{ inputs.QUEUE }}", "VAL3"],
        }
    )
    assert out["pre"] == [{"env": {"HELLO": "SOME DATA"}, "run": "{{ x }}"}]
    assert out["post"][0]["env"]["HELLO"] == "SOME DATA"
    assert out["parallel"]["tasks"][0] == {"env": {"HELLO": "SOME DATA"}, "name": "job"}
    assert out["cmd"] == ["maverick", "default", "VAL3"]


def test_subjob_name_inputs_secrets_and_webhooks() -> None:
    out = ev(
        {
            "subjob": {
                "name": "some name {{ inputs.SOMEVAR }}",
                "inputs": {"input1": "{{inputs.TAG}}"},
                "secrets": {"s": "{{ secrets.token }}"},
                "webhooks": [{"url": "http://h/{{ inputs.TAG }}", "headers": {"X": "{{ secrets.token }}"}}],
                "output": "{{ tasks.inner }}",
                "tasks": [{"name": "{{ inputs.later }}", "run": "echo"}],
            }
        }
    )
    subjob = out["subjob"]
    assert subjob["name"] == "some name SOME DATA"
    assert subjob["inputs"] == {"input1": "maverick"}
    assert subjob["secrets"] == {"s": "s3cr3t"}
    assert subjob["webhooks"] == [{"url": "http://h/maverick", "headers": {"X": "s3cr3t"}}]
    # the sub-job's own output and tasks are evaluated in the sub-job, later
    assert subjob["output"] == "{{ tasks.inner }}"
    assert subjob["tasks"] == [{"name": "{{ inputs.later }}", "run": "echo"}]


def test_each_is_left_for_scheduling() -> None:
    task = {"name": "e", "each": {"list": "{{ sequence(1, 5) }}", "task": {"name": "c{{ item.index }}"}}}
    assert ev(task) == task


def test_the_definition_is_not_changed() -> None:
    task = {"name": "{{ job.name }}", "env": {"A": "{{ inputs.TAG }}"}, "pre": [{"name": "{{ job.id }}"}]}
    snapshot = repr(task)
    ev(task)
    assert repr(task) == snapshot


def test_an_expression_error_fails_the_evaluation() -> None:
    with pytest.raises(ExprError, match="unknown name bad_function"):
        ev({"name": "ok", "env": {"A": "{{ bad_function() }}"}})
    with pytest.raises(ExprError, match="unknown name item"):
        ev({"var": "eachTask{{item.index}}"})


def test_each_children_see_their_item() -> None:
    items = each_list("{{ sequence(1,5) }}", CTX)
    assert items == [1, 2, 3, 4]
    children = [
        evaluate_task({"var": "eachTask{{item.index}}", "env": {"ITEM": "{{item.value}}"}}, each_context(CTX, i, v))
        for i, v in enumerate(items)
    ]
    assert [c["var"] for c in children] == ["eachTask0", "eachTask1", "eachTask2", "eachTask3"]
    assert [c["env"]["ITEM"] for c in children] == ["1", "2", "3", "4"]


def test_each_list_must_be_a_list() -> None:
    assert each_list("fromJSON(inputs.people)", tork_context(inputs={"people": '[{"n": 1}]'})) == [{"n": 1.0}]
    assert each_list("[1, 2]", CTX) == [1, 2]
    for bad in ("{{ 1 }}", "inputs.SOMEVAR", "{{ {'a': 1} }}"):
        with pytest.raises(ExprError, match="each.list does not evaluate to a list"):
            each_list(bad, CTX)
    with pytest.raises(ExprError, match="unknown name nope"):
        each_list("{{ nope }}", CTX)
