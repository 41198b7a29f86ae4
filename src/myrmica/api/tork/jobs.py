"""``/jobs``: submit a Tork job (JSON or YAML, strictly decoded), list, read, cancel, restart, its log.

A submit is one call of the job service: the job, translated (:mod:`myrmica.domain.tork`), becomes
a definition tagged ``tork`` (one per distinct source) and a request of it. The Tork job is kept in
the definition's settings without its secrets' values, which go to the request's secret params
(encrypted at rest, never shown).
"""

from __future__ import annotations

from typing import Any

import pydantic
from fastapi import Request, Response
from fastapi.responses import JSONResponse

from myrmica.api.body import read_body
from myrmica.api.context import context_of
from myrmica.api.jobs import jobs_of
from myrmica.api.tork import logparts, shapes, views
from myrmica.api.tork.auth import tork_principal
from myrmica.api.tork.errors import WaitTimeout, cannot_restart, no_more_tasks, not_running
from myrmica.api.tork.router import tork_router
from myrmica.api.tork.schemas import JOB_BODY, PAGING, Job, JobPage, JobSummary, LogPage, Status, answers, query
from myrmica.api.tork.search import job_filter
from myrmica.api.tork.states import CANCELLABLE_JOB_STATES, RESTARTABLE_JOB_STATES, job_state
from myrmica.domain.durations import parse_duration
from myrmica.domain.errors import ConflictError
from myrmica.domain.records import NewRequest, PageRequest
from myrmica.domain.tork.decode import BadInput
from myrmica.domain.tork.intake import image_runtime, read_job
from myrmica.domain.tork.translate import DIALECT, CoreJob, parsed_definition
from myrmica.service.jobs import TERMINAL, JobService

router = tork_router()

OK = {"status": "OK"}


def stored_settings(core: CoreJob) -> dict[str, Any]:
    """The definition's settings (what ``GET /jobs/{id}`` shows): the Tork job redacted as Tork redacts
    it on read, so no secret's value is kept there (the engine runs the core definition)."""
    job = shapes.redact_secrets(dict(core.settings["job"]), core.secret_params)
    # the webhooks as submitted (their headers may name secrets): read by api/tork/webhooks.py, never shown
    return {**core.settings, "job": job, "webhooks": core.settings["job"].get("webhooks")}


def _definition(core: CoreJob) -> Any:
    try:
        return parsed_definition(core)
    except pydantic.ValidationError as exc:  # what the core cannot hold (more than 100 top-level tasks, …)
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise BadInput(f"{where}: {first['msg']}" if where else str(first["msg"])) from None


async def _wait(jobs: JobService, principal: Any, request_id: str, seconds: float) -> None:
    """Until the request has ended (COMPLETED, FAILED or CANCELLED); 408 after ``seconds``."""
    record = await jobs.wait(principal, request_id, timeout_seconds=seconds)
    if record.job_state not in TERMINAL:
        raise WaitTimeout()


@router.post("/jobs", responses=answers(JobSummary), openapi_extra=JOB_BODY)
async def submit(request: Request) -> Response:
    principal = await tork_principal(request)
    server = context_of(request).settings
    core = read_job(await read_body(request), request.headers.get("content-type"),
                    images=image_runtime(bool(server.docker_host), server.tork_image_on_shell))
    job = core.settings["job"]
    settings = stored_settings(core)
    jobs = jobs_of(request)
    new = NewRequest(job_type="", params=core.params, secret_params=core.secret_params,
                     description=str(job.get("name", "")), labels=tuple(str(t) for t in job.get("tags") or ()),
                     job_priority=int(core.settings.get("priority") or 0))  # its tasks' highest priority
    submitted = await jobs.submit_job(principal, _definition(core), dialect=DIALECT, dialect_settings=settings,
                                      request=new)
    record = submitted.request
    wait = job.get("wait")
    if isinstance(wait, dict) and wait.get("timeout"):
        await _wait(jobs, principal, record.id, parse_duration(wait["timeout"]))
        record = await jobs.get(principal, record.id)
        return JSONResponse(views.full_job(record, settings))
    return JSONResponse(views.summary(record, settings))


@router.get("/jobs", responses=answers(JobPage),
            openapi_extra={"parameters": [*PAGING, query("q", "words, tag:X, tags:A,B")]})
async def list_jobs(request: Request) -> Response:
    principal = await tork_principal(request)
    number, size = shapes.page_params(request.query_params.get("page"), request.query_params.get("size"))
    jobs = jobs_of(request)
    found = await jobs.search(principal, job_filter(request.query_params.get("q", "")),
                              PageRequest(number - 1, size))
    items = []
    for record in found.items:
        settings = await views.settings_of(jobs, principal, record.job_definition_id)
        if settings is not None:
            if views.needs_execution(record):
                record = await jobs.get(principal, record.id)
            items.append(views.summary(record, settings))
    return JSONResponse(shapes.page(items, number, size, found.total))


@router.get("/jobs/{tork_job_id}", responses=answers(Job))
async def get_job(request: Request, tork_job_id: str) -> Response:
    principal = await tork_principal(request)
    record, settings = await views.tork_request(jobs_of(request), principal, tork_job_id)
    return JSONResponse(views.full_job(record, settings))


@router.put("/jobs/{tork_job_id}/cancel", responses=answers(Status))
async def cancel(request: Request, tork_job_id: str) -> Response:
    principal = await tork_principal(request)
    jobs = jobs_of(request)
    record, _ = await views.tork_request(jobs, principal, tork_job_id)
    if job_state(views.row(record)) not in CANCELLABLE_JOB_STATES:
        raise not_running()
    try:
        await jobs.cancel(principal, record.id)
    except ConflictError:  # it ended meanwhile
        raise not_running() from None
    return JSONResponse(OK)


@router.put("/jobs/{tork_job_id}/restart", responses=answers(Status))
async def restart(request: Request, tork_job_id: str) -> Response:
    principal = await tork_principal(request)
    jobs = jobs_of(request)
    record, settings = await views.tork_request(jobs, principal, tork_job_id)
    state = job_state(views.row(record))
    if state not in RESTARTABLE_JOB_STATES:
        raise cannot_restart(state)
    count = len(settings.get("job", {}).get("tasks") or [])
    if views.all_tasks_done(record, count):
        raise no_more_tasks()
    try:
        await jobs.restart(principal, record.id)
    except ConflictError:  # it changed meanwhile
        current = await jobs.get(principal, record.id)
        raise cannot_restart(job_state(views.row(current))) from None
    return JSONResponse(OK)


@router.get("/jobs/{tork_job_id}/log", responses=answers(LogPage),
            openapi_extra={"parameters": [*PAGING, query("q", "text the part contains")]})
async def job_log(request: Request, tork_job_id: str) -> Response:
    principal = await tork_principal(request)
    jobs = jobs_of(request)
    record, _ = await views.tork_request(jobs, principal, tork_job_id)
    return JSONResponse(await logparts.log_page(jobs, principal, record.id, request.query_params))
