"""Organisations, users and API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from myrmica.clock import utcnow
from myrmica.domain.errors import ConflictError, NotFoundError
from myrmica.domain.principal import Principal
from myrmica.ids import new_id
from myrmica.store.database_lock import Database
from myrmica.store.rows import as_dict, as_dicts
from myrmica.store.tables import api_tokens, organizations, users


@dataclass(frozen=True)
class IssuedToken:
    id: str
    name: str
    token: str  # the only time the plaintext exists
    organization_id: str | None = None
    created_at: datetime | None = None


def principal_of(user: dict[str, Any]) -> Principal:
    roles = frozenset(r.strip() for r in str(user.get("roles") or "").split(";") if r.strip())
    scopes = user.get("token_scopes")
    return Principal(
        user_id=user["id"], username=user["username"], organization_id=user.get("organization_id"),
        admin=bool(user.get("admin")), roles=roles,
        scopes=frozenset(str(scopes).split()) if scopes is not None else None,
    )


class AccountRepository:
    def __init__(self, engine: Database) -> None:
        self._engine = engine

    async def create_org(self, name: str, *, bundle_id: str = "", max_concurrency: int = 0) -> dict[str, Any]:
        now = utcnow()
        row = {"id": new_id(), "name": name, "bundle_id": bundle_id, "max_concurrency": max_concurrency,
               "created_at": now, "updated_at": now}
        try:
            async with self._engine.begin() as conn:
                await conn.execute(organizations.insert(), row)
        except IntegrityError as exc:
            raise ConflictError(f"an organization named {name!r} exists", field="name") from exc
        return row

    async def create_user(
        self, username: str, *, organization_id: str | None = None, admin: bool = False, roles: str = "",
        name: str = "", email: str = "", max_concurrency: int = 0,
    ) -> dict[str, Any]:
        now = utcnow()
        row = {"id": new_id(), "username": username, "name": name or username, "email": email,
               "organization_id": organization_id, "roles": roles, "admin": admin,
               "max_concurrency": max_concurrency, "created_at": now, "updated_at": now}
        try:
            async with self._engine.begin() as conn:
                await conn.execute(users.insert(), row)
        except IntegrityError as exc:
            raise ConflictError(f"a user named {username!r} exists", field="username") from exc
        return row

    async def set_password_hash(self, user_id: str, password_hash: str | None) -> None:
        async with self._engine.begin() as conn:
            result = await conn.execute(update(users).where(users.c.id == user_id)
                                        .values(password_hash=password_hash, updated_at=utcnow()))
        if result.rowcount == 0:
            raise NotFoundError(f"user {user_id} not found")

    async def user_by_name(self, username: str) -> dict[str, Any] | None:
        async with self._engine.connect() as conn:
            result = await conn.execute(select(users).where(users.c.username == username))
            return as_dict(result.first())

    async def user(self, user_id: str) -> dict[str, Any]:
        async with self._engine.connect() as conn:
            found = as_dict((await conn.execute(select(users).where(users.c.id == user_id))).first())
        if found is None:
            raise NotFoundError(f"user {user_id} not found")
        return found

    async def org_bundle(self, org_id: str) -> str:
        """The prefix of the organisation's public plugins: its bundle id, or its name when it has none."""
        async with self._engine.connect() as conn:
            found = (await conn.execute(select(organizations.c.bundle_id, organizations.c.name)
                                        .where(organizations.c.id == org_id))).first()
        if found is None:
            raise NotFoundError(f"organization {org_id} not found")
        return str(found.bundle_id or found.name)

    async def org_concurrency(self, org_id: str) -> int:
        async with self._engine.connect() as conn:
            value = (await conn.execute(select(organizations.c.max_concurrency)
                                        .where(organizations.c.id == org_id))).scalar()
        return int(value or 0)

    async def issue_token(
        self, user_id: str, name: str, token: str, token_hash: str, *, expires_at: datetime | None = None,
        scopes: tuple[str, ...] | None = None,
    ) -> IssuedToken:
        """``scopes``: what the token may do (a Strait key's ``jobs:read``, …); None: all its user may."""
        user = await self.user(user_id)
        now = utcnow()
        token_id = new_id()
        async with self._engine.begin() as conn:
            await conn.execute(api_tokens.insert().values(
                id=token_id, user_id=user_id, organization_id=user.get("organization_id"), name=name,
                token_sha256=token_hash, expires_at=expires_at, revoked_at=None, last_used_at=None,
                scopes=" ".join(scopes) if scopes is not None else None, created_at=now, updated_at=now))
        return IssuedToken(id=token_id, name=name, token=token, organization_id=user.get("organization_id"),
                           created_at=now)

    async def principal_for_token(self, token_hash: str) -> Principal | None:
        """The token's user, or None when the token is unknown, revoked or expired."""
        query = (
            select(users, api_tokens.c.expires_at.label("token_expires_at"),
                   api_tokens.c.scopes.label("token_scopes"))
            .select_from(api_tokens.join(users, users.c.id == api_tokens.c.user_id))
            .where(api_tokens.c.token_sha256 == token_hash, api_tokens.c.revoked_at.is_(None))
        )
        async with self._engine.connect() as conn:
            found = as_dict((await conn.execute(query)).first())
        if found is None:
            return None
        expires = found.get("token_expires_at")
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=utcnow().tzinfo)
        if expires is not None and expires <= utcnow():
            return None
        return principal_of(found)

    async def list_tokens(self, user_id: str) -> list[dict[str, Any]]:
        query = (select(api_tokens.c.id, api_tokens.c.name, api_tokens.c.user_id, api_tokens.c.organization_id,
                        api_tokens.c.token_sha256, api_tokens.c.expires_at, api_tokens.c.revoked_at,
                        api_tokens.c.scopes, api_tokens.c.created_at)
                 .where(api_tokens.c.user_id == user_id).order_by(api_tokens.c.created_at))
        async with self._engine.connect() as conn:
            return as_dicts(await conn.execute(query))

    async def revoke_token(self, user_id: str, token_id: str) -> None:
        now = utcnow()
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id, api_tokens.c.user_id == user_id,
                       api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now, updated_at=now))
        if result.rowcount == 0:
            raise NotFoundError(f"token {token_id} not found or already revoked")

    async def revoke_token_named(self, token_hash: str, name: str) -> bool:
        """Revoke the token with this hash if it has this name and is not revoked yet (a sign-in session's
        token, never an API token the user made); whether it did."""
        now = utcnow()
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(api_tokens)
                .where(api_tokens.c.token_sha256 == token_hash, api_tokens.c.name == name,
                       api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now, updated_at=now))
        return bool(result.rowcount)

    async def revoke_tokens_named(self, user_id: str, name: str) -> int:
        """Revoke every live token of the user with this name (their sign-in sessions); how many."""
        now = utcnow()
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(api_tokens)
                .where(api_tokens.c.user_id == user_id, api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now, updated_at=now))
        return int(result.rowcount or 0)
