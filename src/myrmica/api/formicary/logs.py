"""``/api/jobs/requests/{id}/logs``: every line a request's tasks printed, in order; followable live (SSE)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from myrmica.api.auth import current_principal
from myrmica.api.formicary.schemas import LogsOut, answers
from myrmica.api.formicary.serializers import log_line_json
from myrmica.api.jobs import jobs_of
from myrmica.api.openapi_docs import extra, q_bool, q_int, q_str
from myrmica.api.pagination import bool_param, int_param
from myrmica.domain.principal import Principal
from myrmica.domain.records import FollowEvent, LogLine, RequestEnded
from myrmica.service.jobs import MAX_LOG_PAGE

router = APIRouter(prefix="/api/jobs/requests", tags=["logs"])

HEARTBEAT_SECONDS = 15.0
MAX_LINES = MAX_LOG_PAGE  # one page; ?after_id=next_after_id reads on


async def _events(events: AsyncIterator[FollowEvent]) -> AsyncIterator[str]:
    async for event in events:
        if isinstance(event, LogLine):
            yield f"id: {event.id}\nevent: log\ndata: {json.dumps(log_line_json(event))}\n\n"
        elif isinstance(event, RequestEnded):
            yield f"event: end\ndata: {json.dumps({'job_state': event.job_state})}\n\n"
        else:
            yield ": keep-alive\n\n"


@router.get("/{request_id}/logs", responses={**answers(LogsOut), 200: {
    "description": "the lines; with follow=true a text/event-stream of them",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LogsOut"}},
                "text/event-stream": {"schema": {"type": "string"}}}}},
    openapi_extra=extra(q_str("task_type"), q_bool("follow"), q_int("after_id"), q_int("limit")))
async def request_logs(request_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    jobs = jobs_of(request)
    task_type = request.query_params.get("task_type") or None
    if bool_param(request, "follow"):
        events = await jobs.follow(principal, request_id, task_type=task_type, quiet_seconds=HEARTBEAT_SECONDS)
        return StreamingResponse(_events(events), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    after_id = int_param(request, "after_id", default=0)
    limit = min(int_param(request, "limit", default=MAX_LINES), MAX_LINES)
    page = await jobs.logs(principal, request_id, task_type=task_type, after_id=after_id, limit=limit)
    return {"job_request_id": request_id, "lines": [log_line_json(line) for line in page.lines], "more": page.more,
            "next_after_id": page.next_after_id}
