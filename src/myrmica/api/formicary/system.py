"""Health (no token needed) and Prometheus metrics (at /api/metrics and /metrics)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from myrmica.api.auth import current_principal, require_admin
from myrmica.api.context import context_of
from myrmica.api.formicary.schemas import Health, answers
from myrmica.api.formicary.serializers import iso
from myrmica.api.health import dependency_checks
from myrmica.clock import utcnow
from myrmica.domain.principal import Principal

public_router = APIRouter(prefix="/api", tags=["system"])
metrics_router = APIRouter(tags=["system"])
router = APIRouter(prefix="/api", tags=["system"])


def _status(name: str, error: str | None, kind: str = "") -> dict[str, Any]:
    monitored = {"name": name, "kind": kind} if kind else {"name": name}
    return {"Monitored": monitored, "HealthError": error or "", "LastCheck": iso(utcnow()),
            "healthy": error is None}


@public_router.get("/health", responses={**answers(Health), 503: {"model": Health, "description": "unhealthy"}})
async def health(request: Request) -> Response:
    ctx = context_of(request)
    statuses = [_status(check.name, check.error, check.kind) for check in await dependency_checks(request)]
    healthy = all(s["healthy"] for s in statuses)
    overall = _status("myrmica", None if healthy else "a dependency is unhealthy")
    engine = ctx.services.get("engine")
    if engine is not None:
        overall["Monitored"].update(queen_id=engine.queen_id, leader=engine.leader)
    body = {"overall_status": overall, "dependent_service_statuses": statuses}
    return JSONResponse(body, status_code=200 if healthy else 503)


@router.get("/metrics", responses=answers(media="text/plain"))
@metrics_router.get("/metrics", responses=answers(media="text/plain"))
async def metrics(request: Request, principal: Principal = Depends(current_principal)) -> Response:
    """Prometheus text format; at ``/metrics`` too, where Prometheus scrapes by default."""
    require_admin(principal, "read the server's metrics")  # counts over every tenant
    return Response(context_of(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)
