"""Who calls a Tork route: Myrmica's bearer tokens (Tork's key auth), and — with the ``tork_basic_auth``
setting — Tork's HTTP basic auth against the users ``POST /users`` made (argon2id passwords).

With basic auth on, every Tork route (``/health`` too, as in Tork) needs either ``Authorization: Basic``
with a user's name and password, or a bearer token as the native API takes it (so the admin, who has
no password, can create the first users); anything else is Tork's 401 ``{"message": "Unauthorized"}``
with ``WWW-Authenticate: basic realm=Restricted``. With it off, a Basic header is not looked at.
"""

from __future__ import annotations

import base64
import binascii

from fastapi import Request

from myrmica.api.context import context_of
from myrmica.domain.errors import DomainError
from myrmica.domain.principal import Principal
from myrmica.service.users import Users

UNAUTHORIZED = "Unauthorized"
CHALLENGE = {"WWW-Authenticate": "basic realm=Restricted"}


class BasicAuthError(DomainError):
    status = 401

    def __init__(self) -> None:
        super().__init__(UNAUTHORIZED)
        self.headers = dict(CHALLENGE)


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
        raise BasicAuthError()
    principal = await users.authenticate(*credentials)
    if principal is None:
        raise BasicAuthError()
    return principal
