"""``GET /health``: Tork's ``{"status": "UP", "version": …}``, 503 ``DOWN`` when the database or the
broker does not answer. No key needed (as Tork's key auth)."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from myrmica.api.health import dependency_checks
from myrmica.api.tork.router import tork_router
from myrmica.api.tork.schemas import Health, answers

TORK_VERSION = "0.1.153"  # the Tork release whose behaviour this dialect follows

router = tork_router()


@router.get("/health", responses={**answers(Health), 503: {"model": Health, "description": "a dependency is down"}})
async def health(request: Request) -> Response:
    healthy = all(check.error is None for check in await dependency_checks(request))
    return JSONResponse({"status": "UP" if healthy else "DOWN", "version": TORK_VERSION},
                        status_code=200 if healthy else 503)
