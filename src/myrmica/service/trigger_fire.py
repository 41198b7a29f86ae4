"""One event of an S3 or queue trigger (spec §2.8) made into a request: ``filter`` must render ``true``,
``params`` are rendered over the event's own (the object's or the message's), ``dedup_key`` (or, without
one, the event's identity) becomes the request's ``user_key``, ``rate_limit`` may drop it (see
``trigger_rate``) — unique per owner, so firing the same
event again (a retry after a crash, a second queen) never makes a second request."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from myrmica.domain.principal import Principal
from myrmica.domain.records import DefinitionRecord, NewRequest
from myrmica.service.jobs import JobService
from myrmica.service.ports import Audit
from myrmica.service.trigger_rate import TriggerRates
from myrmica.service.triggers import Fired, render_template

OwnerOf = Callable[[DefinitionRecord], Awaitable[Principal]]


def event_user_key(job_type: str, name: str, identity: str) -> str:
    return f"trigger:{job_type}:{name}:{hashlib.sha256(identity.encode()).hexdigest()[:40]}"


@dataclass
class TriggerFirer:
    jobs: JobService
    audit: Audit
    owner_of: OwnerOf
    rates: TriggerRates | None = None

    async def fire(self, definition: DefinitionRecord, trigger: Mapping[str, Any], data: Mapping[str, Any], *,
                   params: Mapping[str, Any], identity: str, kind: str) -> Fired:
        name = str(trigger.get("name"))
        condition = trigger.get("filter")
        if condition not in (None, "") and render_template(condition, data).strip().lower() != "true":
            return Fired("", filtered=True)
        merged = dict(params)
        merged.update({str(k): render_template(v, data) if isinstance(v, str) else v
                       for k, v in (trigger.get("params") or {}).items()})
        if trigger.get("dedup_key"):
            user_key = f"trigger:{name}:{render_template(trigger['dedup_key'], data).strip()}"[:300]
        else:
            user_key = event_user_key(definition.job_type, name, identity)
        if self.rates is not None and not await self.rates.allow(definition, trigger):
            return Fired("", filtered=True)
        owner = await self.owner_of(definition)
        submitted = await self.jobs.submit(owner, NewRequest(job_type=definition.job_type, params=merged,
                                                             user_key=user_key, description=f"{kind} trigger {name}"))
        if not submitted.created:
            return Fired("", duplicate=True)
        await self.audit.record("JOB_REQUEST_TRIGGERED", owner, target_id=submitted.request.id,
                                job_type=definition.job_type, message=f"{kind} trigger {name}")
        return Fired(submitted.request.id)
