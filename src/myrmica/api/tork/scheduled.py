"""``/scheduled-jobs``: Tork's scheduled jobs on the core's cron (spec/tork.md §2.1, §3).

A scheduled job is a core definition of its own with a ``cron_trigger`` (:mod:`myrmica.domain.tork.
scheduled`): the core's cron keeps its next instance waiting, one per tick across every queen, and
each instance is a Tork job whose ``schedule.id`` is the scheduled job's id. ``pause`` disables the
definition (the waiting instance is removed: it never ran), ``resume`` enables it again (the next
instance is made at once), ``DELETE`` removes the definition and every instance, live ones cancelled
first. The stored Tork job keeps no secret's value: the secrets are sealed with the server's key for
the instances' secret params, and ``GET /scheduled-jobs/{id}`` shows them redacted (Tork shows them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from myrmica.api.body import read_body
from myrmica.api.context import context_of
from myrmica.api.jobs import jobs_of
from myrmica.api.tork import shapes
from myrmica.api.tork.auth import tork_principal
from myrmica.api.tork.ids import from_tork, to_tork
from myrmica.api.tork.router import tork_router
from myrmica.domain.errors import ConflictError, NotFoundError
from myrmica.domain.principal import Principal
from myrmica.domain.records import DefinitionFilter, DefinitionRecord, PageRequest, RequestFilter
from myrmica.domain.tork.decode import BadInput
from myrmica.domain.tork.intake import image_runtime
from myrmica.domain.tork.scheduled import PREFIX, is_scheduled, read_scheduled_job
from myrmica.domain.tork.translate import DIALECT, parsed_definition
from myrmica.ids import new_id
from myrmica.service.jobs import JobService

router = tork_router()

OK = {"status": "OK"}
NOT_FOUND = "scheduled job not found"
NOT_ACTIVE = "scheduled job is not active"
NOT_PAUSED = "scheduled job is not paused"
ACTIVE, PAUSED = "ACTIVE", "PAUSED"


def _job(definition: DefinitionRecord) -> dict[str, Any]:
    job = (definition.dialect_settings or {}).get("job")
    return job if isinstance(job, dict) else {}


def _cron(definition: DefinitionRecord) -> str:
    schedule = (definition.dialect_settings or {}).get("schedule")
    return str(schedule.get("cron", "")) if isinstance(schedule, dict) else definition.cron_trigger


def state_of(definition: DefinitionRecord) -> str:
    return PAUSED if definition.disabled else ACTIVE


def _created_by(principal_name: str) -> dict[str, Any]:
    return {"username": principal_name} if principal_name else dict(shapes.GUEST)


def summary(definition: DefinitionRecord, created_by: str = "") -> dict[str, Any]:
    """Tork's ScheduledJobSummary."""
    job = _job(definition)
    return shapes.omit_empty({
        "id": to_tork(definition.id),
        "createdBy": _created_by(created_by or str((definition.dialect_settings or {}).get("created_by", ""))),
        "inputs": dict(job.get("inputs") or {}),
        "state": state_of(definition),
        "name": job.get("name", ""),
        "description": job.get("description", ""),
        "tags": list(job.get("tags") or []),
        "createdAt": shapes.tork_time(definition.created_at),
        "cron": _cron(definition),
    })


def full(definition: DefinitionRecord) -> dict[str, Any]:
    """Tork's ScheduledJob: the summary and the job as submitted (its secrets redacted)."""
    job = _job(definition)
    settings = definition.dialect_settings or {}
    webhooks = settings.get("webhooks") if isinstance(settings.get("webhooks"), list) else job.get("webhooks")
    return shapes.omit_empty({
        **summary(definition),
        "tasks": job.get("tasks"),
        "secrets": {name: shapes.REDACTED for name in job.get("secrets") or {}},
        "output": job.get("output", ""),
        "defaults": job.get("defaults"),
        "webhooks": webhooks,
        "permissions": job.get("permissions"),
        "autoDelete": job.get("autoDelete"),
    })


async def scheduled_definition(jobs: JobService, principal: Principal, tork_id: str) -> DefinitionRecord:
    """The scheduled job's definition (visible to ``principal``), or Tork's 404."""
    core_id = from_tork(tork_id, NOT_FOUND)
    try:
        definition = await jobs.definitions.get(principal, core_id)
    except NotFoundError:
        raise NotFoundError(NOT_FOUND) from None
    if definition.dialect != DIALECT or not is_scheduled(definition.dialect_settings) or not definition.active:
        raise NotFoundError(NOT_FOUND)
    return definition


