"""A job's versions, dependencies and health (``/v1/jobs/{id}/versions|dependencies|health``)."""

from __future__ import annotations

from fastapi import Request, Response

from myrmica.api.strait.auth import read_json, strait_of, strait_principal
from myrmica.api.strait.router import strait_router
from myrmica.api.strait.views import answer

router = strait_router()


@router.get("/jobs/{job_id}/versions")
async def versions(request: Request, job_id: str) -> Response:
    """The superseded configurations, newest first."""
    principal = await strait_principal(request)
    jobs, _ = strait_of(request)
    return answer(await jobs.versions(principal, await jobs.get(principal, job_id)))


@router.get("/jobs/{job_id}/versions/{version_id}")
async def version(request: Request, job_id: str, version_id: str) -> Response:
    principal = await strait_principal(request)
    jobs, _ = strait_of(request)
    return answer(await jobs.version(principal, await jobs.get(principal, job_id), version_id))


@router.get("/jobs/{job_id}/dependencies")
async def dependencies(request: Request, job_id: str) -> Response:
    principal = await strait_principal(request)
    jobs, _ = strait_of(request)
    return answer(await jobs.dependencies(await jobs.get(principal, job_id)))


@router.post("/jobs/{job_id}/dependencies", status_code=201)
async def add_dependency(request: Request, job_id: str) -> Response:
    principal = await strait_principal(request)
    jobs, _ = strait_of(request)
    job = await jobs.get(principal, job_id)
    return answer(await jobs.add_dependency(principal, job, await read_json(request, empty={})), 201)


@router.delete("/jobs/{job_id}/dependencies/{dependency_id}", status_code=204)
async def delete_dependency(request: Request, job_id: str, dependency_id: str) -> Response:
    principal = await strait_principal(request)
    jobs, _ = strait_of(request)
    await jobs.delete_dependency(await jobs.get(principal, job_id), dependency_id)
    return Response(status_code=204)


@router.get("/jobs/{job_id}/health")
async def job_health(request: Request, job_id: str) -> Response:
    principal = await strait_principal(request)
    jobs, runs = strait_of(request)
    job = await jobs.get(principal, job_id)
    return answer(await runs.health(principal, job, request.query_params.get("window")))
