"""The graph walk of a job (spec §1.8) as pure functions.

A supervisor runs one task at a time. After each attempt it calls, in order:

1. :func:`apply_exit_code_override` — the task's ``on_exit_code`` entry for the exit code may turn the
   attempt's state into another (``FATAL``, ``RESTART_TASK``, ``ERR_XYZ`` …);
2. :func:`should_retry_task` — whether to run the same task again (after
   :func:`myrmica.domain.retry.task_retry_delay`);
3. :func:`next_step` — the next task, or how the walk ends;
4. when the walk ended with ``COMPLETED``, :func:`final_job_state` decides the job's real state
   (rule 5: a failed task the walk moved past can still fail the job); after a terminal failure the
   supervisor runs :func:`always_run_tasks`.

Myrmica decisions (where Formicary's behaviour is a bug or a quirk, spec §10):

* A MANUAL task that was REJECTED follows an ``on_exit_code`` entry ``REJECTED: <task>`` (Formicary
  fails the job at once, so such a branch never runs — §10.6); the job still ends FAILED by rule 5.
* Rule 5 as Formicary has it (§10.14): a FAILED task fails the job even when its exit code (exact, or
  the generic ``FAILED`` edge) routed the walk to another task — the branch runs (clean-up, a fix-up,
  a notification) and the job ends FAILED with that task's error. To let a branch on an exit code
  end well, give the task ``allow_failure: true`` (its exit-code edges still route) or map the code
  to ``COMPLETED``. ``allow_failure`` tasks never fail the job, except with ``ERR_FATAL``.
* A ``FATAL`` outcome ends the walk with ``ERR_FATAL`` at once, even if the task has a FAILED edge;
  only ``always_run`` tasks follow.
"""

from __future__ import annotations

from dataclasses import dataclass

from myrmica.domain.definition_model import JobDefinitionSpec, TaskDefinition
from myrmica.domain.methods import is_action
from myrmica.domain.states import ErrorCode, TaskState

COMPLETED = "COMPLETED"
FAILED = "FAILED"
PAUSED = "PAUSED"
MANUAL_APPROVAL_REQUIRED = "MANUAL_APPROVAL_REQUIRED"
RESTART_JOB = "RESTART_JOB"
CANCELLED = "CANCELLED"

# Retrying these is pointless or wrong: the job is over, re-queued, or a person said no.
_NO_RETRY = frozenset(
    {ErrorCode.ERR_FATAL, ErrorCode.ERR_JOB_CANCELLED, ErrorCode.ERR_RESTART_JOB,
     ErrorCode.ERR_MANUAL_REJECTION,
     # An endpoint's permanent answers: trying again gets the same one.
     ErrorCode.ERR_ENDPOINT_CLIENT, ErrorCode.ERR_ENDPOINT_AUTH, ErrorCode.ERR_ENDPOINT_REFUSED}
)
# on_exit_code keys that name a state, not an exit code.
_STATE_KEYS = frozenset(str(state) for state in TaskState) | {"PAUSE_JOB"}


@dataclass
class Outcome:
    """What a task attempt ended with."""

    state: str
    exit_code: str
    error_code: str = ""
    error_message: str = ""


@dataclass
class Step:
    """Where the walk goes after a task.

    ``next_task`` is the task to run next (None when the walk stops). ``job_outcome`` is None to
    continue, else ``COMPLETED`` (the walk ended without error: decide with :func:`final_job_state`),
    ``FAILED``, ``PAUSED``, ``MANUAL_APPROVAL_REQUIRED``, ``RESTART_JOB`` (re-queue the request) or
    ``CANCELLED``.
    """

    next_task: str | None
    job_outcome: str | None
    error_code: str = ""
    error_message: str = ""


def _key(exit_code: str) -> str:
    return str(exit_code).strip().upper()


