"""Enqueue: ``POST /tasks/<task>/`` (a new job) and ``PUT /tasks/<task>/jobs/<uuid>/`` (create or update).

One call of the job service: the job's definition (upserted; a changed job is a new version) and,
unless it is a cron job, one request of it — now, or at ``startAt`` / now + ``startIn``. A cron job
makes no request here: the engine's cron makes one per occurrence. A PUT on an existing job first
cancels its executions still waiting (Fastlane deschedules the old schedule) and takes a stopped job
back (its definition enabled again).
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from myrmica.api.auth import current_principal
from myrmica.api.body import read_body
from myrmica.api.fastlane import views
from myrmica.api.fastlane.router import Routes
from myrmica.api.jobs import jobs_of
from myrmica.clock import utcnow
from myrmica.domain.errors import ConflictError, NotFoundError
from myrmica.domain.fastlane.payload import Payload, expires_at, job_uuid, read_json, read_payload
from myrmica.domain.fastlane.translate import DIALECT, definition_of, job_type, settings_of
from myrmica.domain.principal import Principal
from myrmica.domain.records import NewRequest, PageRequest, RequestFilter
from myrmica.service.jobs import JobService

routes = Routes()


async def _payload(request: Request) -> Payload:
    return read_payload(read_json(await read_body(request)), utcnow())


async def cancel_waiting(jobs: JobService, principal: Principal, definition_job_type: str) -> None:
    """Cancel the job's executions not started yet (its scheduled run, a pending retry)."""
    page = await jobs.search(principal, RequestFilter(job_type=definition_job_type, states=frozenset({"PENDING"})),
                             PageRequest(0, 1000))
    for record in page.items:
        with contextlib.suppress(ConflictError, NotFoundError):
            await jobs.cancel(principal, record.id)


async def enqueue(request: Request, principal: Principal, task_id: str, job_id: str, payload: Payload,
                  existing: bool) -> dict[str, Any]:
    jobs = jobs_of(request)
    settings = settings_of(task_id, job_id, payload)
    created_at = views.iso(utcnow())
    if existing:
        try:
            previous = await jobs.definitions.get(principal, job_type(job_id))
        except NotFoundError:
            previous = None
        if previous is not None and views.is_fastlane(previous) and \
                views.settings(previous).get("task_id") == task_id:
            created_at = views.settings(previous).get("created_at") or created_at
            await cancel_waiting(jobs, principal, previous.job_type)
    settings["created_at"] = created_at
    parsed = definition_of(task_id, job_id, payload)
    execution_id: str | None = None
    if payload.cron:
        saved = await jobs.definitions.upsert(principal, parsed, dialect=DIALECT, dialect_settings=settings)
        definition, queue_id = saved.definition, saved.definition.id
    else:
        params: dict[str, Any] = {"fastlane_retry": 0}
        if payload.metadata.get("expiration") is not None:
            params["fastlane_expiration"] = payload.metadata["expiration"]
        new = NewRequest(job_type="", params=params, scheduled_at=payload.start_at,
                         expires_at=expires_at(payload.metadata.get("expiration")),
                         description=f"Fastlane {task_id}/{job_id}")
        submitted = await jobs.submit_job(principal, parsed, dialect=DIALECT, dialect_settings=settings, request=new)
        assert submitted.definition is not None
        definition, queue_id = submitted.definition, submitted.request.id
        if payload.start_at is None:
            execution_id = submitted.request.id
    if definition.disabled:  # a job stopped before runs again
        await jobs.definitions.set_disabled(principal, definition.job_type, False)
    return {"taskId": task_id, "jobId": job_id, "queueJobId": queue_id,
            "jobUrl": views.job_url(request, task_id, job_id), "taskUrl": views.task_url(request, task_id),
            "executionId": execution_id,
            "executionUrl": views.execution_url(request, task_id, job_id, execution_id) if execution_id else None}


@routes.route("/tasks/{task_id}/", ["POST"])
async def post_job(request: Request) -> Response:
    principal = await current_principal(request)
    payload = await _payload(request)
    return JSONResponse(await enqueue(request, principal, request.path_params["task_id"], str(uuid.uuid4()),
                                      payload, existing=False))


@routes.route("/tasks/{task_id}/jobs/{job_id}/", ["PUT"])
async def put_job(request: Request) -> Response:
    principal = await current_principal(request)
    job_id = job_uuid(request.path_params["job_id"])
    payload = await _payload(request)
    return JSONResponse(await enqueue(request, principal, request.path_params["task_id"], job_id, payload,
                                      existing=True))
