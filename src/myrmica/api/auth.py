"""Bearer-token authentication for every route but health."""

from __future__ import annotations

import time

from fastapi import Request

from myrmica.api.context import AppContext, context_of
from myrmica.api.errors import ApiError
from myrmica.api.formicary.roles import ROLE_LABEL, refusal
from myrmica.domain.principal import Principal
from myrmica.security.tokens import hash_token

# A short cache keeps token checks off the hot path; revocation through this server clears it.
_CACHE_SECONDS = 2.0
_cache: dict[str, tuple[Principal, float]] = {}
SCOPED_PREFIX = "/v1/"  # where a scoped (Strait) API key may be used; its routes check the scopes


def forget_tokens() -> None:
    _cache.clear()


async def current_principal(request: Request) -> Principal:
    ctx = context_of(request)
    if not ctx.settings.auth_enabled:
        return ctx.admin
    principal = await _authenticated(request, ctx)
    route = request.scope.get("route")
    method = request.scope.get("method", "GET")  # a websocket has none: it reads
    if principal.scopes is not None and not request.url.path.startswith(SCOPED_PREFIX):
        raise ApiError(403, "this API key is scoped to the Strait API (/v1)")
    needed = refusal(principal, method, getattr(route, "path", request.url.path))
    if needed is not None:
        raise ApiError(403, f"this route needs the {ROLE_LABEL[needed]} role", role_required=ROLE_LABEL[needed])
    return principal


async def _authenticated(request: Request, ctx: AppContext) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "missing bearer token: send Authorization: Bearer <token>")
    principal = await principal_for(ctx, token.strip())
    if principal is None:
        raise ApiError(401, "invalid, expired or revoked token")
    return principal


async def principal_for(ctx: AppContext, token: str) -> Principal | None:
    """Whose token this is (None when it is unknown, expired or revoked); the API's header and the
    dashboard's cookie both go through here, so they share the cache and the revocation rule."""
    digest = hash_token(token)
    cached = _cache.get(digest)
    now = time.monotonic()
    if cached is not None and cached[1] > now:
        return cached[0]
    principal = await ctx.store.accounts.principal_for_token(digest)
    if principal is None:
        _cache.pop(digest, None)
        return None
    _cache[digest] = (principal, now + _CACHE_SECONDS)
    return principal


def require_admin(principal: Principal, what: str) -> None:
    if not principal.admin:
        raise ApiError(403, f"only an admin may {what}")
