"""The Strait dialect's rows (tables ``strait_*``): a job's slug and tags, a run's trigger facts, the dedup
claims and the dependencies between jobs. The job's configuration and the run's state are the core's
(definition and request); these rows only hold what the core has no column for."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from myrmica.domain.errors import ConflictError
from myrmica.store.database_lock import Database
from myrmica.store.rows import as_dict, as_dicts
from myrmica.store.tables import job_requests, strait_dedup, strait_dependencies, strait_jobs, strait_runs
from myrmica.store.timed_cache import TimedCache

DEPENDENCY_CACHE_SECONDS = 1.0
MAX_CACHED_JOBS = 10_000
_DEPENDENCIES = select(strait_dependencies).where(strait_dependencies.c.job_id == bindparam("job_id")).order_by(
    strait_dependencies.c.created_at, strait_dependencies.c.id)
_DEPENDENTS = select(strait_dependencies).where(strait_dependencies.c.depends_on_job_id == bindparam("job_id"))


_INSERT_RUN = insert(strait_runs)


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class StraitRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._dependencies: TimedCache[str, list[dict[str, Any]]] = TimedCache(DEPENDENCY_CACHE_SECONDS,
                                                                               most=MAX_CACHED_JOBS)
        self._dependents: TimedCache[str, list[dict[str, Any]]] = TimedCache(DEPENDENCY_CACHE_SECONDS,
                                                                             most=MAX_CACHED_JOBS)

    # --- jobs -----------------------------------------------------------------------------------

    async def add_job(self, row: dict[str, Any]) -> None:
        """409 when the project already has a job with this slug."""
        try:
            async with self._db.begin() as conn:
                await conn.execute(strait_jobs.insert(), {**row, "tags": json.dumps(row["tags"], sort_keys=True)})
        except IntegrityError:
            raise ConflictError(f"a job with slug {row['slug']!r} already exists in this project",
                                field="slug") from None

    async def job(self, job_id: str, owner_key: str) -> dict[str, Any] | None:
        async with self._db.connect() as conn:
            return as_dict((await conn.execute(select(strait_jobs).where(
                strait_jobs.c.id == job_id, strait_jobs.c.owner_key == owner_key))).first())

    async def change_job(self, job_id: str, *, slug: str, tags: dict[str, str]) -> None:
        try:
            async with self._db.begin() as conn:
                await conn.execute(update(strait_jobs).where(strait_jobs.c.id == job_id).values(
                    slug=slug, tags=json.dumps(tags, sort_keys=True)))
        except IntegrityError:
            raise ConflictError(f"a job with slug {slug!r} already exists in this project", field="slug") from None

    async def delete_job(self, job_id: str) -> None:
        async with self._db.begin() as conn:
            await conn.execute(delete(strait_dependencies).where(or_(
                strait_dependencies.c.job_id == job_id, strait_dependencies.c.depends_on_job_id == job_id)))
            await conn.execute(delete(strait_dedup).where(strait_dedup.c.job_id == job_id))
            await conn.execute(delete(strait_jobs).where(strait_jobs.c.id == job_id))
        self._forget_dependencies()

    async def jobs(self, owner_key: str, *, tag_key: str = "", tag_value: str | None = None,
                   before: tuple[datetime, str] | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first; ``before`` is the (created_at, id) of the last job of the previous page."""
        where = [strait_jobs.c.owner_key == owner_key]
        if tag_key:
            pattern = json.dumps(tag_key) + ": " + (json.dumps(tag_value) if tag_value is not None else "")
            where.append(strait_jobs.c.tags.like(f"%{_like(pattern)}%", escape="\\"))
        if before is not None:
            at, last_id = before
            where.append(or_(strait_jobs.c.created_at < at,
                             and_(strait_jobs.c.created_at == at, strait_jobs.c.id < last_id)))
        async with self._db.connect() as conn:
            return as_dicts(await conn.execute(select(strait_jobs).where(*where).order_by(
                strait_jobs.c.created_at.desc(), strait_jobs.c.id.desc()).limit(limit)))

    # --- runs -----------------------------------------------------------------------------------

    @staticmethod
    def run_row(row: Mapping[str, Any]) -> tuple[Insert, dict[str, Any]]:
        """The insert of a run's row, to be stored with its request (``RequestRepository.create``'s extra
        rows: the trigger's hot path, one commit). Every column given, so it goes straight to the driver."""
        return _INSERT_RUN, {"concurrency_key": "", "idempotency_key": None, "dependency_key": None,
                             "scheduled_at": None, "expires_at": None, **row}

    async def add_runs(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            async with self._db.begin() as conn:
                await conn.execute(strait_runs.insert(), list(rows))

    async def run(self, request_id: str) -> dict[str, Any] | None:
        async with self._db.connect() as conn:
            return as_dict((await conn.execute(select(strait_runs).where(
                strait_runs.c.request_id == request_id))).first())

    async def runs(self, request_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not request_ids:
            return {}
        async with self._db.connect() as conn:
            rows = as_dicts(await conn.execute(select(strait_runs).where(
                strait_runs.c.request_id.in_(list(request_ids)))))
        return {row["request_id"]: row for row in rows}

    async def runs_of_job(self, job_id: str, *, key: str = "", idempotency_only: bool = False,
                          limit: int = 50) -> list[dict[str, Any]]:
        """The job's runs, newest first; with ``key``, those whose idempotency key (or dependency key) it is."""
        where = [strait_runs.c.job_id == job_id]
        if key and idempotency_only:
            where.append(strait_runs.c.idempotency_key == key)
        elif key:
            where.append(or_(strait_runs.c.idempotency_key == key,
                             strait_runs.c.dependency_key == key))
        async with self._db.connect() as conn:
            return as_dicts(await conn.execute(select(strait_runs).where(*where).order_by(
                strait_runs.c.created_at.desc()).limit(limit)))

    async def count_since(self, job_id: str, since: datetime) -> tuple[int, datetime | None]:
        """Runs of the job created after ``since``, and the oldest one's time."""
        async with self._db.connect() as conn:
            oldest = func.min(strait_runs.c.created_at).label("oldest")
            row = (await conn.execute(select(func.count().label("n"), oldest).where(
                strait_runs.c.job_id == job_id, strait_runs.c.created_at > since))).first()
        found = as_dict(row) or {}
        return int(found.get("n") or 0), found.get("oldest")

    async def runs_since(self, job_id: str, since: datetime, limit: int = 10_000) -> list[dict[str, Any]]:
        """The job's runs created after ``since``, newest first (at most ``limit``)."""
        async with self._db.connect() as conn:
            return as_dicts(await conn.execute(select(strait_runs.c.request_id, strait_runs.c.info,
                                                      strait_runs.c.created_at).where(
                strait_runs.c.job_id == job_id, strait_runs.c.created_at > since)
                .order_by(strait_runs.c.created_at.desc()).limit(limit)))

    async def live_counts(self, owner_key: str, states: Sequence[str]) -> dict[str, int]:
        """How many of the project's runs are in each of these core states (its quotas' count)."""
        query = (select(job_requests.c.job_state, func.count().label("n"))
                 .select_from(strait_runs.join(job_requests, job_requests.c.id == strait_runs.c.request_id))
                 .where(strait_runs.c.owner_key == owner_key, job_requests.c.job_state.in_(list(states)))
                 .group_by(job_requests.c.job_state))
        async with self._db.connect() as conn:
            rows = as_dicts(await conn.execute(query))
        return {str(row["job_state"]): int(row["n"]) for row in rows}

    async def expired(self, now: datetime, limit: int = 500) -> list[str]:
        """Request ids of runs whose ``expires_at`` has passed (the caller keeps those still waiting)."""
        async with self._db.connect() as conn:
            rows = (await conn.execute(select(strait_runs.c.request_id).where(
                strait_runs.c.expires_at.is_not(None), strait_runs.c.expires_at < now)
                .order_by(strait_runs.c.expires_at).limit(limit))).all()
        return [str(r[0]) for r in rows]

    # --- dedup ----------------------------------------------------------------------------------

    async def claim_dedup(self, job_id: str, payload_hash: str, request_id: str, *, now: datetime,
                          since: datetime) -> str | None:
        """Claim (job, payload) for ``request_id``: None when won (no claim, or the last one is older than
        ``since``), else the request id of the run that holds it. One statement, so two queens racing on one
        payload cannot both win."""
        values = {"job_id": job_id, "payload_hash": payload_hash, "request_id": request_id, "created_at": now}
        dialect = postgresql if self._db.name == "postgresql" else sqlite
        statement = dialect.insert(strait_dedup).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=["job_id", "payload_hash"],
            set_={"request_id": request_id, "created_at": now},
            where=strait_dedup.c.created_at <= since).returning(strait_dedup.c.request_id)
        async with self._db.begin() as conn:
            won = (await conn.execute(statement)).first()
            if won is not None and won[0] == request_id:
                return None
            held = (await conn.execute(select(strait_dedup.c.request_id).where(
                strait_dedup.c.job_id == job_id, strait_dedup.c.payload_hash == payload_hash))).first()
        return str(held[0]) if held is not None else None

    async def drop_dedup(self, job_id: str, payload_hash: str, request_id: str) -> None:
        """Give a claim back (its run could not be made)."""
        async with self._db.begin() as conn:
            await conn.execute(delete(strait_dedup).where(
                strait_dedup.c.job_id == job_id, strait_dedup.c.payload_hash == payload_hash,
                strait_dedup.c.request_id == request_id))

    # --- dependencies ---------------------------------------------------------------------------

    async def add_dependency(self, row: dict[str, Any]) -> None:
        try:
            async with self._db.begin() as conn:
                await conn.execute(strait_dependencies.insert(), row)
        finally:
            self._forget_dependencies()

    def _forget_dependencies(self) -> None:
        self._dependencies.clear()
        self._dependents.clear()

    async def dependencies(self, job_id: str) -> list[dict[str, Any]]:
        """The job's dependencies (oldest first). Read at most once a second per queen (every trigger asks):
        a change through this queen shows at once, one through another within that second."""
        return await self._cached(self._dependencies, _DEPENDENCIES, job_id)

    async def dependents(self, upstream_job_id: str) -> list[dict[str, Any]]:
        """The dependencies on the job (every run end asks), cached as :meth:`dependencies`."""
        return await self._cached(self._dependents, _DEPENDENTS, upstream_job_id)

    async def _cached(self, cache: TimedCache[str, list[dict[str, Any]]], statement: Any,
                      job_id: str) -> list[dict[str, Any]]:
        rows = cache.get(job_id)
        if rows is None:
            read_at = time.monotonic()
            async with self._db.connect() as conn:
                rows = as_dicts(await conn.execute(statement, {"job_id": job_id}))
            cache.put(job_id, rows, read_at=read_at)
        return list(rows)

    async def delete_dependency(self, job_id: str, dependency_id: str) -> bool:
        try:
            async with self._db.begin() as conn:
                result = await conn.execute(delete(strait_dependencies).where(
                    strait_dependencies.c.id == dependency_id, strait_dependencies.c.job_id == job_id))
        finally:
            self._forget_dependencies()
        return bool(result.rowcount)
