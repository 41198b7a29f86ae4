"""``/api/configs*`` (system), ``/api/orgs/{id}/configs*``, ``/api/errors*``, ``/api/jobs/resources*`` and
``/api/subscriptions*`` in seed 000's shapes (SystemConfig, OrganizationConfig, ErrorCode, JobResource,
JobResourceConfig, Subscription); secret values always ``****``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from myrmica.api.auth import current_principal
from myrmica.api.body import read_json_object
from myrmica.api.context import context_of
from myrmica.api.formicary.accounts import filters
from myrmica.api.formicary.serializers import iso
from myrmica.api.pagination import bool_param, envelope, int_param, page_of
from myrmica.domain.principal import Principal
from myrmica.service.catalog import CatalogService

router = APIRouter(prefix="/api", tags=["configs and catalogs"])


def catalog_of(request: Request) -> CatalogService:
    service: CatalogService = context_of(request).services["catalog"]
    return service


def _stamps(row: dict[str, Any]) -> dict[str, Any]:
    return {"created_at": iso(row["created_at"]), "updated_at": iso(row.get("updated_at"))}


def system_config_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "scope": "default", "kind": row["kind"], "name": row["name"], "value": row["value"],
            "secret": row["secret"], **_stamps(row)}


def org_config_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "organization_id": row["scope_id"], "name": row["name"], "type": row["kind"],
            "value": row["value"], "secret": row["secret"], **_stamps(row)}


def error_json(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "regex", "exit_code", "error_code", "display_code", "display_message", "description",
            "command_scope", "platform_scope", "task_type_scope", "job_type", "action", "retry", "hard_failure")
    return {**{k: row[k] for k in keys}, "organization_id": row["organization_id"] or "",
            "user_id": row["user_id"] or "", **_stamps(row)}


def resource_json(row: dict[str, Any], configs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    keys = ("id", "resource_type", "description", "platform", "category", "tags", "external_id", "quota",
            "lease_timeout", "value", "disabled")
    return {**{k: row[k] for k in keys}, "extract_config": row["extract_config"] or {},
            "organization_id": row["organization_id"] or "", "user_id": row["user_id"] or "",
            "resource_variables": {}, "valid_status": not row["disabled"],
            "configs": [resource_config_json(c) for c in configs or []], **_stamps(row)}


def resource_config_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "job_resource_id": row["job_resource_id"], "name": row["name"], "type": row["kind"],
            "value": row["value"], "secret": row["secret"], **_stamps(row)}


def subscription_json(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "kind", "policy", "period", "price", "cpu_quota", "disk_quota", "active")
    return {**{k: row[k] for k in keys}, "user_id": row["user_id"] or "",
            "organization_id": row["organization_id"] or "",
            # Stored and reported (not enforced): what is left shows in /api/orgs/usage_report.
            "remaining_cpu_quota": row["cpu_quota"], "remaining_disk_quota": row["disk_quota"],
            "started_at": iso(row["started_at"]), "ended_at": iso(row["ended_at"]), **_stamps(row)}


# --- system configs and org configs ---------------------------------------------------------------


def _config_filters(request: Request) -> dict[str, str]:
    found = filters(request, "name")
    kind = request.query_params.get("kind") or request.query_params.get("type")
    if kind:
        found["kind"] = kind
    return found


@router.get("/configs")
async def list_system_configs(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    page = page_of(request)
    rows, total = await catalog_of(request).list_configs(principal, None, _config_filters(request),
                                                         page.page, page.size)
    return envelope([system_config_json(r) for r in rows], total, page)


@router.post("/configs")
async def create_system_config(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    row = await catalog_of(request).create_config(principal, None, await read_json_object(request))
    return system_config_json(row)


@router.get("/configs/{config_id}")
async def get_system_config(config_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return system_config_json(await catalog_of(request).get_config(principal, None, config_id))


@router.put("/configs/{config_id}")
async def update_system_config(config_id: str, request: Request,
                               principal: Principal = Depends(current_principal)) -> Any:
    row = await catalog_of(request).update_config(principal, None, config_id, await read_json_object(request))
    return system_config_json(row)


@router.delete("/configs/{config_id}")
async def delete_system_config(config_id: str, request: Request,
                               principal: Principal = Depends(current_principal)) -> Any:
    await catalog_of(request).delete_config(principal, None, config_id)
    return {"id": config_id, "deleted": True}


@router.get("/orgs/{org_id}/configs")
async def list_org_configs(org_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    page = page_of(request)
    rows, total = await catalog_of(request).list_configs(principal, org_id, _config_filters(request),
                                                         page.page, page.size)
    return envelope([org_config_json(r) for r in rows], total, page)


@router.post("/orgs/{org_id}/configs")
async def create_org_config(org_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return org_config_json(await catalog_of(request).create_config(principal, org_id, await read_json_object(request)))


@router.get("/orgs/{org_id}/configs/{config_id}")
async def get_org_config(org_id: str, config_id: str, request: Request,
                         principal: Principal = Depends(current_principal)) -> Any:
    return org_config_json(await catalog_of(request).get_config(principal, org_id, config_id))


@router.put("/orgs/{org_id}/configs/{config_id}")
async def update_org_config(org_id: str, config_id: str, request: Request,
                            principal: Principal = Depends(current_principal)) -> Any:
    row = await catalog_of(request).update_config(principal, org_id, config_id, await read_json_object(request))
    return org_config_json(row)


@router.delete("/orgs/{org_id}/configs/{config_id}")
async def delete_org_config(org_id: str, config_id: str, request: Request,
                            principal: Principal = Depends(current_principal)) -> Any:
    await catalog_of(request).delete_config(principal, org_id, config_id)
    return {"id": config_id, "deleted": True}


# --- error codes ----------------------------------------------------------------------------------


@router.get("/errors")
async def list_errors(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    page = page_of(request)
    found: dict[str, Any] = filters(request, "regex", "error_code", "job_type", "task_type_scope", "platform_scope",
                                    "action")
    if request.query_params.get("exit_code"):
        found["exit_code"] = int_param(request, "exit_code", default=0, maximum=2**31 - 1)
    hard = bool_param(request, "hard_failure")
    if hard is not None:
        found["hard_failure"] = hard
    rows, total = await catalog_of(request).list_errors(principal, found, page.page, page.size)
    return envelope([error_json(r) for r in rows], total, page)


@router.post("/errors")
async def create_error(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return error_json(await catalog_of(request).create_error(principal, await read_json_object(request)))


@router.put("/errors")
async def update_error_by_body(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    """Formicary's swagger updates with the id in the body."""
    body = await read_json_object(request)
    error_id = str(body.get("id") or body.get("ID") or "")
    return error_json(await catalog_of(request).update_error(principal, error_id, body))


