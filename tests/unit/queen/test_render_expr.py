"""Rendering a task of an ``expr`` definition: only environment values, ``result_var`` and ``run_if``,
against inputs, secrets, tasks and job — never a script, never another field."""

from __future__ import annotations

import random

import pytest

from myrmica.domain.definition_model import JobDefinitionSpec, TaskDefinition
from myrmica.queen.render import RenderError, expr_env, render_expr_task, render_expr_text

ENV = expr_env(params={"who": "ants", "token": "t0k"}, secret_names=["token"], results={"prev": "42"},
               job={"id": "abc", "name": "the job"})


def _task(**fields: object) -> TaskDefinition:
    return TaskDefinition.model_validate({"task_type": "t", "method": "SHELL", **fields})


def test_only_the_expr_fields_are_rendered() -> None:
    task = _task(script=["echo {{ inputs.who }}"], description="{{ inputs.who }}",
                 environment={"A": "{{ inputs.who }}-{{ tasks.prev }}", "B": "{{ secrets.token }}", "N": 3,
                              "J": "{{ job.name }} {{ job.id }}"},
                 result_var="out{{ 1 + 1 }}", run_if="{{ inputs.who == 'ants' }}", files={"f": "{{ x }}"})
    rendered = render_expr_task(task, ENV)
    assert rendered.environment == {"A": "ants-42", "B": "t0k", "N": 3, "J": "the job abc"}
    assert (rendered.result_var, rendered.run_if) == ("out2", "true")
    assert rendered.script == ["echo {{ inputs.who }}"] and rendered.description == "{{ inputs.who }}"
    assert rendered.files == {"f": "{{ x }}"}
    assert task.environment["A"] == "{{ inputs.who }}-{{ tasks.prev }}"  # the stored task is untouched


def test_inputs_and_secrets_are_apart_and_missing_keys_read_empty() -> None:
    assert render_expr_text("[{{ inputs.token }}][{{ secrets.who }}][{{ tasks.none }}]", ENV) == "[][][]"


def test_a_child_job_has_no_job_name() -> None:
    env = expr_env(params={}, secret_names=(), results={}, job=None)
    with pytest.raises(RenderError, match="unknown name job"):
        render_expr_text("{{ job.id }}", env)


def test_an_error_is_a_render_error_and_random_comes_from_the_given_source() -> None:
    with pytest.raises(RenderError):
        render_expr_task(_task(environment={"X": "{{ fromJSON('nope') }}"}), ENV)
    one = render_expr_task(_task(environment={"R": "{{ randomInt(1000000) }}"}), ENV, random.Random(7))
    two = render_expr_task(_task(environment={"R": "{{ randomInt(1000000) }}"}), ENV, random.Random(7))
    assert one.environment == two.environment


def test_the_model_knows_the_fields_and_checks_them() -> None:
    spec = JobDefinitionSpec.model_validate({"job_type": "j", "templates": "expr", "output": "{{ tasks.a }}",
                                             "tasks": [{"task_type": "a", "output_file_env": "OUT"}]})
    assert spec.templates == "expr" and spec.tasks[0].output_file_env == "OUT"
    for bad in ({"templates": "jinja"}, {"tasks": [{"task_type": "a", "output_file_env": "NOT OK"}]},
                {"tasks": [{"task_type": "a", "files": {"../x": ""}}]}):
        with pytest.raises(ValueError):
            JobDefinitionSpec.model_validate({"job_type": "j", "tasks": [{"task_type": "a"}], **bad})


@pytest.mark.parametrize(("queue", "tags"), [("{{ upper(inputs.who) }}", ["gpu", "ants"]), ("default", ["gpu"]),
                                             ("{{ tasks.none }}", ["gpu"]), ("{{ 'gpu' }}", ["gpu"])])
def test_a_templated_queue_becomes_one_more_tag_when_the_task_is_created(queue: str, tags: list[str]) -> None:
    task = _task(tags=["gpu"], queue=queue)
    rendered = render_expr_task(task, ENV)
    assert (rendered.tags, rendered.queue) == (tags, "")
    assert task.tags == ["gpu"]  # the stored task, which the scheduler checks against the ants, keeps its own
