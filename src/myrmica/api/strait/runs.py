"""``/v1/runs/{id}`` (read, cancel) and ``/v1/jobs/{id}/runs`` (a job's runs, newest first)."""

from __future__ import annotations

from fastapi import Request, Response

from myrmica.api.strait.auth import strait_of, strait_principal
from myrmica.api.strait.jobs import _limit
from myrmica.api.strait.router import strait_router
from myrmica.api.strait.views import answer

router = strait_router()


@router.get("/runs/{run_id}")
async def get_run(request: Request, run_id: str) -> Response:
    principal = await strait_principal(request)
    _, runs = strait_of(request)
    return answer(await runs.get(principal, run_id))


@router.delete("/runs/{run_id}")
async def cancel_run(request: Request, run_id: str) -> Response:
    """Cancels the run (``canceled``); 409 once it has ended."""
    principal = await strait_principal(request)
    _, runs = strait_of(request)
    return answer(await runs.cancel(principal, run_id))


@router.get("/jobs/{job_id}/runs")
async def list_runs(request: Request, job_id: str) -> Response:
    principal = await strait_principal(request)
    jobs, runs = strait_of(request)
    job = await jobs.get(principal, job_id)
    query = request.query_params
    found, cursor = await runs.list_runs(principal, job, status=query.get("status", ""), cursor=query.get("cursor", ""),
                                    limit=_limit(query.get("limit")))
    return answer({"data": found, "next_cursor": cursor or None, "has_more": bool(cursor)})
