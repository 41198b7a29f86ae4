"""The task graph of a definition: its first task and the structural rules checked at upload."""

from __future__ import annotations

from collections import deque

import pydantic

from myrmica.domain.composite import validate_composites, walk_tasks
from myrmica.domain.definition_model import JobDefinitionSpec, TaskDefinition
from myrmica.domain.errors import ValidationError
from myrmica.domain.methods import TaskMethod, is_action

MAX_TASKS = 100
MAX_CHILD_JOB_DEPTH = 8


def task_targets(spec: JobDefinitionSpec) -> dict[str, list[str]]:
    """Task name → the task names its edges point at (actions such as FATAL are not nodes)."""
    return {
        task.task_type: [target for target in task.on_exit_code.values() if target and not is_action(target)]
        for task in spec.tasks
    }


def first_task(spec: JobDefinitionSpec) -> str:
    targeted = {target for targets in task_targets(spec).values() for target in targets}
    for task in spec.tasks:
        if task.task_type not in targeted:
            return task.task_type
    raise ValidationError("every task is the target of another task: the graph has no first task",
                          field="tasks")


def validate_graph(spec: JobDefinitionSpec, *, _depth: int = 0) -> None:
    if not spec.tasks:
        raise ValidationError("a job definition needs at least one task", field="tasks")
    if len(spec.tasks) > MAX_TASKS:
        raise ValidationError(f"a job definition may have at most {MAX_TASKS} tasks, not {len(spec.tasks)}",
                              field="tasks")
    seen: set[str] = set()
    for task in spec.tasks:
        if task.task_type in seen:
            raise ValidationError(f"duplicate task_type {task.task_type!r}", field="task_type",
                                  task=task.task_type)
        seen.add(task.task_type)
    for task in spec.tasks:
        for key, target in task.on_exit_code.items():
            if not target:
                raise ValidationError(f"the edge {key!r} of task {task.task_type!r} has an empty target",
                                      field="on_exit_code", task=task.task_type)
            if not is_action(target) and target not in seen:
                raise ValidationError(
                    f"task {task.task_type!r} points at {target!r}, which is not a task of this job",
                    field="on_exit_code", task=task.task_type)
    validate_composites(spec)
    for nested in walk_tasks(spec.tasks):
        _validate_method_settings(spec, nested)
        if nested.child_job is not None:
            _validate_child_job(nested.task_type, nested.child_job.definition, _depth + 1)
    graph = task_targets(spec)
    start = first_task(spec)
    reached = {start}
    queue = deque([start])
    while queue:
        for target in graph[queue.popleft()]:
            if target not in reached:
                reached.add(target)
                queue.append(target)
    for task in spec.tasks:
        if task.task_type not in reached:
            raise ValidationError(
                f"task {task.task_type!r} cannot be reached from the first task {start!r}",
                field="task_type", task=task.task_type)
    if all(graph[name] for name in graph):
        raise ValidationError("the graph is a cycle: at least one task must have no next task", field="tasks")


def _validate_child_job(task_type: str, document: dict[str, object], depth: int) -> None:
    if depth > MAX_CHILD_JOB_DEPTH:
        raise ValidationError(f"child jobs nest more than {MAX_CHILD_JOB_DEPTH} levels deep",
                              field="child_job", task=task_type)
    try:
        child = JobDefinitionSpec.model_validate(document)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValidationError(f"child_job.definition: {where}: {first['msg']}", field="child_job.definition",
                              task=task_type) from exc
    validate_graph(child, _depth=depth)


def _validate_method_settings(spec: JobDefinitionSpec, task: TaskDefinition) -> None:
    task_type = task.task_type
    # Formicary's job-mode fan-out is written as a FORK_JOB task whose fan_out names the child job
    # (fixtures/fan_out_job_fork_job.yaml): ``fan_out.fork_job_type`` stands for the task's own.
    if task.method == TaskMethod.FORK_JOB and not task.fork_job_type and task.child_job is None and \
            (task.fan_out is None or not task.fan_out.fork_job_type):
        raise ValidationError("a FORK_JOB task needs fork_job_type (or child_job), or fan_out.fork_job_type",
                              field="fork_job_type", task=task_type)
    if task.method == TaskMethod.AWAIT_FORKED_JOB:
        if not task.await_forked_tasks:
            raise ValidationError("an AWAIT_FORKED_JOB task needs await_forked_tasks",
                                  field="await_forked_tasks", task=task_type)
        for name in task.await_forked_tasks:
            if spec.task(name) is None:
                raise ValidationError(f"await_forked_tasks names {name!r}, which is not a task of this job",
                                      field="await_forked_tasks", task=task_type)
    if task.fan_out is not None and not task.fan_out.source and not task.fan_out.items:
        raise ValidationError("fan_out needs a source (or items)", field="fan_out.source", task=task_type)
    for name in task.dependencies:
        if spec.task(name) is None:
            raise ValidationError(f"dependencies names {name!r}, which is not a task of this job",
                                  field="dependencies", task=task_type)
