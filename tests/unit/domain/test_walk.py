from __future__ import annotations

from typing import Any

import pytest

from myrmica.domain.definition_model import JobDefinitionSpec, TaskDefinition
from myrmica.domain.states import ErrorCode
from myrmica.domain.walk import (
    Outcome,
    Step,
    always_run_tasks,
    apply_exit_code_override,
    final_job_state,
    is_filtered,
    is_skipped,
    next_step,
    should_retry_task,
)

# The shape of Formicary's retry-job.yaml example (written out here; no file is read).
RETRY_JOB: dict[str, Any] = {
    "job_type": "retry-job",
    "delay_between_retries": "6s",
    "retry": 2,
    "tasks": [
        {"task_type": "first", "method": "HTTP_GET", "timeout": "15s", "delay_between_retries": "5s",
         "url": "https://jsonplaceholder.typicode.com/todos/1",
         "on_exit_code": {10: "PAUSE_JOB", 200: "second"}, "on_completed": "second"},
        {"task_type": "second", "container": {"image": "alpine"}, "retry": 2,
         "script": ["exit {{ Random 0 3 }}"],
         "on_exit_code": {1: "FATAL", 2: "RESTART_TASK", 3: "ERR_XYZ"}, "on_completed": "third"},
        {"task_type": "third", "container": {"image": "alpine"}, "script": ["date"]},
    ],
}

# The shape of Formicary's approval-with-sla.yaml example (written out here; no file is read).
APPROVAL_JOB: dict[str, Any] = {
    "job_type": "approval-with-sla-demo",
    "tasks": [
        {"task_type": "build", "script": ["echo build"], "on_completed": "security-approval"},
        {"task_type": "security-approval", "method": "MANUAL",
         "approval_policy": {"min_approvals": 1, "sla_deadline": "4h", "timeout_action": "ESCALATE"},
         "on_exit_code": {"APPROVED": "deploy-prod", "REJECTED": "notify-rejected"}},
        {"task_type": "deploy-prod", "script": ["echo deploy"]},
        {"task_type": "notify-rejected", "script": ["echo rejected"]},
    ],
}


def spec_of(data: dict[str, Any]) -> JobDefinitionSpec:
    return JobDefinitionSpec.model_validate(data)


def simple(*tasks: dict[str, Any]) -> JobDefinitionSpec:
    return spec_of({"job_type": "j", "tasks": list(tasks)})


def run(spec: JobDefinitionSpec, task_type: str, outcome: Outcome) -> tuple[Outcome, Step]:
    task = spec.task(task_type)
    assert task is not None
    final = apply_exit_code_override(task, outcome)
    return final, next_step(task, final, spec)


def done(exit_code: str = "0") -> Outcome:
    return Outcome("COMPLETED", exit_code)


def failed(exit_code: str = "1", code: str = "", message: str = "") -> Outcome:
    return Outcome("FAILED", exit_code, code, message)


# --- retry-job.yaml -------------------------------------------------------------------------------


def test_retry_job_exit_1_is_fatal() -> None:
    spec = spec_of(RETRY_JOB)
    outcome, step = run(spec, "second", failed("1"))
    assert (outcome.state, outcome.error_code) == ("FAILED", ErrorCode.ERR_FATAL)
    assert not should_retry_task(outcome, 0, spec.tasks[1])
    assert (step.next_task, step.job_outcome, step.error_code) == (None, "FAILED", ErrorCode.ERR_FATAL)


def test_retry_job_exit_2_restarts_the_task_within_its_retries() -> None:
    spec = spec_of(RETRY_JOB)
    second = spec.tasks[1]
    outcome, step = run(spec, "second", failed("2"))
    assert (outcome.state, outcome.error_code) == ("FAILED", ErrorCode.ERR_RESTART_TASK)
    assert should_retry_task(outcome, 0, second)
    assert should_retry_task(outcome, 1, second)
    assert not should_retry_task(outcome, 2, second)
    assert (step.job_outcome, step.error_code) == ("FAILED", ErrorCode.ERR_RESTART_TASK)


