"""Which webhook calls a core event of a Tork job makes (pure: events built by hand)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from myrmica.api.tork.ids import to_tork
from myrmica.api.tork.webhooks import calls_for, has_webhooks
from myrmica.domain.records import (
    ENDED,
    RESTARTED,
    SUBMITTED,
    TASK_ENDED,
    TASK_STARTED,
    DefinitionRecord,
    JobEvent,
    RequestRecord,
    TaskRecord,
)
from myrmica.domain.webhooks import RetryPolicy

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
REQUEST_ID = "01J00000000000000000000001"
TASK_ID = "01J00000000000000000000002"


def definition(webhooks: list[dict[str, Any]], dialect: str = "tork", **job: Any) -> DefinitionRecord:
    settings = {"job": {"name": "j", "tasks": [{"name": "t1", "run": "x"}, {"name": "t2", "run": "y"}],
                        "webhooks": webhooks, **job}}
    return DefinitionRecord(
        id="01J00000000000000000000009", job_type="tork-j", version=1, sem_version="", active=True, disabled=False,
        max_concurrency=3, public_plugin=False, platform="", description="", tags=(), methods=(), cron_trigger="",
        owner_key="o", organization_id=None, user_id=None, dialect=dialect, raw_format="json", raw_source="{}",
        spec={}, dialect_settings=settings, created_at=NOW, updated_at=NOW)


def request(state: str) -> RequestRecord:
    return RequestRecord(
        id=REQUEST_ID, parent_id=None, user_key=None, job_definition_id="d", job_execution_id=None,
        last_job_execution_id=None, owner_key="o", organization_id=None, user_id=None, description="", platform="",
        job_type="tork-j", job_version="1", job_state=state, job_group="", job_priority=0, schedule_attempts=0,
        retried=0, paused_count=0, cron_triggered=False, error_code="", error_message="", current_task="",
        hard_restart=False, cascade_cancel=False, params={}, secret_names=(), scheduled_at=NOW, started_at=NOW,
        ended_at=NOW, created_at=NOW, updated_at=NOW)


def task_row(state: str, task_type: str = "task-1", exit_code: str = "0") -> TaskRecord:
    return TaskRecord(
        id=TASK_ID, job_execution_id="e", job_request_id=REQUEST_ID, task_type=task_type, parent_task_id=None,
        item_index=None, method="SHELL", task_state=state, allow_failure=False, exit_code=exit_code, exit_message="",
        error_code="", error_message="", failed_command="", comments="", ant_id="ant", ant_host="", retried=0,
        attempt=0, contexts={}, stdout=(), task_order=1, cost_factor=0.0, started_at=NOW, ended_at=NOW, updated_at=NOW)


def event(cause: str, state: str, hooks: list[dict[str, Any]], task: TaskRecord | None = None, **job: Any
          ) -> JobEvent:
    return JobEvent(cause=cause, request=request(state), definition=definition(hooks, **job), task=task, at=NOW)


def test_only_tork_jobs_with_webhooks_are_listened_to() -> None:
    assert has_webhooks(definition([{"url": "http://h/x"}]))
    assert not has_webhooks(definition([]))
    assert not has_webhooks(definition([{"url": "http://h/x"}], dialect="formicary"))


@pytest.mark.parametrize(("cause", "state", "tork_state"), [
    (SUBMITTED, "PENDING", "PENDING"), (ENDED, "COMPLETED", "COMPLETED"), (ENDED, "CANCELLED", "CANCELLED"),
    (RESTARTED, "PENDING", "RESTART")])
def test_job_state_changes_post_a_job_summary(cause: str, state: str, tork_state: str) -> None:
    [call] = calls_for(event(cause, state, [{"url": "http://h/x"}]))
    body = json.loads(call.body)
    assert (body["id"], body["state"], body["name"], body["taskCount"]) == (to_tork(REQUEST_ID), tork_state, "j", 2)
    assert (call.url, call.method, call.event, call.source) == ("http://h/x", "POST", "job.StateChange", REQUEST_ID)
    assert call.headers == {"Content-Type": "application/json; charset=UTF-8"}
    assert call.policy == RetryPolicy()


def test_if_reads_go_field_names_and_must_be_true() -> None:
    hooks = [{"url": "http://h/done", "if": "{{ job.State == 'COMPLETED' && job.ID != '' }}"},
             {"url": "http://h/name", "if": "{{ job.Name == 'other' }}"}]
    assert [c.url for c in calls_for(event(ENDED, "COMPLETED", hooks))] == ["http://h/done"]
    assert calls_for(event(ENDED, "FAILED", hooks)) == []


def test_a_bad_if_or_header_skips_the_webhook_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    hooks = [{"url": "http://h/a", "if": "{{ 1 + 1 }}"},
             {"url": "http://h/b", "headers": {"X": "{{ nosuch.value }}"}},
             {"url": "http://h/c", "headers": {"X-Token": "{{ secrets.token }}"}}]
    with caplog.at_level(logging.WARNING):
        calls = calls_for(event(ENDED, "COMPLETED", hooks, secrets={"token": "hush"}))
    assert [(c.url, c.headers.get("X-Token")) for c in calls] == [("http://h/c", "hush")]
    assert "not a bool" in caplog.text and "unknown name nosuch" in caplog.text and "hush" not in caplog.text


def test_events_are_matched_by_name() -> None:
    hooks = [{"url": "http://h/job"}, {"url": "http://h/task", "event": "task.StateChange"},
             {"url": "http://h/progress", "event": "job.Progress"}, {"url": "http://h/never", "event": "task.Progress"}]
    started = calls_for(event(TASK_STARTED, "EXECUTING", hooks, task_row("EXECUTING")))
    assert [(c.url, json.loads(c.body)["state"]) for c in started] == [("http://h/task", "PENDING"),
                                                                       ("http://h/task", "RUNNING")]
    ended = calls_for(event(TASK_ENDED, "EXECUTING", hooks, task_row("COMPLETED")))
    assert [c.url for c in ended] == ["http://h/task", "http://h/progress"]
    task_body, progress = (json.loads(c.body) for c in ended)
    assert (task_body["id"], task_body["jobId"], task_body["name"], task_body["position"]) == (
        to_tork(TASK_ID), to_tork(REQUEST_ID), "t1", 1)
    assert set(task_body) <= {"id", "jobId", "position", "progress", "name", "description", "state", "createdAt",
                              "scheduledAt", "startedAt", "completedAt", "error", "result", "var", "tags"}
    assert (progress["position"], progress["progress"]) == (2, 50.0)
    failed = calls_for(event(TASK_ENDED, "EXECUTING", hooks, task_row("FAILED", exit_code="2")))
    assert [(c.url, json.loads(c.body).get("error")) for c in failed] == [
        ("http://h/task", "error executing command: exit status 2")]  # no progress for a failure


def test_a_task_if_sees_task_and_job() -> None:
    hooks = [{"url": "http://h/t", "event": "task.StateChange",
              "if": "{{ task.State == 'SKIPPED' && job.State == 'RUNNING' }}"}]
    skipped = task_row("COMPLETED", exit_code="SKIPPED")
    assert len(calls_for(event(TASK_ENDED, "EXECUTING", hooks, skipped))) == 1
    assert calls_for(event(TASK_ENDED, "EXECUTING", hooks, task_row("COMPLETED"))) == []
