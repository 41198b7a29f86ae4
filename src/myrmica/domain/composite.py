"""Composite tasks as pure rules: what a task with children is, where its children are in a definition,
and how the children's ends decide the parent's (DESIGN: "Tork's parallel/each/subjob and Formicary's
fan_out/FORK_JOB/AWAIT_FORKED_JOB are the same machinery").

A composite task never runs on an ant. The queen creates its children as task executions of the same
run, linked by ``parent_task_id`` (``item_index`` = the child's place, 0-based), all at once when it
starts (so a restart finds them, and a fan-out's list is evaluated once); runs at most ``limit`` of
them at a time in index order; and ends it by :func:`outcome`:

* a **parallel group** (``parallel``): one child per task of the group;
* a **fan-out** with a child ``task`` (Tork's ``each``) or without one (Formicary's ``fan_out``: the
  task itself, minus ``fan_out``, once per item): one child per item of the list;
* a **child job** (``FORK_JOB``, by type or inline as ``child_job``) is a leaf here: it forks a request
  and, unless detached, waits for it.

Children may be composite themselves (a parallel group of child jobs, a fan-out of parallel groups).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from myrmica.domain.definition_model import JobDefinitionSpec, TaskDefinition
from myrmica.domain.errors import ValidationError
from myrmica.domain.methods import TaskMethod
from myrmica.domain.states import ErrorCode
from myrmica.domain.walk import CANCELLED, COMPLETED, FAILED, Outcome

MAX_DEPTH = 8  # nesting levels of composites (Tork examples use 3)
ENDED = frozenset({COMPLETED, FAILED, CANCELLED})


class Kind(StrEnum):
    PARALLEL = "parallel"
    FAN_OUT = "fan_out"  # a fan-out of task children (Tork's each, Formicary's fan_out of tasks)


def kind(task: TaskDefinition) -> Kind | None:
    """The composite kind of a task: None for a task that runs on an ant or is a queen method itself
    (a fan-out of child *jobs* — ``fan_out.fork_job_type`` — is one: it forks requests)."""
    if task.parallel:
        return Kind.PARALLEL
    if task.fan_out is not None and not task.fan_out.fork_job_type:
        return Kind.FAN_OUT
    return None


def is_forking(task: TaskDefinition) -> bool:
    return task.method == TaskMethod.FORK_JOB or task.child_job is not None


def children(task: TaskDefinition) -> list[TaskDefinition]:
    """The child definitions a definition holds (a parallel group's tasks, a fan-out's ``task``)."""
    found = list(task.parallel)
    if task.fan_out is not None and task.fan_out.task is not None:
        found.append(task.fan_out.task)
    return found


def walk_tasks(tasks: Sequence[TaskDefinition]) -> Iterator[TaskDefinition]:
    """Every task of a definition, children after their parent (depth first)."""
    for task in tasks:
        yield task
        yield from walk_tasks(children(task))


def find_task(spec: JobDefinitionSpec, task_type: str) -> TaskDefinition | None:
    """A task of the definition by ``task_type``, at any depth (a top-level task first)."""
    top = spec.task(task_type)
    if top is not None:
        return top
    return next((task for task in walk_tasks(spec.tasks) if task.task_type == task_type), None)


def leaf_tasks(tasks: Sequence[TaskDefinition]) -> Iterator[TaskDefinition]:
    """The tasks that run on ants (a Formicary fan-out runs its own method once per item), with
    their ``pre`` and ``post`` tasks."""
    for task in walk_tasks(tasks):
        if task.parallel or (task.fan_out is not None and task.fan_out.task is not None):
            continue
        yield task
        yield from task.pre
        yield from task.post


def item_task(task: TaskDefinition) -> TaskDefinition:
    """What one item of a fan-out runs: its ``task``, or (Formicary) the task itself without ``fan_out``,
    running the fan-out's execution method."""
    assert task.fan_out is not None
    if task.fan_out.task is not None:
        return task.fan_out.task
    return task.model_copy(update={"fan_out": None, "method": task.execution_method, "on_exit_code": {}})


@dataclass(frozen=True)
class Child:
    """One child of a composite as stored: its place, state and how it ended."""

    index: int
    state: str  # a task state: READY (not started), EXECUTING, COMPLETED, FAILED, CANCELLED, …
    exit_code: str = ""
    error_code: str = ""
    error_message: str = ""
    allow_failure: bool = False

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    @property
    def failed(self) -> bool:
        """Ended without success (a cancelled child too) and not allowed to."""
        return self.state in (FAILED, CANCELLED) and not (self.allow_failure and self.state == FAILED)


