"""The requests: the live list, one request's live graph, tasks and log, and the buttons that steer it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import PlainTextResponse, RedirectResponse, StreamingResponse

from myrmica.api.errors import ApiError
from myrmica.domain.errors import DomainError
from myrmica.domain.numbers import strict_int
from myrmica.web.pages import PAGE_SIZE, page_number, page_query
from myrmica.web.queries import Queries
from myrmica.web.render import REQUEST_STATES, SECURITY_HEADERS, fragment, fragment_html, page, when
from myrmica.web.routing import one, read_form, router, who
from myrmica.web.session import Viewer

routes = router()

REQUEST_ARTIFACTS = 100  # a request page lists this many of its artifacts (all are on /artifacts)

NOTICES = {"submitted": "Submitted.", "cancelled": "Cancelled.", "paused": "Paused: it resumes by itself later, "
           "or restart it now.", "restarted": "Restarted.", "APPROVED": "Your approval is recorded.",
           "REJECTED": "Your rejection is recorded."}


def _filters(request: Request) -> tuple[list[str], str, str]:
    states = [s for s in request.query_params.getlist("state") if s in REQUEST_STATES]
    return states, request.query_params.get("q", "").strip()[:200], request.query_params.get("job_type", "")[:100]


async def _rows(request: Request, viewer: Viewer) -> tuple[dict[str, Any], str]:
    states, search, job_type = _filters(request)
    listing = await Queries.of(request).requests(viewer.principal, states, search, job_type, page_number(request),
                                                 PAGE_SIZE)
    params = {"state": states, "q": search, "job_type": job_type}
    query = page_query(params).rstrip("&")
    return {"listing": listing, "states": states, "search": search, "job_type": job_type, "query": query,
            "page_query": page_query(params)}, query


@routes.get("/requests")
async def requests(request: Request) -> Response:
    viewer = await who(request)
    context, _ = await _rows(request, viewer)
    rows, _ = fragment_html(request, "request_rows.html", **context)
    return page(request, "requests.html", viewer, title="Requests", rows=rows, **context)


@routes.get("/requests/rows")
async def request_rows(request: Request) -> Response:
    """The list alone: htmx polls it every 2 s, and the filter form asks for it on each change."""
    viewer = await who(request)
    context, query = await _rows(request, viewer)
    answer = fragment(request, "request_rows.html", seen=request.query_params.get("seen"), **context)
    if request.headers.get("hx-trigger") != "request-rows":  # the filter changed: the address follows it
        answer.headers["HX-Push-Url"] = f"/requests?{query}" if query else "/requests"
    return answer


def _tasks(found: dict[str, Any]) -> list[dict[str, Any]]:
    """The execution's tasks in order, each fan-out's items after their task."""
    flat: list[dict[str, Any]] = []
    for task in sorted((found.get("execution") or {}).get("tasks") or [], key=lambda t: t["task_order"]):
        flat.append(task)
        flat.extend(task.get("items") or [])
    return flat


async def _live_context(request: Request, viewer: Viewer, request_id: str) -> dict[str, Any]:
    queries = Queries.of(request)
    found = await queries.request(viewer.principal, request_id)
    tasks = _tasks(found)
    artifacts = await queries.artifacts(viewer.principal, 0, REQUEST_ARTIFACTS, request_id=found["id"])
    return {"r": found, "tasks": tasks, "graph": await queries.request_graph(viewer.principal, request_id),
            "artifacts": artifacts.rows,
            "awaiting": [t for t in tasks if t["task_state"] == "MANUAL_APPROVAL_REQUIRED"
                         and t.get("item_index") is None]}


async def _request_page(request: Request, viewer: Viewer, request_id: str, *, status: int = 200,
                        problem: str | None = None) -> Response:
    context = await _live_context(request, viewer, request_id)
    live, _ = fragment_html(request, "request_live.html", **context)
    found = context["r"]
    names = found["task_types"] or sorted({t["task_type"] for t in context["tasks"]})
    return page(request, "request.html", viewer, status=status, title=f"{found['job_type']} {request_id}",
                r=found, live=live, task_names=names, problem=problem,
                notice=NOTICES.get(request.query_params.get("notice", "")))


@routes.get("/requests/{request_id}")
async def request_page(request_id: str, request: Request) -> Response:
    viewer = await who(request)
    return await _request_page(request, viewer, request_id)


@routes.get("/requests/{request_id}/live")
async def request_live(request_id: str, request: Request) -> Response:
    """The request's state, buttons, graph and tasks; htmx polls it every 2 s until the request ends."""
    viewer = await who(request)
    context = await _live_context(request, viewer, request_id)
    return fragment(request, "request_live.html", seen=request.query_params.get("seen"), **context)


