"""Reading: ``/tasks/`` (paginated), a task, a job (its 20 newest executions, newest first), an
execution, and the stdout / stderr / logs of a job's last execution or of one execution.

A task is the set of Fastlane jobs with that task id (it exists from its first job on). Plain-text
routes answer the text with ``Fastlane-Exit-Code`` (``None`` while there is none) and are empty while
the execution is enqueued or running; ``logs`` is stdout, ``\\n-=-\\n``, stderr. They stream the whole
text from the store, page by page; a JSON answer holds a bounded excerpt (views.py).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

from myrmica.api.auth import current_principal
from myrmica.api.fastlane import views
from myrmica.api.fastlane.errors import FastlaneError
from myrmica.api.fastlane.router import Routes
from myrmica.api.jobs import jobs_of
from myrmica.domain.errors import NotFoundError
from myrmica.domain.records import DefinitionRecord, RequestRecord

routes = Routes()
PER_PAGE = 10
SEPARATOR = "\n-=-\n"
DETAILS = "retrieve_execution_details"


def _stamp(value: Any) -> float | None:
    from datetime import datetime
    try:
        return datetime.fromisoformat(str(value)).timestamp() if value else None
    except ValueError:
        return None


def tasks_of(definitions: list[DefinitionRecord]) -> dict[str, list[DefinitionRecord]]:
    out: dict[str, list[DefinitionRecord]] = {}
    for definition in definitions:
        out.setdefault(str(views.settings(definition)["task_id"]), []).append(definition)
    return out


def task_shape(request: Request, task_id: str, jobs: list[DefinitionRecord]) -> dict[str, Any]:
    created = min((_stamp(views.settings(d).get("created_at")) or d.created_at.timestamp()) for d in jobs)
    modified = max(d.updated_at.timestamp() for d in jobs)
    return {"taskId": task_id, "createdAt": created, "lastModifiedAt": modified,
            "url": views.task_url(request, task_id), "jobsCount": len(jobs)}


@routes.route("/tasks/", ["GET"])
async def list_tasks(request: Request) -> Response:
    principal = await current_principal(request)
    text = request.query_params.get("page", "1")
    try:
        page = int(text)
    except ValueError:
        page = 0
    if page < 1:
        raise FastlaneError(400, "Tasks pagination page param should be a positive integer.", "get_tasks")
    grouped = tasks_of(await views.fastlane_jobs(jobs_of(request), principal))
    names = list(grouped)
    total = len(names)
    pages = math.ceil(total / PER_PAGE)
    if page > max(pages, 1):
        raise FastlaneError(404, "Not found", "get_tasks")
    shown = names[(page - 1) * PER_PAGE: page * PER_PAGE]
    base = f"{views.base_url(request)}/tasks/?page="
    return JSONResponse({"items": [task_shape(request, name, grouped[name]) for name in shown], "total": total,
                         "page": page, "pages": pages, "perPage": PER_PAGE, "hasNext": page < pages,
                         "hasPrev": page > 1, "nextUrl": f"{base}{page + 1}" if page < pages else None,
                         "prevUrl": f"{base}{page - 1}" if page > 1 else None})


@routes.route("/tasks/{task_id}/", ["GET"])
async def get_task(request: Request) -> Response:
    principal = await current_principal(request)
    task_id = request.path_params["task_id"]
    mine = tasks_of(await views.fastlane_jobs(jobs_of(request), principal)).get(task_id)
    if not mine:
        raise FastlaneError(404, "Task not found.", "get_task")
    return JSONResponse({"taskId": task_id, "jobs": [
        {"id": views.settings(d)["job_id"], "url": views.job_url(request, task_id, views.settings(d)["job_id"]),
         "createdAt": views.settings(d).get("created_at")} for d in mine]})


@routes.route("/tasks/{task_id}/jobs/{job_id}/", ["GET"])
async def get_job(request: Request) -> Response:
    principal = await current_principal(request)
    jobs = jobs_of(request)
    task_id, job_id = request.path_params["task_id"], request.path_params["job_id"]
    definition = await views.find_job(jobs, principal, task_id, job_id, "get_task")
    records, count = await views.executions(jobs, principal, definition)
    shown = []
    for record in records:
        log, error = await views.outputs(jobs, principal, record)
        shape = views.execution(definition, record, log=log, error=error, with_logs=True,
                                dispatch=await views.dispatches(jobs, principal, record))
        shape["url"] = views.execution_url(request, task_id, job_id, record.id)
        shown.append(shape)
    return JSONResponse({"task": {"id": task_id, "url": views.task_url(request, task_id)},
                         "job": views.job(definition, shown, count)})


async def one_execution(request: Request, operation: str, *, missing_status: int = 404,
                        missing: str = "") -> tuple[DefinitionRecord, RequestRecord]:
    principal = await current_principal(request)
    jobs = jobs_of(request)
    task_id, job_id = request.path_params["task_id"], request.path_params["job_id"]
    definition = await views.find_job(jobs, principal, task_id, job_id, operation,
                                      f"Task ({task_id}) or Job ({job_id}) not found.")
    execution_id = request.path_params["execution_id"]
    try:
        record = await jobs.get(principal, execution_id)
    except NotFoundError:
        record = None
    if record is None or record.job_type != definition.job_type:
        raise FastlaneError(missing_status, missing or f"Job Execution ({execution_id}) not found in job ({job_id}).",
                            operation)
    return definition, record


@routes.route("/tasks/{task_id}/jobs/{job_id}/executions/{execution_id}/", ["GET"])
async def get_execution(request: Request) -> Response:
    definition, record = await one_execution(request, "get_job_execution")
    task_id, job_id = request.path_params["task_id"], request.path_params["job_id"]
    principal, jobs = await current_principal(request), jobs_of(request)
    log, error = await views.outputs(jobs, principal, record)
    shape = views.execution(definition, record, log=log, error=error, with_logs=True,
                            dispatch=await views.dispatches(jobs, principal, record))
    return JSONResponse({"task": {"id": task_id, "url": views.task_url(request, task_id)},
                         "job": {"id": job_id, "url": views.job_url(request, task_id, job_id)},
                         "execution": shape})


async def last_execution(request: Request) -> tuple[DefinitionRecord, RequestRecord]:
    principal = await current_principal(request)
    jobs = jobs_of(request)
    task_id, job_id = request.path_params["task_id"], request.path_params["job_id"]
    definition = await views.find_job(jobs, principal, task_id, job_id, DETAILS,
                                      f"Task ({task_id}) or Job ({job_id}) not found.")
    records, _ = await views.executions(jobs, principal, definition, limit=1)
    if not records:
        raise FastlaneError(400, f"No executions found in job ({job_id}).", DETAILS)
    return definition, records[0]


async def text(request: Request, record: RequestRecord, part: str) -> Response:
    """The whole text, streamed from the store page by page (a big log is never held whole)."""
    headers = {"Fastlane-Exit-Code": str(views.exit_code(record))}
    if views.status(record) in views.LIVE:
        return PlainTextResponse("", headers=headers)
    jobs, principal = jobs_of(request), await current_principal(request)

    async def body() -> AsyncIterator[str]:
        for index, name in enumerate(("stdout", "stderr") if part == "logs" else (part,)):
            if index:
                yield SEPARATOR
            async for chunk in views.whole(jobs, principal, record, name):
                yield chunk

    return StreamingResponse(body(), media_type="text/plain; charset=utf-8", headers=headers)


def _text_routes(part: str) -> None:
    async def job_text(request: Request) -> Response:
        _, record = await last_execution(request)
        return await text(request, record, part)

    async def execution_text(request: Request) -> Response:
        _, record = await one_execution(request, DETAILS, missing_status=400,
                                        missing="No executions found in job with specified arguments.")
        return await text(request, record, part)

    job_text.__name__, execution_text.__name__ = f"job_{part}", f"execution_{part}"
    routes.route(f"/tasks/{{task_id}}/jobs/{{job_id}}/{part}/", ["GET"])(job_text)
    routes.route(f"/tasks/{{task_id}}/jobs/{{job_id}}/executions/{{execution_id}}/{part}/", ["GET"])(execution_text)


for _part in ("stdout", "stderr", "logs"):
    _text_routes(_part)