def limit_of(task: TaskDefinition, count: int, cap: int) -> int:
    """How many children may run at once: the fan-out's ``max_parallel`` (0: all), never above ``cap``."""
    wanted = task.fan_out.max_parallel if task.fan_out is not None and task.fan_out.max_parallel > 0 else count
    return max(1, min(wanted, cap, max(count, 1)))


def fail_fast(task: TaskDefinition) -> bool:
    """A parallel group fails at its first failed child (Tork fails the job then); a fan-out when it says so."""
    if task.parallel:
        return True
    return bool(task.fan_out is not None and task.fan_out.fail_fast)


def _cancellation(child: Child) -> bool:
    return child.state == CANCELLED or child.error_code == ErrorCode.ERR_JOB_CANCELLED


def outcome(task: TaskDefinition, children: Sequence[Child]) -> Outcome | None:
    """The parent's end once it is decided (None while children still have to run or end).

    A failed child decides it at once when the composite fails fast (the rest are then cancelled), else
    once every child ended. The first child that failed (by index) gives the parent its error; when
    every unsuccessful child was cancelled (a cancelled child job: Tork then cancels the parent job),
    the parent is cancelled. No child (an empty list) is a success."""
    ordered = sorted(children, key=lambda c: c.index)
    failures = [child for child in ordered if child.ended and child.failed]
    if failures and (fail_fast(task) or all(child.ended for child in ordered)):
        first = next((c for c in failures if not _cancellation(c)), None)
        if first is None:
            cancelled = failures[0]
            return Outcome(CANCELLED, cancelled.exit_code or "-1", ErrorCode.ERR_JOB_CANCELLED,
                           cancelled.error_message or f"child {cancelled.index} of {task.task_type} was cancelled")
        return Outcome(FAILED, first.exit_code or "-1", first.error_code or ErrorCode.ERR_TASK_EXECUTE,
                       first.error_message or f"child {first.index} of {task.task_type} failed")
    if all(child.ended for child in ordered):
        return Outcome(COMPLETED, "0")
    return None


Row = TypeVar("Row", bound=Mapping[str, Any])


def descendants(rows: Sequence[Row], roots: set[str]) -> list[Row]:
    """The task executions below ``roots`` (by ``parent_task_id``: their children, theirs, …), parents first."""
    by_parent: dict[str, list[Row]] = {}
    for row in rows:
        if row.get("parent_task_id"):
            by_parent.setdefault(str(row["parent_task_id"]), []).append(row)
    found: list[Row] = []
    queue = list(roots)
    seen = set(roots)
    while queue:
        for row in by_parent.get(queue.pop(0), ()):
            if row["id"] not in seen:
                seen.add(row["id"])
                found.append(row)
                queue.append(row["id"])
    return found


def validate_composites(spec: JobDefinitionSpec) -> None:
    """Upload-time rules: task types unique at every depth, groups not empty, nesting bounded, a
    composite is one thing only, and an inline child job is itself a valid definition."""
    seen: set[str] = set()

    def visit(task: TaskDefinition, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise ValidationError(f"composite tasks nest more than {MAX_DEPTH} levels deep", field="parallel",
                                  task=task.task_type)
        if depth > 0:
            if task.task_type in seen:
                raise ValidationError(f"duplicate task_type {task.task_type!r}", field="task_type",
                                      task=task.task_type)
            seen.add(task.task_type)
        shapes = [name for name, present in (("parallel", bool(task.parallel)), ("fan_out", task.fan_out is not None),
                                             ("child_job", task.child_job is not None)) if present]
        if len(shapes) > 1:
            raise ValidationError(f"a task may be only one of parallel, fan_out and child_job, not "
                                  f"{' and '.join(shapes)}", field=shapes[1], task=task.task_type)
        if task.child_job is not None and task.method != TaskMethod.FORK_JOB:
            raise ValidationError("a task with child_job must have method FORK_JOB", field="method",
                                  task=task.task_type)
        if task.fan_out is not None and task.fan_out.items and task.fan_out.source:
            raise ValidationError("fan_out takes source or items, not both", field="fan_out.items",
                                  task=task.task_type)
        for aux in (*task.pre, *task.post):
            if kind(aux) is not None or is_forking(aux) or aux.pre or aux.post:
                raise ValidationError("pre and post tasks run a script; they cannot be composite",
                                      field="pre", task=task.task_type)
        for child in children(task):
            visit(child, depth + 1)

    for task in spec.tasks:
        seen.add(task.task_type)
    for task in spec.tasks:
        visit(task, 0)
