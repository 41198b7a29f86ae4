"""Strait jobs over the core (spec/strait.md §3, §8, §9): each job one core definition (``strait-<id>``,
its configuration in the definition's dialect settings, a new core version per update), plus a
``strait_jobs`` row for what the core has no column for (the slug, unique per project, and the tags the
list filters on). A project is the principal's owner (its organisation).
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from myrmica.clock import utcnow
from myrmica.domain.errors import NotFoundError
from myrmica.domain.principal import Principal
from myrmica.domain.records import DefinitionRecord, PageRequest, RequestFilter
from myrmica.domain.strait import translate
from myrmica.domain.strait.errors import StraitError, bad, conflict, not_found
from myrmica.domain.strait.validate import DEFAULTS
from myrmica.ids import new_id
from myrmica.service.jobs import TERMINAL, JobService
from myrmica.service.strait_ports import StraitStore

SECRET_MASK = "********"
MAX_LIST = 200
MAX_BATCH = 50
CACHE_SECONDS = 1.0
MAX_CACHED = 10_000
CONDITIONS = ("completed", "failed", "any")
_ALPHABET = string.digits + string.ascii_lowercase


def version_id() -> str:
    return "ver_" + "".join(secrets.choice(_ALPHABET) for _ in range(12))


@dataclass(frozen=True)
class StraitJob:
    id: str
    project_id: str
    job_type: str
    config: dict[str, Any]  # the configuration fields (webhook_secret never in clear: see ``view``)
    meta: dict[str, Any]  # version_id, created_by, updated_by, created_at
    definition: DefinitionRecord

    @property
    def version(self) -> int:
        return self.definition.version

    def view(self) -> dict[str, Any]:
        """The seed's Job object."""
        config = dict(self.config)
        config["webhook_secret"] = SECRET_MASK if self.meta.get("webhook_secret_sealed") else ""
        config["enabled"] = not self.definition.disabled
        return {"id": self.id, "project_id": self.project_id, **config, "version": self.version,
                "version_id": self.meta.get("version_id", ""), "created_by": self.meta.get("created_by", ""),
                "updated_by": self.meta.get("updated_by", ""), "created_at": _when(self.meta.get("created_at")),
                "updated_at": self.definition.created_at}


