"""``/api/executors``: the task processes running on each ant, and terminating one.

A DOCKER task's record also carries Formicary's ContainerLifecycleEvent fields (``container_id``,
``container_name``, ``container_state``, ``labels``, ``started_at``, …), from the containers its ant
last reported (with its heartbeat), and ``DELETE`` takes a container id or name as well.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request

from myrmica.api.auth import current_principal, require_admin
from myrmica.api.context import context_of
from myrmica.api.errors import ApiError
from myrmica.api.formicary.engine_view import engine_of
from myrmica.api.formicary.schemas import Done, ExecutorPage, answers
from myrmica.api.formicary.serializers import iso
from myrmica.api.openapi_docs import extra, q_str
from myrmica.api.pagination import single_page
from myrmica.domain.errors import NotFoundError
from myrmica.domain.principal import Principal

router = APIRouter(prefix="/api/executors", tags=["ants"])


@router.get("", responses=answers(ExecutorPage))
async def list_executors(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    require_admin(principal, "look at or stop executors")
    return single_page(await _executors(request))


@router.get("/{executor_id}", responses=answers(dict[str, Any]))
async def get_executor(executor_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    """One running executor, by its task execution id or (DOCKER) its container's id or name."""
    require_admin(principal, "look at or stop executors")
    for record in await _executors(request):
        if executor_id in (record["id"], record.get("container_id"), record.get("container_name")):
            return record
    raise ApiError(404, f"executor {executor_id} is not running")


async def _executors(request: Request) -> list[dict[str, Any]]:
    engine = engine_of(request)
    store = context_of(request).store  # (task execution rows: executors have no job service operation)
    records: list[dict[str, Any]] = []
    keys: set[str] = set()
    for ant in engine.ants.snapshot():
        containers = {str(c.get("task_execution_id")): c for c in ant.get("containers", [])}
        for key in ant.get("running", []) or ant.get("allocations", []):
            keys.add(key)
            task_execution_id, _, attempt = key.partition(":")
            record = {"id": task_execution_id, "attempt": int(attempt or 0), "ant_id": ant["ant_id"],
                      "host": ant["host"], "alive": ant["alive"]}
            container = containers.get(task_execution_id)
            if container is not None:
                record.update(_lifecycle_event(ant["ant_id"], container))
            records.append(record)
    listed: list[dict[str, Any]] = []
    for record in records:
        row = await store.requests.task_execution(record["id"])
        if row is None:  # (no row yet: a reservation whose task is being stored, not yet sent)
            continue
        try:
            owner = (await store.requests.get(row["job_request_id"]))["user_id"] or ""
        except NotFoundError:  # deleted meanwhile
            owner = ""
        # A task that is not a container (SHELL, HTTP, ...) is a process of its ant: the lifecycle
        # fields then name the task execution and its state.
        process = {"event_type": "ContainerLifecycleEvent", "source": record["ant_id"], "method": row["method"],
                   "container_id": record["id"], "container_name": f"{row['task_type']}-{record['id']}",
                   "container_state": row["task_state"], "labels": {}, "started_at": iso(row["started_at"]),
                   "created_at": iso(row["started_at"]), "ended_at": iso(row["ended_at"])}
        if row["method"] == "DOCKER" and "container_id" not in record:  # its container is not reported yet
            process.update(container_id="", container_name="")
        listed.append({**process, **record, "job_request_id": row["job_request_id"], "task_type": row["task_type"],
                       "method": row["method"], "task_state": row["task_state"], "user_id": owner})
    return listed


@router.delete("/{task_execution_id}", responses=answers(Done), openapi_extra=extra(
    q_str("antID", "the ant running it (default: the one recorded)")))
async def terminate_executor(task_execution_id: str, request: Request,
                             principal: Principal = Depends(current_principal)) -> Any:
    """Stop one running task on its ant; the task fails as cancelled and the job follows its failure edge."""
    require_admin(principal, "look at or stop executors")
    engine = engine_of(request)
    store = context_of(request).store  # (task execution rows: executors have no job service operation)
    ant_id = request.query_params.get("antID") or request.query_params.get("ant_id")
    row = await store.requests.task_execution(task_execution_id)
    if row is None:  # a container's id or name: the task it runs
        for ant in engine.ants.snapshot():
            for container in ant.get("containers", []):
                if task_execution_id in (container.get("container_id"), container.get("container_name")):
                    task_execution_id, ant_id = str(container.get("task_execution_id")), ant["ant_id"]
                    row = await store.requests.task_execution(task_execution_id)
    if row is None:
        raise ApiError(404, f"task execution {task_execution_id} not found")
    ant_id = ant_id or row["ant_id"]
    if not ant_id or engine.ants.get(ant_id) is None:
        raise ApiError(404, f"ant {ant_id or '?'} is not known to this server", field="antID")
    if row["task_state"] != "EXECUTING":
        raise ApiError(409, f"task execution {task_execution_id} is {row['task_state']}, not running",
                       field="task_state")
    await engine.dispatch.control(ant_id, {"action": "TERMINATE", "task_execution_id": task_execution_id})
    return {"id": task_execution_id, "ant_id": ant_id, "terminating": True}


def _lifecycle_event(ant_id: str, container: dict[str, Any]) -> dict[str, Any]:
    """Formicary's ContainerLifecycleEvent fields for a live container."""
    started = datetime.fromtimestamp(float(container.get("started_at") or 0), UTC).isoformat()
    return {"event_type": "ContainerLifecycleEvent", "source": ant_id, "created_at": started,
            "method": "DOCKER", "container_id": container.get("container_id", ""),
            "container_name": container.get("container_name", ""), "container_state": "EXECUTING",
            "labels": container.get("labels", {}), "image": container.get("image", ""),
            "started_at": started, "ended_at": None}
