"""Tables that are plain records of their owner, read and written whole: error codes, job resources
(with their configs and quota uses), subscriptions, system and organisation configs.

Every change is a conditional update (``WHERE id = … AND <the caller's scope>``): a row another
tenant owns, or one deleted meanwhile, is "not found", never half-written.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Column, Table, and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from myrmica.clock import utcnow
from myrmica.domain.errors import ConflictError, NotFoundError
from myrmica.ids import new_id
from myrmica.security.crypto import MASK, SecretBox
from myrmica.store.database_lock import Database
from myrmica.store.job_configs import decode_value, encode_value, kind_of
from myrmica.store.rows import as_dict, as_dicts
from myrmica.store.tables import (
    audit_records,
    configs,
    error_codes,
    job_resource_configs,
    job_resource_uses,
    job_resources,
)
from myrmica.store.tables import subscriptions as subscriptions_table
from myrmica.store.timed_cache import TimedCache

CACHE_SECONDS = 1.0  # how long all() of the configs and the error codes is kept (each run reads both)
MAX_CACHED = 1_000

Scope = Mapping[str, Any]  # column → value every row the caller may touch has (empty: the admin's view)


def _where(table: Table, scope: Scope) -> list[ColumnElement[bool]]:
    return [table.c[name] == value for name, value in scope.items()]


class Catalog:
    """Create, get, update, delete and search the rows of one table, within a scope."""

    def __init__(self, db: Database, table: Table, what: str, *, unique_message: str = "",
                 cache_seconds: float = 0.0) -> None:
        self._db = db
        self.table = table
        self._what = what
        self._unique = unique_message or f"such a {what} exists"
        # all()'s answers kept this long (every run asks): a change here clears them at once, one made by
        # another queen shows within that time
        self._cached: TimedCache[Any, list[dict[str, Any]]] | None = (
            TimedCache(cache_seconds, most=MAX_CACHED) if cache_seconds > 0 else None)

    def _column(self, name: str) -> Column[Any]:
        column: Column[Any] = self.table.c[name]
        return column

    async def create(self, values: Mapping[str, Any]) -> dict[str, Any]:
        now = utcnow()
        row = {"id": new_id(), **values}
        if "updated_at" in self.table.c:
            row.setdefault("updated_at", now)
        row.setdefault("created_at", now)
        try:
            async with self._db.begin() as conn:
                await conn.execute(self.table.insert(), row)
        except IntegrityError as exc:
            raise ConflictError(self._unique) from exc
        finally:
            self._forget()
        return await self.get(row["id"], {})

    async def get(self, row_id: str, scope: Scope) -> dict[str, Any]:
        query = select(self.table).where(self.table.c.id == row_id, *_where(self.table, scope))
        async with self._db.connect() as conn:
            found = as_dict((await conn.execute(query)).first())
        if found is None:
            raise NotFoundError(f"{self._what} {row_id} not found")
        return found

    async def update(self, row_id: str, values: Mapping[str, Any], scope: Scope) -> dict[str, Any]:
        changes = dict(values)
        if "updated_at" in self.table.c:
            changes["updated_at"] = utcnow()
        statement = update(self.table).where(self.table.c.id == row_id, *_where(self.table, scope)).values(changes)
        try:
            async with self._db.begin() as conn:
                result = await conn.execute(statement)
        except IntegrityError as exc:
            raise ConflictError(self._unique) from exc
        finally:
            self._forget()
        if result.rowcount == 0:
            raise NotFoundError(f"{self._what} {row_id} not found")
        return await self.get(row_id, scope)

    async def delete(self, row_id: str, scope: Scope) -> None:
        try:
            async with self._db.begin() as conn:
                result = await conn.execute(delete(self.table).where(self.table.c.id == row_id,
                                                                     *_where(self.table, scope)))
        finally:
            self._forget()
        if result.rowcount == 0:
            raise NotFoundError(f"{self._what} {row_id} not found")

    async def search(self, scope: Scope, filters: Mapping[str, Any], *, page: int, page_size: int,
                     text_columns: Sequence[str] = (), text: str = "", newest_first: bool = False,
                     either: Sequence[Scope] = ()) -> tuple[list[dict[str, Any]], int]:
        """Rows equal to ``filters`` (column → value) in ``scope`` (or in any of ``either``), and holding
        ``text`` in one of ``text_columns``; one page of them and how many there are."""
        conditions = [*_where(self.table, scope), *(self._column(k) == v for k, v in filters.items())]
        if either:
            conditions.append(or_(*(and_(*_where(self.table, s)) for s in either)))
        if text and text_columns:
            pattern = f"%{text.replace('%', '').replace('_', '')}%"
            conditions.append(or_(*(self._column(c).like(pattern) for c in text_columns)))
        order = self.table.c.created_at.desc() if newest_first else self.table.c.created_at
        query = select(self.table).where(*conditions).order_by(order, self.table.c.id)
        async with self._db.connect() as conn:
            total = int((await conn.execute(select(func.count()).select_from(self.table).where(*conditions)))
                        .scalar() or 0)
            rows = as_dicts(await conn.execute(query.limit(page_size).offset(page * page_size)))
        return rows, total

    async def all(self, scope: Scope, *, either: Sequence[Scope] = ()) -> list[dict[str, Any]]:
        if self._cached is None:
            return await self._all(scope, either)
        key = (tuple(sorted(scope.items())), tuple(tuple(sorted(s.items())) for s in either))
        rows = self._cached.get(key)
        if rows is None:
            read_at = time.monotonic()
            rows = await self._all(scope, either)
            self._cached.put(key, rows, read_at=read_at)
        return [dict(row) for row in rows]

    def _forget(self) -> None:
        if self._cached is not None:
            self._cached.clear()

    async def _all(self, scope: Scope, either: Sequence[Scope]) -> list[dict[str, Any]]:
        conditions = list(_where(self.table, scope))
        if either:
            conditions.append(or_(*(and_(*_where(self.table, s)) for s in either)))
        async with self._db.connect() as conn:
            return as_dicts(await conn.execute(select(self.table).where(*conditions)
                                               .order_by(self.table.c.created_at, self.table.c.id)))


class SecretCatalog(Catalog):
    """Name/value rows whose secret values are encrypted at rest and leave masked (``****``); a PUT
    whose value is ``****`` keeps the stored one."""

    def __init__(self, db: Database, table: Table, what: str, box: SecretBox, *, unique_message: str,
                 cache_seconds: float = 0.0) -> None:
        super().__init__(db, table, what, unique_message=unique_message, cache_seconds=cache_seconds)
        self._box = box

    def public(self, row: dict[str, Any]) -> dict[str, Any]:
        out = dict(row)
        out["value"] = MASK if row["secret"] else decode_value(row["kind"], row["value"])
        return out

    def _stored(self, value: Any, secret: bool) -> dict[str, Any]:
        text = encode_value(value)
        return {"kind": kind_of(value), "value": self._box.encrypt(text) if secret else text, "secret": secret}

    async def add(self, base: Mapping[str, Any], value: Any, secret: bool) -> dict[str, Any]:
        return self.public(await self.create({**base, **self._stored(value, secret)}))

    async def change(self, row_id: str, base: Mapping[str, Any], value: Any, secret: bool,
                     scope: Scope) -> dict[str, Any]:
        if value == MASK:  # the masked value sent back: keep what is stored (and its secrecy)
            old = await self.get(row_id, scope)
            stored = {"kind": old["kind"], "value": old["value"], "secret": old["secret"]}
            if old["secret"] and not secret:
                raise ConflictError("send the value itself to make a secret plain", field="value")
        else:
            stored = self._stored(value, secret)
        return self.public(await self.update(row_id, {**base, **stored}, scope))

    def plaintext(self, rows: list[dict[str, Any]]) -> tuple[dict[str, Any], set[str]]:
        """Name → value with secrets decrypted (for a task's variables only) and the secret values."""
        values: dict[str, Any] = {}
        secrets: set[str] = set()
        for row in rows:
            text = self._box.decrypt(row["value"]) if row["secret"] else row["value"]
            values[row["name"]] = decode_value(row["kind"], text)
            if row["secret"] and text:
                secrets.add(text)
        return values, secrets


class Catalogs:
    """The catalogs of the store."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self.configs = SecretCatalog(db, configs, "config", box, unique_message="a config of that name exists",
                                     cache_seconds=CACHE_SECONDS)
        self.error_codes = Catalog(db, error_codes, "error code", cache_seconds=CACHE_SECONDS)
        self.resources = Catalog(db, job_resources, "job resource")
        self.resource_configs = SecretCatalog(db, job_resource_configs, "job resource config", box,
                                              unique_message="the resource has a config of that name")
        self.subscriptions = Catalog(db, subscriptions_table, "subscription")
        self.audits = Catalog(db, audit_records, "audit record")

    async def scoped_configs(self, scope: str, scope_id: str) -> tuple[dict[str, Any], set[str]]:
        return self.configs.plaintext(await self.configs.all({"scope": scope, "scope_id": scope_id}))

    # --- job resource quotas (spec §1.7: allocations checked against the quota, leases that lapse) ---

    async def allocate(self, resource_id: str, request_id: str, task_type: str, value: int,
                       scope: Scope) -> dict[str, Any]:
        """Take ``value`` of the resource for a request, or ConflictError when that would pass its
        quota. The check and the insert are one transaction under a lock on the resource's row
        (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's writer lock), so two takers never both win."""
        now = utcnow()
        async with self._db.begin() as conn:
            resource = as_dict((await conn.execute(
                select(job_resources).where(job_resources.c.id == resource_id, *_where(job_resources, scope))
                .with_for_update())).first())
            if resource is None:
                raise NotFoundError(f"job resource {resource_id} not found")
            if resource["disabled"]:
                raise ConflictError(f"job resource {resource_id} is disabled", field="disabled")
            # Lapsed leases first: a taker that died does not hold the quota for ever.
            await conn.execute(delete(job_resource_uses).where(
                job_resource_uses.c.job_resource_id == resource_id, job_resource_uses.c.expires_at.is_not(None),
                job_resource_uses.c.expires_at <= now))
            used = int((await conn.execute(select(func.coalesce(func.sum(job_resource_uses.c.value), 0))
                                           .where(job_resource_uses.c.job_resource_id == resource_id))).scalar()
                       or 0)
            if used + value > int(resource["quota"]):
                raise ConflictError(f"job resource {resource_id} has {int(resource['quota']) - used} of its quota "
                                    f"{resource['quota']} left; {value} asked", field="quota")
            lease = int(resource["lease_timeout"] or 0)
            use = {"id": new_id(), "job_resource_id": resource_id, "job_request_id": request_id,
                   "task_type": task_type, "value": value, "created_at": now,
                   "expires_at": now + timedelta(microseconds=lease // 1000) if lease > 0 else None}
            await conn.execute(job_resource_uses.insert(), use)
        return use

    async def deallocate(self, use_id: str) -> None:
        async with self._db.begin() as conn:
            result = await conn.execute(delete(job_resource_uses).where(job_resource_uses.c.id == use_id))
        if result.rowcount == 0:
            raise NotFoundError(f"job resource use {use_id} not found")

    async def uses(self, resource_id: str) -> list[dict[str, Any]]:
        now = utcnow()
        async with self._db.connect() as conn:
            return as_dicts(await conn.execute(select(job_resource_uses).where(
                job_resource_uses.c.job_resource_id == resource_id,
                or_(job_resource_uses.c.expires_at.is_(None), job_resource_uses.c.expires_at > now))))
