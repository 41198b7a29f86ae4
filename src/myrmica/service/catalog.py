"""System and organisation configs, error codes, job resources and subscriptions, for every dialect.

Roles and tenancy are checked here (``domain/roles.py``): system configs, subscriptions and error-code
changes are the admin's; an organisation's configs are read by its members and changed by its org
admins; job resources belong to their tenant (organisation, else user) like job definitions.
Secret config values never leave masked (``****``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from myrmica.domain.error_codes import ACTIONS, check_regex
from myrmica.domain.errors import NotFoundError, PermissionDeniedError, ValidationError
from myrmica.domain.principal import Principal
from myrmica.domain.roles import Role, manages_org, reads_everything, role_of
from myrmica.service.accounts import AuditPort, CatalogPort, Clock, Rows, Scope
from myrmica.service.fields import Body, config_value

MAX_LEASE_NS = 30 * 24 * 3600 * 10**9
SUBSCRIPTION_KINDS = ("FREE", "INDIVIDUAL", "TEAM", "ENTERPRISE")
SUBSCRIPTION_PERIODS = ("MONTHLY", "YEARLY", "DAILY")


class SecretCatalogPort(CatalogPort, Protocol):
    def public(self, row: dict[str, Any]) -> dict[str, Any]: ...
    async def add(self, base: Mapping[str, Any], value: Any, secret: bool) -> dict[str, Any]: ...
    async def change(self, row_id: str, base: Mapping[str, Any], value: Any, secret: bool,
                     scope: Scope) -> dict[str, Any]: ...


class QuotaPort(Protocol):
    async def allocate(self, resource_id: str, request_id: str, task_type: str, value: int,
                       scope: Scope) -> dict[str, Any]: ...
    async def deallocate(self, use_id: str) -> None: ...
    async def uses(self, resource_id: str) -> list[dict[str, Any]]: ...


def _deny(what: str) -> PermissionDeniedError:
    return PermissionDeniedError(f"your role may not {what}")


def _writer(principal: Principal, what: str) -> None:
    if role_of(principal) == Role.READ_ONLY:
        raise _deny(what)


class CatalogService:
    def __init__(self, *, configs: SecretCatalogPort, error_codes: CatalogPort, resources: CatalogPort,
                 resource_configs: SecretCatalogPort, subscriptions: CatalogPort, quotas: QuotaPort,
                 audit: AuditPort, now: Clock) -> None:
        self._configs = configs
        self._errors = error_codes
        self._resources = resources
        self._resource_configs = resource_configs
        self._subscriptions = subscriptions
        self._quotas = quotas
        self._audit = audit
        self._now = now

    # --- configs (system: the admin's; org: its members read, its org admins write) --------------

    def _config_scope(self, principal: Principal, org_id: str | None, *, write: bool) -> dict[str, Any]:
        if org_id is None:
            if not (principal.admin or (not write and reads_everything(principal))):
                raise _deny("read or change system configs")
            return {"scope": "system", "scope_id": ""}
        if not (reads_everything(principal) or principal.organization_id == org_id):
            raise NotFoundError(f"organization {org_id} not found")
        if write and not manages_org(principal, org_id):
            raise _deny("change this organization's configs")
        return {"scope": "org", "scope_id": org_id}

    async def list_configs(self, principal: Principal, org_id: str | None, filters: Mapping[str, str],
                           page: int, size: int) -> Rows:
        scope = self._config_scope(principal, org_id, write=False)
        rows, total = await self._configs.search(scope, filters, page=page, page_size=size)
        return [self._configs.public(row) for row in rows], total

    async def get_config(self, principal: Principal, org_id: str | None, config_id: str) -> dict[str, Any]:
        scope = self._config_scope(principal, org_id, write=False)
        return self._configs.public(await self._configs.get(config_id, scope))

    @staticmethod
    def _config_base(body: Body) -> tuple[dict[str, Any], Any, bool]:
        name, value, secret = config_value(body)
        return {"name": name}, value, secret

    async def create_config(self, principal: Principal, org_id: str | None, raw: Mapping[str, Any]) -> dict[str, Any]:
        scope = self._config_scope(principal, org_id, write=True)
        base, value, secret = self._config_base(Body(raw))
        row = await self._configs.add({**scope, **base}, value, secret)
        await self._audit.record("ORG_CONFIG_UPDATED" if org_id else "SYSTEM_CONFIG_UPDATED", principal,
                                 target_id=row["id"], message=f"{base['name']} created")
        return row

    async def update_config(self, principal: Principal, org_id: str | None, config_id: str,
                            raw: Mapping[str, Any]) -> dict[str, Any]:
        scope = self._config_scope(principal, org_id, write=True)
        base, value, secret = self._config_base(Body(raw))
        row = await self._configs.change(config_id, base, value, secret, scope)
        await self._audit.record("ORG_CONFIG_UPDATED" if org_id else "SYSTEM_CONFIG_UPDATED", principal,
                                 target_id=config_id, message=f"{base['name']} updated")
        return row

    async def delete_config(self, principal: Principal, org_id: str | None, config_id: str) -> None:
        scope = self._config_scope(principal, org_id, write=True)
        await self._configs.delete(config_id, scope)
        await self._audit.record("ORG_CONFIG_UPDATED" if org_id else "SYSTEM_CONFIG_UPDATED", principal,
                                 target_id=config_id, message="deleted")

    # --- error codes (read by everyone, changed by the admin) -------------------------------------

    def _error_values(self, body: Body) -> dict[str, Any]:
        regex = body.text("regex", max_length=500)
        problem = check_regex(regex) if regex else None
        if problem:
            raise ValidationError(problem, field="regex")
        action = body.text("action", max_length=20)
        if action and action not in ACTIONS:
            raise ValidationError(f"action must be one of {', '.join(ACTIONS)}", field="action")
        exit_code = body.optional_integer("exit_code")
        command_scope = body.text("command_scope", max_length=500)
        if not (regex or exit_code is not None or command_scope):
            raise ValidationError("an error code needs a regex, an exit_code or a command_scope", field="regex")
        return {
            "regex": regex, "exit_code": exit_code, "command_scope": command_scope,
            "error_code": body.text("error_code", max_length=100, required=True),
            "display_code": body.text("display_code", max_length=100),
            "display_message": body.text("display_message", max_length=2000),
            "description": body.text("description", max_length=2000),
            "platform_scope": body.text("platform_scope", max_length=100),
            "task_type_scope": body.text("task_type_scope", max_length=100),
            "job_type": body.text("job_type", max_length=100), "action": action,
            "retry": body.integer("retry", maximum=100), "hard_failure": body.boolean("hard_failure"),
        }

    async def list_errors(self, principal: Principal, filters: Mapping[str, Any], page: int, size: int) -> Rows:
        return await self._errors.search({}, filters, page=page, page_size=size)

    async def get_error(self, principal: Principal, error_id: str) -> dict[str, Any]:
        return await self._errors.get(error_id, {})

    async def create_error(self, principal: Principal, raw: Mapping[str, Any]) -> dict[str, Any]:
        if not principal.admin:
            raise _deny("change error codes")
        values = self._error_values(Body(raw))
        row = await self._errors.create({**values, "user_id": principal.user_id,
                                         "organization_id": principal.organization_id})
        await self._audit.record("ERROR_CODE_UPDATED", principal, target_id=row["id"], message=values["error_code"])
        return row

    async def update_error(self, principal: Principal, error_id: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        if not principal.admin:
            raise _deny("change error codes")
        values = self._error_values(Body(raw))
        row = await self._errors.update(error_id, values, {})
        await self._audit.record("ERROR_CODE_UPDATED", principal, target_id=error_id, message=values["error_code"])
        return row

    async def delete_error(self, principal: Principal, error_id: str) -> None:
        if not principal.admin:
            raise _deny("change error codes")
        await self._errors.delete(error_id, {})
        await self._audit.record("ERROR_CODE_UPDATED", principal, target_id=error_id, message="deleted")

    # --- job resources (the tenant's own, spec §1.7) -----------------------------------------------

    @staticmethod
    def _tenant(principal: Principal) -> dict[str, Any]:
        return {} if reads_everything(principal) else {"owner_key": principal.owner_key}

    def _resource_values(self, body: Body, *, creating: bool) -> dict[str, Any]:
        values: dict[str, Any] = {
            "resource_type": body.text("resource_type", max_length=100, required=True),
            "description": body.text("description", max_length=2000),
            "platform": body.text("platform", max_length=100),
            "category": body.text("category", max_length=100),
            "tags": body.strings("tags"),
            "external_id": body.text("external_id", max_length=200),
            "quota": body.integer("quota", default=1, minimum=1, maximum=1_000_000),
            "lease_timeout": body.integer("lease_timeout", minimum=0, maximum=MAX_LEASE_NS),
            "value": body.integer("value", default=1, minimum=1, maximum=1_000_000),
            "extract_config": body.mapping("extract_config"),
        }
        if body.has("disabled") or creating:
            values["disabled"] = body.boolean("disabled")
        return values

    async def list_resources(self, principal: Principal, filters: Mapping[str, Any], page: int, size: int) -> Rows:
        return await self._resources.search(self._tenant(principal), filters, page=page, page_size=size)

    async def get_resource(self, principal: Principal, resource_id: str) -> dict[str, Any]:
        return await self._resources.get(resource_id, self._tenant(principal))

    async def create_resource(self, principal: Principal, raw: Mapping[str, Any]) -> dict[str, Any]:
        _writer(principal, "change job resources")
        values = self._resource_values(Body(raw), creating=True)
        row = await self._resources.create({**values, "owner_key": principal.owner_key,
                                            "organization_id": principal.organization_id,
                                            "user_id": principal.user_id})
        await self._audit.record("JOB_RESOURCE_UPDATED", principal, target_id=row["id"], message="created")
        return row

    async def update_resource(self, principal: Principal, resource_id: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        _writer(principal, "change job resources")
        values = self._resource_values(Body(raw), creating=False)
        row = await self._resources.update(resource_id, values, self._tenant(principal))
        await self._audit.record("JOB_RESOURCE_UPDATED", principal, target_id=resource_id, message="updated")
        return row

    async def set_resource_disabled(self, principal: Principal, resource_id: str, disabled: bool) -> dict[str, Any]:
        _writer(principal, "change job resources")
        row = await self._resources.update(resource_id, {"disabled": disabled}, self._tenant(principal))
        await self._audit.record("JOB_RESOURCE_UPDATED", principal, target_id=resource_id,
                                 message="disabled" if disabled else "enabled")
        return row

    async def delete_resource(self, principal: Principal, resource_id: str) -> None:
        _writer(principal, "change job resources")
        await self._resources.delete(resource_id, self._tenant(principal))
        await self._audit.record("JOB_RESOURCE_UPDATED", principal, target_id=resource_id, message="deleted")

    async def resource_configs(self, principal: Principal, resource_id: str) -> list[dict[str, Any]]:
        await self.get_resource(principal, resource_id)
        rows, _ = await self._resource_configs.search({"job_resource_id": resource_id}, {}, page=0, page_size=1000)
        return [self._resource_configs.public(row) for row in rows]

    async def add_resource_config(self, principal: Principal, resource_id: str,
                                  raw: Mapping[str, Any]) -> dict[str, Any]:
        _writer(principal, "change job resources")
        await self.get_resource(principal, resource_id)
        name, value, secret = config_value(Body(raw))
        return await self._resource_configs.add({"job_resource_id": resource_id, "name": name}, value, secret)

    async def delete_resource_config(self, principal: Principal, resource_id: str, config_id: str) -> None:
        _writer(principal, "change job resources")
        await self.get_resource(principal, resource_id)
        await self._resource_configs.delete(config_id, {"job_resource_id": resource_id})

    async def allocate(self, principal: Principal, resource_id: str, request_id: str, task_type: str = "",
                       value: int | None = None) -> dict[str, Any]:
        """Take ``value`` (default: the resource's own) of a resource's quota for a request (409 when
        the quota would be passed); the use lapses after the resource's ``lease_timeout``."""
        resource = await self.get_resource(principal, resource_id)
        return await self._quotas.allocate(resource_id, request_id, task_type,
                                           int(resource["value"]) if value is None else value,
                                           self._tenant(principal))

    async def deallocate(self, principal: Principal, resource_id: str, use_id: str) -> None:
        await self.get_resource(principal, resource_id)
        if use_id not in {use["id"] for use in await self._quotas.uses(resource_id)}:
            raise NotFoundError(f"job resource use {use_id} not found")
        await self._quotas.deallocate(use_id)

    async def resource_uses(self, principal: Principal, resource_id: str) -> list[dict[str, Any]]:
        await self.get_resource(principal, resource_id)
        return await self._quotas.uses(resource_id)

    # --- subscriptions (the admin's; stored and reported, spec §4) ---------------------------------

    def _subscription_values(self, body: Body) -> dict[str, Any]:
        kind = body.text("kind", max_length=50, default="FREE")
        if kind not in SUBSCRIPTION_KINDS:
            raise ValidationError(f"kind must be one of {', '.join(SUBSCRIPTION_KINDS)}", field="kind")
        period = body.text("period", max_length=50, default="MONTHLY")
        if period not in SUBSCRIPTION_PERIODS:
            raise ValidationError(f"period must be one of {', '.join(SUBSCRIPTION_PERIODS)}", field="period")
        user_id = body.text("user_id", max_length=26) or None
        org_id = body.text("organization_id", max_length=26) or None
        if not (user_id or org_id):
            raise ValidationError("a subscription needs a user_id or an organization_id", field="user_id")
        started = _moment(body, "started_at") or self._now()
        ended = _moment(body, "ended_at")
        if ended is None:
            raise ValidationError("ended_at is required", field="ended_at")
        if ended <= started:
            raise ValidationError("ended_at must be after started_at", field="ended_at")
        return {"kind": kind, "period": period, "policy": body.text("policy", max_length=50),
                "price": body.integer("price"), "cpu_quota": body.integer("cpu_quota"),
                "disk_quota": body.integer("disk_quota"), "user_id": user_id, "organization_id": org_id,
                "started_at": started, "ended_at": ended, "active": body.boolean("active", default=True)}

    def _admin(self, principal: Principal, *, read: bool = False) -> None:
        if not (principal.admin or (read and reads_everything(principal))):
            raise _deny("manage subscriptions")

    async def list_subscriptions(self, principal: Principal, filters: Mapping[str, Any], page: int,
                                 size: int) -> Rows:
        self._admin(principal, read=True)
        return await self._subscriptions.search({}, filters, page=page, page_size=size)

    async def get_subscription(self, principal: Principal, subscription_id: str) -> dict[str, Any]:
        self._admin(principal, read=True)
        return await self._subscriptions.get(subscription_id, {})

    async def create_subscription(self, principal: Principal, raw: Mapping[str, Any]) -> dict[str, Any]:
        self._admin(principal)
        row = await self._subscriptions.create(self._subscription_values(Body(raw)))
        await self._audit.record("SUBSCRIPTION_UPDATED", principal, target_id=row["id"], message="created")
        return row

    async def update_subscription(self, principal: Principal, subscription_id: str,
                                  raw: Mapping[str, Any]) -> dict[str, Any]:
        self._admin(principal)
        row = await self._subscriptions.update(subscription_id, self._subscription_values(Body(raw)), {})
        await self._audit.record("SUBSCRIPTION_UPDATED", principal, target_id=subscription_id, message="updated")
        return row

    async def delete_subscription(self, principal: Principal, subscription_id: str) -> None:
        self._admin(principal)
        await self._subscriptions.delete(subscription_id, {})
        await self._audit.record("SUBSCRIPTION_UPDATED", principal, target_id=subscription_id, message="deleted")


def _moment(body: Body, name: str) -> datetime | None:
    raw = body.text(name, max_length=40)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationError(f"{name} must be an RFC 3339 time", field=name) from exc
    if moment.tzinfo is None:
        raise ValidationError(f"{name} needs a time zone (Z or ±hh:mm)", field=name)
    return moment
