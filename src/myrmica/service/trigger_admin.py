"""Managing a job's event triggers (spec §2.8): list them with their state (watermark, claimed objects,
requests made), reset a state (the next poll records a new watermark) and fire one by hand with a
payload (it bypasses a webhook's auth: the caller is already signed in and may see the job)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from myrmica.domain.errors import NotFoundError, ValidationError
from myrmica.domain.principal import Principal
from myrmica.domain.records import DefinitionRecord
from myrmica.domain.trigger_state import TriggerState, TriggerStates
from myrmica.ids import new_id
from myrmica.service.definitions import Definitions
from myrmica.service.trigger_fire import TriggerFirer
from myrmica.service.triggers import Fired, triggers_of

SHOWN_FIELDS = ("mode", "bucket", "prefix", "suffix", "topic", "group", "shared", "poll_interval", "filter",
                "params", "dedup_key", "rate_limit")


def state_json(state: TriggerState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {"cursor": state.cursor, "pending": len(state.pending), "fired_count": state.fired_count,
            "last_fired_at": state.last_fired_at.isoformat() if state.last_fired_at else None,
            "updated_at": state.updated_at.isoformat(), "version": state.version,
            "rate_window": len(state.rate_hits)}


def event_params(kind: str, payload: Any) -> dict[str, Any]:
    """The params an event brings of its own: an S3 object's, a queue message's fields."""
    if kind == "s3" and isinstance(payload, dict):
        return {f"Object{key}": payload[key] for key in ("Key", "Bucket", "Size", "ETag", "LastModified")
                if key in payload}
    if kind == "queue" and isinstance(payload, dict):
        return {str(k): v for k, v in payload.items()}
    return {}


def event_data(kind: str, payload: Any, properties: Mapping[str, Any] | None = None) -> dict[str, Any]:
    if kind == "s3":
        return {"Object": payload if isinstance(payload, dict) else {}}
    if kind == "queue":
        return {"Message": payload, "Properties": dict(properties or {})}
    return {"Body": payload, "Headers": {}, "Query": {}}


class TriggerAdmin:
    def __init__(self, *, definitions: Definitions, states: TriggerStates, firer: TriggerFirer) -> None:
        self._definitions = definitions
        self._states = states
        self._firer = firer

    async def _trigger(self, principal: Principal, job_type: str, name: str
                       ) -> tuple[DefinitionRecord, dict[str, Any]]:
        definition = await self._definitions.get(principal, job_type)
        for trigger in triggers_of(definition):
            if isinstance(trigger, dict) and str(trigger.get("name", "")) == name:
                return definition, trigger
        raise NotFoundError(f"no trigger {name!r} of job {job_type!r}")

    async def list(self, principal: Principal, job_type: str) -> list[dict[str, Any]]:
        definition = await self._definitions.get(principal, job_type)
        states = {s.name: s for s in await self._states.of_job(definition.owner_key, definition.job_type)}
        listed = []
        for trigger in triggers_of(definition):
            if not isinstance(trigger, dict):
                continue
            name = str(trigger.get("name", ""))
            kind = str(trigger.get("type", "")).lower()
            shown = {k: trigger[k] for k in SHOWN_FIELDS if k in trigger}
            if kind == "webhook":
                shown["endpoint"] = f"/api/triggers/{definition.job_type}/{name}"
                shown["auth"] = {k: v for k, v in (trigger.get("auth") or {}).items() if k != "secret"} \
                    if isinstance(trigger.get("auth"), dict) else None
            listed.append({"name": name, "type": kind, **shown, "state": state_json(states.get(name))})
        return listed

    async def reset(self, principal: Principal, job_type: str, name: str) -> bool:
        definition, _ = await self._trigger(principal, job_type, name)
        return await self._states.reset(definition.owner_key, definition.job_type, name)

    async def fire(self, principal: Principal, job_type: str, name: str, payload: bytes) -> Fired:
        definition, trigger = await self._trigger(principal, job_type, name)
        if definition.disabled:
            raise ValidationError(f"job {job_type!r} is disabled", field="job_type")
        kind = str(trigger.get("type", "")).lower()
        text = payload.decode("utf-8", "replace")
        try:
            parsed: Any = json.loads(text) if text.strip() else {}
        except ValueError:
            parsed = text
        return await self._firer.fire(definition, trigger, event_data(kind, parsed),
                                      params=event_params(kind, parsed), identity=f"manual:{new_id()}",
                                      kind=kind)