def test_retry_job_exit_3_is_a_user_error_code() -> None:
    spec = spec_of(RETRY_JOB)
    outcome, step = run(spec, "second", failed("3", message="exit status 3"))
    assert (outcome.state, outcome.error_code) == ("FAILED", "ERR_XYZ")
    assert outcome.error_message == "exit status 3"
    assert should_retry_task(outcome, 0, spec.tasks[1])
    assert (step.job_outcome, step.error_code, step.error_message) == ("FAILED", "ERR_XYZ", "exit status 3")


def test_retry_job_exit_0_goes_on() -> None:
    spec = spec_of(RETRY_JOB)
    assert run(spec, "second", done())[1] == Step("third", None)
    assert run(spec, "third", done())[1] == Step(None, "COMPLETED")


def test_retry_job_http_200_and_10() -> None:
    spec = spec_of(RETRY_JOB)
    assert run(spec, "first", done("200"))[1] == Step("second", None)
    outcome, step = run(spec, "first", failed("10"))
    assert (outcome.state, outcome.error_code) == ("PAUSED", ErrorCode.ERR_PAUSE_JOB)
    assert not should_retry_task(outcome, 0, spec.tasks[0])
    assert (step.next_task, step.job_outcome, step.error_code) == (None, "PAUSED", ErrorCode.ERR_PAUSE_JOB)


def test_retry_job_http_failure_without_edge_fails_the_job() -> None:
    spec = spec_of(RETRY_JOB)
    step = run(spec, "first", failed("500", ErrorCode.ERR_TASK_EXECUTE, "HTTP 500"))[1]
    assert (step.job_outcome, step.error_code) == ("FAILED", "ERR_TASK_EXECUTE")
    assert step.error_message == "HTTP 500"


# --- approval-with-sla.yaml -----------------------------------------------------------------------


def test_approval_waits() -> None:
    spec = spec_of(APPROVAL_JOB)
    step = run(spec, "security-approval", Outcome("MANUAL_APPROVAL_REQUIRED", "AWAITING_APPROVAL"))[1]
    assert (step.next_task, step.job_outcome) == (None, "MANUAL_APPROVAL_REQUIRED")
    assert step.error_code == ErrorCode.ERR_MANUAL_APPROVAL_REQUIRED


def test_approval_approved_branch() -> None:
    spec = spec_of(APPROVAL_JOB)
    assert run(spec, "security-approval", done("APPROVED"))[1] == Step("deploy-prod", None)


def test_approval_rejected_branch_runs_and_the_job_fails() -> None:
    spec = spec_of(APPROVAL_JOB)
    rejected = failed("REJECTED", ErrorCode.ERR_MANUAL_REJECTION, "Rejected by bob")
    outcome, step = run(spec, "security-approval", rejected)
    assert outcome == rejected
    assert not should_retry_task(outcome, 0, spec.tasks[1])
    assert step == Step("notify-rejected", None)
    executed = [(spec.tasks[0], done()), (spec.tasks[1], outcome), (spec.tasks[3], done())]
    assert final_job_state(executed) == ("FAILED", ErrorCode.ERR_MANUAL_REJECTION, "Rejected by bob")


def test_rejection_without_branch_fails_the_job() -> None:
    spec = simple(
        {"task_type": "gate", "method": "MANUAL", "on_exit_code": {"APPROVED": "deploy"}},
        {"task_type": "deploy"},
    )
    step = run(spec, "gate", failed("REJECTED", ErrorCode.ERR_MANUAL_REJECTION, "Rejected by bob"))[1]
    assert (step.job_outcome, step.error_code, step.error_message) == (
        "FAILED", ErrorCode.ERR_MANUAL_REJECTION, "Rejected by bob")


def test_approval_follows_completed_edge() -> None:
    spec = simple({"task_type": "gate", "method": "MANUAL", "on_completed": "deploy"},
                  {"task_type": "deploy"})
    assert run(spec, "gate", done("APPROVED"))[1] == Step("deploy", None)


# --- edges ----------------------------------------------------------------------------------------


def test_no_edges() -> None:
    spec = simple({"task_type": "a"})
    assert run(spec, "a", done())[1] == Step(None, "COMPLETED")
    step = run(spec, "a", failed("1"))[1]
    assert (step.job_outcome, step.error_code) == ("FAILED", ErrorCode.ERR_TASK_EXECUTE)
    assert "exit code 1" in step.error_message


