"""``/api/jobs/requests``: submit, watch and steer job requests."""

from __future__ import annotations

import statistics
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from myrmica.api.auth import current_principal
from myrmica.api.body import read_json_object
from myrmica.api.context import context_of
from myrmica.api.errors import ApiError
from myrmica.api.formicary.schemas import (
    JobRequestOut,
    JobStats,
    RequestPage,
    ReviewBody,
    SubmitBody,
    VoteBody,
    WaitTime,
    answers,
)
from myrmica.api.formicary.serializers import execution_json, iso, request_json
from myrmica.api.graphviz import draw
from myrmica.api.openapi_docs import PAGING, body, extra, q_bool, q_str
from myrmica.api.pagination import bool_param, envelope, page_of
from myrmica.domain.definition_model import JobDefinitionSpec
from myrmica.domain.dot import definition_dot
from myrmica.domain.principal import Principal
from myrmica.domain.states import states_for_filter
from myrmica.queen.engine import Engine
from myrmica.store.requests import RequestFilter

router = APIRouter(prefix="/api/jobs/requests", tags=["job requests"])
stats_router = APIRouter(prefix="/api", tags=["job requests"])


def engine_of(request: Request) -> Engine:
    engine: Engine = context_of(request).services["engine"]
    return engine


async def full_request(engine: Engine, row: dict[str, Any]) -> dict[str, Any]:
    execution_id = row.get("job_execution_id") or row.get("last_job_execution_id")
    execution = await engine.store.requests.execution(execution_id) if execution_id else None
    body = None
    if execution is not None:
        body = execution_json(execution, await engine.store.requests.task_executions([execution["id"]]))
    return request_json(row, body)


@router.post("", responses=answers(JobRequestOut, 201), openapi_extra=extra(body(SubmitBody)))
async def submit(request: Request) -> Response:
    # The busiest route: the principal is looked up here rather than through Depends (FastAPI's
    # dependency solving costs a few percent of a submit); the check is the same.
    principal = await current_principal(request)
    engine = engine_of(request)
    row, created = await engine.operations.submit(principal, await read_json_object(request))
    return JSONResponse(request_json(row), status_code=201 if created else 200)


@router.get("", responses=answers(RequestPage), openapi_extra=extra(
    *PAGING, q_str("job_type"), q_str("job_state", "states or groups, comma-separated"),
    q_str("platform"), q_str("job_group"), q_str("parent_id"), q_str("q"), q_bool("cron_triggered")))
