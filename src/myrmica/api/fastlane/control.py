"""Stopping and retrying (spec/fastlane.md §4).

* Job stop (``POST …/jobs/<j>/stop/``): every execution not ended is cancelled (its container is
  removed), and the job's definition is disabled, which ends its cron schedule and its pending retries;
  a job with no execution yet (scheduled later) is stopped too. A PUT of the job takes it back.
* Execution stop (``POST …/executions/<e>/stop/``): that execution only; the schedule stays.
* Retry (``POST …/jobs/<j>/retry/``): stops the last execution if it runs, and runs the job again now.
"""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from myrmica.api.auth import current_principal
from myrmica.api.fastlane import views
from myrmica.api.fastlane.errors import FastlaneError
from myrmica.api.fastlane.reads import one_execution
from myrmica.api.fastlane.router import Routes
from myrmica.api.jobs import jobs_of
from myrmica.clock import utcnow
from myrmica.domain.errors import ConflictError, NotFoundError
from myrmica.domain.fastlane.payload import expires_at
from myrmica.domain.records import NewRequest, PageRequest, RequestFilter
from myrmica.service.jobs import TERMINAL

routes = Routes()
LIVE_STATES = frozenset({"PENDING", "READY", "EXECUTING", "PAUSED", "MANUAL_APPROVAL_REQUIRED"})


def summary(request: Request, task_id: str, job_id: str) -> dict[str, Any]:
    return {"taskId": task_id, "jobId": job_id, "jobUrl": views.job_url(request, task_id, job_id),
            "taskUrl": views.task_url(request, task_id)}


@routes.route("/tasks/{task_id}/jobs/{job_id}/stop/", ["POST"])
async def stop_job(request: Request) -> Response:
    principal = await current_principal(request)
    jobs = jobs_of(request)
    task_id, job_id = request.path_params["task_id"], request.path_params["job_id"]
    definition = await views.find_job(jobs, principal, task_id, job_id, "stop_job")
    await jobs.definitions.set_disabled(principal, definition.job_type, True)
    page = await jobs.search(principal, RequestFilter(job_type=definition.job_type, states=LIVE_STATES),
                             PageRequest(0, 1000))
    for record in page.items:
        with contextlib.suppress(ConflictError, NotFoundError):
            await jobs.cancel(principal, record.id)
    return JSONResponse(summary(request, task_id, job_id))


@routes.route("/tasks/{task_id}/jobs/{job_id}/executions/{execution_id}/stop/", ["POST"])
async def stop_execution(request: Request) -> Response:
    task_id, job_id = request.path_params["task_id"], request.path_params["job_id"]
    _, record = await one_execution(request, "stop_job_execution",
                                    missing=f"Job Execution ({request.path_params['execution_id']}) not found in "
                                            f"Job ({job_id}).")
    if record.job_state not in TERMINAL:
        with contextlib.suppress(ConflictError, NotFoundError):
            await jobs_of(request).cancel(await current_principal(request), record.id)
    return JSONResponse({"task": {"id": task_id, "url": views.task_url(request, task_id)},
                         "job": {"id": job_id, "url": views.job_url(request, task_id, job_id)},
                         "execution": {"id": record.id,
                                       "url": views.execution_url(request, task_id, job_id, record.id)}})


@routes.route("/tasks/{task_id}/jobs/{job_id}/retry/", ["POST"])
async def retry_job(request: Request) -> Response:
    principal = await current_principal(request)
    jobs = jobs_of(request)
    task_id, job_id = request.path_params["task_id"], request.path_params["job_id"]
    definition = await views.find_job(jobs, principal, task_id, job_id, "retry_job")
    records, _ = await views.executions(jobs, principal, definition, limit=1)
    if not records:
        raise FastlaneError(400, "No execution yet to retry.", "retry_job")
    last = records[0]
    if last.job_state == "PENDING" and views.aware(last.scheduled_at) > views.aware(utcnow()):
        raise FastlaneError(400, "Can't retry a scheduled job.", "retry_job")
    if last.job_state not in TERMINAL:
        with contextlib.suppress(ConflictError, NotFoundError):
            await jobs.cancel(principal, last.id)
    params = {k: v for k, v in (last.params or {}).items() if k == "fastlane_expiration"}
    await jobs.submit(principal, NewRequest(job_type=definition.job_type, params={**params, "fastlane_retry": 0},
                                            expires_at=expires_at(params.get("fastlane_expiration")),
                                            description=last.description))
    return JSONResponse(summary(request, task_id, job_id))
