"""``/api/jobs/requests/{id}/logs``: every line a request's tasks printed, in order; followable live (SSE)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from myrmica.api.auth import current_principal
from myrmica.api.formicary.requests import engine_of
from myrmica.api.formicary.schemas import LogsOut, answers
from myrmica.api.formicary.serializers import iso
from myrmica.api.openapi_docs import extra, q_bool, q_int, q_str
from myrmica.api.pagination import bool_param, int_param
from myrmica.domain.principal import Principal
from myrmica.queen.engine import Engine

router = APIRouter(prefix="/api/jobs/requests", tags=["logs"])

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")
HEARTBEAT_SECONDS = 15.0
MAX_LINES = 200_000  # one page; ?after_id=next_after_id reads on


def line_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "task_execution_id": row["task_execution_id"], "task_type": row["task_type"],
            "stream": row["stream"], "line": row["line"], "created_at": iso(row["created_at"])}


async def _follow(engine: Engine, request_id: str, task_type: str | None) -> AsyncIterator[str]:
    last = 0
    event = engine.logs.follow(request_id)
    try:
        while True:
            event.clear()
            rows = await engine.store.logs.read(request_id, task_type=task_type, after_id=last)
            for row in rows:
                last = row["id"]
                yield f"id: {row['id']}\nevent: log\ndata: {json.dumps(line_json(row))}\n\n"
            if rows:
                continue
            state = (await engine.store.requests.get(request_id))["job_state"]
            if state in TERMINAL:
                await engine.logs.flush()
                tail = await engine.store.logs.read(request_id, task_type=task_type, after_id=last)
                for row in tail:
                    last = row["id"]
                    yield f"id: {row['id']}\nevent: log\ndata: {json.dumps(line_json(row))}\n\n"
                yield f"event: end\ndata: {json.dumps({'job_state': state})}\n\n"
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=HEARTBEAT_SECONDS)
            if not event.is_set():
                yield ": keep-alive\n\n"
    finally:
        engine.logs.unfollow(request_id, event)


@router.get("/{request_id}/logs", responses={**answers(LogsOut), 200: {
    "description": "the lines; with follow=true a text/event-stream of them",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LogsOut"}},
                "text/event-stream": {"schema": {"type": "string"}}}}},
    openapi_extra=extra(q_str("task_type"), q_bool("follow"), q_int("after_id"), q_int("limit")))
async def request_logs(request_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    engine = engine_of(request)
    await engine.store.requests.get(request_id, principal)  # 404 for unknown or foreign ids
    task_type = request.query_params.get("task_type") or None
    if bool_param(request, "follow"):
        return StreamingResponse(_follow(engine, request_id, task_type), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    await engine.logs.flush()
    after_id = int_param(request, "after_id", default=0)
    limit = min(int_param(request, "limit", default=MAX_LINES), MAX_LINES)
    rows = await engine.store.logs.read(request_id, task_type=task_type, after_id=after_id, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return {"job_request_id": request_id, "lines": [line_json(row) for row in rows], "more": more,
            "next_after_id": rows[-1]["id"] if rows else after_id}
