"""Per-job configs (``/api/jobs/definitions/{jobId}/configs``): they follow the job type across versions.

Secret values are stored encrypted; callers get them masked unless they ask for plaintext on the
engine's side (task variables).
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from myrmica.clock import utcnow
from myrmica.domain.errors import ConflictError, NotFoundError
from myrmica.ids import new_id
from myrmica.security.crypto import MASK, SecretBox
from myrmica.store.database_lock import Database
from myrmica.store.rows import as_dict, as_dicts
from myrmica.store.tables import job_configs as jc
from myrmica.store.timed_cache import TimedCache

CACHE_SECONDS = 1.0


def kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, dict | list):
        return "json"
    return "string"


def encode_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def decode_value(kind: str, text: str) -> Any:
    if kind == "string":
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


class JobConfigRepository:
    def __init__(self, engine: Database, box: SecretBox) -> None:
        self._engine = engine
        self._box = box
        self._cache: TimedCache[tuple[str, str], tuple[dict[str, Any], set[str]]] = TimedCache(CACHE_SECONDS)

    def _public(self, row: dict[str, Any]) -> dict[str, Any]:
        out = dict(row)
        out["value"] = MASK if row["secret"] else row["value"]
        return out

    async def for_job(self, owner_key: str, job_type: str) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            rows = as_dicts(await conn.execute(
                select(jc).where(jc.c.owner_key == owner_key, jc.c.job_type == job_type).order_by(jc.c.name)))
        return [self._public(row) for row in rows]

    async def plaintext(self, owner_key: str, job_type: str) -> tuple[dict[str, Any], set[str]]:
        """Name → value for rendering tasks, and the set of values that are secret (to mask in logs).

        Read for every request that starts, so kept for a second: changes through this server show at
        once, through another server within that second.
        """
        cached = self._cache.get((owner_key, job_type))
        if cached is None:
            read_at = time.monotonic()
            cached = await self._read_plaintext(owner_key, job_type)
            self._cache.put((owner_key, job_type), cached, read_at=read_at)
        values, secrets = cached
        return dict(values), set(secrets)

    async def _read_plaintext(self, owner_key: str, job_type: str) -> tuple[dict[str, Any], set[str]]:
        async with self._engine.connect() as conn:
            rows = as_dicts(await conn.execute(
                select(jc).where(jc.c.owner_key == owner_key, jc.c.job_type == job_type)))
        values: dict[str, Any] = {}
        secrets: set[str] = set()
        for row in rows:
            text = self._box.decrypt(row["value"]) if row["secret"] else row["value"]
            values[row["name"]] = decode_value(row["kind"], text)
            if row["secret"] and text:
                secrets.add(text)
        return values, secrets

    async def get(self, owner_key: str, job_type: str, config_id: str) -> dict[str, Any]:
        async with self._engine.connect() as conn:
            row = as_dict((await conn.execute(select(jc).where(
                jc.c.id == config_id, jc.c.owner_key == owner_key, jc.c.job_type == job_type))).first())
        if row is None:
            raise NotFoundError(f"config {config_id} not found")
        return self._public(row)

    async def create(self, owner_key: str, job_type: str, name: str, value: Any, secret: bool) -> dict[str, Any]:
        self._cache.forget((owner_key, job_type))
        now = utcnow()
        text = encode_value(value)
        row = {"id": new_id(), "owner_key": owner_key, "job_type": job_type, "name": name,
               "kind": kind_of(value), "value": self._box.encrypt(text) if secret else text,
               "secret": secret, "created_at": now, "updated_at": now}
        try:
            async with self._engine.begin() as conn:
                await conn.execute(jc.insert(), row)
        except IntegrityError as exc:
            raise ConflictError(f"a config named {name!r} exists for {job_type}", field="name") from exc
        return self._public(row)

    async def update(self, owner_key: str, job_type: str, config_id: str, name: str, value: Any,
                     secret: bool) -> dict[str, Any]:
        self._cache.forget((owner_key, job_type))
        async with self._engine.begin() as conn:
            current = as_dict((await conn.execute(select(jc).where(
                jc.c.id == config_id, jc.c.owner_key == owner_key, jc.c.job_type == job_type))).first())
            if current is None:
                raise NotFoundError(f"config {config_id} not found")
            values: dict[str, Any] = {"name": name, "secret": secret, "updated_at": utcnow()}
            if value == MASK and current["secret"]:
                pass  # "****" keeps the stored secret
            else:
                text = encode_value(value)
                values["kind"] = kind_of(value)
                values["value"] = self._box.encrypt(text) if secret else text
            if not secret and current["secret"] and value == MASK:
                values["value"] = self._box.decrypt(current["value"])
            try:
                await conn.execute(update(jc).where(jc.c.id == config_id).values(**values))
            except IntegrityError as exc:
                raise ConflictError(f"a config named {name!r} exists for {job_type}", field="name") from exc
        current.update(values)
        return self._public(current)

    async def delete(self, owner_key: str, job_type: str, config_id: str) -> None:
        self._cache.forget((owner_key, job_type))
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(jc).where(
                jc.c.id == config_id, jc.c.owner_key == owner_key, jc.c.job_type == job_type))
        if result.rowcount == 0:
            raise NotFoundError(f"config {config_id} not found")
