"""The queen's view of live ants: what each can run, its load, and reservations of its capacity."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from myrmica.domain.methods import TaskMethod
from myrmica.store.ants import AntRepository
from myrmica.store.outage import OutageLog, is_outage

log = logging.getLogger("myrmica.queen.ants")

ALIVE_SECONDS = 15.0
BLACKLIST_READ_SECONDS = 2.0  # the blacklist is read again at a registration at most this often
KNOWN_METHODS = frozenset(m.value for m in TaskMethod)


@dataclass
class AntInfo:
    ant_id: str
    methods: frozenset[str]
    tags: frozenset[str]
    capacity: int
    host: str = ""
    version: str = ""
    embedded: bool = False
    accepting: bool = True
    reported_load: int = 0
    total_executed: int = 0
    started_at: float = 0.0
    heartbeat_at: float = field(default_factory=time.time)
    reserved: set[str] = field(default_factory=set)  # task-execution keys this queen reserved on this ant
    reported_heartbeat: float = 0.0  # the ant's own clock: a change means a fresh heartbeat
    running: list[str] = field(default_factory=list)  # "task execution id:attempt" the ant reported running
    containers: list[dict[str, Any]] = field(default_factory=list)  # its live DOCKER containers, as reported
    shared_reserved: int = 0  # reservations of every queen, as the broker counted them last
    own_at_count: int = 0  # this queen's reservations when the broker counted

    @property
    def load(self) -> int:
        """Slots taken: every queen's reservations at the last count, plus ours since."""
        return max(len(self.reserved), self.shared_reserved + len(self.reserved) - self.own_at_count)

    def alive(self, now: float) -> bool:
        return self.accepting and now - self.heartbeat_at <= ALIVE_SECONDS

    def fits(self, method: str, tags: frozenset[str]) -> bool:
        return method in self.methods and tags <= self.tags


