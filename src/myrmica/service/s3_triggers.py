"""S3 triggers in poll mode (spec §2.8): every ``poll_interval`` the bucket is listed under ``prefix``
(keys ending in ``suffix``), and each object newer than the trigger's watermark makes one request, with
``ObjectKey``, ``ObjectBucket``, ``ObjectSize``, ``ObjectETag`` and ``ObjectLastModified`` as params
(and ``.Object.{Key,Bucket,Size,ETag,LastModified}`` for the trigger's templates). The first poll only
records the watermark; at most 1000 objects fire per poll (the oldest first). Only the leading queen polls
(spec §1.7: trigger pollers are leader-only); when it dies another takes the lease and goes on from the
watermark.

The watermark (``trigger_states.cursor``) is the newest ``LastModified`` fired and the objects
(key@etag) fired at that instant. A poll *claims* the new objects by a conditional update that moves
the watermark and lists them as ``pending``; only the queen whose update succeeds submits them, and
clears ``pending`` afterwards (the leader is the only poller, but a deposed leader may still be mid-poll
when the next one starts). A queen that died in between leaves them pending: the next poll (on any
queen) submits them again, and the request's ``user_key`` (the object's identity) makes that a no-op
for those already made. So a restart never fires an old object again, two queens never fire the same
object twice, and nothing claimed is lost. (An object whose ``LastModified`` is older than the
watermark when it first shows — a multipart upload begun long before it completed — is not fired.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from myrmica.domain.records import DefinitionRecord
from myrmica.domain.trigger_config import poll_seconds, s3_mode
from myrmica.domain.trigger_state import TriggerState, TriggerStates
from myrmica.service.trigger_catalog import TriggerCatalog
from myrmica.service.trigger_fire import TriggerFirer

MAX_PER_POLL = 1000
log = logging.getLogger("myrmica.queen.s3_triggers")

S3Object = dict[str, Any]  # {Key, Bucket, Size, ETag, LastModified (ISO 8601, UTC)}
Lister = Callable[[str, str, str], Awaitable[list[S3Object]]]  # (bucket, prefix, suffix) → objects


def _when(obj: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(str(obj["LastModified"]))


def _ident(obj: Mapping[str, Any]) -> str:
    return f"{obj['Key']}@{obj['ETag']}"


def first_watermark(objects: list[S3Object]) -> dict[str, Any]:
    if not objects:
        return {"last_modified": None, "seen": []}
    newest = max(_when(o) for o in objects)
    return {"last_modified": newest.isoformat(), "seen": sorted(_ident(o) for o in objects if _when(o) == newest)}


def new_objects(cursor: Mapping[str, Any], objects: list[S3Object],
                limit: int = MAX_PER_POLL) -> tuple[list[S3Object], dict[str, Any]]:
    """The objects past the watermark (oldest first, at most ``limit``) and the watermark after them."""
    mark = datetime.fromisoformat(cursor["last_modified"]) if cursor.get("last_modified") else None
    seen = set(cursor.get("seen") or [])

    def past(o: S3Object) -> bool:
        return mark is None or _when(o) > mark or (_when(o) == mark and _ident(o) not in seen)

    fresh = sorted(filter(past, objects), key=lambda o: (_when(o), o["Key"]))[:limit]
    if not fresh:
        return [], dict(cursor)
    newest = _when(fresh[-1])
    at_newest = {_ident(o) for o in fresh if _when(o) == newest} | (seen if newest == mark else set())
    return fresh, {"last_modified": newest.isoformat(), "seen": sorted(at_newest)}


def object_params(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {"ObjectKey": obj["Key"], "ObjectBucket": obj["Bucket"], "ObjectSize": obj["Size"],
            "ObjectETag": obj["ETag"], "ObjectLastModified": obj["LastModified"]}


def object_identity(obj: Mapping[str, Any]) -> str:
    return f"s3:{obj['Bucket']}/{obj['Key']}@{obj['ETag']}@{obj['LastModified']}"


class S3Triggers:
    def __init__(self, *, catalog: TriggerCatalog, states: TriggerStates, firer: TriggerFirer,
                 lister: Lister, leading: Callable[[], bool] = lambda: True, tick_secs: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._leading = leading
        self._catalog = catalog
        self._states = states
        self._firer = firer
        self._list = lister
        self._tick = tick_secs
        self._clock = clock
        self._due: dict[tuple[str, str], float] = {}
        self.polls = 0  # bucket listings done (for tests and metrics)

    async def run(self) -> None:
        while True:
            try:
                await self.poll_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database or S3 outage: try again at the next tick
                log.warning("polling S3 triggers failed", exc_info=True)
            await asyncio.sleep(self._tick)

    async def poll_due(self) -> int:
        if not self._leading():  # the leader polls (spec §1.7); another queen takes over when it is gone
            return 0
        fired = 0
        now = self._clock()
        for definition, trigger in await self._catalog.triggers("s3"):
            if s3_mode(trigger) != "poll":
                continue
            key = (definition.id, str(trigger["name"]))
            if self._due.get(key, 0.0) > now:
                continue
            self._due[key] = now + poll_seconds(trigger)
            try:
                fired += await self.poll(definition, trigger)
            except Exception:  # one trigger's bucket unreachable: the others still poll
                log.warning("S3 trigger %s of %s failed", trigger.get("name"), definition.job_type, exc_info=True)
        return fired

    async def _submit(self, definition: DefinitionRecord, trigger: Mapping[str, Any], objects: list[S3Object]) -> int:
        made = 0
        for obj in objects:
            fired = await self._firer.fire(definition, trigger, {"Object": obj}, params=object_params(obj),
                                           identity=object_identity(obj), kind="s3")
            made += bool(fired.request_id)
        return made

    async def poll(self, definition: DefinitionRecord, trigger: Mapping[str, Any]) -> int:
        """One poll of one trigger: how many requests it made."""
        name = str(trigger["name"])
        state: TriggerState | None = await self._states.ensure(definition.owner_key, definition.job_type, name, "s3")
        assert state is not None
        made = 0
        if state.pending:  # claimed by a queen that may have died before submitting: again (idempotent)
            made += await self._submit(definition, trigger, state.pending)
            state = await self._states.claim(state, cursor=state.cursor, pending=[])
            if state is None:
                return made
        objects = await self._list(str(trigger["bucket"]), str(trigger.get("prefix") or ""),
                                   str(trigger.get("suffix") or ""))
        self.polls += 1
        if state.cursor is None:
            await self._states.claim(state, cursor=first_watermark(objects), pending=[])
            return made
        fresh, cursor = new_objects(state.cursor, objects)
        if not fresh:
            return made
        claimed = await self._states.claim(state, cursor=cursor, pending=fresh)
        if claimed is None:  # another queen claimed them
            return made
        batch = await self._submit(definition, trigger, fresh)
        await self._states.claim(claimed, cursor=cursor, pending=[], fired=batch)
        made += batch
        return made
