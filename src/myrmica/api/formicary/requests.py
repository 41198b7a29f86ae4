"""``/api/jobs/requests``: submit, watch and steer job requests (through the job service)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from myrmica.api.auth import current_principal
from myrmica.api.body import read_json_object
from myrmica.api.context import context_of
from myrmica.api.errors import ApiError
from myrmica.api.formicary.artifacts import artifact_json, artifacts_of
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
from myrmica.api.formicary.serializers import (
    approval_json,
    iso,
    job_stats_json,
    request_json,
    state_count_json,
)
from myrmica.api.graphviz import draw
from myrmica.api.jobs import jobs_of
from myrmica.api.openapi_docs import PAGING, body, extra, q_bool, q_str
from myrmica.api.pagination import bool_param, envelope, page_of
from myrmica.domain.errors import ValidationError
from myrmica.domain.numbers import check_name
from myrmica.domain.principal import Principal
from myrmica.domain.records import NewRequest, PageRequest, RequestFilter
from myrmica.domain.states import states_for_filter

router = APIRouter(prefix="/api/jobs/requests", tags=["job requests"])
stats_router = APIRouter(prefix="/api", tags=["job requests"])


def parse_time(value: Any, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be an RFC 3339 time such as 2026-01-02T15:04:05Z", field=field)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise ValidationError(f"{field} {value!r} is not an RFC 3339 time (e.g. 2026-01-02T15:04:05Z)",
                              field=field) from exc
    if parsed.tzinfo is None or "T" not in value.upper():
        raise ValidationError(f"{field} {value!r} needs a date, a time and a zone (e.g. 2026-01-02T15:04:05Z)",
                              field=field)
    return parsed


def _free_text(body: dict[str, Any], field: str) -> str:
    """An optional text field of a submit; numbers are taken as their text (the service bounds the length)."""
    value = body.get(field)
    if value is None or value == "":
        return ""
    if isinstance(value, dict | list):
        raise ValidationError(f"{field} must be text", field=field)
    return str(value)


def new_request(body: dict[str, Any]) -> NewRequest:
    """A Formicary submit body (``job_type``, ``params``, ``job_priority``, …) as a core request."""
    job_type = check_name(body.get("job_type"), "job_type")
    params = body.get("params") or {}
    if not isinstance(params, dict):
        raise ValidationError("params must be an object", field="params")
    secret_params = body.get("secret_params") or {}
    if not isinstance(secret_params, dict):
        raise ValidationError("secret_params must be an object of name → value", field="secret_params")
    priority = body.get("job_priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise ValidationError("job_priority must be an integer between -2147483648 and 2147483647",
                              field="job_priority")
    user_key = body.get("user_key") or None
    if user_key is not None and not isinstance(user_key, str):
        raise ValidationError("user_key must be a string of at most 300 characters", field="user_key")
    return NewRequest(job_type=job_type, job_version=str(body.get("job_version") or ""), params=params,
                      secret_params=secret_params, job_priority=priority,
                      scheduled_at=parse_time(body.get("scheduled_at"), "scheduled_at"), user_key=user_key,
                      description=_free_text(body, "description"), platform=_free_text(body, "platform"),
                      job_group=_free_text(body, "job_group"))


@router.post("", responses=answers(JobRequestOut, 201), openapi_extra=extra(body(SubmitBody)))
async def submit(request: Request) -> Response:
    # The busiest route: the principal is looked up here rather than through Depends (FastAPI's
    # dependency solving costs a few percent of a submit); the check is the same.
    principal = await current_principal(request)
    submitted = await jobs_of(request).submit(principal, new_request(await read_json_object(request)))
    return JSONResponse(request_json(submitted.request), status_code=201 if submitted.created else 200)


@router.get("", responses=answers(RequestPage), openapi_extra=extra(
    *PAGING, q_str("job_type"), q_str("job_state", "states or groups, comma-separated"),
    q_str("platform"), q_str("job_group"), q_str("parent_id"), q_str("q"), q_bool("cron_triggered")))
async def list_requests(request: Request, principal: Principal = Depends(current_principal)) -> Any:
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
    found = await jobs_of(request).search(principal, flt, PageRequest(page.page, page.size))
    return envelope([request_json(record) for record in found.items], found.total, page)


@router.get("/dead_ids", responses=answers(list[str]))
async def dead_ids(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return await jobs_of(request).dead_ids(principal)


@router.get("/stats", responses=answers(list[dict[str, Any]]), openapi_extra=extra(q_str("job_type")))
async def request_stats(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    counts = await jobs_of(request).state_counts(principal, request.query_params.get("job_type"))
    organization_id = "" if principal.admin else principal.organization_id or ""
    user_id = "" if principal.admin or principal.organization_id else principal.user_id
    return [state_count_json(count, organization_id, user_id) for count in counts]


@stats_router.get("/jobs/definitions/stats", responses=answers(list[JobStats]))
async def definitions_stats(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return [job_stats_json(stats) for stats in await jobs_of(request).job_stats(principal)]


@stats_router.get("/jobs/definitions/{definition_id}/stats", responses=answers(JobStats))
async def definition_stats(definition_id: str, request: Request,
                           principal: Principal = Depends(current_principal)) -> Any:
    return job_stats_json(await jobs_of(request).definition_stats(principal, definition_id))


@router.get("/{request_id}", responses=answers(JobRequestOut))
async def get_request(request_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    record = await jobs_of(request).get(principal, request_id)
    out = request_json(record, with_execution=True)
    execution = out.get("execution")
    if execution:  # each task execution with the artifacts it kept (the request is the caller's: it was found)
        kept: dict[str, list[dict[str, Any]]] = {}
        for row in await artifacts_of(request).of_request(record.id):
            kept.setdefault(str(row["task_execution_id"]), []).append(artifact_json(row))
        for task in execution.get("tasks", []):
            task["artifacts"] = kept.get(task["id"], [])
    return out


@router.post("/{request_id}/cancel", responses=answers(JobRequestOut))
async def cancel(request_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return request_json(await jobs_of(request).cancel(principal, request_id))


@router.post("/{request_id}/pause", responses=answers(JobRequestOut))
async def pause(request_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return request_json(await jobs_of(request).pause(principal, request_id))


@router.post("/{request_id}/restart", responses=answers(JobRequestOut), openapi_extra=extra(
    q_bool("hard"), q_str("version")))
async def restart(request_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    hard = bool_param(request, "hard") or False
    record = await jobs_of(request).restart(principal, request_id, hard=hard,
                                            version=request.query_params.get("version", ""))
    return request_json(record)


@router.post("/{request_id}/trigger", responses=answers(JobRequestOut))
async def trigger(request_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return request_json(await jobs_of(request).trigger(principal, request_id))


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
    return approval_json(await jobs_of(request).vote(principal, request_id, task_type, _text(body, "decision"),
                                                     _text(body, "comments")))


@router.post("/{request_id}/review", responses=answers(dict[str, Any]), openapi_extra=extra(body(ReviewBody)))
async def review(request_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    """The older form (seeds/001): ``{execution_id, task_type, comments, status: APPROVED|REJECTED}``."""
    body = await read_json_object(request)
    task_type = _text(body, "task_type")
    if not task_type:
        raise ApiError(422, "task_type is required", field="task_type")
    return approval_json(await jobs_of(request).vote(principal, request_id, task_type, _text(body, "status"),
                                                     _text(body, "comments")))


@router.get("/{request_id}/wait_time", responses=answers(WaitTime))
async def wait_time(request_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    wait = await jobs_of(request).wait_time(principal, request_id)
    record = wait.request
    out = request_json(record)
    info = {key: out[key] for key in _REQUEST_INFO} | {"tried": record.retried}
    return {"job_request_id": record.id, "job_type": record.job_type, "job_state": record.job_state,
            "queue_number": wait.queue_number, "pending_job_ids": [],
            "estimated_wait": int(wait.estimated_wait_secs * 1e9), "scheduled_at": iso(record.scheduled_at),
            "error_message": "", "JobRequest": info,
            "JobStats": job_stats_json(wait.stats) if wait.stats is not None else None}


# Formicary's JobRequestInfo: the request's fields a wait estimate carries (``tried`` is ``retried``).
_REQUEST_INFO = ("id", "job_definition_id", "job_execution_id", "last_job_execution_id", "organization_id",
                 "user_id", "job_type", "job_version", "job_state", "job_priority", "schedule_attempts",
                 "cron_triggered", "scheduled_at", "created_at")


@router.get("/{request_id}/dot", responses=answers(media="text/vnd.graphviz"))
async def request_dot(request_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return PlainTextResponse(await jobs_of(request).request_dot(principal, request_id),
                             media_type="text/vnd.graphviz")


@router.get("/{request_id}/dot.png", responses=answers(media="image/png"))
async def request_png(request_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    dot = await jobs_of(request).request_dot(principal, request_id)
    return Response(await draw(dot, "png", context_of(request).settings.graphviz_dot), media_type="image/png")
