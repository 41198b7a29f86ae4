"""``/api/jobs/definitions/{jobId}/configs``: per-job settings and secrets, kept across versions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from myrmica.api.auth import current_principal
from myrmica.api.body import read_json_object
from myrmica.api.context import context_of
from myrmica.api.errors import ApiError
from myrmica.api.formicary.schemas import ConfigBody, ConfigOut, ConfigPage, Done, answers
from myrmica.api.formicary.serializers import config_json
from myrmica.api.openapi_docs import body, extra
from myrmica.api.pagination import single_page
from myrmica.domain.principal import Principal

router = APIRouter(prefix="/api/jobs/definitions/{job_id}/configs", tags=["job configs"])


def _field(body: dict[str, Any], name: str) -> Any:
    """Go decodes JSON keys case-insensitively, so Formicary's docs post ``Name``/``Secret``."""
    for key, value in body.items():
        if key.lower() == name:
            return value
    return None


def _config_input(body: dict[str, Any]) -> tuple[str, Any, bool]:
    name = _field(body, "name")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "name is required", field="name")
    value = _field(body, "value")
    if value is None:
        raise ApiError(400, "value is required", field="value")
    secret = _field(body, "secret") or False
    if not isinstance(secret, bool):
        raise ApiError(400, "secret must be true or false", field="secret")
    return name.strip(), value, secret


async def _owner(request: Request, principal: Principal, job_id: str) -> tuple[str, str, str]:
    row = await context_of(request).store.definitions.get_own(principal, job_id)
    return row["owner_key"], row["job_type"], row["id"]


@router.get("", responses=answers(ConfigPage))
async def list_configs(job_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    """In Formicary's page envelope, like every list (a job has few configs: one page of them)."""
    owner, job_type, definition_id = await _owner(request, principal, job_id)
    rows = await context_of(request).store.job_configs.for_job(owner, job_type)
    return single_page([config_json(row, definition_id) for row in rows])


@router.post("", status_code=201, responses=answers(ConfigOut, 201), openapi_extra=extra(body(ConfigBody)))
async def create_config(job_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    owner, job_type, definition_id = await _owner(request, principal, job_id)
    name, value, secret = _config_input(await read_json_object(request))
    row = await context_of(request).store.job_configs.create(owner, job_type, name, value, secret)
    return config_json(row, definition_id)


@router.get("/{config_id}", responses=answers(ConfigOut))
async def get_config(job_id: str, config_id: str, request: Request,
                     principal: Principal = Depends(current_principal)) -> Any:
    owner, job_type, definition_id = await _owner(request, principal, job_id)
    return config_json(await context_of(request).store.job_configs.get(owner, job_type, config_id), definition_id)


@router.put("/{config_id}", responses=answers(ConfigOut), openapi_extra=extra(body(ConfigBody)))
async def update_config(job_id: str, config_id: str, request: Request,
                        principal: Principal = Depends(current_principal)) -> Any:
    owner, job_type, definition_id = await _owner(request, principal, job_id)
    name, value, secret = _config_input(await read_json_object(request))
    row = await context_of(request).store.job_configs.update(owner, job_type, config_id, name, value, secret)
    return config_json(row, definition_id)


@router.delete("/{config_id}", responses=answers(Done))
async def delete_config(job_id: str, config_id: str, request: Request,
                        principal: Principal = Depends(current_principal)) -> Any:
    owner, job_type, _ = await _owner(request, principal, job_id)
    await context_of(request).store.job_configs.delete(owner, job_type, config_id)
    return {"id": config_id, "deleted": True}
