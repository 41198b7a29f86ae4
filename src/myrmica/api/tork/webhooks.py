"""Tork's webhooks (spec/tork.md §2.4) on the core's events and webhook sender.

A Tork job's ``webhooks: [{url, headers, event, if}]`` are read from its definition's settings. For
each core event of such a job, every webhook whose ``event`` matches (empty means
``job.StateChange``) and whose ``if`` (evaluated with ``job`` — and ``task`` for task events — as
Go structs: ``job.State``, ``job.ID``, ``task.State``) is true gets one POST of a JobSummary (job
events) or a TaskSummary (task events) as JSON, with ``Content-Type: application/json;
charset=UTF-8`` and the webhook's headers rendered against the job context (``{{ secrets.token }}``
works). The core sender stores it, then tries it up to 5 times, 5 s each, retrying on no answer,
429 and 5xx, 2 s × attempt apart (Tork's policy).

Events, as Tork sends them:

* ``job.StateChange``: ``PENDING`` (submitted), ``RUNNING`` (the run began), ``COMPLETED`` /
  ``FAILED`` / ``CANCELLED``, and ``RESTART`` (a restart); never ``SCHEDULED``.
* ``job.Progress``: after each top-level task completes (or is skipped), with the job's new progress.
* ``task.StateChange``: ``PENDING`` then ``RUNNING`` when a task's attempt starts, and its end state
  (``COMPLETED``, ``SKIPPED``, ``FAILED``, ``CANCELLED``).
* ``task.Progress``: never sent (Myrmica has no ``$TORK_PROGRESS``).

A webhook whose ``if`` or headers fail to evaluate is skipped, and the reason is logged (an expression
error never quotes a value, so no secret reaches the log).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from myrmica.api.context import AppContext
from myrmica.api.tork.ids import to_tork
from myrmica.api.tork.shapes import job_progress, job_summary, position_of, task
from myrmica.domain.errors import DomainError
from myrmica.domain.records import (
    ENDED,
    RESTARTED,
    STARTED,
    SUBMITTED,
    TASK_ENDED,
    TASK_STARTED,
    DefinitionRecord,
    JobEvent,
)
from myrmica.domain.tork.translate import DIALECT, task_types
from myrmica.domain.webhooks import RetryPolicy, WebhookCall
from myrmica.service.jobs import JobService
from myrmica.templating.expr import ExprError, evaluate, render, tork_context

log = logging.getLogger("myrmica.api.tork.webhooks")

JOB_STATE_CHANGE = "job.StateChange"
JOB_PROGRESS = "job.Progress"
TASK_STATE_CHANGE = "task.StateChange"
TASK_PROGRESS = "task.Progress"
EVENTS = (JOB_STATE_CHANGE, JOB_PROGRESS, TASK_STATE_CHANGE, TASK_PROGRESS)
CONTENT_TYPE = "application/json; charset=UTF-8"
POLICY = RetryPolicy()  # Tork's: 5 attempts, 5 s each, 2 s × attempt apart, on no answer/429/5xx

# Go's field names of JobSummary and TaskSummary, which a webhook's ``if`` reads (``job.State``).
_GO_JOB = {"id": "ID", "createdBy": "CreatedBy", "parentId": "ParentID", "inputs": "Inputs", "name": "Name",
           "description": "Description", "tags": "Tags", "state": "State", "createdAt": "CreatedAt",
           "startedAt": "StartedAt", "completedAt": "CompletedAt", "failedAt": "FailedAt", "position": "Position",
           "taskCount": "TaskCount", "result": "Result", "error": "Error", "progress": "Progress",
           "schedule": "Schedule"}
_GO_TASK = {"id": "ID", "jobId": "JobID", "position": "Position", "progress": "Progress", "name": "Name",
            "description": "Description", "state": "State", "createdAt": "CreatedAt", "scheduledAt": "ScheduledAt",
            "startedAt": "StartedAt", "completedAt": "CompletedAt", "error": "Error", "result": "Result",
            "var": "Var", "tags": "Tags"}
_JOB_STATE_OF_CAUSE = {SUBMITTED: "PENDING", STARTED: "RUNNING", RESTARTED: "RESTART"}


def tork_job(definition: DefinitionRecord) -> dict[str, Any]:
    job = (definition.dialect_settings or {}).get("job")
    return job if isinstance(job, dict) else {}


def webhooks_of(definition: DefinitionRecord) -> list[dict[str, Any]]:
    """The job's webhooks as submitted: the settings' own copy (the stored job is redacted, which may
    change a URL or a header template that happens to contain a secret's value), else the job's."""
    settings = definition.dialect_settings or {}
    hooks = settings.get("webhooks")
    if not isinstance(hooks, list):
        hooks = tork_job(definition).get("webhooks") or []
    return [hook for hook in hooks if isinstance(hook, dict) and hook.get("url")]


def has_webhooks(definition: DefinitionRecord) -> bool:
    return definition.dialect == DIALECT and bool(webhooks_of(definition))


def _go(shape: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """A JSON shape as the Go struct a Tork expression sees: every field there, zero when empty."""
    out: dict[str, Any] = {go: "" for go in names.values()}
    out.update({"Position": 0, "TaskCount": 0, "Progress": 0.0})
    out.update({names[key]: value for key, value in shape.items() if key in names})
    return out


def _row(record: Any) -> dict[str, Any]:
    return dict(vars(record))


def task_summary(full: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in full.items() if key in _GO_TASK}


def job_body(event: JobEvent) -> dict[str, Any]:
    settings = event.definition.dialect_settings or {}
    summary = job_summary(_row(event.request), settings)
    if event.cause in _JOB_STATE_OF_CAUSE:
        summary["state"] = _JOB_STATE_OF_CAUSE[event.cause]
    if event.cause == TASK_ENDED and event.task is not None and not event.task.parent_task_id \
            and summary["state"] not in ("COMPLETED", "FAILED"):
        # Tork's progress once a top-level task ended: its position over the task count
        count = int(summary.get("taskCount") or 0)
        position = position_of(event.task.task_type)
        summary["position"] = position + 1
        summary["progress"] = job_progress(position + 1, count, summary["state"])
    return summary


def task_body(event: JobEvent, state: str | None = None) -> dict[str, Any]:
    assert event.task is not None
    definition = task_types(list(tork_job(event.definition).get("tasks") or [])).get(event.task.task_type)
    summary = task_summary(task(_row(event.task), definition))
    if state is not None:
        summary["state"] = state
    return summary


def calls_for(event: JobEvent, policy: RetryPolicy = POLICY) -> list[WebhookCall]:
    """The webhook calls one core event of a Tork job makes (none for a job without webhooks)."""
    job = tork_job(event.definition)
    hooks = webhooks_of(event.definition)
    if not hooks:
        return []
    bodies: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []  # (event, job, task)
    if event.cause in (SUBMITTED, STARTED, ENDED, RESTARTED):
        bodies.append((JOB_STATE_CHANGE, job_body(event), None))
    elif event.task is not None and event.task.parent_task_id is None:
        now = job_summary(_row(event.request), event.definition.dialect_settings or {})
        if event.cause == TASK_STARTED:
            for state in ("PENDING", "RUNNING"):
                bodies.append((TASK_STATE_CHANGE, now, task_body(event, state)))
        elif event.cause == TASK_ENDED:
            bodies.append((TASK_STATE_CHANGE, now, task_body(event)))
            if event.task.task_state == "COMPLETED":  # Tork's completed handler (SKIPPED too), not its error one
                bodies.append((JOB_PROGRESS, job_body(event), None))
    secrets = {**(job.get("secrets") or {}), **event.secrets}  # the request's own values (the settings' are redacted)
    context = tork_context(inputs=job.get("inputs") or {}, secrets=secrets, tasks={},
                           job={"id": to_tork(event.request.id), "name": str(job.get("name", ""))})
    calls = []
    for name, job_shape, task_shape in bodies:
        for hook in hooks:
            if (hook.get("event") or JOB_STATE_CHANGE) != name:
                continue
            call = _call(hook, name, job_shape, task_shape, context, event.request.id, policy)
            if call is not None:
                calls.append(call)
    return calls


def _call(hook: Mapping[str, Any], name: str, job_shape: dict[str, Any], task_shape: dict[str, Any] | None,
          context: Mapping[str, Any], source: str, policy: RetryPolicy) -> WebhookCall | None:
    condition = str(hook.get("if") or "")
    try:
        if condition:
            env: dict[str, Any] = {"job": _go(job_shape, _GO_JOB)}
            if task_shape is not None:
                env["task"] = _go(task_shape, _GO_TASK)
            value = evaluate(condition, env)
            if not isinstance(value, bool):
                log.warning("a webhook of request %s is skipped: its if gives a %s, not a bool", source,
                            type(value).__name__)
                return None
            if not value:
                return None
        headers = {"Content-Type": CONTENT_TYPE}
        for key, text in (hook.get("headers") or {}).items():
            headers[str(key)] = render(str(text), context)
        body = task_shape if task_shape is not None else job_shape
        return WebhookCall(url=str(hook["url"]), body=json.dumps(body), headers=headers, policy=policy,
                           source=source, event=name)
    except ExprError as exc:
        log.warning("a webhook of request %s is skipped: %s", source, exc)
    except DomainError as exc:
        log.warning("a webhook of request %s is skipped: %s", source, exc.message)
    return None


class TorkWebhooks:
    """Listens to the core's events of Tork jobs with webhooks and hands their calls to the sender."""

    def __init__(self, jobs: JobService, policy: RetryPolicy = POLICY) -> None:
        self._jobs = jobs
        self._policy = policy

    async def on_event(self, event: JobEvent) -> None:
        for call in calls_for(event, self._policy):
            await self._jobs.send_webhook(call)


def start(ctx: AppContext) -> None:
    """At server start: Tork's webhooks hear the engine's events (a server without an engine has none)."""
    jobs = ctx.services.get("jobs")
    if isinstance(jobs, JobService):
        install(jobs, RetryPolicy(backoff_secs=ctx.settings.webhook_backoff_secs))


def install(jobs: JobService, policy: RetryPolicy = POLICY) -> TorkWebhooks:
    """Subscribe Tork's webhooks to the job service's events (once per queen, at start)."""
    hooks = TorkWebhooks(jobs, policy)
    jobs.subscribe(hooks.on_event, has_webhooks)
    return hooks
