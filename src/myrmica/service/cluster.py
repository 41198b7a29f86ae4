"""The cluster as a dialect shows it: the workers (ants) heard from recently, and what runs now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from myrmica.domain.errors import PermissionDeniedError
from myrmica.domain.principal import Principal
from myrmica.domain.records import ClusterMetrics, NodeRecord

ALIVE_SECONDS = 15.0  # as the queen's registry: an ant without a heartbeat this long is not live
RECENT = timedelta(minutes=5)  # Tork's /nodes window


class AntRows(Protocol):
    async def all(self) -> list[dict[str, Any]]: ...

    async def blacklisted(self) -> set[str]: ...

    async def set_blacklisted(self, ant_id: str, blacklisted: bool) -> None: ...


class RunningCounter(Protocol):
    async def running_counts(self, principal: Principal) -> tuple[int, int]: ...


class Cluster:
    def __init__(self, ants: AntRows, running: RunningCounter) -> None:
        self._ants = ants
        self._running = running

    async def nodes(self, *, now: datetime | None = None, within: timedelta = RECENT) -> list[NodeRecord]:
        """Ants with a heartbeat in the last ``within``, by id."""
        moment = now or datetime.now(UTC)
        out = []
        for row in await self._ants.all():
            heartbeat = _aware(row["heartbeat_at"])
            if moment - heartbeat > within:
                continue
            out.append(NodeRecord(
                id=row["ant_id"], host=row.get("host") or "", version=row.get("version") or "",
                methods=tuple(row.get("methods") or ()), tags=tuple(row.get("tags") or ()),
                capacity=int(row.get("max_capacity") or 0), load=int(row.get("current_load") or 0),
                total_executed=int(row.get("total_executed") or 0), embedded=bool(row.get("embedded")),
                alive=(moment - heartbeat).total_seconds() <= ALIVE_SECONDS, started_at=_aware(row["started_at"]),
                heartbeat_at=heartbeat))
        return sorted(out, key=lambda node: node.id)

    async def blacklisted(self) -> set[str]:
        """Ants no queen schedules to (each queen reads the list again within a few seconds)."""
        return await self._ants.blacklisted()

    async def set_blacklisted(self, principal: Principal, ant_id: str, blacklisted: bool) -> None:
        """Stop (or resume) scheduling to an ant; what it runs finishes. Admins only."""
        if not principal.admin:
            raise PermissionDeniedError("only an admin may blacklist an ant")
        await self._ants.set_blacklisted(ant_id, blacklisted)

    async def metrics(self, principal: Principal) -> ClusterMetrics:
        jobs, tasks = await self._running.running_counts(principal)
        live = sum(1 for node in await self.nodes() if node.alive)
        return ClusterMetrics(running_requests=jobs, running_tasks=tasks, live_nodes=live)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
