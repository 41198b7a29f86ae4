"""Which definitions have event triggers of a type: every active, enabled definition's ``triggers`` as
written, read again when a definition changes on this queen and every ``rescan_secs`` (another queen's
uploads)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from myrmica.domain.principal import Principal
from myrmica.domain.records import DefinitionFilter, DefinitionRecord, PageRequest
from myrmica.service.definitions import Definitions
from myrmica.service.triggers import triggers_of

PAGE = 500


class TriggerCatalog:
    def __init__(self, definitions: Definitions, admin: Principal, *, rescan_secs: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._definitions = definitions
        self._admin = admin
        self._rescan_secs = rescan_secs
        self._clock = clock
        self._scanned_at: float | None = None
        self._found: list[tuple[DefinitionRecord, dict[str, Any]]] = []

    def changed(self) -> None:
        self._scanned_at = None

    async def _scan(self) -> list[tuple[DefinitionRecord, dict[str, Any]]]:
        found: list[tuple[DefinitionRecord, dict[str, Any]]] = []
        page = 0
        while True:
            batch = await self._definitions.search(self._admin, DefinitionFilter(disabled=False),
                                                   PageRequest(page=page, size=PAGE))
            for definition in batch.items:
                if not definition.active or definition.disabled or not definition.spec.get("triggers"):
                    continue
                found.extend((definition, trigger) for trigger in triggers_of(definition) if isinstance(trigger, dict))
            if len(batch.items) < PAGE:
                return found
            page += 1

    async def triggers(self, kind: str) -> list[tuple[DefinitionRecord, dict[str, Any]]]:
        now = self._clock()
        if self._scanned_at is None or now - self._scanned_at >= self._rescan_secs:
            self._found = await self._scan()
            self._scanned_at = now
        return [(d, t) for d, t in self._found if str(t.get("type", "")).lower() == kind]

