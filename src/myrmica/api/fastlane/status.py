"""``/healthcheck`` and ``/status/`` (spec/fastlane.md §8).

Healthcheck: ``{redis, mongo, errors: [{source, message}]}``, 200 when nothing failed, else 500 —
``mongo`` is Myrmica's database, ``redis`` its broker (true when the server has none: the embedded
mode needs none). Status: the docker hosts are the ants that advertise DOCKER (``host`` the ant's id,
``available`` while its heartbeat is fresh); ``containers.running`` the executions running now;
counts of tasks and jobs and the cron jobs with their next occurrence.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from myrmica import __version__
from myrmica.api.auth import current_principal
from myrmica.api.context import context_of
from myrmica.api.fastlane import views
from myrmica.api.fastlane.router import Routes
from myrmica.api.health import dependency_checks
from myrmica.api.jobs import jobs_of
from myrmica.clock import utcnow
from myrmica.domain.cron import next_fire
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
    hosts = [{"host": n.id, "port": None, "available": n.alive, "blacklisted": False,
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
