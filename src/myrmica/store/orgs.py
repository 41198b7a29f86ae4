"""Organisations and users as Formicary manages them: listing, profile changes, deletion, invitations
with expiring codes, email verifications, and the CPU use the usage report sums."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from myrmica.clock import utcnow
from myrmica.domain.errors import ConflictError, NotFoundError
from myrmica.store.catalogs import Catalog
from myrmica.store.database_lock import Database
from myrmica.store.rows import as_dict, as_dicts
from myrmica.store.tables import (
    api_tokens,
    email_verifications,
    job_executions,
    organizations,
    user_invitations,
    users,
)

USER_COLUMNS = [c for c in users.c if c.name != "password_hash"]  # a hash never leaves the store


class OrgRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        self.orgs = Catalog(db, organizations, "organization", unique_message="an organization of that name exists")
        self.invitations = Catalog(db, user_invitations, "invitation")
        self.verifications = Catalog(db, email_verifications, "email verification")

    # --- users ------------------------------------------------------------------------------------

    async def users(self, filters: Mapping[str, Any], *, organization_id: str | None, user_id: str | None,
                    page: int, page_size: int) -> tuple[list[dict[str, Any]], int]:
        """Users equal to ``filters``; of one organisation, or the one user, when given."""
        conditions = [users.c[k] == v for k, v in filters.items()]
        if organization_id is not None:
            conditions.append(users.c.organization_id == organization_id)
        if user_id is not None:
            conditions.append(users.c.id == user_id)
        async with self._db.connect() as conn:
            total = int((await conn.execute(select(func.count()).select_from(users).where(*conditions))).scalar()
                        or 0)
            rows = as_dicts(await conn.execute(select(*USER_COLUMNS).where(*conditions)
                                               .order_by(users.c.created_at, users.c.id)
                                               .limit(page_size).offset(page * page_size)))
        return rows, total

    async def user(self, user_id: str) -> dict[str, Any]:
        async with self._db.connect() as conn:
            found = as_dict((await conn.execute(select(*USER_COLUMNS).where(users.c.id == user_id))).first())
        if found is None:
            raise NotFoundError(f"user {user_id} not found")
        return found

    async def update_user(self, user_id: str, values: Mapping[str, Any], *,
                          organization_id: str | None = None) -> dict[str, Any]:
        """Change a user (of ``organization_id`` when given: an org admin's reach)."""
        conditions = [users.c.id == user_id]
        if organization_id is not None:
            conditions.append(users.c.organization_id == organization_id)
        try:
            async with self._db.begin() as conn:
                result = await conn.execute(update(users).where(*conditions).values({**values,
                                                                                     "updated_at": utcnow()}))
        except IntegrityError as exc:
            raise ConflictError("a user of that username exists", field="username") from exc
        if result.rowcount == 0:
            raise NotFoundError(f"user {user_id} not found")
        return await self.user(user_id)

    async def delete_user(self, user_id: str, *, organization_id: str | None = None) -> None:
        """The user, with their tokens and email verifications (their jobs stay, as the tenant's)."""
        conditions = [users.c.id == user_id]
        if organization_id is not None:
            conditions.append(users.c.organization_id == organization_id)
        async with self._db.begin() as conn:
            found = (await conn.execute(select(users.c.id).where(*conditions))).first()
            if found is None:
                raise NotFoundError(f"user {user_id} not found")
            await conn.execute(delete(api_tokens).where(api_tokens.c.user_id == user_id))
            await conn.execute(delete(email_verifications).where(email_verifications.c.user_id == user_id))
            await conn.execute(delete(users).where(*conditions))

    # --- organisations ----------------------------------------------------------------------------

    async def delete_org(self, org_id: str) -> None:
        """An organisation with no users left (409 otherwise: delete or move them first)."""
        async with self._db.begin() as conn:
            members = int((await conn.execute(select(func.count()).select_from(users)
                                              .where(users.c.organization_id == org_id))).scalar() or 0)
            if members:
                raise ConflictError(f"organization {org_id} has {members} users; delete or move them first")
            await conn.execute(delete(user_invitations).where(user_invitations.c.organization_id == org_id))
            result = await conn.execute(delete(organizations).where(organizations.c.id == org_id))
        if result.rowcount == 0:
            raise NotFoundError(f"organization {org_id} not found")

    async def accept_invitation(self, code: str, user_id: str) -> dict[str, Any]:
        """Join the invitation's organisation: once, before it expires, by a user of no organisation."""
        now = utcnow()
        async with self._db.begin() as conn:
            result = await conn.execute(
                update(user_invitations)
                .where(user_invitations.c.invitation_code == code, user_invitations.c.accepted_at.is_(None),
                       user_invitations.c.expires_at > now)
                .values(accepted_at=now, accepted_by_user_id=user_id))
            if result.rowcount == 0:
                raise NotFoundError("no such invitation, or it expired or was used", field="code")
            invitation = as_dict((await conn.execute(select(user_invitations).where(
                user_invitations.c.invitation_code == code))).first())
            assert invitation is not None
            joined = await conn.execute(
                update(users).where(users.c.id == user_id, users.c.organization_id.is_(None))
                .values(organization_id=invitation["organization_id"], updated_at=now))
            if joined.rowcount == 0:  # (the transaction rolls the acceptance back)
                raise ConflictError("you belong to an organization already", field="organization_id")
        return invitation

    async def verify_email(self, user_id: str, code: str) -> dict[str, Any]:
        now = utcnow()
        async with self._db.begin() as conn:
            result = await conn.execute(
                update(email_verifications)
                .where(email_verifications.c.user_id == user_id, email_verifications.c.email_code == code,
                       email_verifications.c.verified_at.is_(None), email_verifications.c.expires_at > now)
                .values(verified_at=now))
            if result.rowcount == 0:
                raise NotFoundError("no such verification code, or it expired or was used", field="code")
            row = as_dict((await conn.execute(select(email_verifications).where(
                email_verifications.c.email_code == code))).first())
            assert row is not None
            await conn.execute(update(users).where(users.c.id == user_id, users.c.email == row["email"])
                               .values(email_verified=True, updated_at=now))
        return row

    # --- usage ------------------------------------------------------------------------------------

    async def cpu_usage(self, start: datetime, end: datetime, *, organization_id: str | None = None
                        ) -> list[dict[str, Any]]:
        """Per (organisation, user): runs started in [start, end), their CPU seconds (the recorded
        ``cpu_secs``, else the run's wall time) and count."""
        query = select(job_executions.c.organization_id, job_executions.c.user_id, job_executions.c.cpu_secs,
                       job_executions.c.started_at, job_executions.c.ended_at).where(
            job_executions.c.started_at >= start, job_executions.c.started_at < end)
        if organization_id is not None:
            query = query.where(or_(job_executions.c.organization_id == organization_id))
        totals: dict[tuple[str, str], dict[str, Any]] = {}
        async with self._db.connect() as conn:
            rows = as_dicts(await conn.execute(query))
        for row in rows:
            key = (row["organization_id"] or "", row["user_id"] or "")
            entry = totals.setdefault(key, {"organization_id": key[0], "user_id": key[1], "value": 0.0, "count": 0})
            secs = float(row["cpu_secs"] or 0)
            if secs <= 0 and row["ended_at"] is not None:
                secs = max((row["ended_at"] - row["started_at"]).total_seconds(), 0.0)
            entry["value"] += secs
            entry["count"] += 1
        return sorted(totals.values(), key=lambda e: (e["organization_id"], e["user_id"]))
