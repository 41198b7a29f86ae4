"""``/tasks/{id}``: one task execution as a Tork task (secrets redacted), and its log parts."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from myrmica.api.jobs import jobs_of
from myrmica.api.tork import logparts, views
from myrmica.api.tork.auth import tork_principal
from myrmica.api.tork.errors import TASK_NOT_FOUND
from myrmica.api.tork.ids import from_tork, to_tork
from myrmica.api.tork.router import tork_router
from myrmica.api.tork.schemas import PAGING, LogPage, Task, answers, query
from myrmica.domain.errors import NotFoundError
from myrmica.domain.principal import Principal
from myrmica.domain.records import TaskRecord
from myrmica.service.jobs import JobService

router = tork_router()


async def _task(jobs: JobService, principal: Principal, tork_id: str
                ) -> tuple[TaskRecord, dict[str, object], tuple[TaskRecord, ...]]:
    core_id = from_tork(tork_id, TASK_NOT_FOUND)
    try:
        task = await jobs.get_task(principal, core_id)
        record, settings = await views.tork_request(jobs, principal, to_tork(task.job_request_id))
    except NotFoundError:
        raise NotFoundError(TASK_NOT_FOUND) from None
    return task, dict(settings), record.execution.tasks if record.execution is not None else ()


@router.get("/tasks/{tork_task_id}", responses=answers(Task))
async def get_task(request: Request, tork_task_id: str) -> Response:
    principal = await tork_principal(request)
    task, settings, job_tasks = await _task(jobs_of(request), principal, tork_task_id)
    return JSONResponse(views.task_view(task, settings, job_tasks))


@router.get("/tasks/{tork_task_id}/log", responses=answers(LogPage),
            openapi_extra={"parameters": [*PAGING, query("q", "text the part contains")]})
async def task_log(request: Request, tork_task_id: str) -> Response:
    principal = await tork_principal(request)
    jobs = jobs_of(request)
    task, _, _ = await _task(jobs, principal, tork_task_id)
    return JSONResponse(await logparts.log_page(jobs, principal, task.job_request_id, request.query_params,
                                                task_execution_id=task.id))