def stored_settings(jobs: JobService, settings: Mapping[str, Any], secrets: Mapping[str, str],
                    created_by: str) -> dict[str, Any]:
    """What the definition keeps: the Tork job redacted (no secret's value), its webhooks as submitted
    (a redaction could change a URL or a header template), and the instances' params, secrets sealed."""
    job = dict(settings["job"])
    request = dict(settings.get("request") or {})
    return {**settings, "job": shapes.redact_secrets(job, dict(secrets)), "webhooks": job.get("webhooks"),
            "request": {"params": dict(request.get("params") or {}),
                        "secret_params": jobs.seal_secrets(request.get("secret_params") or {})},
            "created_by": created_by}


@router.post("/scheduled-jobs")
async def create(request: Request) -> Response:
    principal = await tork_principal(request)
    server = context_of(request).settings
    core = read_scheduled_job(await read_body(request), request.headers.get("content-type"), unique=new_id(),
                              images=image_runtime(bool(server.docker_host), server.tork_image_on_shell))
    jobs = jobs_of(request)
    try:
        parsed = parsed_definition(core)
    except ValueError as exc:  # what the core cannot hold (e.g. more than 100 top-level tasks)
        raise BadInput(str(exc).splitlines()[0]) from None
    settings = stored_settings(jobs, core.settings, core.secret_params, principal.username)
    saved = await jobs.definitions.upsert(principal, parsed, dialect=DIALECT, dialect_settings=settings)
    return JSONResponse(summary(saved.definition, principal.username))


@router.get("/scheduled-jobs")
async def list_scheduled(request: Request) -> Response:
    principal = await tork_principal(request)
    number, size = shapes.page_params(request.query_params.get("page"), request.query_params.get("size"))
    found = await jobs_of(request).definitions.search(
        principal, DefinitionFilter(job_type_prefix=PREFIX, newest_first=True), PageRequest(number - 1, size))
    items = [summary(d) for d in found.items if d.dialect == DIALECT and is_scheduled(d.dialect_settings)]
    return JSONResponse(shapes.page(items, number, size, found.total))


@router.get("/scheduled-jobs/{scheduled_id}")
async def get_scheduled(request: Request, scheduled_id: str) -> Response:
    principal = await tork_principal(request)
    return JSONResponse(full(await scheduled_definition(jobs_of(request), principal, scheduled_id)))


async def _waiting_instances(jobs: JobService, principal: Principal, definition: DefinitionRecord) -> list[str]:
    page = await jobs.search(principal, RequestFilter(job_type=definition.job_type, states=frozenset({"PENDING"}),
                                                      cron_triggered=True), PageRequest(0, 20))
    return [record.id for record in page.items]


@router.put("/scheduled-jobs/{scheduled_id}/pause")
async def pause(request: Request, scheduled_id: str) -> Response:
    principal = await tork_principal(request)
    jobs = jobs_of(request)
    definition = await scheduled_definition(jobs, principal, scheduled_id)
    if definition.disabled:
        raise BadInput(NOT_ACTIVE)
    waiting = await _waiting_instances(jobs, principal, definition)
    await jobs.definitions.set_disabled(principal, definition.id, True)  # the core cancels the waiting one
    for request_id in waiting:  # it never ran: it goes, rather than staying as a CANCELLED job
        with contextlib.suppress(ConflictError, NotFoundError):
            await jobs.delete(principal, request_id)
    return JSONResponse(OK)


@router.put("/scheduled-jobs/{scheduled_id}/resume")
async def resume(request: Request, scheduled_id: str) -> Response:
    principal = await tork_principal(request)
    jobs = jobs_of(request)
    definition = await scheduled_definition(jobs, principal, scheduled_id)
    if not definition.disabled:
        raise BadInput(NOT_PAUSED)
    await jobs.definitions.set_disabled(principal, definition.id, False)  # the core makes the next instance
    return JSONResponse(OK)


@router.delete("/scheduled-jobs/{scheduled_id}")
async def delete(request: Request, scheduled_id: str) -> Response:
    principal = await tork_principal(request)
    jobs = jobs_of(request)
    definition = await scheduled_definition(jobs, principal, scheduled_id)
    await jobs.delete_definition_and_requests(principal, definition.id)
    return JSONResponse(OK)
