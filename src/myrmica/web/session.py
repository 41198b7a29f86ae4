"""Who is looking at the dashboard: an API token kept in an HTTP-only cookie, and a CSRF token for forms.

One signs in with a username and password (the user service then issues a session token, a
``dashboard sign-in`` API token that lasts 7 days and that signing out revokes) or with an API token
typed in. Either way the session cookie holds an API token (the same tokens as
``Authorization: Bearer``, checked by the same code, so a revoked token ends its dashboard sessions
too). The CSRF token is a random value in a second cookie that every form repeats (double submit);
both cookies are HTTP-only and ``SameSite=Strict`` (and ``Secure`` over https), so another site can
neither send nor read them.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import Request, Response

from myrmica.api.auth import forget_tokens, principal_for
from myrmica.api.context import context_of
from myrmica.domain.principal import Principal
from myrmica.service.users import MAX_USERNAME, Users

SESSION_COOKIE = "myrmica_session"
CSRF_COOKIE = "myrmica_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


class LoginRequired(Exception):
    """The page needs a signed-in user; the dashboard answers with the login page."""


class CsrfRefused(Exception):
    """A form came without this session's CSRF token (another site's form, or a stale page)."""


@dataclass(frozen=True)
class Viewer:
    principal: Principal
    auth_enabled: bool


def csrf_token(request: Request) -> str:
    """This browser's CSRF token; a new one (set on the answer by :func:`keep_csrf`) when it has none."""
    known = request.cookies.get(CSRF_COOKIE, "")
    if len(known) >= 32 and known.isascii():
        return known
    fresh: str | None = getattr(request.state, "fresh_csrf", None)
    if fresh is None:
        fresh = secrets.token_urlsafe(32)
        request.state.fresh_csrf = fresh
    return fresh


def _cookie(response: Response, request: Request, name: str, value: str) -> None:
    response.set_cookie(name, value, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                        path="/")


def keep_csrf(request: Request, response: Response) -> None:
    fresh: str | None = getattr(request.state, "fresh_csrf", None)
    if fresh is not None:
        _cookie(response, request, CSRF_COOKIE, fresh)


def check_csrf(request: Request, sent: str | None) -> None:
    expected = request.cookies.get(CSRF_COOKIE, "")
    given = sent or request.headers.get(CSRF_HEADER, "")
    if not expected or not given or not hmac.compare_digest(expected.encode(), given.encode()):
        raise CsrfRefused()


def login_path(request: Request) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(here, safe='')}"


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a path of this site only (never ``//host`` or ``https://…``)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(ch) < 32 for ch in value):
        return "/"
    return value


async def viewer(request: Request) -> Viewer:
    """The signed-in user (the admin when auth is off); :class:`LoginRequired` otherwise."""
    ctx = context_of(request)
    if not ctx.settings.auth_enabled:
        return Viewer(ctx.admin, auth_enabled=False)
    token = request.cookies.get(SESSION_COOKIE, "")
    principal = await principal_for(ctx, token) if token and token.isascii() else None
    if principal is None:
        raise LoginRequired()
    return Viewer(principal, auth_enabled=True)


async def sign_in(request: Request, response: Response, token: str) -> Principal | None:
    """Check the token as the API would; on success, start the session on ``response``."""
    token = token.strip()
    if not token or not token.isascii() or len(token) > 500:
        return None
    principal = await principal_for(context_of(request), token)
    if principal is None:
        return None
    _cookie(response, request, SESSION_COOKIE, token)
    _cookie(response, request, CSRF_COOKIE, secrets.token_urlsafe(32))  # a new session, a new CSRF token
    return principal


async def sign_in_with_password(request: Request, response: Response, username: str,
                                password: str) -> Principal | None:
    """Check the name and password (argon2id, through the user service); on success, a new session."""
    username = username.strip()
    if not username or len(username) > MAX_USERNAME or not password:
        return None
    users: Users = context_of(request).services["users"]
    session = await users.sign_in(username, password)
    if session is None:
        return None
    _cookie(response, request, SESSION_COOKIE, session.token)
    _cookie(response, request, CSRF_COOKIE, secrets.token_urlsafe(32))
    return session.principal


async def sign_out(request: Request, response: Response) -> None:
    """Forget the cookies; a password sign-in's session token is revoked too (a typed-in API token is the
    user's own, and stays valid)."""
    users: Users | None = context_of(request).services.get("users")
    if users is not None and await users.sign_out(request.cookies.get(SESSION_COOKIE, "")):
        forget_tokens()
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", httponly=True, samesite="strict",
                               secure=request.url.scheme == "https")
