"""``/queues``: Tork's task queues over Myrmica's ants and their tags.

Decision: a Tork task's ``queue: Q`` becomes the core task tag ``Q`` (lower-cased), so it runs only
on an ant that has the tag ``Q`` (``--ant-tags``, ``myrmica ant --tags``); the ``default`` queue (or
none) is no tag, so any ant runs it — every ant serves ``default``, whatever its tags. ``GET /queues``
lists ``default`` and every tag of a live ant, each with ``subscribers`` (the live ants serving it),
``unacked`` (the tasks those ants run now) and ``size`` 0: a Myrmica task waits for an ant inside its
job's run, never on a queue. ``DELETE /queues/{name}`` answers as Tork (400 for a coordinator or
``x-`` queue, 404 for an unknown one, else 200 with an empty body) but has nothing to purge.
"""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from myrmica.api.context import context_of
from myrmica.api.tork.auth import tork_principal
from myrmica.api.tork.router import tork_router
from myrmica.domain.errors import NotFoundError
from myrmica.domain.records import NodeRecord
from myrmica.domain.tork.decode import BadInput
from myrmica.domain.tork.validate import COORDINATOR_QUEUES
from myrmica.service.cluster import Cluster

router = tork_router()
DEFAULT = "default"


def queue_infos(nodes: list[NodeRecord]) -> list[dict[str, object]]:
    live = [node for node in nodes if node.alive]
    names = {DEFAULT} | {tag for node in live for tag in node.tags}
    infos = []
    for name in sorted(names):
        serving = [node for node in live if name == DEFAULT or name in node.tags]
        infos.append({"name": name, "size": 0, "subscribers": len(serving),
                      "unacked": sum(node.load for node in serving)})
    return infos


async def _infos(request: Request) -> list[dict[str, object]]:
    await tork_principal(request)
    cluster: Cluster = context_of(request).services["cluster"]
    return queue_infos(await cluster.nodes())


def _find(infos: list[dict[str, object]], name: str) -> dict[str, object]:
    for info in infos:
        if info["name"] == name:
            return info
    raise NotFoundError(f"queue {name} not found")


@router.get("/queues")
async def list_queues(request: Request) -> Response:
    return JSONResponse(await _infos(request))


@router.get("/queues/{name}")
async def get_queue(request: Request, name: str) -> Response:
    return JSONResponse(_find(await _infos(request), name))


@router.delete("/queues/{name}")
async def delete_queue(request: Request, name: str) -> Response:
    infos = await _infos(request)
    if name in COORDINATOR_QUEUES or name.startswith("x-"):
        raise BadInput(f"queue {name} is not a task queue")
    _find(infos, name)
    return Response(status_code=200)
