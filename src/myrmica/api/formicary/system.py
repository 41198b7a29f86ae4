"""Health (no token needed) and Prometheus metrics (at /api/metrics and /metrics)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from myrmica.api.auth import current_principal, require_admin
from myrmica.api.context import context_of
from myrmica.api.formicary.schemas import Health, answers
from myrmica.api.formicary.serializers import iso
from myrmica.clock import utcnow
from myrmica.domain.principal import Principal

public_router = APIRouter(prefix="/api", tags=["system"])
metrics_router = APIRouter(tags=["system"])
router = APIRouter(prefix="/api", tags=["system"])

HealthCheck = Callable[[], Awaitable[None]]


def _status(name: str, error: str | None, kind: str = "") -> dict[str, Any]:
    monitored = {"name": name, "kind": kind} if kind else {"name": name}
    return {"Monitored": monitored, "HealthError": error or "", "LastCheck": iso(utcnow()),
            "healthy": error is None}


@public_router.get("/health", responses={**answers(Health), 503: {"model": Health, "description": "unhealthy"}})
async def health(request: Request) -> Response:
    ctx = context_of(request)
    checks: dict[str, tuple[str, HealthCheck]] = {"database": (ctx.store.db.name, ctx.store.ping),
                                                  **ctx.services.get("health_checks", {})}
    statuses = []
    for name, (kind, check) in checks.items():
        try:
            await check()
            statuses.append(_status(name, None, kind))
        except Exception as exc:  # any failure of a dependency is a health answer, not a crash
            statuses.append(_status(name, f"{type(exc).__name__}: {exc}"[:300], kind))
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
