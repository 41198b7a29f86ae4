"""Users with passwords, for HTTP basic auth (Tork's ``POST /users`` and its basic-auth middleware).

Passwords are stored only as argon2id hashes (``security/passwords.py``). A successful check is
remembered for a few seconds under an HMAC of the name and password with a key made at start (never
the password itself), so a client sending basic auth on every call does not pay argon2's cost
(tens of milliseconds, by design) on each one; a changed password is honoured at once on this server.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from typing import Any, Protocol

from myrmica.domain.errors import ConflictError, PermissionDeniedError, ValidationError
from myrmica.domain.principal import Principal
from myrmica.domain.records import UserRecord
from myrmica.security.passwords import MAX_PASSWORD, hash_password, verify_password

CACHE_SECONDS = 5.0
MAX_USERNAME = 200


class UserStore(Protocol):
    async def create_user(self, username: str, *, organization_id: str | None = None, admin: bool = False,
                          roles: str = "", name: str = "", email: str = "", max_concurrency: int = 0
                          ) -> dict[str, Any]: ...
    async def set_password_hash(self, user_id: str, password_hash: str | None) -> None: ...
    async def user_by_name(self, username: str) -> dict[str, Any] | None: ...


class PrincipalOf(Protocol):
    def __call__(self, user: dict[str, Any]) -> Principal: ...


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
