"""Cron: each enabled definition with a ``cron_trigger`` always has its next request waiting as PENDING.

A new version re-plans: the request an older version planned is cancelled and one of the new
schedule made (a version without ``cron_trigger`` leaves none). The next request's ``user_key``
names the owner, job type and fire time, so the unique key lets
only one of several servers create it. It is (re)made when the definition is saved or enabled,
when a cron request ends, and by a sweep that repairs anything missed.

A dialect's definition may say what params its cron requests get: ``dialect_settings["request"] =
{"params": {...}, "secret_params": {...}}`` (a Tork scheduled job's inputs and secrets; the secret
ones sealed with the server's key, ``JobService.seal_secrets``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from myrmica.clock import utcnow
from myrmica.domain.cron import next_fire
from myrmica.domain.errors import DomainError
from myrmica.domain.principal import Principal
from myrmica.domain.records import NewRequest
from myrmica.queen.ports import Submitter
from myrmica.store.accounts import principal_of
from myrmica.store.store import Store

log = logging.getLogger("myrmica.queen.cron")


def _cron_request(definition: dict[str, Any], user_key: str, decrypt: Callable[[str], str]) -> NewRequest:
    settings = definition.get("dialect_settings")
    request = settings.get("request") if isinstance(settings, dict) else None
    params = request.get("params") if isinstance(request, dict) else None
    secret_params = request.get("secret_params") if isinstance(request, dict) else None
    return NewRequest(job_type=definition["job_type"], user_key=user_key,
                      params=dict(params) if isinstance(params, dict) else {},
                      secret_params={str(k): decrypt(str(v)) for k, v in secret_params.items()}
                      if isinstance(secret_params, dict) else {})


class CronKeeper:
    def __init__(self, store: Store, submitter: Submitter, admin: Principal) -> None:
        self._store = store
        self._submitter = submitter
        self._admin = admin

    async def ensure_next(self, definition: dict[str, Any]) -> dict[str, Any] | None:
        """The pending cron request of this definition's job type, created if missing."""
        if not definition.get("cron_trigger") or not definition["active"] or definition["disabled"]:
            return None
        store = self._store
        existing = await store.requests.pending_cron(definition["owner_key"], definition["job_type"])
        if existing is not None:
            return existing
        try:
            fire_at = next_fire(definition["cron_trigger"], utcnow())
        except ValueError as exc:
            log.error("cron_trigger of %s is invalid: %s", definition["job_type"], exc)
            return None
        if fire_at is None:
            return None
        owner = principal_of(await store.accounts.user(definition["user_id"])) if definition.get("user_id") \
            else self._admin
        key = f"{definition['owner_key']}-{definition['job_type']}-{fire_at.isoformat().replace('+00:00', 'Z')}"
        try:
            request, created = await self._submitter.submit(
                owner, _cron_request(definition, key, store.box.decrypt), cron_at=fire_at)
        except DomainError as exc:
            log.warning("could not create the next cron request of %s: %s", definition["job_type"], exc.message)
            return None
        if created:
            log.info("next cron request of %s at %s: %s", definition["job_type"], fire_at.isoformat(), request["id"])
        return request

    async def stop(self, definition: dict[str, Any]) -> None:
        """A disabled or deleted definition: its waiting cron request is cancelled."""
        existing = await self._store.requests.pending_cron(definition["owner_key"], definition["job_type"])
        if existing is not None:
            await self._store.requests.finish(
                existing["id"], None, ["PENDING"], "CANCELLED",
                request_values={"error_code": "ERR_JOB_CANCELLED", "user_key": None,
                                "error_message": "the definition was disabled or deleted"})

    async def sweep(self) -> None:
        for definition in await self._store.definitions.with_cron():
            await self.ensure_next(definition)

    async def after_cron_run(self, definition: dict[str, Any]) -> None:
        """A cron request ended: the next one of its job type (of the version active now)."""
        job_type = definition["job_type"]
        try:
            current = await self._store.definitions.get(self._admin, definition["id"])
            if not current["active"]:
                current = await self._store.definitions.active_of(definition["owner_key"], job_type)
            await self.ensure_next(current)
        except Exception:
            log.exception("could not create the next cron request of %s", job_type)

    async def replan(self, definition: dict[str, Any]) -> None:
        """A new version is active: the cron request an older version planned gives way to one of this
        version's schedule (cancelled, conditionally: one a scheduler has already claimed runs, and the next
        is planned from this version when it ends)."""
        existing = await self._store.requests.pending_cron(definition["owner_key"], definition["job_type"])
        if existing is None or existing["job_definition_id"] == definition["id"]:
            return
        version = definition.get("sem_version") or definition.get("version")
        if await self._store.requests.finish(
                existing["id"], None, ["PENDING"], "CANCELLED",
                request_values={"error_code": "ERR_JOB_CANCELLED", "user_key": None,
                                "error_message": f"re-planned by version {version} of the definition"}):
            log.info("cron request %s of %s replaced by version %s's schedule", existing["id"],
                     definition["job_type"], version)

    async def definition_changed(self, definition: dict[str, Any]) -> None:
        if definition.get("active") and not definition.get("disabled") and definition.get("cron_trigger"):
            await self.replan(definition)
            await self.ensure_next(definition)
        else:
            await self.stop(definition)
