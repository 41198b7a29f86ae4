"""Job definitions: versioned on change, looked up by id or job_type, scoped to their owner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from myrmica.clock import utcnow
from myrmica.domain.definitions import ParsedDefinition
from myrmica.domain.errors import ConflictError, NotFoundError
from myrmica.domain.principal import Principal
from myrmica.domain.records import DefinitionFilter
from myrmica.ids import new_id
from myrmica.store.database_lock import Conn, Database
from myrmica.store.rows import as_dict, as_dicts
from myrmica.store.tables import job_definitions as jd

DEFAULT_MAX_CONCURRENCY = 3
__all__ = ["DefinitionFilter", "DefinitionRepository", "SaveResult"]


class _Raced(Exception):
    """Another upload changed the active version between our read and our write."""


@dataclass(frozen=True)
class SaveResult:
    definition: dict[str, Any]
    created: bool


def _looks_like_id(text: str) -> bool:
    return len(text) == 26 and text.isalnum() and text.upper() == text


def visible_to(principal: Principal) -> ColumnElement[bool]:
    """The caller's own definitions, and others' public plugins named as plugins (``org.bundle.name``):
    a ``public_plugin`` stored before that rule, named like an ordinary job type, stays its owner's."""
    if principal.admin:
        return jd.c.id.is_not(None)
    plugin = and_(jd.c.public_plugin.is_(True), jd.c.job_type.like("_%._%._%"))
    return or_(jd.c.owner_key == principal.owner_key, plugin)