class AntRegistry:
    def __init__(self, repository: AntRepository | None = None) -> None:
        self._ants: dict[str, AntInfo] = {}
        self._repository = repository
        self._outage = OutageLog(log, "storing ant registrations")
        self.lost: list[tuple[str, set[str]]] = []
        self.blacklisted: frozenset[str] = frozenset()  # ants not scheduled to (the store's ant_blacklist)
        self._blacklist_read_at = 0.0

    async def on_registration(self, reg: dict[str, Any]) -> None:
        ant_id = str(reg.get("ant_id") or "")
        methods = {str(m).upper() for m in reg.get("methods") or []}
        unknown = methods - KNOWN_METHODS
        try:
            capacity = int(reg.get("max_capacity") or 0)
        except (TypeError, ValueError):
            capacity = 0
        if not ant_id or unknown or capacity <= 0:
            log.error("refused ant registration %r: %s", ant_id or "?",
                      f"unknown methods {sorted(unknown)}" if unknown else
                      "missing ant_id" if not ant_id else f"capacity must be positive, not {capacity}")
            return
        info = self._ants.get(ant_id)
        now = time.time()
        if info is None:
            info = AntInfo(ant_id, frozenset(methods), frozenset(str(t).lower() for t in reg.get("tags") or []),
                           capacity)
            self._ants[ant_id] = info
            log.info("ant %s registered: methods %s, tags %s, capacity %d", ant_id, sorted(methods),
                     sorted(info.tags), capacity)
        info.methods = frozenset(methods)
        info.tags = frozenset(str(t).lower() for t in reg.get("tags") or [])
        info.capacity = capacity
        info.host = str(reg.get("host") or "")
        info.version = str(reg.get("version") or "")
        info.embedded = bool(reg.get("embedded"))
        info.accepting = bool(reg.get("accepting", True))
        info.reported_load = int(reg.get("current_load") or 0)
        info.total_executed = int(reg.get("total_executed") or 0)
        info.running = [str(key) for key in reg.get("running") or []]
        info.containers = [c for c in reg.get("containers") or [] if isinstance(c, dict)]
        info.started_at = float(reg.get("started_at") or now)
        reported = float(reg.get("heartbeat_at") or now)
        if reported != info.reported_heartbeat:  # a registration read again unchanged is not a heartbeat
            info.reported_heartbeat = reported
            info.heartbeat_at = now
        if self._repository is not None:
            try:  # the row is only the ants' view for the API; the registry here is what counts
                await self._repository.upsert(self._row(info))
                if now - self._blacklist_read_at >= BLACKLIST_READ_SECONDS:
                    self._blacklist_read_at = now
                    self.blacklisted = frozenset(await self._repository.blacklisted())
                self._outage.ok()
            except Exception as exc:
                if not is_outage(exc):
                    raise
                self._outage.failed(exc)

    @staticmethod
    def _row(info: AntInfo) -> dict[str, Any]:
        return {"ant_id": info.ant_id, "host": info.host, "version": info.version,
                "methods": sorted(info.methods), "tags": sorted(info.tags), "max_capacity": info.capacity,
                "current_load": max(info.load, info.reported_load), "total_executed": info.total_executed,
                "embedded": info.embedded, "started_at": datetime.fromtimestamp(info.started_at, UTC),
                "heartbeat_at": datetime.fromtimestamp(info.heartbeat_at, UTC)}

    def counted(self, counts: dict[str, int]) -> None:
        """The broker's count of each ant's reservations across queens (see ``Engine.count_shared_load``)."""
        for ant_id, count in counts.items():
            info = self._ants.get(ant_id)
            if info is not None:
                info.shared_reserved, info.own_at_count = count, len(info.reserved)

    def live(self) -> list[AntInfo]:
        now = time.time()
        return [a for a in self._ants.values() if a.alive(now)]

    def get(self, ant_id: str) -> AntInfo | None:
        return self._ants.get(ant_id)

    def snapshot(self) -> list[dict[str, Any]]:
        now = time.time()
        rows = []
        for info in sorted(self._ants.values(), key=lambda a: a.ant_id):
            row = self._row(info)
            row["alive"] = info.alive(now)
            row["allocations"] = sorted(info.reserved)
            row["running"] = list(info.running)
            row["containers"] = list(info.containers)
            rows.append(row)
        return rows

    def schedulable(self) -> list[AntInfo]:
        """Live ants not blacklisted: those tasks go to."""
        return [a for a in self.live() if a.ant_id not in self.blacklisted]

    def can_serve(self, method: str, tags: frozenset[str]) -> bool:
        return any(a.fits(method, tags) for a in self.schedulable())

    def missing(self, needs: list[tuple[str, frozenset[str]]]) -> str | None:
        """Why these (method, tags) needs cannot be met now, or None when some live ant fits each."""
        for method, tags in needs:
            if not self.can_serve(method, tags):
                tag_text = f" with tags [{', '.join(sorted(tags))}]" if tags else ""
                return f"no live ant can run {method}{tag_text}"
        return None

    def candidates(self, method: str, tags: frozenset[str]) -> list[AntInfo]:
        """Live ants that fit, least loaded first (this queen's reservations and the ant's own report)."""
        fitting = [a for a in self.schedulable() if a.fits(method, tags)]
        return sorted(fitting, key=lambda a: (max(a.load, a.reported_load) / a.capacity, a.load, a.ant_id))

    def free_for(self, method: str, tags: frozenset[str]) -> int:
        """Free task slots on live ants that fit: other queens' reservations as last counted, ours now.
        (The broker's atomic reservation is what keeps an ant from being over-committed.)"""
        return sum(max(0, a.capacity - a.load) for a in self.candidates(method, tags))

    def live_capacity(self) -> int:
        """Task slots of the live ants, in use or not."""
        return sum(a.capacity for a in self.live())

    def spare_capacity(self) -> int:
        return sum(max(0, a.capacity - a.load) for a in self.live())

    def hold(self, ant_id: str, key: str) -> None:
        info = self._ants.get(ant_id)
        if info is not None:
            info.reserved.add(key)

    def release(self, ant_id: str, key: str) -> None:
        info = self._ants.get(ant_id)
        if info is not None:
            info.reserved.discard(key)

    def expire(self) -> list[tuple[str, set[str]]]:
        """Forget ants whose heartbeat lapsed; return (ant, the reservations it held)."""
        now = time.time()
        gone = [a for a in self._ants.values() if now - a.heartbeat_at > ALIVE_SECONDS]
        for ant in gone:
            del self._ants[ant.ant_id]
            log.warning("ant %s lost: no heartbeat for %.0fs; %d task(s) in flight", ant.ant_id,
                        now - ant.heartbeat_at, len(ant.reserved))
        return [(a.ant_id, set(a.reserved)) for a in gone]
