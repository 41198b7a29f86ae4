"""Who calls a Tork route: Myrmica's bearer tokens, which are Tork's key auth (``Authorization: Bearer <key>``),
and — with the ``tork_basic_auth`` setting — Tork's HTTP basic auth against the users ``POST /users`` made
(argon2id passwords).

Without basic auth, a missing key is Tork's 400 "missing key in request header" and a wrong one 401
"Unauthorized"; a Basic header is not looked at. With it, every Tork route (``/health`` too, as in Tork)
needs either a user's name and password or a bearer token as the native API takes it (so the admin, who
has no password, can create the first users); anything else is 401 "Unauthorized" with
``WWW-Authenticate: basic realm=Restricted``.
"""

from __future__ import annotations

import base64
import binascii

from fastapi import Request

from myrmica.api.auth import current_principal
from myrmica.api.context import context_of
from myrmica.api.errors import ApiError
from myrmica.domain.errors import DomainError
from myrmica.domain.principal import Principal
from myrmica.service.users import Users

MISSING_KEY = "missing key in request header"
UNAUTHORIZED = "Unauthorized"
CHALLENGE = {"WWW-Authenticate": "basic realm=Restricted"}


class TorkAuthError(DomainError):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})


def basic_refusal() -> TorkAuthError:
    return TorkAuthError(401, UNAUTHORIZED, CHALLENGE)


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(username, password) of an ``Authorization: Basic …`` header, or None when it is not one."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    username, colon, password = decoded.partition(":")
    return (username, password) if colon else None


async def basic_principal(request: Request) -> Principal | None:
    """The user of a Basic header when basic auth is on; None when it is off or the header is a Bearer
    one; 401 otherwise."""
    ctx = context_of(request)
    if not ctx.settings.tork_basic_auth:
        return None
    header = request.headers.get("authorization", "")
    if header.strip().lower().startswith("bearer "):
        return None
    credentials = basic_credentials(header)
    users: Users | None = ctx.services.get("users")
    if credentials is None or users is None:
        raise basic_refusal()
    principal = await users.authenticate(*credentials)
    if principal is None:
        raise basic_refusal()
    return principal


async def tork_principal(request: Request) -> Principal:
    principal = await basic_principal(request)
    if principal is not None:
        return principal
    try:
        return await current_principal(request)
    except ApiError as exc:
        if exc.status != 401:
            raise
        if context_of(request).settings.tork_basic_auth:
            raise basic_refusal() from None
        header = request.headers.get("authorization", "")
        if not header.strip():
            raise TorkAuthError(400, MISSING_KEY) from None
        raise TorkAuthError(401, UNAUTHORIZED) from None