class DefinitionRepository:
    def __init__(self, engine: Database) -> None:
        self._engine = engine

    async def save(self, principal: Principal, parsed: ParsedDefinition, *, dialect: str = "formicary",
                   dialect_settings: dict[str, Any] | None = None) -> SaveResult:
        """Store a new version when the source changed; an identical re-post changes nothing."""
        for _ in range(5):
            try:
                async with self._engine.begin() as conn:
                    return await self._save(conn, principal, parsed, dialect, dialect_settings)
            except (IntegrityError, _Raced):
                continue  # another writer took this version number; read again and retry
        raise ConflictError("the definition is being changed concurrently; try again", field="job_type")

    async def _save(self, conn: Conn, principal: Principal, parsed: ParsedDefinition,
                    dialect: str, dialect_settings: dict[str, Any] | None) -> SaveResult:
        spec = parsed.spec
        current = as_dict((await conn.execute(
            select(jd).where(jd.c.owner_key == principal.owner_key, jd.c.job_type == spec.job_type,
                             jd.c.active.is_(True)))).first())
        if current is not None and current["raw_digest"] == parsed.digest:
            return SaveResult(current, created=False)
        last_version = (await conn.execute(
            select(func.max(jd.c.version)).where(jd.c.owner_key == principal.owner_key,
                                                 jd.c.job_type == spec.job_type))).scalar()
        now = utcnow()
        if current is not None:
            # Formicary carries these over: the YAML's max_concurrency applies to the first version only.
            max_concurrency, disabled = current["max_concurrency"], current["disabled"]
            result = await conn.execute(update(jd).where(jd.c.id == current["id"], jd.c.active.is_(True))
                                        .values(active=False, updated_at=now))
            if not result.rowcount:
                raise _Raced()
        else:
            max_concurrency = spec.max_concurrency if spec.max_concurrency > 0 else DEFAULT_MAX_CONCURRENCY
            disabled = spec.disabled
        row: dict[str, Any] = {
            "id": new_id(), "owner_key": principal.owner_key, "organization_id": principal.organization_id,
            "user_id": principal.user_id, "job_type": spec.job_type, "version": (last_version or 0) + 1,
            "sem_version": spec.sem_version, "active": True, "disabled": disabled,
            "max_concurrency": max_concurrency, "public_plugin": spec.public_plugin,
            "platform": spec.platform, "description": spec.description,
            "tags": ",".join(spec.aggregated_tags()), "methods": ",".join(spec.aggregated_methods()),
            "cron_trigger": spec.cron_trigger, "dialect": dialect, "raw_format": parsed.format,
            "raw_source": parsed.raw, "raw_digest": parsed.digest,
            "spec": spec.model_dump(mode="json", by_alias=True), "dialect_settings": dialect_settings,
            "created_at": now, "updated_at": now,
        }
        await conn.execute(jd.insert(), row)
        return SaveResult(row, created=True)

    async def get(self, principal: Principal, id_or_type: str, *, version: int | None = None) -> dict[str, Any]:
        """By id (any version) or by job_type (the active version, or ``version``)."""
        async with self._engine.connect() as conn:
            found = None
            if _looks_like_id(id_or_type):
                found = as_dict((await conn.execute(
                    select(jd).where(jd.c.id == id_or_type, visible_to(principal)))).first())
            if found is None:
                condition = [jd.c.job_type == id_or_type, visible_to(principal)]
                condition.append(jd.c.version == version if version is not None else jd.c.active.is_(True))
                # Prefer the caller's own definition over another tenant's public one.
                mine = (jd.c.owner_key == principal.owner_key).desc()
                found = as_dict((await conn.execute(
                    select(jd).where(*condition).order_by(mine, jd.c.version.desc()).limit(1))).first())
        if found is None:
            raise NotFoundError(f"job definition {id_or_type!r} not found")
        if version is not None and found["version"] != version:
            found = await self.get(principal, found["job_type"], version=version)
        return found

    async def active_of(self, owner_key: str, job_type: str) -> dict[str, Any]:
        """The active version of one owner's job type (not another tenant's of the same name)."""
        async with self._engine.connect() as conn:
            found = as_dict((await conn.execute(select(jd).where(
                jd.c.owner_key == owner_key, jd.c.job_type == job_type, jd.c.active.is_(True)))).first())
        if found is None:
            raise NotFoundError(f"job definition {job_type!r} not found")
        return found

    async def get_own(self, principal: Principal, id_or_type: str) -> dict[str, Any]:
        """The active version, when the caller owns it (or is the admin): another tenant's public plugin
        can be read and run, not changed, nor its configs read."""
        found = await self.get_active(principal, id_or_type)
        if found["owner_key"] != principal.owner_key and not principal.admin:
            raise NotFoundError(f"job definition {id_or_type!r} not found")
        return found

    async def get_active(self, principal: Principal, id_or_type: str) -> dict[str, Any]:
        found = await self.get(principal, id_or_type)
        if not found["active"]:
            return await self.get(principal, found["job_type"])
        return found

    async def search(self, principal: Principal, flt: DefinitionFilter, *, page: int, page_size: int
                   ) -> tuple[list[dict[str, Any]], int]:
        conditions: list[ColumnElement[bool]] = [visible_to(principal), jd.c.active.is_(True)]
        if flt.job_type:
            conditions.append(jd.c.job_type == flt.job_type)
        if flt.platform:
            conditions.append(jd.c.platform == flt.platform)
        if flt.job_type_prefix:
            escaped = flt.job_type_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conditions.append(jd.c.job_type.like(f"{escaped}%", escape="\\"))
        if flt.disabled is not None:
            conditions.append(jd.c.disabled.is_(flt.disabled))
        if flt.public_plugin is not None:
            conditions.append(jd.c.public_plugin.is_(flt.public_plugin))
        for tag in flt.tags:
            conditions.append(or_(jd.c.tags == tag, jd.c.tags.like(f"{tag},%"), jd.c.tags.like(f"%,{tag}"),
                                  jd.c.tags.like(f"%,{tag},%")))
        where = and_(*conditions)
        async with self._engine.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(jd).where(where))).scalar() or 0
            rows = as_dicts(await conn.execute(
                select(jd).where(where).order_by(*((jd.c.created_at.desc(), jd.c.id.desc()) if flt.newest_first
                                                   else (jd.c.job_type,)))
                .offset(page * page_size).limit(page_size)))
        return rows, int(total)

    async def with_cron(self) -> list[dict[str, Any]]:
        """Active, enabled definitions that have a cron trigger (every owner)."""
        async with self._engine.connect() as conn:
            return as_dicts(await conn.execute(select(jd).where(jd.c.active.is_(True), jd.c.disabled.is_(False),
                                                                jd.c.cron_trigger != "")))

    async def versions(self, principal: Principal, job_type: str) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            rows = as_dicts(await conn.execute(
                select(jd).where(jd.c.job_type == job_type, visible_to(principal),
                                 jd.c.owner_key == principal.owner_key if not principal.admin else jd.c.id.is_not(None))
                .order_by(jd.c.version.desc())))
        if not rows:
            raise NotFoundError(f"job definition {job_type!r} not found")
        return rows

    async def _update_active(self, principal: Principal, id_or_type: str, **values: Any) -> dict[str, Any]:
        found = await self.get_own(principal, id_or_type)
        values["updated_at"] = utcnow()
        async with self._engine.begin() as conn:
            result = await conn.execute(update(jd).where(jd.c.id == found["id"], jd.c.active.is_(True))
                                        .values(**values))
        if result.rowcount == 0:
            raise ConflictError(f"job definition {id_or_type!r} changed meanwhile; try again")
        found.update(values)
        return found

    async def set_disabled(self, principal: Principal, id_or_type: str, disabled: bool) -> dict[str, Any]:
        return await self._update_active(principal, id_or_type, disabled=disabled)

    async def set_concurrency(self, principal: Principal, id_or_type: str, concurrency: int) -> dict[str, Any]:
        return await self._update_active(principal, id_or_type, max_concurrency=concurrency)

    async def delete(self, principal: Principal, id_or_type: str) -> dict[str, Any]:
        """Deactivate every version: the type disappears from lookups; history rows stay for requests."""
        found = await self.get_own(principal, id_or_type)
        async with self._engine.begin() as conn:
            await conn.execute(update(jd).where(jd.c.owner_key == found["owner_key"],
                                                jd.c.job_type == found["job_type"], jd.c.active.is_(True))
                               .values(active=False, updated_at=utcnow()))
        return found
