"""Spec §1.8's approval status and pending list, and Formicary's ``POST /api/logs``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from myrmica.api.auth import current_principal
from myrmica.api.body import read_json_object
from myrmica.api.errors import ApiError
from myrmica.api.formicary.serializers import approval_json
from myrmica.api.jobs import jobs_of
from myrmica.api.pagination import single_page
from myrmica.domain.numbers import has_control
from myrmica.domain.principal import Principal

router = APIRouter(prefix="/api", tags=["approvals and logs"])

MAX_MESSAGE = 64 * 1024
STREAMS = ("stdout", "stderr", "info", "error")


@router.get("/jobs/requests/{request_id}/tasks/{task_type}/approval")
async def approval_status(request_id: str, task_type: str, request: Request,
                          principal: Principal = Depends(current_principal)) -> Any:
    """``{task_execution_id, job_request_id, approvals_received, rejections_received,
    min_approvals_required, quorum_reached, rejected, votes[], policy}``."""
    return approval_json(await jobs_of(request).approval(principal, request_id, task_type))


@router.get("/approvals/pending")
async def pending_approvals(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return single_page([approval_json(record) for record in await jobs_of(request).pending_approvals(principal)])


def _text(body: dict[str, Any], name: str, limit: int = 100) -> str:
    value = body.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit or (limit <= 100 and has_control(value)):
        raise ApiError(400, f"{name} must be a string of at most {limit} characters", field=name)
    return value


@router.post("/logs")
async def post_log(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    """A LogEvent ``{job_request_id, task_type, task_execution_id, message, tags}``: its message is
    stored as lines of the request's log (``tags`` may name the stream: stdout, stderr, info, error)."""
    body = await read_json_object(request)
    request_id = _text(body, "job_request_id", 26)
    if not request_id:
        raise ApiError(400, "job_request_id is required", field="job_request_id")
    message = _text(body, "message", MAX_MESSAGE)
    tags = body.get("tags") or {}
    stream = tags.get("stream", "stdout") if isinstance(tags, dict) else "stdout"
    if stream not in STREAMS:
        raise ApiError(400, f"tags.stream must be one of {', '.join(STREAMS)}", field="tags")
    await jobs_of(request).post_log(principal, request_id, message, task_type=_text(body, "task_type"),
                                    task_execution_id=_text(body, "task_execution_id", 26), stream=stream)
    return {"job_request_id": request_id, "accepted": True}