def test_no_edges_allow_failure() -> None:
    spec = simple({"task_type": "a", "allow_failure": True})
    assert run(spec, "a", failed("1"))[1] == Step(None, "COMPLETED")
    assert final_job_state([(spec.tasks[0], failed("1"))]) == ("COMPLETED", "", "")


def test_allow_failure_folds_on_completed_into_failed() -> None:
    spec = simple({"task_type": "a", "allow_failure": True, "on_completed": "b"}, {"task_type": "b"})
    assert spec.tasks[0].on_exit_code["FAILED"] == "b"
    assert run(spec, "a", failed("1"))[1] == Step("b", None)
    assert run(spec, "a", done())[1] == Step("b", None)
    assert final_job_state([(spec.tasks[0], failed("1")), (spec.tasks[1], done())]) == ("COMPLETED", "", "")


def test_allow_failure_with_only_exit_code_edges_uses_completed() -> None:
    spec = simple({"task_type": "a", "allow_failure": True, "on_exit_code": {"COMPLETED": "b", "7": "c"}},
                  {"task_type": "b"}, {"task_type": "c"})
    assert run(spec, "a", failed("1"))[1] == Step("b", None)
    assert run(spec, "a", failed("7"))[1] == Step("c", None)


def test_on_failed_branch_runs_but_the_job_fails() -> None:
    spec = simple({"task_type": "a", "on_completed": "b", "on_failed": "cleanup"}, {"task_type": "b"},
                  {"task_type": "cleanup"})
    outcome, step = run(spec, "a", failed("1", ErrorCode.ERR_TASK_EXECUTE, "boom"))
    assert step == Step("cleanup", None)
    assert run(spec, "cleanup", done())[1] == Step(None, "COMPLETED")
    state = final_job_state([(spec.tasks[0], outcome), (spec.tasks[2], done())])
    assert state == ("FAILED", ErrorCode.ERR_TASK_EXECUTE, "boom")


def test_exact_exit_code_branch_runs_but_the_job_fails() -> None:
    """Spec §1.8 rule 5 / §10.14, as Formicary does it: the routed-from task stays FAILED."""
    spec = simple({"task_type": "a", "on_completed": "b", "on_exit_code": {"5": "fix"}}, {"task_type": "b"},
                  {"task_type": "fix"})
    outcome, step = run(spec, "a", failed("5", ErrorCode.ERR_TASK_EXECUTE, "exit 5"))
    assert outcome.state == "FAILED"
    assert step == Step("fix", None)
    assert final_job_state([(spec.tasks[0], outcome), (spec.tasks[2], done())]) == (
        "FAILED", ErrorCode.ERR_TASK_EXECUTE, "exit 5")
    # A different failing exit code has no edge and fails the job at once.
    assert run(spec, "a", failed("6"))[1].job_outcome == "FAILED"


def test_exact_exit_code_branch_with_allow_failure_completes() -> None:
    spec = simple({"task_type": "a", "allow_failure": True, "on_completed": "b", "on_exit_code": {"5": "fix"}},
                  {"task_type": "b"}, {"task_type": "fix"})
    outcome, step = run(spec, "a", failed("5"))
    assert step == Step("fix", None)
    assert final_job_state([(spec.tasks[0], outcome), (spec.tasks[2], done())]) == ("COMPLETED", "", "")


def test_exit_code_mapped_to_completed_follows_the_completed_edge() -> None:
    spec = simple({"task_type": "a", "on_completed": "b", "on_exit_code": {"5": "COMPLETED"}}, {"task_type": "b"})
    outcome, step = run(spec, "a", failed("5"))
    assert outcome.state == "COMPLETED"
    assert step == Step("b", None)
    assert final_job_state([(spec.tasks[0], outcome), (spec.tasks[1], done())]) == ("COMPLETED", "", "")


def test_completed_task_with_exit_code_edges_but_no_completed_edge() -> None:
    spec = simple({"task_type": "a", "on_exit_code": {"5": "b"}}, {"task_type": "b"})
    step = run(spec, "a", done("0"))[1]
    assert (step.next_task, step.job_outcome) == (None, "FAILED")
    assert step.error_code == ErrorCode.ERR_INVALID_NEXT_TASK


