"""Users with passwords: HTTP basic auth (Tork's ``POST /users`` and its basic-auth middleware), the
dashboard's sign-in form, and ``PUT /api/users/{user}/password`` (``myrmica users set-password``).

Passwords are stored only as argon2id hashes (``security/passwords.py``). A successful check is
remembered for a few seconds under an HMAC of the name and password with a key made at start (never
the password itself), so a client sending basic auth on every call does not pay argon2's cost
(tens of milliseconds, by design) on each one; a changed password is honoured at once on this server.

Signing in to the dashboard with a password starts a session: an API token named ``dashboard sign-in``
that lasts :data:`SESSION_DAYS` (listed and revocable with the user's other tokens), which the browser
keeps in its cookie. Signing out revokes it; setting a new password revokes all of that user's.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from myrmica.clock import utcnow
from myrmica.domain.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from myrmica.domain.principal import Principal
from myrmica.domain.records import UserRecord
from myrmica.security.passwords import MAX_PASSWORD, hash_password, verify_password
from myrmica.security.tokens import generate_token, hash_token

CACHE_SECONDS = 5.0
MAX_USERNAME = 200
MIN_PASSWORD = 8  # for a password set natively (Tork's POST /users keeps Tork's rule: any non-empty one)
SESSION_TOKEN = "dashboard sign-in"
SESSION_DAYS = 7  # as Formicary's session cookie


class UserStore(Protocol):
    async def create_user(self, username: str, *, organization_id: str | None = None, admin: bool = False,
                          roles: str = "", name: str = "", email: str = "", max_concurrency: int = 0
                          ) -> dict[str, Any]: ...
    async def set_password_hash(self, user_id: str, password_hash: str | None) -> None: ...
    async def user_by_name(self, username: str) -> dict[str, Any] | None: ...
    async def user(self, user_id: str) -> dict[str, Any]: ...
    async def issue_token(self, user_id: str, name: str, token: str, token_hash: str, *,
                          expires_at: datetime | None = None) -> Any: ...
    async def revoke_token_named(self, token_hash: str, name: str) -> bool: ...
    async def revoke_tokens_named(self, user_id: str, name: str) -> int: ...


class PrincipalOf(Protocol):
    def __call__(self, user: dict[str, Any]) -> Principal: ...


@dataclass(frozen=True)
class Session:
    """A sign-in: whose it is, and the token the browser keeps (the only time it exists in plain)."""

    principal: Principal
    token: str
    expires_at: datetime


class Users:
    def __init__(self, store: UserStore, principal_of: PrincipalOf) -> None:
        self._store = store
        self._principal_of = principal_of
        self._key = os.urandom(32)
        self._cache: dict[bytes, tuple[Principal, float]] = {}

    async def create(self, principal: Principal, username: str, password: str, name: str = "") -> UserRecord:
        """A user of no organisation with a password; only the admin may create one."""
        if not principal.admin:
            raise PermissionDeniedError("only the admin may create users", field="username")
        if not username:
            raise ValidationError("must provide username", field="username")
        if not password:
            raise ValidationError("must provide password", field="password")
        if len(username) > MAX_USERNAME or any(ord(c) < 32 or c == ":" for c in username):
            raise ValidationError(f"a username has at most {MAX_USERNAME} characters, no control character "
                                  "and no colon", field="username")
        if len(password) > MAX_PASSWORD:
            raise ValidationError(f"a password may have at most {MAX_PASSWORD} characters", field="password")
        digest = await asyncio.to_thread(hash_password, password)
        try:
            row = await self._store.create_user(username, name=name or username)
        except ConflictError:
            raise ConflictError("user already exists", field="username") from None
        await self._store.set_password_hash(row["id"], digest)
        return UserRecord.from_row({**row, "password_hash": digest})

    def _cache_key(self, username: str, password: str) -> bytes:
        return hmac.new(self._key, f"{username}\0{password}".encode(), hashlib.sha256).digest()

    async def authenticate(self, username: str, password: str) -> Principal | None:
        """The user whose name and password these are, or None (same cost for an unknown name)."""
        key = self._cache_key(username, password)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        row = await self._store.user_by_name(username) if len(username) <= MAX_USERNAME else None
        stored = row.get("password_hash") if row is not None else None
        if not await asyncio.to_thread(verify_password, stored, password) or row is None:
            self._cache.pop(key, None)
            return None
        principal = self._principal_of(row)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (principal, now + CACHE_SECONDS)
        return principal

    def forget(self) -> None:
        self._cache.clear()

    async def set_password(self, principal: Principal, user: str, password: str) -> UserRecord:
        """Set the password of ``user`` (``me``, a user id or a username): one's own, or anyone's for the
        admin. The user's dashboard sessions end (a stolen session does not outlive a new password)."""
        if len(password) < MIN_PASSWORD:
            raise ValidationError(f"a password needs at least {MIN_PASSWORD} characters", field="password")
        if len(password) > MAX_PASSWORD:
            raise ValidationError(f"a password may have at most {MAX_PASSWORD} characters", field="password")
        row = await self._find(principal, user)
        digest = await asyncio.to_thread(hash_password, password)
        await self._store.set_password_hash(row["id"], digest)
        self.forget()
        await self._store.revoke_tokens_named(row["id"], SESSION_TOKEN)
        return UserRecord.from_row({**row, "password_hash": digest})

    async def _find(self, principal: Principal, user: str) -> dict[str, Any]:
        if user in ("me", "self", principal.user_id, principal.username):
            return await self._store.user(principal.user_id)
        if not principal.admin:
            raise PermissionDeniedError("only the admin may set another user's password", field="user")
        if len(user) > MAX_USERNAME:
            raise NotFoundError(f"user {user[:40]}… not found")
        try:
            return await self._store.user(user)
        except NotFoundError:
            found = await self._store.user_by_name(user)
        if found is None:
            raise NotFoundError(f"user {user} not found")
        return found

    async def sign_in(self, username: str, password: str) -> Session | None:
        """A new session for the user whose name and password these are (None otherwise)."""
        if not username or not password:
            return None
        principal = await self.authenticate(username, password)
        if principal is None:
            return None
        token = generate_token()
        expires_at = utcnow() + timedelta(days=SESSION_DAYS)
        await self._store.issue_token(principal.user_id, SESSION_TOKEN, token, hash_token(token),
                                      expires_at=expires_at)
        return Session(principal, token, expires_at)

    async def sign_out(self, token: str) -> bool:
        """End the session of this token if it is a sign-in's (an API token the user typed stays valid)."""
        if not token or not token.isascii() or len(token) > 500:
            return False
        return await self._store.revoke_token_named(hash_token(token), SESSION_TOKEN)
