"""Who is calling a Tork route: Myrmica's bearer tokens, which is Tork's key auth
(``Authorization: Bearer <key>``), with Tork's answers (400 "missing key in request header",
401 "Unauthorized")."""

from __future__ import annotations

from fastapi import Request

from myrmica.api.auth import current_principal
from myrmica.api.context import context_of
from myrmica.api.errors import ApiError
from myrmica.api.tork.access import BasicAuthError, basic_principal
from myrmica.domain.errors import DomainError
from myrmica.domain.principal import Principal

MISSING_KEY = "missing key in request header"
UNAUTHORIZED = "Unauthorized"


class TorkAuthError(DomainError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def tork_principal(request: Request) -> Principal:
    """A basic-auth user when the ``tork_basic_auth`` setting is on (api/tork/access.py), else a bearer token."""
    principal = await basic_principal(request)
    if principal is not None:
        return principal
    try:
        return await current_principal(request)
    except ApiError as exc:
        if exc.status != 401:
            raise
        if context_of(request).settings.tork_basic_auth:
            raise BasicAuthError() from None
        header = request.headers.get("authorization", "")
        if not header.strip():
            raise TorkAuthError(400, MISSING_KEY) from None
        raise TorkAuthError(401, UNAUTHORIZED) from None