def apply_exit_code_override(task: TaskDefinition, outcome: Outcome) -> Outcome:
    """Apply the action the task's ``on_exit_code`` entry for this exit code names, if any.

    ``FATAL`` → FAILED/ERR_FATAL; ``FAILED`` → FAILED; ``COMPLETED`` → COMPLETED (error cleared);
    ``EXECUTING`` → EXECUTING (a sensor polls again); ``RESTART_JOB`` → FAILED/ERR_RESTART_JOB;
    ``PAUSE_JOB``/``PAUSED`` → PAUSED/ERR_PAUSE_JOB; ``WAIT_FOR_APPROVAL`` → MANUAL_APPROVAL_REQUIRED;
    ``RESTART_TASK`` → FAILED/ERR_RESTART_TASK; ``ERR_*`` → FAILED with that code. An entry naming a
    task changes nothing here. A cancelled attempt is never overridden.
    """
    if outcome.state == CANCELLED or outcome.error_code == ErrorCode.ERR_JOB_CANCELLED:
        return outcome
    code = _key(outcome.exit_code)
    if not code or code in _STATE_KEYS:
        return outcome
    action = task.on_exit_code.get(code, "")
    if not action or not is_action(action):
        return outcome
    message = outcome.error_message or f"exit code {code} of task {task.task_type} is mapped to {action}"

    def failed(error_code: str) -> Outcome:
        return Outcome(FAILED, outcome.exit_code, error_code, message)

    if action == "FATAL":
        return failed(ErrorCode.ERR_FATAL)
    if action == "FAILED":
        return failed(outcome.error_code or ErrorCode.ERR_TASK_EXECUTE)
    if action == "COMPLETED":
        return Outcome(COMPLETED, outcome.exit_code)
    if action == "EXECUTING":
        return Outcome(TaskState.EXECUTING, outcome.exit_code)
    if action == "RESTART_JOB":
        return failed(ErrorCode.ERR_RESTART_JOB)
    if action in ("PAUSE_JOB", "PAUSED"):
        return Outcome(PAUSED, outcome.exit_code, ErrorCode.ERR_PAUSE_JOB, message)
    if action == "WAIT_FOR_APPROVAL":
        return Outcome(MANUAL_APPROVAL_REQUIRED, outcome.exit_code, ErrorCode.ERR_MANUAL_APPROVAL_REQUIRED)
    if action == "RESTART_TASK":
        return failed(ErrorCode.ERR_RESTART_TASK)
    return failed(action)  # ERR_*: a user-defined error code


def should_retry_task(outcome: Outcome, retried: int, task: TaskDefinition, limit: int | None = None) -> bool:
    """Retry while the attempt FAILED and ``retried < task.retry``.

    Never after ``ERR_FATAL``, ``ERR_JOB_CANCELLED``, ``ERR_RESTART_JOB`` (the whole job restarts) or
    ``ERR_MANUAL_REJECTION``. ``ERR_RESTART_TASK`` is an ordinary retry request within the limit.
    """
    if outcome.state != FAILED or outcome.error_code in _NO_RETRY:
        return False
    return retried < (task.retry if limit is None else limit)


def _fail(task: TaskDefinition, outcome: Outcome) -> Step:
    return Step(
        None,
        FAILED,
        outcome.error_code or ErrorCode.ERR_TASK_EXECUTE,
        outcome.error_message or f"task {task.task_type} failed with exit code {outcome.exit_code}",
    )


def _resolve(task: TaskDefinition, target: str) -> str | None:
    """Step 2 of §1.8: an edge target as a task name (None when it names no task)."""
    edges = task.on_exit_code
    if not is_action(target):
        return target
    if target == "EXECUTING":
        return task.task_type
    follow = {"COMPLETED": "COMPLETED", "FAILED": "FAILED", "FATAL": "FAILED", "PAUSE_JOB": "PAUSE_JOB",
              "PAUSED": "PAUSE_JOB"}.get(target)
    resolved = edges.get(follow, "") if follow else ""
    return resolved if resolved and not is_action(resolved) else None


def _end_by_action(task: TaskDefinition, outcome: Outcome, state: str, action: str) -> Step:
    """Step 4 of §1.8: the edge target for the final state decides how the walk ends."""
    if action == "COMPLETED":
        return Step(None, COMPLETED)
    if action == "FAILED":
        return _fail(task, outcome)
    if action == "RESTART_JOB":
        return Step(None, RESTART_JOB, ErrorCode.ERR_RESTART_JOB, f"task {task.task_type} restarts the job")
    if action in ("PAUSE_JOB", "PAUSED"):
        return Step(None, PAUSED, ErrorCode.ERR_PAUSE_JOB, f"task {task.task_type} paused the job")
    if action == "FATAL":
        return Step(None, FAILED, ErrorCode.ERR_FATAL,
                    outcome.error_message or f"task {task.task_type} is fatal")
    if action == "WAIT_FOR_APPROVAL":
        return Step(None, MANUAL_APPROVAL_REQUIRED, ErrorCode.ERR_MANUAL_APPROVAL_REQUIRED,
                    f"task {task.task_type} waits for approval")
    if action == "RESTART_TASK":
        return Step(None, FAILED, ErrorCode.ERR_RESTART_TASK,
                    outcome.error_message or f"task {task.task_type} asked to be restarted")
    if action.startswith("ERR_"):
        return Step(None, FAILED, action,
                    outcome.error_message or f"task {task.task_type} ended with {action}")
    return Step(
        None,
        FAILED,
        ErrorCode.ERR_INVALID_NEXT_TASK,
        f"task {task.task_type} ended {state} with exit code {outcome.exit_code!r} but none of its "
        f"edges ({', '.join(sorted(task.on_exit_code))}) says where to go",
    )


