"""``GET /nodes`` (the ants heard from in the last 5 minutes) and ``GET /metrics`` (Tork's JSON).

A node is an ant: ``id`` and ``name`` its ant id, ``hostname`` its host, ``status`` ``UP`` while its
heartbeat is fresh (15 s) and ``OFFLINE`` after, ``queue`` ``x-<id>`` as Tork's workers, ``taskCount``
its load, ``cpuPercent`` 0 (ants do not measure it). Queens are not listed (Tork lists coordinators).
Metrics count the caller's jobs running (SCHEDULED or RUNNING) and their running tasks, and the live
ants; ``cpuPercent`` is 0.
"""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from myrmica.api.context import context_of
from myrmica.api.tork import shapes
from myrmica.api.tork.auth import tork_principal
from myrmica.api.tork.router import tork_router
from myrmica.domain.records import NodeRecord
from myrmica.service.cluster import Cluster

router = tork_router()


def node(record: NodeRecord) -> dict[str, object]:
    return {**shapes.omit_empty({
        "id": record.id,
        "name": record.id,
        "startedAt": shapes.tork_time(record.started_at),
        "lastHeartbeatAt": shapes.tork_time(record.heartbeat_at),
        "queue": f"x-{record.id}",
        "status": "UP" if record.alive else "OFFLINE",
        "hostname": record.host,
        "taskCount": record.load,
    }), "cpuPercent": 0.0, "version": record.version}


def _cluster(request: Request) -> Cluster:
    cluster: Cluster = context_of(request).services["cluster"]
    return cluster


@router.get("/nodes")
async def nodes(request: Request) -> Response:
    await tork_principal(request)
    return JSONResponse([node(record) for record in await _cluster(request).nodes()])


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    principal = await tork_principal(request)
    found = await _cluster(request).metrics(principal)
    return JSONResponse({"jobs": {"running": found.running_requests}, "tasks": {"running": found.running_tasks},
                         "nodes": {"online": found.live_nodes, "cpuPercent": 0.0}})
