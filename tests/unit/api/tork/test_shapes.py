"""Tork's JSON shapes from core records: JobSummary, Job, Task, redaction and the page envelope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from myrmica.api.tork.ids import to_tork
from myrmica.api.tork.shapes import (
    job,
    job_progress,
    job_summary,
    page,
    page_params,
    redact_secrets,
    task,
    tork_time,
)
from myrmica.domain.errors import NotFoundError
from myrmica.ids import new_id

T0 = datetime(2023, 9, 5, 1, 33, 8, 413605, tzinfo=UTC)
SETTINGS: dict[str, Any] = {"job": {
    "name": "my job", "inputs": {"who": "ants"}, "secrets": {"token": "s3cr3t"},
    "tasks": [{"name": "first", "run": "echo hello", "image": "alpine", "var": "greeting",
               "env": {"TOKEN": "s3cr3t", "PASSWORD": "x", "PLAIN": "y"}},
              {"name": "second", "run": "echo bye", "retry": {"limit": 2}}],
}}


def _request(state: str, current: str = "", **extra: Any) -> dict[str, Any]:
    return {"id": new_id(), "job_state": state, "current_task": current, "created_at": T0,
            "started_at": T0 + timedelta(milliseconds=1), "ended_at": T0 + timedelta(seconds=6), "parent_id": None,
            **extra}


def _row(request: dict[str, Any], task_type: str, state: str, **extra: Any) -> dict[str, Any]:
    return {"id": new_id(), "job_request_id": request["id"], "task_type": task_type, "task_state": state,
            "method": "SHELL", "exit_code": "0", "error_code": "", "error_message": "", "ant_id": "ant-1",
            "attempt": 0, "parent_task_id": None, "started_at": T0, "ended_at": T0 + timedelta(seconds=1), **extra}


def test_times_are_go_rfc3339_with_trimmed_fraction() -> None:
    assert tork_time(T0) == "2023-09-05T01:33:08.413605Z"
    assert tork_time(T0.replace(microsecond=400000)) == "2023-09-05T01:33:08.4Z"
    assert tork_time(T0.replace(microsecond=0)) == "2023-09-05T01:33:08Z"
    assert tork_time(T0.astimezone(timezone(timedelta(hours=2)))) == "2023-09-05T01:33:08.413605Z"
    assert tork_time(None) is None


def test_a_pending_job_summary() -> None:
    request = _request("PENDING", started_at=None, ended_at=None)
    assert job_summary(request, SETTINGS) == {
        "id": to_tork(request["id"]), "createdBy": {"username": "guest", "name": "Guest"},
        "inputs": {"who": "ants"}, "name": "my job", "state": "PENDING",
        "createdAt": "2023-09-05T01:33:08.413605Z", "position": 0, "taskCount": 2}


def test_a_running_job_is_at_its_current_task() -> None:
    summary = job_summary(_request("EXECUTING", "task-2"), SETTINGS)
    assert (summary["state"], summary["position"], summary["progress"]) == ("RUNNING", 2, 50.0)
    assert "completedAt" not in summary and "failedAt" not in summary


def test_a_completed_job_is_past_its_last_task() -> None:
    summary = job_summary(_request("COMPLETED", "task-2"), SETTINGS, result="hello world")
    assert (summary["position"], summary["taskCount"], summary["progress"]) == (3, 2, 100.0)
    assert summary["completedAt"] == "2023-09-05T01:33:14.413605Z"
    assert summary["result"] == "hello world"


def test_a_failed_job_has_failed_at_and_no_error() -> None:
    summary = job_summary(_request("FAILED", "task-1"), SETTINGS)
    assert (summary["state"], summary["position"], summary["failedAt"]) == ("FAILED", 1, "2023-09-05T01:33:14.413605Z")
    assert "error" not in summary and "progress" not in summary


def test_progress_rounds_like_go() -> None:
    assert job_progress(2, 3, "RUNNING") == 33.33
    assert job_progress(3, 3, "RUNNING") == 66.67
    assert job_progress(1, 8, "RUNNING") == 0.0
    assert job_progress(2, 8, "RUNNING") == 12.5


def test_an_execution_task() -> None:
    request = _request("EXECUTING", "task-2")
    row = _row(request, "task-2", "FAILED", exit_code="1", attempt=1)
    shaped = task(row, SETTINGS["job"]["tasks"][1])
    assert shaped == {
        "id": to_tork(row["id"]), "jobId": to_tork(request["id"]), "position": 2, "name": "second",
        "run": "echo bye", "state": "FAILED", "createdAt": "2023-09-05T01:33:08.413605Z",
        "scheduledAt": "2023-09-05T01:33:08.413605Z", "startedAt": "2023-09-05T01:33:08.413605Z",
        "failedAt": "2023-09-05T01:33:09.413605Z", "retry": {"limit": 2, "attempts": 1}, "queue": "default",
        "nodeId": "ant-1", "error": "error executing command: exit status 1"}


def test_the_full_job_with_tasks_execution_context_and_redaction() -> None:
    request = _request("EXECUTING", "task-2")
    first = _row(request, "task-1", "COMPLETED")
    second = _row(request, "task-2", "EXECUTING", started_at=T0 + timedelta(seconds=2), ended_at=None)
    shaped = job(request, SETTINGS, [second, first], task_results={first["id"]: "hi s3cr3t"})
    assert [t["name"] for t in shaped["execution"]] == ["first", "second"]
    assert shaped["execution"][0]["result"] == "hi [REDACTED]"
    assert shaped["execution"][0]["env"] == {"TOKEN": "[REDACTED]", "PASSWORD": "[REDACTED]", "PLAIN": "y"}
    assert shaped["tasks"][0]["name"] == "first"
    assert shaped["context"] == {"job": {"id": to_tork(request["id"]), "name": "my job"}, "inputs": {"who": "ants"},
                                 "secrets": {"token": "[REDACTED]"}, "tasks": {"greeting": "hi [REDACTED]"}}
    assert shaped["secrets"] == {"token": "[REDACTED]"}
    unredacted = job(request, SETTINGS, [first], task_results={first["id"]: "hi s3cr3t"}, redact=False)
    assert unredacted["secrets"] == {"token": "s3cr3t"}


def test_tasks_and_execution_are_always_present() -> None:
    shaped = job(_request("PENDING", started_at=None, ended_at=None), {"job": {"name": "x"}}, [])
    assert shaped["tasks"] is None and shaped["execution"] is None and shaped["position"] == 0


def test_redaction_matches_key_names_in_any_case_and_secret_values_anywhere() -> None:
    value = {"a": {"my_secret_key": "v", "Access_Key": "w", "note": "token=abc123"}, "l": ["abc123"], "n": 1}
    assert redact_secrets(value, {"t": "abc123", "empty": ""}) == {
        "a": {"my_secret_key": "[REDACTED]", "Access_Key": "[REDACTED]", "note": "token=[REDACTED]"},
        "l": ["[REDACTED]"], "n": 1}


# --- pages ----------------------------------------------------------------------------------------

def test_page_size_is_the_number_of_items_returned() -> None:
    assert page(["x"], 11, 10, 101) == {"items": ["x"], "number": 11, "size": 1, "totalPages": 11, "totalItems": 101}
    assert page([], 1, 10, 0) == {"items": [], "number": 1, "size": 0, "totalPages": 0, "totalItems": 0}
    assert page(list(range(10)), 1, 10, 101)["totalPages"] == 11


@pytest.mark.parametrize(("raw_page", "raw_size", "expected"), [
    (None, None, (1, 10)), ("", "", (1, 10)), ("0", "0", (1, 1)), ("-3", "100", (1, 20)), ("2", "5", (2, 5))])
def test_page_and_size_defaults_and_clamps(raw_page: str | None, raw_size: str | None,
                                           expected: tuple[int, int]) -> None:
    assert page_params(raw_page, raw_size) == expected


def test_log_pages_default_to_25_and_clamp_to_100() -> None:
    assert page_params(None, None, default_size=25, max_size=100) == (1, 25)
    assert page_params("1", "500", default_size=25, max_size=100) == (1, 100)


def test_non_integer_page_or_size_is_a_404_with_tork_text() -> None:
    with pytest.raises(NotFoundError, match="^invalid page number: x$"):
        page_params("x", None)
    with pytest.raises(NotFoundError, match="^invalid size: 1.5$"):
        page_params("1", "1.5")