def _after_id(request: Request) -> int:
    raw = request.headers.get("last-event-id") or request.query_params.get("after_id") or "0"
    try:
        return strict_int(raw, "after_id", minimum=0)
    except DomainError as exc:
        raise ApiError(400, exc.message, field="after_id") from exc


@routes.get("/requests/{request_id}/logs/stream")
async def log_stream(request_id: str, request: Request) -> Response:
    """The log as server-sent events: each line (its id lets the browser resume after a dropped
    connection), then ``end`` with the request's final state."""
    viewer = await who(request)
    task_type = request.query_params.get("task_type") or None
    lines = await Queries.of(request).follow_logs(viewer.principal, request_id, task_type=task_type,
                                                  after_id=_after_id(request))

    async def events() -> AsyncIterator[str]:
        yield "retry: 2000\n\n"
        async for line in lines:
            if "end" in line:
                yield f"event: end\ndata: {json.dumps({'job_state': line['end']})}\n\n"
                return
            if not line:
                yield ": keep-alive\n\n"
                continue
            yield f"id: {line['id']}\nevent: log\ndata: {json.dumps(line)}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={**SECURITY_HEADERS, "X-Accel-Buffering": "no"})


@routes.get("/requests/{request_id}/logs.txt")
async def log_text(request_id: str, request: Request) -> Response:
    viewer = await who(request)
    lines = await Queries.of(request).log_lines(viewer.principal, request_id)
    text = "".join(f"{when(line['created_at'])} {line['task_type'] or '──'} {line['stream']}: {line['line']}\n"
                   for line in lines)
    return PlainTextResponse(text, headers={**SECURITY_HEADERS, "Content-Disposition":
                                            f'inline; filename="{request_id}.log"'})


async def _steer(request: Request, request_id: str, action: str) -> Response:
    viewer = await who(request)
    await read_form(request)
    queries = Queries.of(request)
    try:
        if action == "cancel":
            await queries.cancel(viewer.principal, request_id)
        elif action == "pause":
            await queries.pause(viewer.principal, request_id)
        else:
            await queries.restart(viewer.principal, request_id)
    except DomainError as exc:
        if exc.status == 404:
            raise
        return await _request_page(request, viewer, request_id, status=exc.status, problem=exc.message)
    notice = {"cancel": "cancelled", "pause": "paused", "restart": "restarted"}[action]
    return RedirectResponse(f"/requests/{request_id}?notice={notice}", status_code=303)


@routes.post("/requests/{request_id}/cancel")
async def cancel(request_id: str, request: Request) -> Response:
    return await _steer(request, request_id, "cancel")


@routes.post("/requests/{request_id}/pause")
async def pause(request_id: str, request: Request) -> Response:
    return await _steer(request, request_id, "pause")


@routes.post("/requests/{request_id}/restart")
async def restart(request_id: str, request: Request) -> Response:
    return await _steer(request, request_id, "restart")


@routes.post("/requests/{request_id}/tasks/{task_type}/vote")
async def vote(request_id: str, task_type: str, request: Request) -> Response:
    viewer = await who(request)
    fields = await read_form(request)
    decision = one(fields, "decision").upper()
    try:
        await Queries.of(request).vote(viewer.principal, request_id, task_type, decision, one(fields, "comments"))
    except DomainError as exc:
        if exc.status == 404 and exc.field is None:
            raise
        return await _request_page(request, viewer, request_id, status=exc.status, problem=exc.message)
    return RedirectResponse(f"/requests/{request_id}?notice={quote(decision)}", status_code=303)