async def list_requests(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    engine = engine_of(request)
    page = page_of(request)
    query = request.query_params
    states: frozenset[str] = frozenset()
    if query.get("job_state"):
        try:
            states = frozenset(s for part in query["job_state"].split(",") for s in states_for_filter(part.strip()))
        except ValueError as exc:
            raise ApiError(400, str(exc), field="job_state") from exc
    flt = RequestFilter(job_type=query.get("job_type") or None, states=states, platform=query.get("platform") or None,
                        job_group=query.get("job_group") or None, parent_id=query.get("parent_id") or None,
                        q=query.get("q") or None, cron_triggered=bool_param(request, "cron_triggered"))
    rows, total = await engine.store.requests.search(principal, flt, page=page.page, page_size=page.size)
    return envelope([request_json(row) for row in rows], total, page)


@router.get("/dead_ids", responses=answers(list[str]))
async def dead_ids(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return await engine_of(request).store.requests.dead_ids(principal)


def _stats(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        row["start_time"] = iso(row["start_time"])
        row["end_time"] = iso(row["end_time"])
    return rows


@router.get("/stats", responses=answers(list[dict[str, Any]]), openapi_extra=extra(q_str("job_type")))
async def request_stats(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return _stats(await engine_of(request).store.requests.stats(principal, request.query_params.get("job_type")))


async def _job_stats(engine: Engine, principal: Principal, job_type: str | None) -> list[dict[str, Any]]:
    counts = await engine.store.requests.stats(principal, job_type)
    durations = await engine.store.requests.durations(principal, job_type)
    by_type: dict[str, dict[str, Any]] = {}
    for row in counts:
        entry = by_type.setdefault(row["job_type"], {"job_type": row["job_type"], "succeeded": 0, "failed": 0,
                                                     "cancelled": 0, "executing": 0, "pending": 0, "paused": 0,
                                                     "manual_approval": 0})
        field = {"COMPLETED": "succeeded", "FAILED": "failed", "CANCELLED": "cancelled", "EXECUTING": "executing",
                 "READY": "executing", "PENDING": "pending", "PAUSED": "paused",
                 "MANUAL_APPROVAL_REQUIRED": "manual_approval"}.get(row["job_state"], "pending")
        entry[field] += row["counts"]
    for job_type_name, state, started, ended in durations:
        found = by_type.get(job_type_name)
        if found is not None and state == "COMPLETED":
            found.setdefault("_durations", []).append((ended - started).total_seconds())
    for entry in by_type.values():
        values = entry.pop("_durations", [])
        entry["succeeded_job_average_secs"] = statistics.fmean(values) if values else 0.0
        entry["succeeded_job_max_secs"] = max(values) if values else 0.0
    return sorted(by_type.values(), key=lambda e: e["job_type"])


@stats_router.get("/jobs/definitions/stats", responses=answers(list[JobStats]))
async def definitions_stats(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return await _job_stats(engine_of(request), principal, None)


@stats_router.get("/jobs/definitions/{definition_id}/stats", responses=answers(JobStats))
async def definition_stats(definition_id: str, request: Request,
                           principal: Principal = Depends(current_principal)) -> Any:
    engine = engine_of(request)
    row = await engine.store.definitions.get(principal, definition_id)
    found = await _job_stats(engine, principal, row["job_type"])
    return found[0] if found else {"job_type": row["job_type"], "succeeded": 0, "failed": 0}


@router.get("/{request_id}", responses=answers(JobRequestOut))
async def get_request(request_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    engine = engine_of(request)
    return await full_request(engine, await engine.store.requests.get(request_id, principal))


@router.post("/{request_id}/cancel", responses=answers(JobRequestOut))
async def cancel(request_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    engine = engine_of(request)
    row = await engine.operations.cancel(principal, request_id)
    await engine.store.audit.record("JOB_REQUEST_CANCELLED", principal, target_id=request_id, job_type=row["job_type"])
    return request_json(row)


@router.post("/{request_id}/pause", responses=answers(JobRequestOut))
async def pause(request_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    engine = engine_of(request)
    row = await engine.operations.pause(principal, request_id)
    await engine.store.audit.record("JOB_REQUEST_PAUSED", principal, target_id=request_id, job_type=row["job_type"])
    return request_json(row)


@router.post("/{request_id}/restart", responses=answers(JobRequestOut), openapi_extra=extra(
    q_bool("hard"), q_str("version")))
async def restart(request_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    hard = bool_param(request, "hard") or False
    row = await engine_of(request).operations.restart(principal, request_id, hard=hard,
                                                      version=request.query_params.get("version", ""))
    return request_json(row)


@router.post("/{request_id}/trigger", responses=answers(JobRequestOut))
async def trigger(request_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return request_json(await engine_of(request).operations.trigger(principal, request_id))


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name, "")
    if not isinstance(value, str):
        raise ApiError(422, f"{name} must be a string", field=name)
    return value


@router.post("/{request_id}/tasks/{task_type}/vote", responses=answers(dict[str, Any]),
             openapi_extra=extra(body(VoteBody)))
async def vote(request_id: str, task_type: str, request: Request,
               principal: Principal = Depends(current_principal)) -> Any:
    body = await read_json_object(request)
    return await engine_of(request).operations.vote(principal, request_id, task_type, _text(body, "decision"),
                                                    _text(body, "comments"))


@router.post("/{request_id}/review", responses=answers(dict[str, Any]), openapi_extra=extra(body(ReviewBody)))
async def review(request_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    """The older form (seeds/001): ``{execution_id, task_type, comments, status: APPROVED|REJECTED}``."""
    body = await read_json_object(request)
    task_type = _text(body, "task_type")
    if not task_type:
        raise ApiError(422, "task_type is required", field="task_type")
    return await engine_of(request).operations.vote(principal, request_id, task_type, _text(body, "status"),
                                                    _text(body, "comments"))


@router.get("/{request_id}/wait_time", responses=answers(WaitTime))
async def wait_time(request_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    engine = engine_of(request)
    row = await engine.store.requests.get(request_id, principal)
    ahead = 0
    if row["job_state"] == "PENDING":
        # The position among its job key's pending requests (spec: same owner and job type), as
        # Formicary: others' requests (a public plugin's other submitters, say) are neither counted nor shown.
        mine = (row["owner_key"], row["job_type"])
        ahead = sum(1 for r in await engine.store.requests.due(row["scheduled_at"], 10_000)
                    if (r["owner_key"], r["job_type"]) == mine
                    and (r["job_priority"], -r["created_at"].timestamp()) > (row["job_priority"],
                                                                              -row["created_at"].timestamp()))
    stats = await _job_stats(engine, principal, row["job_type"])
    average = stats[0]["succeeded_job_average_secs"] if stats else 0.0
    capacity = max(1, sum(a.capacity for a in engine.ants.live()))
    estimate = average * (ahead + 1) / capacity if row["job_state"] == "PENDING" else 0.0
    return {"job_request_id": request_id, "job_type": row["job_type"], "job_state": row["job_state"],
            "queue_number": ahead + 1 if row["job_state"] == "PENDING" else 0,
            "pending_job_ids": [], "estimated_wait": int(estimate * 1e9),
            "scheduled_at": iso(row["scheduled_at"])}


async def _request_dot(engine: Engine, principal: Principal, request_id: str) -> str:
    row = await engine.store.requests.get(request_id, principal)
    definition = await engine.store.definitions.get(engine.ctx.admin, row["job_definition_id"])
    states: dict[str, str] = {}
    execution_id = row.get("job_execution_id") or row.get("last_job_execution_id")
    if execution_id:
        for task in await engine.store.requests.task_executions([execution_id]):
            if task.get("parent_task_id") is None:
                states[task["task_type"]] = task["task_state"]
    return definition_dot(JobDefinitionSpec.model_validate(definition["spec"]), states)


@router.get("/{request_id}/dot", responses=answers(media="text/vnd.graphviz"))
async def request_dot(request_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return PlainTextResponse(await _request_dot(engine_of(request), principal, request_id),
                             media_type="text/vnd.graphviz")


@router.get("/{request_id}/dot.png", responses=answers(media="image/png"))
async def request_png(request_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    dot = await _request_dot(engine_of(request), principal, request_id)
    return Response(await draw(dot, "png", context_of(request).settings.graphviz_dot), media_type="image/png")