def _when(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def actor(principal: Principal) -> str:
    return f"apikey:{principal.username}" if principal.username else f"user:{principal.user_id}"


class StraitJobs:
    def __init__(self, *, jobs: JobService, store: StraitStore) -> None:
        self.jobs = jobs
        self.store = store
        self._recent: dict[tuple[str, str], tuple[StraitJob, float]] = {}

    # --- reading --------------------------------------------------------------------------------

    def _forget(self, job_id: str) -> None:
        for key in [k for k in self._recent if k[1] == job_id]:
            self._recent.pop(key, None)

    async def get(self, principal: Principal, job_id: str, *, fresh: bool = False) -> StraitJob:
        """404 "job not found" for an unknown id or another project's job. A job read in the last
        ``CACHE_SECONDS`` on this queen is not read again (``fresh`` reads it anyway): a trigger's
        hot path, as the scheduler's own definition cache."""
        key = (principal.owner_key, job_id)
        cached = self._recent.get(key)
        now = time.monotonic()
        if cached is not None and cached[1] > now and not fresh:
            return cached[0]
        job = await self._read(principal, job_id)
        if len(self._recent) > MAX_CACHED:
            self._recent.clear()
        self._recent[key] = (job, now + CACHE_SECONDS)
        return job

    async def _read(self, principal: Principal, job_id: str) -> StraitJob:
        row = await self.store.job(job_id, principal.owner_key) if len(job_id) <= 26 else None
        if row is None:
            raise not_found()
        try:
            definition = await self.jobs.definitions.get(principal, row["job_type"])
        except NotFoundError:
            raise not_found() from None
        return self._of(row, definition)

    @staticmethod
    def _of(row: dict[str, Any], definition: DefinitionRecord) -> StraitJob:
        settings = dict(definition.dialect_settings or {})
        config = {name: settings.get("job", {}).get(name, default) for name, default in DEFAULTS.items()}
        return StraitJob(row["id"], row["owner_key"], row["job_type"], config, dict(settings.get("meta", {})),
                         definition)

    async def list_jobs(self, principal: Principal, *, tag_key: str = "", tag_value: str | None = None,
                   cursor: str = "", limit: int = 50) -> tuple[list[StraitJob], str]:
        """Newest first; (jobs, the next page's cursor or "")."""
        if tag_value is not None and not tag_key:
            raise bad("tag_value requires tag_key", "tag_value")
        before = _read_cursor(cursor) if cursor else None
        limit = max(1, min(limit, MAX_LIST))
        rows = await self.store.jobs(principal.owner_key, tag_key=tag_key, tag_value=tag_value, before=before,
                                     limit=limit + 1)
        more = len(rows) > limit
        out = []
        for row in rows[:limit]:
            try:
                out.append(self._of(row, await self.jobs.definitions.get(principal, row["job_type"])))
            except NotFoundError:
                continue
        last = rows[limit - 1] if more else None
        return out, (_cursor(last["created_at"], last["id"]) if last is not None else "")

    # --- writing --------------------------------------------------------------------------------

    async def _save(self, principal: Principal, job_id: str, config: dict[str, Any], meta: dict[str, Any],
                    version: int) -> DefinitionRecord:
        settings = {"job": {**config, "webhook_secret": ""}, "meta": meta}
        parsed = translate.parsed_definition(job_id, config, version)
        saved = await self.jobs.definitions.upsert(principal, parsed, dialect=translate.DIALECT,
                                                   dialect_settings=settings)
        definition = saved.definition
        limit = int(config["max_concurrency"]) or translate.UNLIMITED
        if definition.max_concurrency != limit:  # the core carries the first version's limit over
            definition = await self.jobs.definitions.set_concurrency(principal, definition.job_type, limit)
        if definition.disabled == bool(config["enabled"]):
            definition = await self.jobs.definitions.set_disabled(principal, definition.job_type,
                                                                  not config["enabled"])
        return definition

    def _meta(self, config: dict[str, Any], previous: dict[str, Any], principal: Principal,
              secret_given: bool) -> dict[str, Any]:
        meta = {**previous, "version_id": version_id(), "updated_by": actor(principal)}
        if secret_given:
            secret = config.get("webhook_secret") or ""
            meta["webhook_secret_sealed"] = self.jobs.seal_secrets({"s": secret})["s"] if secret else ""
        return meta

    async def create(self, principal: Principal, config: dict[str, Any]) -> StraitJob:
        job_id = new_id()
        now = utcnow()
        job_type = translate.job_type_of(job_id)
        await self.store.add_job({"id": job_id, "owner_key": principal.owner_key, "slug": config["slug"],
                                  "job_type": job_type, "tags": config["tags"], "created_at": now})
        meta = self._meta(config, {"created_by": actor(principal), "created_at": now.isoformat()}, principal, True)
        try:
            definition = await self._save(principal, job_id, config, meta, 1)
        except BaseException:
            await self.store.delete_job(job_id)
            raise
        return StraitJob(job_id, principal.owner_key, job_type, {**config, "webhook_secret": ""}, meta, definition)

    async def update(self, principal: Principal, job: StraitJob, config: dict[str, Any],
                     secret_given: bool) -> StraitJob:
        if config["slug"] != job.config["slug"] or config["tags"] != job.config["tags"]:
            await self.store.change_job(job.id, slug=config["slug"], tags=config["tags"])
        self._forget(job.id)
        meta = self._meta(config, job.meta, principal, secret_given)
        definition = await self._save(principal, job.id, config, meta, job.version + 1)
        policy = config["version_policy"]
        if policy == "latest" or (policy == "minor" and config["backwards_compatible"]):
            await self.jobs.retarget(principal, job.job_type)  # runs not started yet take this version
        return StraitJob(job.id, job.project_id, job.job_type, {**config, "webhook_secret": ""}, meta, definition)

    async def clone(self, principal: Principal, job: StraitJob, name: str, slug: str) -> StraitJob:
        clone = await self.create(principal, {**job.config, "name": name, "slug": slug, "enabled": True,
                                              "webhook_secret": ""})
        if job.meta.get("webhook_secret_sealed"):  # the secret travels sealed
            meta = {**clone.meta, "webhook_secret_sealed": job.meta["webhook_secret_sealed"]}
            definition = await self._save(principal, clone.id, clone.config, meta, 1)
            clone = StraitJob(clone.id, clone.project_id, clone.job_type, clone.config, meta, definition)
        return clone

    async def set_enabled(self, principal: Principal, job_ids: list[str], enabled: bool) -> int:
        count = 0
        for job_id in job_ids:
            try:
                job = await self.get(principal, job_id, fresh=True)
            except StraitError:
                continue
            if job.definition.disabled == enabled:
                self._forget(job.id)
                await self.jobs.definitions.set_disabled(principal, job.job_type, not enabled)
            count += 1
        return count

    async def active_runs(self, principal: Principal, job: StraitJob) -> int:
        found = await self.jobs.search(principal, RequestFilter(
            job_type=job.job_type, states=frozenset({"PENDING", "READY", "EXECUTING", "PAUSED", "BLOCKED",
                                                     "MANUAL_APPROVAL_REQUIRED", "STARTED"})), PageRequest(0, 1))
        return found.total

    async def delete(self, principal: Principal, job: StraitJob) -> None:
        """409 while the job has runs that have not ended."""
        if await self.active_runs(principal, job):
            raise conflict("job has active runs; cancel them before deleting the job")
        self._forget(job.id)
        await self.jobs.definitions.delete(principal, job.job_type)
        await self.store.delete_job(job.id)

    # --- versions -------------------------------------------------------------------------------

    async def versions(self, principal: Principal, job: StraitJob) -> list[dict[str, Any]]:
        """Every superseded configuration, newest first (the current one is the job itself)."""
        rows = await self.jobs.definitions.versions(principal, job.job_type)
        return [version_view(job, self._of({"id": job.id, "owner_key": job.project_id, "job_type": job.job_type},
                                            row))
                for row in sorted(rows, key=lambda r: -r.version) if row.version < job.version]

    async def version(self, principal: Principal, job: StraitJob, wanted: str) -> dict[str, Any]:
        for item in await self.versions(principal, job):
            if item["id"] == wanted:
                return item
        raise not_found("version not found")

    # --- dependencies ---------------------------------------------------------------------------

    async def add_dependency(self, principal: Principal, job: StraitJob, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or set(body) - {"depends_on_job_id", "condition"}:
            raise bad("invalid request body: expected {depends_on_job_id, condition}")
        upstream = body.get("depends_on_job_id")
        if not isinstance(upstream, str) or not upstream:
            raise bad("depends_on_job_id is required", "depends_on_job_id")
        condition = body.get("condition") or "completed"
        if condition not in CONDITIONS:
            raise bad("condition must be one of: completed, failed, any", "condition")
        if upstream == job.id:
            raise bad("job cannot depend on itself", "depends_on_job_id")
        try:
            await self.get(principal, upstream)
        except StraitError:
            raise bad("depends_on_job_id does not exist", "depends_on_job_id") from None
        if any(d["depends_on_job_id"] == upstream for d in await self.store.dependencies(job.id)):
            raise conflict("this dependency exists", "depends_on_job_id")
        row = {"id": new_id(), "job_id": job.id, "depends_on_job_id": upstream, "condition": condition,
               "created_at": utcnow()}
        await self.store.add_dependency(row)
        return row

    async def dependencies(self, job: StraitJob) -> list[dict[str, Any]]:
        return await self.store.dependencies(job.id)

    async def delete_dependency(self, job: StraitJob, dependency_id: str) -> None:
        if not await self.store.delete_dependency(job.id, dependency_id):
            raise not_found("dependency not found")


def version_view(current: StraitJob, old: StraitJob) -> dict[str, Any]:
    config = old.config
    return {"id": old.meta.get("version_id", ""), "job_id": current.id, "version": old.version,
            **{name: config[name] for name in ("name", "slug", "description", "cron", "payload_schema", "tags",
                                               "endpoint_url", "fallback_endpoint_url", "max_attempts",
                                               "timeout_secs", "webhook_url")},
            "webhook_secret": SECRET_MASK if old.meta.get("webhook_secret_sealed") else "",
            "run_ttl_secs": config["run_ttl_secs"], "version_policy": config["version_policy"],
            "backwards_compatible": config["backwards_compatible"], "created_at": old.definition.created_at}


def _cursor(at: datetime, job_id: str) -> str:
    return f"{at.isoformat()}|{job_id}"


def _read_cursor(cursor: str) -> tuple[datetime, str]:
    at, _, job_id = cursor.partition("|")
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        raise bad("invalid cursor", "cursor") from None
    if when.tzinfo is None or not job_id or len(job_id) > 26:
        raise bad("invalid cursor", "cursor")
    return when, job_id


Listener = Callable[[Any], Awaitable[None]]
TERMINAL_STATES = TERMINAL
