"""Fastlane's shapes (spec/fastlane.md §1, §8) from the job service's records.

A Fastlane job is a ``fastlane`` definition (its settings: task id, job id, image, command, metadata),
an execution a request of it. Execution status: PENDING → ``enqueued``; picked up, its container not
started yet → ``pulling``; its task running → ``running``; COMPLETED → ``done``; FAILED → ``failed``,
``timedout`` (the task's timeout) or ``expired`` (picked up after ``expiration``); CANCELLED (a stop) →
``stopped``. ``log`` is the container's stdout, ``error`` its stderr (and the engine's reason for a
failure that printed nothing), both null while it has not ended. A JSON answer holds at most
``JSON_LOG_LINES`` lines / ``JSON_LOG_BYTES`` of each (it never reads a whole big log); the text routes
stream the whole of it from the store, page by page.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from typing import Any

from fastapi import Request

from myrmica.api.fastlane.errors import FastlaneError
from myrmica.clock import utcnow
from myrmica.domain.errors import NotFoundError
from myrmica.domain.fastlane.payload import expired_message, redact, split_image
from myrmica.domain.fastlane.translate import DIALECT, JOB_TYPE_PREFIX, job_type
from myrmica.domain.principal import Principal
from myrmica.domain.records import DefinitionFilter, DefinitionRecord, PageRequest, RequestFilter, RequestRecord
from myrmica.domain.states import ErrorCode
from myrmica.service.jobs import JobService

PREFIX = "/fastlane"
MAX_EXECUTIONS_SHOWN = 20
MAX_JOBS_SCANNED = 10_000
EXPIRED = "ERR_EXPIRED"
STOPPED_NOTE = "User stopped job execution manually."
LIVE = ("enqueued", "pulling", "running")
TRUNCATED = "[log truncated after "
JSON_LOG_LINES = 2000  # of log and of error in a JSON answer: the text routes give the whole
JSON_LOG_BYTES = 64 * 1024
CUT_NOTE = "[cut here in this JSON: the execution's stdout and stderr routes give the whole text]"
TEXT_PAGE = 5000  # lines read from the store at a time by the text routes
HOOK_EVENT_PREFIX = "fastlane."  # the event of a Fastlane webhook call (``fastlane.done`` …)


def base_url(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}{PREFIX}"


def task_url(request: Request, task_id: str) -> str:
    return f"{base_url(request)}/tasks/{task_id}/"


def job_url(request: Request, task_id: str, job_id: str) -> str:
    return f"{task_url(request, task_id)}jobs/{job_id}/"


def execution_url(request: Request, task_id: str, job_id: str, execution_id: str) -> str:
    return f"{job_url(request, task_id, job_id)}executions/{execution_id}/"


def iso(moment: datetime | None) -> str | None:
    return moment.replace(tzinfo=None).isoformat() if moment is not None else None


def settings(definition: DefinitionRecord) -> dict[str, Any]:
    return dict(definition.dialect_settings or {})


def is_fastlane(definition: DefinitionRecord) -> bool:
    return definition.dialect == DIALECT and bool(settings(definition).get("job_id"))


async def fastlane_jobs(jobs: JobService, principal: Principal) -> list[DefinitionRecord]:
    """Every Fastlane job the caller sees (the active version of each), oldest first."""
    page = await jobs.definitions.search(principal, DefinitionFilter(job_type_prefix=JOB_TYPE_PREFIX),
                                         PageRequest(0, MAX_JOBS_SCANNED))
    found = [d for d in page.items if is_fastlane(d)]
    return sorted(found, key=lambda d: (str(settings(d).get("created_at", "")), d.created_at))


async def find_job(jobs: JobService, principal: Principal, task_id: str, job_id: str,
                   operation: str, message: str = "Job not found in task.") -> DefinitionRecord:
    try:
        definition = await jobs.definitions.get(principal, job_type(job_id.lower()))
    except NotFoundError:
        raise FastlaneError(404, message, operation) from None
    if not is_fastlane(definition) or settings(definition).get("task_id") != task_id:
        raise FastlaneError(404, message, operation)
    return definition


async def executions(jobs: JobService, principal: Principal, definition: DefinitionRecord,
                     limit: int = MAX_EXECUTIONS_SHOWN) -> tuple[list[RequestRecord], int]:
    """The job's newest executions first, and how many it has. A cron job's next occurrence, which the
    engine keeps waiting as a request, is not one yet (Fastlane makes the execution when the cron fires)."""
    page = await jobs.search(principal, RequestFilter(job_type=definition.job_type), PageRequest(0, limit + 1))
    now = aware(utcnow())
    shown = [r for r in page.items
             if not (r.cron_triggered and r.job_state == "PENDING" and aware(r.scheduled_at) > now)]
    hidden = len(page.items) - len(shown)
    return [await jobs.get(principal, r.id) for r in shown[:limit]], page.total - hidden


def _task(record: RequestRecord) -> Any:
    tasks = record.execution.tasks if record.execution is not None else ()
    return tasks[0] if tasks else None


def status(record: RequestRecord) -> str:
    state = record.job_state
    if state == "PENDING":
        return "enqueued"
    if state == "COMPLETED":
        return "done"
    if state == "CANCELLED":
        return "stopped"
    task = _task(record)
    if state == "FAILED":
        codes = {record.error_code, task.error_code if task is not None else ""}
        if ErrorCode.ERR_TASK_TIMED_OUT in codes:
            return "timedout"
        if EXPIRED in codes:
            return "expired"
        return "failed"
    return "running" if task is not None and task.task_state == "EXECUTING" else "pulling"


def exit_code(record: RequestRecord) -> int | None:
    task = _task(record)
    if task is None or status(record) in LIVE:
        return None
    try:
        code = int(task.exit_code)
    except (TypeError, ValueError):
        return None
    return code if code >= 0 else None  # the engine's -1: no exit code (killed, never started)


async def outputs(jobs: JobService, principal: Principal, record: RequestRecord) -> tuple[str | None, str | None]:
    """(log, error) for a JSON answer (and a webhook's body): the container's stdout and stderr, each
    at most ``JSON_LOG_LINES`` lines and ``JSON_LOG_BYTES`` (then ``CUT_NOTE``), so an execution's JSON
    never reads its whole log; (None, None) while it has not ended."""
    if status(record) in LIVE:
        return None, None
    return await excerpt(jobs, principal, record, "stdout"), await excerpt(jobs, principal, record, "stderr")


async def _lines(jobs: JobService, principal: Principal, record: RequestRecord, part: str,
                 page: int) -> AsyncGenerator[list[str], None]:
    """Pages of the lines of ``stdout`` (the container's, and the lines saying the log was cut) or
    ``stderr``, read from the store ``page`` at a time."""
    streams = ("stdout", "system") if part == "stdout" else ("stderr",)
    async for rows in await jobs.log_text(principal, record.id, streams, page=page):
        yield [line for stream, line in rows if stream != "system" or line.startswith(TRUNCATED)]


def _with_reason(text: str, why: str) -> str:
    if not why or why in text:
        return text
    return f"{text}\n{why}" if text else why


async def excerpt(jobs: JobService, principal: Principal, record: RequestRecord, part: str) -> str:
    kept: list[str] = []
    size, cut = 0, False
    pages = _lines(jobs, principal, record, part, JSON_LOG_LINES + 1)
    try:
        async for lines in pages:
            for line in lines:
                if kept and (len(kept) >= JSON_LOG_LINES or size + len(line) + 1 > JSON_LOG_BYTES):
                    cut = True
                    break
                kept.append(line)
                size += len(line) + 1
            if cut:
                break
    finally:
        await pages.aclose()
    text = "".join(f"{line}\n" for line in kept) + (f"{CUT_NOTE}\n" if cut else "")
    return _with_reason(text, reason(record)) if part == "stderr" else text


async def whole(jobs: JobService, principal: Principal, record: RequestRecord, part: str) -> AsyncIterator[str]:
    """The whole ``stdout`` or ``stderr`` (then the engine's reason) in chunks, as the store pages it."""
    why = reason(record) if part == "stderr" else ""
    seen = printed = False
    async for lines in _lines(jobs, principal, record, part, TEXT_PAGE):
        text = "".join(f"{line}\n" for line in lines)
        if text:
            seen = seen or bool(why and why in text)
            printed = True
            yield text
    if why and not seen:
        yield f"\n{why}" if printed else why


def reason(record: RequestRecord) -> str:
    state = status(record)
    if state == "expired":
        expiration = (record.params or {}).get("fastlane_expiration")
        if isinstance(expiration, int | float) and record.ended_at is not None:
            return expired_message(float(expiration), record.ended_at)
    if state == "stopped":
        return STOPPED_NOTE
    if state in ("failed", "timedout"):
        task = _task(record)
        if task is not None and task.exit_code not in ("", None) and state == "failed":
            return ""  # the command's own failure: its stderr says it
        return (task.error_message if task is not None and task.error_message else record.error_message) or ""
    return ""


def image_of(definition: DefinitionRecord) -> str:
    return split_image(str(settings(definition).get("image", "")))[0]


async def dispatches(jobs: JobService, principal: Principal, record: RequestRecord) -> list[dict[str, Any]]:
    """The execution's webhook dispatch log (``metadata.webhookDispatch``): one entry per attempt of
    each webhook call, oldest first, as Fastlane appends them — ``timestamp``, ``url``, ``statusCode``
    (500 when no answer came, as Fastlane), the answer's ``body`` (its first 1000 characters) and
    ``headers``, and on a failure Fastlane's ``error`` text — plus ``attempt`` (1, 2, …) and ``state``:
    the call's after that attempt (PENDING: tried again later, DELIVERED, FAILED)."""
    shown: list[dict[str, Any]] = []
    for outcome in await jobs.webhook_outcomes(principal, record.id):
        if not outcome.event.startswith(HOOK_EVENT_PREFIX):
            continue
        for number, attempt in enumerate(outcome.history, start=1):
            entry: dict[str, Any] = {"timestamp": iso(attempt.at), "url": outcome.url,
                                     "statusCode": attempt.status or 500, "body": attempt.body,
                                     "headers": dict(attempt.headers), "attempt": number, "state": attempt.state}
            if attempt.error:
                entry["error"] = dispatch_error(outcome.url, outcome.body_start, attempt.status, attempt.error)
            shown.append(entry)
    return shown


def dispatch_error(url: str, body: str, status: int, error: str) -> str:
    """Fastlane's dispatcher's text for a failed attempt."""
    start = f'The POST request to {url} with body of "{body[:10]}..." failed with '
    return f"{start}status code of {status}." if status else f"{start}exception of {error}."


def execution(definition: DefinitionRecord, record: RequestRecord, *, log: str | None = None,
              error: str | None = None, with_logs: bool = False,
              dispatch: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    own = settings(definition)
    task = _task(record)
    metadata: dict[str, Any] = {}
    if task is not None and task.ant_id:
        metadata = {"docker_host": task.ant_id, "docker_port": None,
                    "container_name": f"fastlane-job-{record.id}"}
    if dispatch:
        metadata["webhookDispatch"] = dispatch
    shape: dict[str, Any] = {
        "executionId": record.id, "createdAt": iso(record.created_at),
        "startedAt": iso(task.started_at) if task is not None else None,
        "finishedAt": iso(record.ended_at) if status(record) not in LIVE else None,
        "image": image_of(definition), "command": own.get("command", ""), "metadata": metadata,
        "status": status(record), "exitCode": exit_code(record)}
    if with_logs:
        shape["log"], shape["error"] = log, error
    return shape


def job(definition: DefinitionRecord, shown: list[dict[str, Any]], count: int) -> dict[str, Any]:
    own = settings(definition)
    metadata = redact(dict(own.get("metadata") or {}))
    return {"createdAt": own.get("created_at") or iso(definition.created_at),
            "lastModifiedAt": iso(definition.updated_at), "taskId": own.get("task_id"),
            "scheduled": bool(definition.cron_trigger) and not definition.disabled, "executionCount": count,
            "metadata": metadata, "executions": shown}


def aware(moment: datetime) -> datetime:
    from datetime import UTC
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
