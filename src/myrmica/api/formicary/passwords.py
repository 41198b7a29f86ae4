"""``PUT /api/users/{user}/password``: a user's password, for the dashboard's sign-in form and Tork's
basic auth (``myrmica users set-password`` calls it).

``{user}`` is ``me``, a user id or a username; a user sets their own, the admin anyone's. The body is
JSON ``{"password": "..."}`` or the form field ``password=``; at least 8 characters. The password is
kept only as an argon2id hash and never answered; the user's dashboard sessions end.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from myrmica.api.auth import current_principal, forget_tokens
from myrmica.api.body import read_fields
from myrmica.api.context import context_of
from myrmica.api.errors import ApiError
from myrmica.api.formicary.schemas import PasswordBody, PasswordSet, answers
from myrmica.api.openapi_docs import extra, form_or_json
from myrmica.domain.principal import Principal
from myrmica.service.users import Users

router = APIRouter(prefix="/api/users/{user}/password", tags=["users"])


@router.put("", responses=answers(PasswordSet), openapi_extra=extra(form_or_json(PasswordBody)))
async def set_password(user: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    password = (await read_fields(request)).get("password")
    if not isinstance(password, str) or not password:
        raise ApiError(422, "must provide password", field="password")
    users: Users = context_of(request).services["users"]
    record = await users.set_password(principal, user, password)
    forget_tokens()  # the sessions just revoked end at once here
    return {"id": record.id, "username": record.username, "has_password": record.has_password}
