"""``/api/users/{userId}/tokens``: API tokens, shown once at creation, stored as SHA-256, revocable."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from myrmica.api.auth import current_principal, forget_tokens
from myrmica.api.body import read_fields
from myrmica.api.context import context_of
from myrmica.api.errors import ApiError
from myrmica.api.formicary.schemas import Done, TokenBody, TokenCreated, TokenOut, answers
from myrmica.api.formicary.serializers import iso
from myrmica.api.openapi_docs import extra, form_or_json
from myrmica.clock import utcnow
from myrmica.domain.errors import ValidationError
from myrmica.domain.numbers import check_name, strict_int
from myrmica.domain.principal import Principal
from myrmica.domain.strait.scopes import read_scopes
from myrmica.security.tokens import generate_token, hash_token

router = APIRouter(prefix="/api/users/{user_id}/tokens", tags=["users"])

DEFAULT_TOKEN_DAYS = 90
MAX_TOKEN_NAME = 200  # the column's length


def _user(principal: Principal, user_id: str) -> str:
    if user_id in ("me", "self"):
        return principal.user_id
    if user_id != principal.user_id and not principal.admin:
        raise ApiError(403, "you may manage only your own tokens")
    return user_id


def _token_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "token_name": row["name"], "user_id": row["user_id"],
            **({"scopes": row["scopes"].split()} if row.get("scopes") is not None else {}),
            "organization_id": row["organization_id"] or "", "sha256": row["token_sha256"],
            "expires_at": iso(row["expires_at"]), "revoked": row["revoked_at"] is not None,
            "created_at": iso(row["created_at"])}


@router.get("", responses=answers(list[TokenOut]))
async def list_tokens(user_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    rows = await context_of(request).store.accounts.list_tokens(_user(principal, user_id))
    return [_token_json(row) for row in rows]


@router.post("", responses=answers(TokenCreated, 201), openapi_extra=extra(form_or_json(TokenBody)))
async def create_token(user_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    """Formicary posts a form field ``token=<name>``; JSON ``{"token": name, "days": n}`` works too.
    ``scopes`` (``jobs:read``, ``jobs:write``, ``jobs:trigger``; a list or space-separated) makes it a
    Strait key limited to those scopes (and to ``/v1``)."""
    owner = _user(principal, user_id)
    fields = await read_fields(request)
    try:
        name = check_name(fields.get("token") or fields.get("name"), "token", max_length=MAX_TOKEN_NAME)
        days = strict_int(fields.get("days", DEFAULT_TOKEN_DAYS), "days", minimum=1, maximum=3650)
        scopes = read_scopes(fields.get("scopes"))
    except ValidationError as exc:
        raise ApiError(422, exc.message, field=exc.field) from exc
    token = generate_token()
    digest = hash_token(token)
    expires_at = utcnow() + timedelta(days=days)
    ctx = context_of(request)
    issued = await ctx.store.accounts.issue_token(owner, name, token, digest, expires_at=expires_at, scopes=scopes)
    await ctx.store.audit.record("TOKEN_CREATED", principal, target_id=issued.id, message=name)
    created: dict[str, Any] = {"id": issued.id, "token_name": issued.name, "api_token": token, "user_id": owner,
                               "organization_id": issued.organization_id or "", "sha256": digest,
                               "expires_at": iso(expires_at), "created_at": iso(issued.created_at)}
    if scopes is not None:
        created["scopes"] = list(scopes)
    return JSONResponse(created, status_code=201)


@router.delete("/{token_id}", responses=answers(Done))
async def revoke_token(user_id: str, token_id: str, request: Request,
                       principal: Principal = Depends(current_principal)) -> Any:
    await context_of(request).store.accounts.revoke_token(_user(principal, user_id), token_id)
    forget_tokens()
    return {"id": token_id, "revoked": True}


@router.post("/{token_id}/delete", responses=answers(Done))
async def revoke_token_formicary(user_id: str, token_id: str, request: Request,
                                 principal: Principal = Depends(current_principal)) -> Any:
    """Formicary's code revokes with POST …/{id}/delete (its swagger says DELETE; both work)."""
    return await revoke_token(user_id, token_id, request, principal)