def test_completed_task_with_zero_edge() -> None:
    spec = simple({"task_type": "a", "on_exit_code": {"0": "b", "5": "c"}}, {"task_type": "b"},
                  {"task_type": "c"})
    assert run(spec, "a", done("0"))[1] == Step("b", None)


def test_target_that_is_not_a_task() -> None:
    spec = simple({"task_type": "a", "on_completed": "ghost"})
    step = run(spec, "a", done())[1]
    assert (step.job_outcome, step.error_code) == ("FAILED", ErrorCode.ERR_INVALID_NEXT_TASK)
    assert "ghost" in step.error_message


def test_exit_code_mapped_to_completed() -> None:
    spec = simple({"task_type": "a", "on_exit_code": {"3": "COMPLETED"}, "on_completed": "b"},
                  {"task_type": "b"})
    outcome, step = run(spec, "a", failed("3", ErrorCode.ERR_TASK_EXECUTE, "exit status 3"))
    assert outcome == Outcome("COMPLETED", "3")
    assert step == Step("b", None)


def test_exit_code_mapped_to_failed() -> None:
    spec = simple({"task_type": "a", "method": "HTTP_GET", "on_exit_code": {"204": "FAILED"},
                   "on_failed": "alert", "on_completed": "b"}, {"task_type": "b"}, {"task_type": "alert"})
    outcome, step = run(spec, "a", done("204"))
    assert (outcome.state, outcome.error_code) == ("FAILED", ErrorCode.ERR_TASK_EXECUTE)
    assert "204" in outcome.error_message
    assert step == Step("alert", None)
    assert final_job_state([(spec.tasks[0], outcome), (spec.tasks[2], done())])[0] == "FAILED"


def test_sensor_keeps_polling() -> None:
    spec = simple({"task_type": "wait", "on_exit_code": {"1": "EXECUTING"}, "on_completed": "b"},
                  {"task_type": "b"})
    outcome, step = run(spec, "wait", failed("1"))
    assert outcome.state == "EXECUTING"
    assert not should_retry_task(outcome, 0, spec.tasks[0])
    assert step == Step("wait", None)
    # Without the override applied, step 2 still resolves EXECUTING to the same task.
    assert next_step(spec.tasks[0], done("1"), spec) == Step("wait", None)


def test_wait_for_approval_and_restart_job_overrides() -> None:
    spec = simple({"task_type": "a", "on_exit_code": {"4": "WAIT_FOR_APPROVAL", "9": "RESTART_JOB"}})
    outcome, step = run(spec, "a", failed("4"))
    assert outcome.state == "MANUAL_APPROVAL_REQUIRED"
    assert step.job_outcome == "MANUAL_APPROVAL_REQUIRED"
    outcome, step = run(spec, "a", failed("9"))
    assert (outcome.state, outcome.error_code) == ("FAILED", ErrorCode.ERR_RESTART_JOB)
    assert not should_retry_task(outcome, 0, spec.tasks[0])
    assert (step.job_outcome, step.error_code) == ("RESTART_JOB", ErrorCode.ERR_RESTART_JOB)


def test_fatal_ignores_failed_edge() -> None:
    spec = simple({"task_type": "a", "on_exit_code": {"1": "FATAL"}, "on_failed": "b"}, {"task_type": "b"})
    outcome, step = run(spec, "a", failed("1"))
    assert (step.job_outcome, step.error_code) == ("FAILED", ErrorCode.ERR_FATAL)


