"""``/healthcheck`` and ``/status/`` (spec/fastlane.md §8).

Healthcheck: ``{redis, mongo, errors: [{source, message}]}``, 200 when nothing failed, else 500 —
``mongo`` is Myrmica's database, ``redis`` its broker (true when the server has none: the embedded
mode needs none). Status: the docker hosts are the ants that advertise DOCKER (``host`` the ant's id,
``available`` while its heartbeat is fresh); ``containers.running`` the executions running now;
counts of tasks and jobs and the cron jobs with their next occurrence.

Blacklist (``POST``/``PUT`` to add, ``DELETE`` to remove ``{"host": "<ant id>"}`` at
``/docker-executor/blacklist``, admin only): no queen schedules to a blacklisted ant (each reads the
list again within a few seconds); what it runs finishes. 200 with an empty body, or Fastlane's 400 texts.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from myrmica import __version__
from myrmica.api.auth import current_principal
from myrmica.api.body import read_body
from myrmica.api.context import context_of
from myrmica.api.fastlane import views
from myrmica.api.fastlane.router import Routes
from myrmica.api.health import dependency_checks
from myrmica.api.jobs import jobs_of
from myrmica.clock import utcnow
from myrmica.domain.cron import next_fire
from myrmica.domain.fastlane.payload import FastlaneBadInput
from myrmica.domain.records import PageRequest, RequestFilter
from myrmica.service.cluster import Cluster

routes = Routes()


@routes.route("/healthcheck/", ["GET"])
async def healthcheck(request: Request) -> Response:
    results = await dependency_checks(request)
    errors = [{"source": "mongo" if r.name == "database" else "redis", "message": r.error}
              for r in results if r.error is not None]
    sources = {e["source"] for e in errors}
    return JSONResponse({"redis": "redis" not in sources, "mongo": "mongo" not in sources, "errors": errors},
                        status_code=500 if errors else 200)


@routes.route("/status/", ["GET"])
async def status(request: Request) -> Response:
    principal = await current_principal(request)
    jobs = jobs_of(request)
    cluster: Cluster | None = context_of(request).services.get("cluster")
    nodes = await cluster.nodes() if cluster is not None else []
    blacklisted = await cluster.blacklisted() if cluster is not None else set()
    hosts = [{"host": n.id, "port": None, "available": n.alive, "blacklisted": n.id in blacklisted,
              "circuit": "closed" if n.alive else "open", "error": None if n.alive else "no heartbeat"}
             for n in nodes if "DOCKER" in n.methods]
    definitions = await views.fastlane_jobs(jobs, principal)
    running = []
    pending = 0
    scheduled: list[dict[str, Any]] = []
    for definition in definitions:
        own = views.settings(definition)
        pending += (await jobs.search(principal, RequestFilter(job_type=definition.job_type,
                                                               states=frozenset({"PENDING"})), PageRequest(0, 1))).total
        page = await jobs.search(principal, RequestFilter(job_type=definition.job_type,
                                                          states=frozenset({"EXECUTING"})), PageRequest(0, 100))
        for record in page.items:
            full = await jobs.get(principal, record.id)
            if views.status(full) == "running":
                task = full.execution.tasks[0] if full.execution and full.execution.tasks else None
                running.append({"host": task.ant_id if task else "", "port": None,
                                "id": f"fastlane-job-{record.id}"})
        if definition.cron_trigger and not definition.disabled:
            task_id, job_id = own["task_id"], own["job_id"]
            upcoming = next_fire(definition.cron_trigger, utcnow())
            scheduled.append({**views.job(definition, [], 0), "executions": None,
                              "nextScheduledAt": views.iso(upcoming), "url": views.job_url(request, task_id, job_id),
                              "stopUrl": f"{views.job_url(request, task_id, job_id)}stop/",
                              "task": {"id": task_id, "url": views.task_url(request, task_id)}})
    return JSONResponse({
        "hosts": hosts, "containers": {"running": running},
        "queues": {"jobs": {"length": pending}},
        "tasks": {"count": len({views.settings(d)["task_id"] for d in definitions})},
        "jobs": {"count": len(definitions), "scheduled": scheduled},
        "fastlane": {"version": __version__, "executor": "myrmica DOCKER"}})


async def _blacklist(request: Request, add: bool) -> Response:
    principal = await current_principal(request)
    verb = "add host to" if add else "remove host from"
    try:
        body = json.loads((await read_body(request)).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        body = None
    if not isinstance(body, dict):
        raise FastlaneBadInput(f"Failed to {verb} blacklist because JSON body could not be parsed.")
    host = body.get("host")
    if not host:
        raise FastlaneBadInput(f"Failed to {verb} blacklist because 'host' attribute was not found in JSON body.")
    if not isinstance(host, str) or len(host) > 100:
        raise FastlaneBadInput(f"Failed to {verb} blacklist because 'host' attribute had an invalid value.")
    cluster: Cluster = context_of(request).services["cluster"]
    await cluster.set_blacklisted(principal, host, add)
    return Response(status_code=200)


@routes.route("/docker-executor/blacklist/", ["POST", "PUT"])
async def add_to_blacklist(request: Request) -> Response:
    return await _blacklist(request, True)


@routes.route("/docker-executor/blacklist/", ["DELETE"])
async def remove_from_blacklist(request: Request) -> Response:
    return await _blacklist(request, False)
