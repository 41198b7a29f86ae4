"""Users, organisations, invitations, email verification, usage and the audit trail, for every dialect.

Every call takes the principal and checks its role (``domain/roles.py``) and tenancy here, so a
front door cannot forget either: what another tenant owns is "not found", what the caller's role may
not do is refused (403). Rows come back as the store keeps them (without password hashes); the
dialect shapes them.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from myrmica.domain.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from myrmica.domain.principal import Principal
from myrmica.domain.roles import Role, manages_org, parse_roles, reads_everything, role_of
from myrmica.service.fields import Body

INVITATION_DAYS = 3  # Formicary: expires_at = +3 days
VERIFICATION_HOURS = 24
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,60}$")
NOTIFY_WHEN = ("always", "onSuccess", "onFailure", "never")

Rows = tuple[list[dict[str, Any]], int]
Scope = Mapping[str, Any]


class CatalogPort(Protocol):
    async def create(self, values: Mapping[str, Any]) -> dict[str, Any]: ...
    async def get(self, row_id: str, scope: Scope) -> dict[str, Any]: ...
    async def update(self, row_id: str, values: Mapping[str, Any], scope: Scope) -> dict[str, Any]: ...
    async def delete(self, row_id: str, scope: Scope) -> None: ...
    async def search(self, scope: Scope, filters: Mapping[str, Any], *, page: int, page_size: int,
                     text_columns: tuple[str, ...] = (), text: str = "", newest_first: bool = False,
                     either: tuple[Scope, ...] = ()) -> Rows: ...


class OrgPort(Protocol):
    @property
    def orgs(self) -> CatalogPort: ...
    @property
    def invitations(self) -> CatalogPort: ...
    @property
    def verifications(self) -> CatalogPort: ...
    async def users(self, filters: Mapping[str, Any], *, organization_id: str | None, user_id: str | None,
                    page: int, page_size: int) -> Rows: ...
    async def user(self, user_id: str) -> dict[str, Any]: ...
    async def update_user(self, user_id: str, values: Mapping[str, Any], *,
                          organization_id: str | None = None) -> dict[str, Any]: ...
    async def delete_user(self, user_id: str, *, organization_id: str | None = None) -> None: ...
    async def delete_org(self, org_id: str) -> None: ...
    async def accept_invitation(self, code: str, user_id: str) -> dict[str, Any]: ...
    async def verify_email(self, user_id: str, code: str) -> dict[str, Any]: ...
    async def cpu_usage(self, start: datetime, end: datetime, *, organization_id: str | None = None
                        ) -> list[dict[str, Any]]: ...


class UserMaker(Protocol):
    async def create_user(self, username: str, *, organization_id: str | None = None, admin: bool = False,
                          roles: str = "", name: str = "", email: str = "", max_concurrency: int = 0
                          ) -> dict[str, Any]: ...


class AuditPort(Protocol):
    async def record(self, kind: str, principal: Principal | None, *, target_id: str = "", job_type: str = "",
                     message: str = "") -> None: ...


class Mailer(Protocol):
    @property
    def configured(self) -> bool: ...
    async def send(self, to: str, subject: str, body: str) -> None: ...


class Clock(Protocol):
    def __call__(self) -> datetime: ...


def _email(value: str, field: str = "email") -> str:
    if not EMAIL.match(value):
        raise ValidationError(f"{field} is not an email address", field=field)
    return value


def _deny(what: str) -> PermissionDeniedError:
    return PermissionDeniedError(f"your role may not {what}")


class AccountService:
    def __init__(self, *, orgs: OrgPort, users: UserMaker, audit: AuditPort, audits: CatalogPort,
                 subscriptions: CatalogPort, mailer: Mailer, now: Clock) -> None:
        self._orgs = orgs
        self._users = users
        self._audit = audit
        self._audits = audits
        self._subscriptions = subscriptions
        self._mailer = mailer
        self._now = now

    # --- users ------------------------------------------------------------------------------------

    def _sees_user(self, principal: Principal, user: Mapping[str, Any]) -> bool:
        if reads_everything(principal) or user["id"] == principal.user_id:
            return True
        return bool(principal.organization_id) and user.get("organization_id") == principal.organization_id

    async def list_users(self, principal: Principal, filters: Mapping[str, str], page: int, size: int) -> Rows:
        """The admin sees every user; a member of an organisation its users; anyone else themself."""
        if reads_everything(principal):
            return await self._orgs.users(filters, organization_id=None, user_id=None, page=page, page_size=size)
        if principal.organization_id:
            return await self._orgs.users(filters, organization_id=principal.organization_id, user_id=None,
                                          page=page, page_size=size)
        return await self._orgs.users(filters, organization_id=None, user_id=principal.user_id, page=page,
                                      page_size=size)

    async def get_user(self, principal: Principal, user_id: str) -> dict[str, Any]:
        user_id = principal.user_id if user_id in ("me", "self") else user_id
        user = await self._orgs.user(user_id)
        if not self._sees_user(principal, user):
            raise NotFoundError(f"user {user_id} not found")
        return user

    async def user_organization(self, principal: Principal,
                                user_id: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The user and their organisation (None without one): whoever may see a user may see which
        organisation the user is in, even while their own token still names none (just joined)."""
        user = await self.get_user(principal, user_id)
        if not user.get("organization_id"):
            return user, None
        try:
            return user, await self._orgs.orgs.get(user["organization_id"], {})
        except NotFoundError:
            return user, None

    async def _changeable_user(self, principal: Principal, user_id: str,
                               what: str) -> tuple[dict[str, Any], str | None]:
        """The user and the organisation the change is confined to (None: unconfined)."""
        user = await self.get_user(principal, user_id)
        if role_of(principal) == Role.READ_ONLY:
            raise _deny(what)
        if principal.admin:
            return user, None
        if user["id"] == principal.user_id:
            return user, user.get("organization_id")
        if manages_org(principal, str(user.get("organization_id") or "")):
            return user, principal.organization_id
        raise _deny(what)

    async def create_user(self, principal: Principal, raw: Mapping[str, Any]) -> dict[str, Any]:
        if not principal.admin:
            raise _deny("create users")
        body = Body(raw)
        username = body.text("username", required=True)
        email = body.text("email")
        if email:
            _email(email)
        org_id = body.text("organization_id", max_length=26) or None
        if org_id:
            await self._orgs.orgs.get(org_id, {})
        try:
            roles = parse_roles(body.get("roles"))
        except ValueError as exc:
            raise ValidationError(str(exc), field="roles") from exc
        row = await self._users.create_user(username, organization_id=org_id, roles=roles,
                                            name=body.text("name") or username, email=email,
                                            max_concurrency=body.integer("max_concurrency", maximum=10_000))
        await self._audit.record("USER_SIGNUP", principal, target_id=row["id"], message=username)
        return await self._orgs.user(row["id"])

    async def update_user(self, principal: Principal, user_id: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        """A profile change: name, email, picture and profile URLs, sticky message, concurrency; the
        roles and organisation only by the admin (roles: an org admin, within their organisation)."""
        user, confine = await self._changeable_user(principal, user_id, "change this user")
        body = Body(raw)
        values: dict[str, Any] = {}
        for name, limit in (("name", 200), ("picture_url", 500), ("url", 500), ("sticky_message", 2000)):
            if body.has(name):
                values[name] = body.text(name, max_length=limit, multiline=name == "sticky_message")
        if body.has("email"):
            email = body.text("email")
            if email:
                _email(email)
            if email != user["email"]:
                values.update(email=email, email_verified=False)
        if body.has("max_concurrency"):
            if not (principal.admin or manages_org(principal, str(user.get("organization_id") or ""))):
                raise _deny("change a user's concurrency")
            values["max_concurrency"] = body.integer("max_concurrency", maximum=10_000)
        if body.has("roles"):
            try:
                roles = parse_roles(body.get("roles"))
            except ValueError as exc:
                raise ValidationError(str(exc), field="roles") from exc
            if not principal.admin and (not manages_org(principal, str(user.get("organization_id") or ""))
                                        or "Admin" in roles.split(";") or "ReadAdmin" in roles.split(";")):
                raise _deny("change these roles")
            values["roles"] = roles
        if body.has("organization_id"):
            if not principal.admin:
                if (body.get("organization_id") or None) != user.get("organization_id"):
                    raise _deny("move a user to another organization")
            else:
                org_id = body.text("organization_id", max_length=26) or None
                if org_id:
                    await self._orgs.orgs.get(org_id, {})
                values["organization_id"] = org_id
        if body.has("username") and body.get("username") != user["username"]:
            raise ValidationError("a username cannot change", field="username")
        if not values:
            return user
        row = await self._orgs.update_user(user["id"], values, organization_id=confine)
        await self._audit.record("USER_UPDATED", principal, target_id=user["id"], message=",".join(sorted(values)))
        return row

    async def set_notify(self, principal: Principal, user_id: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Formicary's ``PUT /api/users/{id}/notify``: ``email``, ``slackChannel``, ``when``."""
        user, confine = await self._changeable_user(principal, user_id, "change this user's notifications")
        body = Body(raw)
        when = body.text("when", default="always")
        if when not in NOTIFY_WHEN:
            raise ValidationError(f"when must be one of {', '.join(NOTIFY_WHEN)}", field="when")
        notify: dict[str, Any] = {}
        email = body.text("email")
        if email:
            notify["email"] = {"recipients": [_email(e.strip()) for e in email.split(",") if e.strip()],
                               "when": when}
        slack = body.text("slackChannel") or body.text("slack_channel")
        if slack:
            notify["slack"] = {"recipients": [slack], "when": when}
        if not notify:
            raise ValidationError("send email or slackChannel", field="email")
        row = await self._orgs.update_user(user["id"], {"notify": notify}, organization_id=confine)
        await self._audit.record("USER_UPDATED", principal, target_id=user["id"], message="notify")
        return row

    async def delete_user(self, principal: Principal, user_id: str) -> None:
        user, confine = await self._changeable_user(principal, user_id, "delete this user")
        if user["admin"] and not principal.admin:
            raise _deny("delete an admin")
        await self._orgs.delete_user(user["id"], organization_id=confine)
        await self._audit.record("USER_UPDATED", principal, target_id=user["id"], message="deleted")

    # --- organisations ----------------------------------------------------------------------------

    def _org_values(self, body: Body, *, creating: bool) -> dict[str, Any]:
        values: dict[str, Any] = {}
        name = body.text("org_unit") or body.text("name")
        if name or creating:
            if not name:
                raise ValidationError("org_unit is required", field="org_unit")
            values["name"] = name
        for field, limit in (("bundle_id", 200), ("license_policy", 200), ("sticky_message", 2000),
                             ("owner_user_id", 26), ("parent_id", 26)):
            if body.has(field):
                values[field] = body.text(field, max_length=limit, multiline=field == "sticky_message")
        if body.has("max_concurrency") or creating:
            values["max_concurrency"] = body.integer("max_concurrency", default=3, maximum=10_000)
        return values

    async def list_orgs(self, principal: Principal, filters: Mapping[str, str], page: int, size: int) -> Rows:
        if reads_everything(principal):
            return await self._orgs.orgs.search({}, filters, page=page, page_size=size)
        if principal.organization_id:
            return await self._orgs.orgs.search({"id": principal.organization_id}, filters, page=page, page_size=size)
        return [], 0

    async def create_org(self, principal: Principal, raw: Mapping[str, Any]) -> dict[str, Any]:
        if not principal.admin:
            raise _deny("create organizations")
        values = self._org_values(Body(raw), creating=True)
        values.setdefault("owner_user_id", "")
        values.setdefault("bundle_id", "")
        row = await self._orgs.orgs.create(values)
        await self._audit.record("ORGANIZATION_UPDATED", principal, target_id=row["id"], message="created")
        return row

    async def get_org(self, principal: Principal, org_id: str) -> dict[str, Any]:
        if not (reads_everything(principal) or principal.organization_id == org_id):
            raise NotFoundError(f"organization {org_id} not found")
        return await self._orgs.orgs.get(org_id, {})

    async def update_org(self, principal: Principal, org_id: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        await self.get_org(principal, org_id)
        if not manages_org(principal, org_id):
            raise _deny("change this organization")
        values = self._org_values(Body(raw), creating=False)
        if "max_concurrency" in values and not principal.admin:
            raise _deny("change an organization's concurrency")
        row = await self._orgs.orgs.update(org_id, values, {})
        await self._audit.record("ORGANIZATION_UPDATED", principal, target_id=org_id, message=",".join(sorted(values)))
        return row

    async def delete_org(self, principal: Principal, org_id: str) -> None:
        if not principal.admin:
            await self.get_org(principal, org_id)
            raise _deny("delete organizations")
        await self._orgs.delete_org(org_id)
        await self._audit.record("ORGANIZATION_UPDATED", principal, target_id=org_id, message="deleted")

    async def invite(self, principal: Principal, org_id: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        """An invitation with a random code, valid for three days; the code joins its holder to the org."""
        org = await self.get_org(principal, org_id)
        if not manages_org(principal, org_id):
            raise _deny("invite users to this organization")
        email = _email(Body(raw).text("email", required=True))
        row = await self._orgs.invitations.create({
            "email": email, "invitation_code": secrets.token_urlsafe(24), "invited_by_user_id": principal.user_id,
            "organization_id": org_id, "org_unit": org["name"],
            "expires_at": self._now() + timedelta(days=INVITATION_DAYS)})
        await self._audit.record("INVITATION_CREATED", principal, target_id=row["id"], message=email)
        return row

    async def accept_invitation(self, principal: Principal, code: str) -> dict[str, Any]:
        if not code or len(code) > 64:
            raise NotFoundError("no such invitation, or it expired or was used", field="code")
        row = await self._orgs.accept_invitation(code, principal.user_id)
        await self._audit.record("USER_UPDATED", principal, target_id=principal.user_id,
                                 message=f"joined organization {row['organization_id']}")
        return row

    async def usage_report(self, principal: Principal, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """CPU use per organisation and user in [start, end) with the remaining quota of their active
        subscription (disk use is not measured: 0)."""
        if not reads_everything(principal):
            raise _deny("read the usage report")
        if end <= start:
            raise ValidationError("to must be after from", field="to")
        subscriptions, _ = await self._subscriptions.search({"active": True}, {}, page=0, page_size=10_000)
        report = []
        for entry in await self._orgs.cpu_usage(start, end):
            quota = next((s for s in subscriptions
                          if (entry["organization_id"] and s["organization_id"] == entry["organization_id"])
                          or (entry["user_id"] and s["user_id"] == entry["user_id"])), None)
            cpu = int(round(entry["value"]))
            common = {"organization_id": entry["organization_id"], "user_id": entry["user_id"],
                      "start_date": start, "end_date": end}
            report.append({
                "organization_id": entry["organization_id"], "user_id": entry["user_id"],
                "cpu_resource": {**common, "resource_type": "CPU", "value": cpu, "count": entry["count"],
                                 "value_unit": "seconds",
                                 "remaining_quota": (int(quota["cpu_quota"]) - cpu) if quota else 0},
                "disk_resource": {**common, "resource_type": "DISK", "value": 0, "count": 0, "value_unit": "MB",
                                  "remaining_quota": int(quota["disk_quota"]) if quota else 0},
            })
        return report

    # --- email verification -----------------------------------------------------------------------

    async def request_verification(self, principal: Principal, user_id: str) -> dict[str, Any]:
        """A code sent to the user's email, valid a day; sending needs an SMTP server (409 otherwise)."""
        user = await self.get_user(principal, user_id)
        if user["id"] != principal.user_id and not principal.admin:
            raise _deny("verify another user's email")
        if not user["email"]:
            raise ValidationError("the user has no email to verify", field="email")
        if not self._mailer.configured:
            raise ConflictError("no SMTP server is configured (smtp_host)", field="email")
        code = secrets.token_urlsafe(24)
        row = await self._orgs.verifications.create({
            "email": user["email"], "email_code": code, "user_id": user["id"],
            "organization_id": user.get("organization_id"),
            "expires_at": self._now() + timedelta(hours=VERIFICATION_HOURS)})
        await self._mailer.send(user["email"], "Verify your email",
                                f"Your verification code is {code}\n\nIt expires in {VERIFICATION_HOURS} hours.")
        await self._audit.record("EMAIL_VERIFICATION_CREATED", principal, target_id=row["id"], message=user["email"])
        return row

    async def verify_email(self, principal: Principal, user_id: str, code: str) -> dict[str, Any]:
        user = await self.get_user(principal, user_id)
        if user["id"] != principal.user_id and not principal.admin:
            raise _deny("verify another user's email")
        if not code or len(code) > 64:
            raise NotFoundError("no such verification code, or it expired or was used", field="code")
        row = await self._orgs.verify_email(user["id"], code)
        await self._audit.record("EMAIL_VERIFICATION_VERIFIED", principal, target_id=row["id"], message=row["email"])
        return row

    async def list_verifications(self, principal: Principal, filters: Mapping[str, str], page: int,
                                 size: int) -> Rows:
        scope: dict[str, Any] = {} if reads_everything(principal) else {"user_id": principal.user_id}
        return await self._orgs.verifications.search(scope, filters, page=page, page_size=size, newest_first=True)

    # --- audits -----------------------------------------------------------------------------------

    async def audits(self, principal: Principal, filters: Mapping[str, str], text: str, page: int,
                     size: int) -> Rows:
        """The audit trail: the admin's whole; an org admin's, their organisation's (newest first)."""
        if reads_everything(principal):
            scope: dict[str, Any] = {}
        elif role_of(principal) == Role.ORG_ADMIN:
            scope = {"organization_id": principal.organization_id}
        else:
            raise _deny("read the audit trail")
        return await self._audits.search(scope, filters, page=page, page_size=size, newest_first=True,
                                         text_columns=("message", "target_id", "kind", "job_type"), text=text)
