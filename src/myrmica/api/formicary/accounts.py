"""``/api/users*``, ``/api/orgs*``, invitations, email verification and ``/api/audits``, in seed 000's
shapes (User, Organization, UserInvitation, EmailVerification, AuditRecord, CombinedResourceUsage);
every list in the ``Page/PageSize/Records/TotalPages/TotalRecords`` envelope."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request

from myrmica.api.auth import current_principal
from myrmica.api.body import read_fields, read_json_object
from myrmica.api.context import context_of
from myrmica.api.errors import ApiError
from myrmica.api.formicary.serializers import iso
from myrmica.api.pagination import envelope, page_of
from myrmica.clock import utcnow
from myrmica.domain.principal import Principal
from myrmica.service.accounts import AccountService

router = APIRouter(prefix="/api", tags=["users and organizations"])

MASKED_CODE = "****"  # a verification code goes by email only


def accounts_of(request: Request) -> AccountService:
    service: AccountService = context_of(request).services["accounts"]
    return service


def filters(request: Request, *names: str) -> dict[str, str]:
    return {name: value for name in names if (value := request.query_params.get(name))}


def org_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "org_unit": row["name"], "bundle_id": row["bundle_id"],
            "license_policy": row.get("license_policy", ""), "max_concurrency": row["max_concurrency"],
            "owner_user_id": row.get("owner_user_id", ""), "parent_id": row.get("parent_id", ""),
            "sticky_message": row.get("sticky_message", ""), "subscription": None,
            "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"])}


def user_json(row: dict[str, Any], org: dict[str, Any] | None = None) -> dict[str, Any]:
    """A User; ``Organization`` (Formicary's untagged field) is the user's organisation where the
    route loads it (GET /api/users/{id}), else null."""
    roles = [r for r in str(row.get("roles") or "").split(";") if r]
    return {"id": row["id"], "username": row["username"], "name": row["name"], "email": row["email"],
            "organization_id": row.get("organization_id") or "", "bundle_id": "",
            "max_concurrency": row["max_concurrency"], "notify": row.get("notify") or {},
            "picture_url": row.get("picture_url", ""), "url": row.get("url", ""),
            "sticky_message": row.get("sticky_message", ""), "auth_id": "", "auth_provider": "",
            "subscription": None, "Organization": org_json(org) if org else None,
            "roles": roles, "admin": bool(row.get("admin")),
            "email_verified": bool(row.get("email_verified")),
            "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"])}


def invitation_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "email": row["email"], "invitation_code": row["invitation_code"],
            "invited_by_user_id": row["invited_by_user_id"], "organization_id": row["organization_id"],
            "org_unit": row["org_unit"], "expires_at": iso(row["expires_at"]), "created_at": iso(row["created_at"])}


def verification_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "email": row["email"], "email_code": MASKED_CODE, "user_id": row["user_id"],
            "organization_id": row.get("organization_id") or "", "expires_at": iso(row["expires_at"]),
            "verified_at": iso(row.get("verified_at")), "created_at": iso(row["created_at"])}


def audit_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "kind": row["kind"], "target_id": row["target_id"], "user_id": row["user_id"] or "",
            "organization_id": row["organization_id"] or "", "job_type": row["job_type"],
            "message": row["message"], "error": row["error"], "remote_ip": row["remote_ip"], "url": row["url"],
            "created_at": iso(row["created_at"])}


def _usage_json(entry: dict[str, Any]) -> dict[str, Any]:
    out = dict(entry)
    for key in ("cpu_resource", "disk_resource"):
        out[key] = {**entry[key], "start_date": iso(entry[key]["start_date"]), "end_date": iso(entry[key]["end_date"])}
    return out


# --- users ----------------------------------------------------------------------------------------


@router.get("/users")
async def list_users(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    page = page_of(request)
    rows, total = await accounts_of(request).list_users(principal, filters(request, "name", "username", "email"),
                                                        page.page, page.size)
    return envelope([user_json(r) for r in rows], total, page)


@router.post("/users")
async def create_user(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return user_json(await accounts_of(request).create_user(principal, await read_json_object(request)))


@router.get("/users/email_verifications")
async def list_verifications(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    page = page_of(request)
    rows, total = await accounts_of(request).list_verifications(principal, filters(request, "email", "user_id"),
                                                                page.page, page.size)
    return envelope([verification_json(r) for r in rows], total, page)


@router.get("/users/{user_id}")
async def get_user(user_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return user_json(*await accounts_of(request).user_organization(principal, user_id))


@router.put("/users/{user_id}")
async def update_user(user_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    body = await read_json_object(request)
    return user_json(await accounts_of(request).update_user(principal, user_id, body))


@router.delete("/users/{user_id}")
async def delete_user(user_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    await accounts_of(request).delete_user(principal, user_id)
    return {"id": user_id, "deleted": True}


@router.put("/users/{user_id}/notify")
async def set_notify(user_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    """Formicary sends ``email`` as a form field and ``slackChannel``/``when`` in the query; a JSON or
    form body with any of the three works too."""
    fields = {**dict(request.query_params), **await read_fields(request)}
    return user_json(await accounts_of(request).set_notify(principal, user_id, fields))


@router.post("/users/{user_id}/verify_email")
async def request_verification(user_id: str, request: Request,
                               principal: Principal = Depends(current_principal)) -> Any:
    return verification_json(await accounts_of(request).request_verification(principal, user_id))


@router.put("/users/{user_id}/verify_email/{code}")
async def verify_email(user_id: str, code: str, request: Request,
                       principal: Principal = Depends(current_principal)) -> Any:
    return verification_json(await accounts_of(request).verify_email(principal, user_id, code))


# --- organisations --------------------------------------------------------------------------------


def _moment(request: Request, name: str, default: datetime) -> datetime:
    raw = request.query_params.get(name)
    if not raw:
        return default
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError(400, f"{name} must be an ISO date or RFC 3339 time", field=name) from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=utcnow().tzinfo)


@router.get("/orgs/usage_report")
@router.post("/orgs/usage_report")
async def usage_report(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    """CPU (and disk) use per organisation and user from ``from`` (default: 30 days ago) to ``to`` (now)."""
    end = _moment(request, "to", utcnow())
    start = _moment(request, "from", end - timedelta(days=30))
    report = await accounts_of(request).usage_report(principal, start, end)
    return [_usage_json(entry) for entry in report]


@router.post("/orgs/invitations/{code}/accept")
async def accept_invitation(code: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return invitation_json(await accounts_of(request).accept_invitation(principal, code))


@router.get("/orgs")
async def list_orgs(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    page = page_of(request)
    found = filters(request, "bundle_id")
    if request.query_params.get("org_unit"):
        found["name"] = request.query_params["org_unit"]
    rows, total = await accounts_of(request).list_orgs(principal, found, page.page, page.size)
    return envelope([org_json(r) for r in rows], total, page)


@router.post("/orgs")
async def create_org(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return org_json(await accounts_of(request).create_org(principal, await read_json_object(request)))


@router.get("/orgs/{org_id}")
async def get_org(org_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return org_json(await accounts_of(request).get_org(principal, org_id))


@router.put("/orgs/{org_id}")
async def update_org(org_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return org_json(await accounts_of(request).update_org(principal, org_id, await read_json_object(request)))


@router.delete("/orgs/{org_id}")
async def delete_org(org_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    await accounts_of(request).delete_org(principal, org_id)
    return {"id": org_id, "deleted": True}


@router.post("/orgs/{org_id}/invite")
async def invite(org_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    """The invitee's ``email`` as a form field, a JSON body or a query parameter."""
    fields = {**dict(request.query_params), **await read_fields(request)}
    return invitation_json(await accounts_of(request).invite(principal, org_id, fields))


# --- audits ---------------------------------------------------------------------------------------


@router.get("/audits")
async def list_audits(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    page = page_of(request)
    rows, total = await accounts_of(request).audits(
        principal, filters(request, "target_id", "user_id", "organization_id", "kind", "job_type"),
        request.query_params.get("q", "")[:200], page.page, page.size)
    return envelope([audit_json(r) for r in rows], total, page)
