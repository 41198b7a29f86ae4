"""``/api/ants``: the workers the queen knows, with their live load."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from myrmica.api.auth import current_principal, require_admin
from myrmica.api.errors import ApiError
from myrmica.api.formicary.engine_view import engine_of
from myrmica.api.formicary.schemas import AntOut, AntPage, answers
from myrmica.api.formicary.serializers import iso
from myrmica.api.pagination import single_page
from myrmica.domain.principal import Principal

router = APIRouter(prefix="/api/ants", tags=["ants"])


def ant_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"ant_id": row["ant_id"], "ant_topic": f"ant-{row['ant_id']}", "methods": row["methods"],
            "tags": row["tags"], "max_capacity": row["max_capacity"], "current_load": row["current_load"],
            "allocations": row.get("allocations", []), "total_executed": row["total_executed"],
            "auto_refresh": False, "host": row["host"], "version": row["version"], "embedded": row["embedded"],
            "alive": row.get("alive", False), "ant_started_at": iso(row["started_at"]),
            "updated_at": iso(row["heartbeat_at"]), "created_at": iso(row["started_at"])}


@router.get("", responses=answers(AntPage))
async def list_ants(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    require_admin(principal, "look at ants")
    rows = [ant_json(row) for row in engine_of(request).ants.snapshot()]
    return single_page(rows)


@router.get("/{ant_id}", responses=answers(AntOut))
async def get_ant(ant_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    require_admin(principal, "look at ants")
    for row in engine_of(request).ants.snapshot():
        if row["ant_id"] == ant_id:
            return ant_json(row)
    raise ApiError(404, f"ant {ant_id} not found")
