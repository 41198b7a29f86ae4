"""Job definitions as every dialect manages them: upsert a parsed spec (tagged with its dialect),
read, list, version, disable, delete. Tenancy is a parameter of each call."""

from __future__ import annotations

from typing import Any

from myrmica.domain.definition_model import JobDefinitionSpec
from myrmica.domain.definitions import ParsedDefinition
from myrmica.domain.dot import definition_dot
from myrmica.domain.plugins import check_plugin_name
from myrmica.domain.principal import Principal
from myrmica.domain.records import DefinitionFilter, DefinitionRecord, Page, PageRequest, SavedDefinition
from myrmica.metrics import Metrics
from myrmica.service.ports import Audit, Bundles, DefinitionListener, DefinitionStore

FORMICARY = "formicary"


class Definitions:
    def __init__(self, *, store: DefinitionStore, audit: Audit, bundles: Bundles, metrics: Metrics,
                 listeners: list[DefinitionListener] | None = None) -> None:
        self._store = store
        self._audit = audit
        self._bundles = bundles
        self._metrics = metrics
        self._listeners = list(listeners or [])

    async def _changed(self, row: dict[str, Any]) -> None:
        for listener in self._listeners:
            await listener(row)

    async def upsert(self, principal: Principal, parsed: ParsedDefinition, *, dialect: str = FORMICARY,
                     dialect_settings: dict[str, Any] | None = None) -> SavedDefinition:
        """A new version when the source changed; an identical re-post returns the active one unchanged."""
        if parsed.spec.public_plugin:
            org_id = principal.organization_id
            check_plugin_name(parsed.spec.job_type, await self._bundles.org_bundle(org_id) if org_id else None)
        saved = await self._store.save(principal, parsed, dialect=dialect, dialect_settings=dialect_settings)
        row = saved.definition
        if saved.created:
            self._metrics.definitions_saved.inc()
            await self._audit.record("JOB_DEFINITION_UPDATED", principal, target_id=row["id"],
                                     job_type=parsed.spec.job_type, message=f"version {row['version']}")
            await self._changed(row)
        return SavedDefinition(DefinitionRecord.from_row(row), saved.created, parsed.warnings)

    async def get(self, principal: Principal, id_or_type: str, *, version: int | None = None) -> DefinitionRecord:
        """By id (any version) or job type (the active version, or ``version``); 404 when not visible."""
        return DefinitionRecord.from_row(await self._store.get(principal, id_or_type, version=version))

    async def versions(self, principal: Principal, job_type: str) -> list[DefinitionRecord]:
        return [DefinitionRecord.from_row(row) for row in await self._store.versions(principal, job_type)]

    async def search(self, principal: Principal, flt: DefinitionFilter, page: PageRequest) -> Page[DefinitionRecord]:
        rows, total = await self._store.search(principal, flt, page=page.page, page_size=page.size)
        return Page(tuple(DefinitionRecord.from_row(row) for row in rows), total, page.page, page.size)

    async def delete(self, principal: Principal, id_or_type: str) -> DefinitionRecord:
        """Every version leaves the lookups (requests keep theirs); its waiting cron request is cancelled."""
        row = await self._store.delete(principal, id_or_type)
        await self._changed({**row, "active": False})
        await self._audit.record("JOB_DEFINITION_UPDATED", principal, target_id=row["id"],
                                 job_type=row["job_type"], message="deleted")
        return DefinitionRecord.from_row(row)

    async def set_disabled(self, principal: Principal, id_or_type: str, disabled: bool) -> DefinitionRecord:
        row = await self._store.set_disabled(principal, id_or_type, disabled)
        await self._changed(row)
        return DefinitionRecord.from_row(row)

    async def set_concurrency(self, principal: Principal, id_or_type: str, concurrency: int) -> DefinitionRecord:
        return DefinitionRecord.from_row(await self._store.set_concurrency(principal, id_or_type, concurrency))

    async def dot(self, principal: Principal, id_or_type: str, *, version: int | None = None) -> str:
        """The task graph in Graphviz's DOT language."""
        row = await self._store.get(principal, id_or_type, version=version)
        return definition_dot(JobDefinitionSpec.model_validate(row["spec"]))