def next_step(task: TaskDefinition, outcome: Outcome, spec: JobDefinitionSpec) -> Step:
    """Resolve where the walk goes after ``task`` ended with ``outcome`` (already overridden).

    Follows steps 1–4 of §1.8's next-task resolution (see the module docstring for Myrmica's
    decisions). ``COMPLETED`` as job outcome means "the walk ended well"; call
    :func:`final_job_state` for the job's state.
    """
    state = outcome.state.upper()
    code = outcome.error_code
    if state == TaskState.EXECUTING:
        return Step(task.task_type, None)
    if state == CANCELLED or code == ErrorCode.ERR_JOB_CANCELLED:
        return Step(None, CANCELLED, ErrorCode.ERR_JOB_CANCELLED,
                    outcome.error_message or "the job was cancelled")
    if state == PAUSED:
        return Step(None, PAUSED, code or ErrorCode.ERR_PAUSE_JOB,
                    outcome.error_message or f"task {task.task_type} paused the job")
    if state == MANUAL_APPROVAL_REQUIRED:
        return Step(None, MANUAL_APPROVAL_REQUIRED, ErrorCode.ERR_MANUAL_APPROVAL_REQUIRED,
                    f"task {task.task_type} waits for approval")
    if state == FAILED and code == ErrorCode.ERR_FATAL:
        return _fail(task, outcome)
    if state == FAILED and code == ErrorCode.ERR_RESTART_JOB:
        return Step(None, RESTART_JOB, code,
                    outcome.error_message or f"task {task.task_type} restarts the job")
    if state not in (COMPLETED, FAILED):
        return Step(None, FAILED, ErrorCode.ERR_TASK_EXECUTE,
                    f"task {task.task_type} ended in the unexpected state {outcome.state!r}")

    edges = task.on_exit_code
    # 1. No edges: the walk ends here.
    if not edges:
        if state == FAILED and not task.allow_failure:
            return _fail(task, outcome)
        return Step(None, COMPLETED)
    # 2. The entry for the exact exit code.
    target: str | None = None
    exact = edges.get(_key(outcome.exit_code), "")
    if exact:
        target = _resolve(task, exact)
    # 3. The entry for the state; with allow_failure, the COMPLETED entry.
    if target is None:
        by_state = edges.get(state, "")
        if by_state and not is_action(by_state):
            target = by_state
    if target is None and task.allow_failure:
        on_completed = edges.get(COMPLETED, "")
        if on_completed and not is_action(on_completed):
            target = on_completed
    if target is not None:
        if spec.task(target) is None:
            return Step(None, FAILED, ErrorCode.ERR_INVALID_NEXT_TASK,
                        f"task {task.task_type} points at {target!r}, which is not a task of this job")
        return Step(target, None)
    # 4. No next task.
    if state == FAILED and not task.allow_failure:
        return _fail(task, outcome)
    action = edges.get(state, "")
    if not action and state == FAILED:  # allow_failure: a failure is routed like a success
        action = edges.get(COMPLETED, "")
    return _end_by_action(task, outcome, state, action)


def final_job_state(executed: list[tuple[TaskDefinition, Outcome]]) -> tuple[str, str, str]:
    """Rule 5 of §1.8: the job's ``(state, error_code, error_message)`` once the walk ended well.

    Only each task's latest attempt counts. The job is CANCELLED if a task was cancelled; it FAILS
    (with the first such task's error) if a task ended FAILED unless that task has ``allow_failure``
    (and the error is not ``ERR_FATAL``) — also when the failure's exit code routed the walk to
    another task (see the module docstring); otherwise it is COMPLETED.
    """
    latest: dict[str, tuple[TaskDefinition, Outcome]] = {}
    for task, outcome in executed:
        latest[task.task_type] = (task, outcome)
    for _, outcome in latest.values():
        if outcome.state == CANCELLED:
            return CANCELLED, ErrorCode.ERR_JOB_CANCELLED, outcome.error_message or "the job was cancelled"
    for task, outcome in latest.values():
        if outcome.state != FAILED:
            continue
        if task.allow_failure and outcome.error_code != ErrorCode.ERR_FATAL:
            continue
        step = _fail(task, outcome)
        return FAILED, step.error_code, step.error_message
    return COMPLETED, "", ""


def always_run_tasks(spec: JobDefinitionSpec, already_run: set[str]) -> list[TaskDefinition]:
    """The ``always_run`` tasks not yet run in this execution, in definition order."""
    return [task for task in spec.tasks if task.always_run and task.task_type not in already_run]


def _contains_true(rendered: str) -> bool:
    return "true" in rendered.strip().lower()


def is_skipped(rendered_except: str) -> bool:
    """Whether a task's rendered ``except`` skips it (it contains ``true``, any case)."""
    return _contains_true(rendered_except)


def is_filtered(rendered_skip_if: str) -> bool:
    """Whether a job's rendered ``skip_if`` filters the request out (it contains ``true``, any case)."""
    return _contains_true(rendered_skip_if)
