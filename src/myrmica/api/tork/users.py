"""``POST /users``: a user with a password for Tork's basic auth (``{"username", "password", "name"}``,
values trimmed; 400 "must provide username" / "must provide password" / "user already exists"; the
answer is ``{id, name, username, createdAt}``, never the password). Departure: only the admin may
create users (Tork lets any authenticated caller)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from myrmica.api.body import read_body
from myrmica.api.context import context_of
from myrmica.api.tork import shapes
from myrmica.api.tork.auth import tork_principal
from myrmica.api.tork.ids import to_tork
from myrmica.api.tork.router import tork_router
from myrmica.domain.documents import load_json
from myrmica.domain.errors import ValidationError
from myrmica.domain.tork.decode import BadInput
from myrmica.service.users import Users

router = tork_router()


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise BadInput(f"json: cannot unmarshal {type(value).__name__} into Go struct field User.{key} of type string")
    return value.strip()


@router.post("/users")
async def create_user(request: Request) -> Response:
    principal = await tork_principal(request)
    raw = await read_body(request)
    try:
        body = load_json(raw.decode("utf-8", errors="replace")) if raw.strip() else {}
    except ValidationError as exc:
        raise BadInput(exc.message) from None
    if not isinstance(body, dict):
        raise BadInput("json: cannot unmarshal into Go value of type tork.User")
    users: Users = context_of(request).services["users"]
    user = await users.create(principal, _text(body, "username"), _text(body, "password"), _text(body, "name"))
    return JSONResponse(shapes.omit_empty({"id": to_tork(user.id), "name": user.name, "username": user.username,
                                           "createdAt": shapes.tork_time(user.created_at)}))