@router.get("/errors/{error_id}")
async def get_error(error_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return error_json(await catalog_of(request).get_error(principal, error_id))


@router.put("/errors/{error_id}")
async def update_error(error_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return error_json(await catalog_of(request).update_error(principal, error_id, await read_json_object(request)))


@router.delete("/errors/{error_id}")
async def delete_error(error_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    await catalog_of(request).delete_error(principal, error_id)
    return {"id": error_id, "deleted": True}


# --- job resources --------------------------------------------------------------------------------


@router.get("/jobs/resources")
async def list_resources(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    page = page_of(request)
    rows, total = await catalog_of(request).list_resources(
        principal, filters(request, "resource_type", "description", "platform", "category"), page.page, page.size)
    return envelope([resource_json(r) for r in rows], total, page)


@router.post("/jobs/resources")
async def create_resource(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return resource_json(await catalog_of(request).create_resource(principal, await read_json_object(request)))


@router.get("/jobs/resources/{resource_id}")
async def get_resource(resource_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    service = catalog_of(request)
    row = await service.get_resource(principal, resource_id)
    return resource_json(row, await service.resource_configs(principal, resource_id))


@router.put("/jobs/resources/{resource_id}")
async def update_resource(resource_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    body = await read_json_object(request)
    return resource_json(await catalog_of(request).update_resource(principal, resource_id, body))


@router.delete("/jobs/resources/{resource_id}")
async def delete_resource(resource_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    await catalog_of(request).delete_resource(principal, resource_id)
    return {"id": resource_id, "deleted": True}


@router.post("/jobs/resources/{resource_id}/disable")
async def disable_resource(resource_id: str, request: Request,
                           principal: Principal = Depends(current_principal)) -> Any:
    return resource_json(await catalog_of(request).set_resource_disabled(principal, resource_id, True))


@router.post("/jobs/resources/{resource_id}/enable")
async def enable_resource(resource_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return resource_json(await catalog_of(request).set_resource_disabled(principal, resource_id, False))


@router.post("/jobs/resources/{resource_id}/configs")
async def add_resource_config(resource_id: str, request: Request,
                              principal: Principal = Depends(current_principal)) -> Any:
    row = await catalog_of(request).add_resource_config(principal, resource_id, await read_json_object(request))
    return resource_config_json(row)


@router.delete("/jobs/resources/{resource_id}/configs/{config_id}")
async def delete_resource_config(resource_id: str, config_id: str, request: Request,
                                 principal: Principal = Depends(current_principal)) -> Any:
    await catalog_of(request).delete_resource_config(principal, resource_id, config_id)
    return {"id": config_id, "deleted": True}


# --- subscriptions --------------------------------------------------------------------------------


@router.get("/subscriptions")
async def list_subscriptions(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    page = page_of(request)
    rows, total = await catalog_of(request).list_subscriptions(
        principal, filters(request, "kind", "policy", "period", "user_id", "organization_id"), page.page, page.size)
    return envelope([subscription_json(r) for r in rows], total, page)


@router.post("/subscriptions")
async def create_subscription(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return subscription_json(await catalog_of(request).create_subscription(principal, await read_json_object(request)))


@router.get("/subscriptions/{subscription_id}")
async def get_subscription(subscription_id: str, request: Request,
                           principal: Principal = Depends(current_principal)) -> Any:
    return subscription_json(await catalog_of(request).get_subscription(principal, subscription_id))


@router.put("/subscriptions/{subscription_id}")
async def update_subscription(subscription_id: str, request: Request,
                              principal: Principal = Depends(current_principal)) -> Any:
    body = await read_json_object(request)
    return subscription_json(await catalog_of(request).update_subscription(principal, subscription_id, body))


@router.delete("/subscriptions/{subscription_id}")
async def delete_subscription(subscription_id: str, request: Request,
                              principal: Principal = Depends(current_principal)) -> Any:
    await catalog_of(request).delete_subscription(principal, subscription_id)
    return {"id": subscription_id, "deleted": True}