@pytest.mark.parametrize(
    ("action", "job_outcome", "error_code"),
    [
        ("RESTART_JOB", "RESTART_JOB", ErrorCode.ERR_RESTART_JOB),
        ("PAUSE_JOB", "PAUSED", ErrorCode.ERR_PAUSE_JOB),
        ("FATAL", "FAILED", ErrorCode.ERR_FATAL),
        ("WAIT_FOR_APPROVAL", "MANUAL_APPROVAL_REQUIRED", ErrorCode.ERR_MANUAL_APPROVAL_REQUIRED),
        ("RESTART_TASK", "FAILED", ErrorCode.ERR_RESTART_TASK),
        ("ERR_CUSTOM", "FAILED", "ERR_CUSTOM"),
        ("COMPLETED", "COMPLETED", ""),
    ],
)
def test_state_edge_with_an_action_decides_the_end(action: str, job_outcome: str, error_code: str) -> None:
    spec = simple({"task_type": "a", "on_completed": action})
    step = next_step(spec.tasks[0], done(), spec)
    assert (step.next_task, step.job_outcome, step.error_code) == (None, job_outcome, error_code)


def test_cancelled_attempt() -> None:
    spec = simple({"task_type": "a", "on_exit_code": {"137": "COMPLETED"}, "on_completed": "b"},
                  {"task_type": "b"})
    cancelled = Outcome("CANCELLED", "137", ErrorCode.ERR_JOB_CANCELLED)
    assert apply_exit_code_override(spec.tasks[0], cancelled) == cancelled
    assert not should_retry_task(cancelled, 0, spec.tasks[0])
    assert next_step(spec.tasks[0], cancelled, spec).job_outcome == "CANCELLED"
    assert final_job_state([(spec.tasks[0], cancelled)])[:2] == ("CANCELLED", ErrorCode.ERR_JOB_CANCELLED)


def test_unrelated_exit_code_is_not_overridden() -> None:
    spec = spec_of(RETRY_JOB)
    outcome = failed("42", ErrorCode.ERR_TASK_EXECUTE, "x")
    assert apply_exit_code_override(spec.tasks[1], outcome) == outcome


# --- retries and rule 5 ---------------------------------------------------------------------------


def test_should_retry() -> None:
    task = TaskDefinition.model_validate({"task_type": "a", "retry": 1})
    assert should_retry_task(failed(), 0, task)
    assert not should_retry_task(failed(), 1, task)
    assert not should_retry_task(done(), 0, task)
    assert not should_retry_task(failed(code=ErrorCode.ERR_FATAL), 0, task)
    assert not should_retry_task(failed(code=ErrorCode.ERR_JOB_CANCELLED), 0, task)
    assert not should_retry_task(failed(), 0, TaskDefinition.model_validate({"task_type": "b"}))


def test_final_state_uses_the_latest_attempt() -> None:
    spec = simple({"task_type": "a", "on_completed": "b"}, {"task_type": "b"})
    a, b = spec.tasks
    assert final_job_state([(a, failed()), (a, done()), (b, done())]) == ("COMPLETED", "", "")
    state, code, message = final_job_state([(a, done()), (b, failed("2"))])
    assert (state, code) == ("FAILED", ErrorCode.ERR_TASK_EXECUTE)
    assert "task b" in message
    assert final_job_state([]) == ("COMPLETED", "", "")


def test_fatal_fails_even_an_optional_task() -> None:
    task = TaskDefinition.model_validate({"task_type": "a", "allow_failure": True})
    assert final_job_state([(task, failed(code=ErrorCode.ERR_FATAL))])[:2] == ("FAILED", ErrorCode.ERR_FATAL)


# --- always_run, except, skip_if ------------------------------------------------------------------


def test_always_run_tasks_in_definition_order() -> None:
    spec = simple({"task_type": "a", "on_completed": "b"}, {"task_type": "z", "always_run": True},
                  {"task_type": "b"}, {"task_type": "c", "always_run": True})
    assert [t.task_type for t in always_run_tasks(spec, {"a"})] == ["z", "c"]
    assert [t.task_type for t in always_run_tasks(spec, {"a", "c"})] == ["z"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), (" TRUE\n", True), ("it is true", True), ("True", True), ("false", False), ("", False),
     ("  ", False), ("1", False), ("yes", False)],
)
def test_skip_and_filter(text: str, expected: bool) -> None:
    assert is_skipped(text) is expected
    assert is_filtered(text) is expected


def test_skipped_task_follows_completed_edge() -> None:
    spec = simple({"task_type": "a", "except": "true", "on_completed": "b"}, {"task_type": "b"})
    assert run(spec, "a", done("SKIPPED"))[1] == Step("b", None)
