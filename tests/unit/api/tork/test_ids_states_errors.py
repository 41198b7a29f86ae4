"""Tork ids, state names, error texts and statuses from core ids, states and errors."""

from __future__ import annotations

import pytest

from myrmica.api.tork.errors import WaitTimeout, cannot_restart, error_response, no_more_tasks, not_running
from myrmica.api.tork.ids import from_tork, is_tork_id, to_tork
from myrmica.api.tork.states import job_state as tork_job_state
from myrmica.api.tork.states import task_error
from myrmica.api.tork.states import task_state as tork_task_state
from myrmica.domain.errors import ConflictError, NotFoundError, ValidationError
from myrmica.domain.tork.decode import BadInput
from myrmica.ids import new_id


def test_ids_are_32_lowercase_hex_and_round_trip() -> None:
    core = new_id()
    tork = to_tork(core)
    assert is_tork_id(tork) and len(tork) == 32 and tork == tork.lower()
    assert from_tork(tork) == core


A_CORE_ID = "01M8XD0F0AS8F1G8KNDK3AB9NP"  # fixed, so every pytest worker collects the same tests


@pytest.mark.parametrize("bad", ["", "ABCDEF0123456789ABCDEF0123456789", "0" * 31, "g" * 32, A_CORE_ID])
def test_anything_else_is_not_found_with_tork_text(bad: str) -> None:
    with pytest.raises(NotFoundError, match="^job not found$"):
        from_tork(bad)
    with pytest.raises(NotFoundError, match="^task not found$"):
        from_tork(bad, "task not found")


@pytest.mark.parametrize(("core", "tork"), [
    ("PENDING", "PENDING"), ("BLOCKED", "PENDING"), ("READY", "SCHEDULED"), ("STARTED", "RUNNING"),
    ("EXECUTING", "RUNNING"), ("PAUSED", "RUNNING"), ("MANUAL_APPROVAL_REQUIRED", "RUNNING"),
    ("COMPLETED", "COMPLETED"), ("FAILED", "FAILED"), ("CANCELLED", "CANCELLED")])
def test_job_states(core: str, tork: str) -> None:
    assert tork_job_state({"job_state": core}) == tork


@pytest.mark.parametrize(("row", "tork"), [
    ({"task_state": "READY"}, "SCHEDULED"),
    ({"task_state": "EXECUTING"}, "RUNNING"),
    ({"task_state": "COMPLETED", "exit_code": "0"}, "COMPLETED"),
    ({"task_state": "COMPLETED", "exit_code": "SKIPPED"}, "SKIPPED"),
    ({"task_state": "FAILED", "error_code": "ERR_TASK_EXECUTE"}, "FAILED"),
    ({"task_state": "FAILED", "error_code": "ERR_JOB_CANCELLED"}, "CANCELLED"),
    ({"task_state": "CANCELLED"}, "CANCELLED"),
])
def test_task_states(row: dict[str, str], tork: str) -> None:
    assert tork_task_state(row) == tork


def test_task_errors_in_tork_words() -> None:
    assert task_error({"task_state": "FAILED", "error_code": "ERR_TASK_TIMED_OUT", "exit_code": "-1",
                       "method": "SHELL"}) == "context deadline exceeded"
    assert task_error({"task_state": "FAILED", "exit_code": "3", "method": "SHELL",
                       "error_message": "command failed"}) == "error executing command: exit status 3"
    assert task_error({"task_state": "FAILED", "exit_code": "-1", "error_message": "no ant"}) == "no ant"
    assert task_error({"task_state": "COMPLETED", "exit_code": "0"}) == ""


def test_error_bodies_and_statuses() -> None:
    assert error_response(BadInput("missing content type")) == (400, {"message": "missing content type"})
    assert error_response(NotFoundError("job not found")) == (404, {"message": "job not found"})
    assert error_response(WaitTimeout()) == (408, {"message": "timeout waiting for job to complete"})
    assert error_response(not_running()) == (400, {"message": "job is not running"})
    assert error_response(cannot_restart("COMPLETED")) == \
        (400, {"message": "job is COMPLETED and can not be restarted"})
    assert error_response(no_more_tasks()) == (400, {"message": "job has no more tasks to run"})
    assert error_response(ValidationError("params: bad"))[0] == 400
    assert error_response(ConflictError("busy"))[0] == 400
    assert error_response(RuntimeError("secret detail")) == (500, {"message": "Internal Server Error"})
