"""``/api/v1/jobs/definitions/{job_type}/triggers``: a job's event triggers with their state, a state's
reset and a hand-fired event (spec §2.8; Formicary's gRPC-gateway paths)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Depends, Request

from myrmica.api.auth import current_principal
from myrmica.api.body import read_json_object
from myrmica.api.context import context_of
from myrmica.api.errors import ApiError
from myrmica.api.formicary.schemas import answers
from myrmica.domain.principal import Principal
from myrmica.service.trigger_admin import TriggerAdmin

router = APIRouter(prefix="/api/v1/jobs/definitions", tags=["triggers"])


def _admin(request: Request) -> TriggerAdmin:
    admin: TriggerAdmin = context_of(request).services["trigger_admin"]
    return admin


@router.get("/{job_type}/triggers", responses=answers())
async def list_triggers(job_type: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return {"triggers": await _admin(request).list(principal, job_type)}


@router.delete("/{job_type}/triggers/{name}/state", responses=answers())
async def reset_trigger_state(job_type: str, name: str, request: Request,
                              principal: Principal = Depends(current_principal)) -> Any:
    return {"reset": await _admin(request).reset(principal, job_type, name)}


@router.post("/{job_type}/triggers/{name}/fire", status_code=202, responses=answers())
async def fire_trigger_by_hand(job_type: str, name: str, request: Request,
                               principal: Principal = Depends(current_principal)) -> Any:
    """Body ``{"payload": "<base64>"}``: the event (a webhook's body, an S3 object's JSON, a queue message)."""
    body = await read_json_object(request)
    encoded = body.get("payload", "")
    if not isinstance(encoded, str):
        raise ApiError(400, "payload must be base64 text", field="payload")
    try:
        payload = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "payload is not valid base64", field="payload") from None
    fired = await _admin(request).fire(principal, job_type, name, payload)
    answer: dict[str, Any] = {"request_id": fired.request_id}
    if fired.filtered:
        answer["filtered"] = True
    return answer
