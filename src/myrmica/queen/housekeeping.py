"""Housekeeping, every two seconds: lost ants, this queen's leases, adopting requests
left by a queen that is gone (or by this one before a crash or a database outage), the cron sweep."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from myrmica.broker.base import Broker
from myrmica.clock import utcnow
from myrmica.metrics import Metrics
from myrmica.queen.ants import AntRegistry
from myrmica.queen.context import LEASE_SECONDS
from myrmica.queen.leader import LeaderElection
from myrmica.queen.ports import (
    AntLoss,
    ArtifactSweep,
    CronSweep,
    InterruptLedger,
    OrphanResumer,
    RunningRequests,
    SlaCheck,
)
from myrmica.store.outage import OutageLog
from myrmica.store.store import Store

log = logging.getLogger("myrmica.queen")

HOUSEKEEPING_SECONDS = 2.0
# After a database outage every lease has lapsed, live queens' too: each waits this long before it
# adopts another queen's requests, so that the live ones renew theirs first.
ADOPTION_GRACE_SECONDS = 3 * HOUSEKEEPING_SECONDS
CRON_SWEEP_SECONDS = 60.0
AUTO_DELETE_SECONDS = 30.0  # how often the leader deletes requests whose delete_at passed


class Housekeeping:
    def __init__(self, *, store: Store, broker: Broker, ants: AntRegistry, dispatch: AntLoss,
                 supervisors: RunningRequests, interrupts: InterruptLedger, resumer: OrphanResumer,
                 cron: CronSweep, metrics: Metrics, queen_id: str, artifacts: ArtifactSweep | None = None,
                 election: LeaderElection, sla: SlaCheck | None = None, sla_check_secs: float = 60.0) -> None:
        self._artifacts = artifacts
        self.sla = sla
        self._sla_check_secs = sla_check_secs
        self._sla_checked = 0.0
        self._store = store
        self._broker = broker
        self._ants = ants
        self._dispatch = dispatch
        self._supervisors = supervisors
        self._interrupts = interrupts
        self._resumer = resumer
        self._cron = cron
        self._metrics = metrics
        self._queen_id = queen_id
        self._cron_swept = 0.0
        self._auto_deleted = 0.0
        self._adopt_others_after = 0.0  # loop time; see ADOPTION_GRACE_SECONDS
        self._adopted_queens: set[str] = set()
        self.election = election

    @property
    def leader(self) -> bool:
        return self.election.leader

    async def run(self) -> None:
        outage = OutageLog(log, "housekeeping")
        while True:
            await asyncio.sleep(HOUSEKEEPING_SECONDS)
            try:
                await self.housekeeping_pass()
                outage.ok()
            except Exception as exc:
                outage.failed(exc)
                if outage.down:
                    self._adopt_others_after = asyncio.get_running_loop().time() + ADOPTION_GRACE_SECONDS

    async def housekeeping_pass(self) -> None:
        await self._expire_ants()
        self._metrics.ants_live.set(len(self._ants.live()))
        lease_until = utcnow() + timedelta(seconds=LEASE_SECONDS)
        await self._store.requests.renew_leases(self._queen_id, [*self._supervisors, *self._interrupts.ids()],
                                                lease_until)
        await self.recover()
        loop_time = asyncio.get_running_loop().time()
        if self.leader and loop_time - self._cron_swept >= CRON_SWEEP_SECONDS:
            self._cron_swept = loop_time
            await self._cron.sweep()
        if self.leader and self.sla is not None and loop_time - self._sla_checked >= self._sla_check_secs:
            self._sla_checked = loop_time
            for task_execution_id, action in await self.sla.check():
                log.info("approval SLA of task execution %s passed: %s", task_execution_id, action)
        if self.leader and loop_time - self._auto_deleted >= AUTO_DELETE_SECONDS:
            self._auto_deleted = loop_time
            await self.delete_expired()
            if self._artifacts is not None:
                await self.sweep_artifacts()

    async def sweep_artifacts(self) -> int:
        """Artifacts past their ``expires_at`` (or of requests deleted), gone from the store and the database."""
        assert self._artifacts is not None
        count, size = await self._artifacts.sweep()
        if count:
            log.info("deleted %d expired artifact(s), %d bytes", count, size)
        return count

    async def delete_expired(self) -> int:
        """Requests whose ``delete_at`` passed (a definition's ``delete_after``), gone with their runs and logs."""
        total = 0
        while ids := await self._store.requests.expired(utcnow()):
            total += await self._store.requests.delete_requests(ids)
        if total:
            log.info("deleted %d request(s) past their delete_at", total)
        return total

    async def _expire_ants(self) -> None:
        for ant_id, keys in self._ants.expire():
            self._dispatch.ant_lost(ant_id, keys)
            await self._broker.forget_ant(ant_id)

    async def recover(self) -> None:
        """Adopt requests left READY/EXECUTING by a queen that is gone (or by this one before a crash).

        One SQLite file has one server, so at start every such request is this server's to resume;
        on PostgreSQL a request is adopted once its queen stopped renewing its lease.
        """
        now = utcnow()
        alive = [self._queen_id] if self._store.backend == "sqlite" else None
        mine = self._interrupts.ids()
        others = asyncio.get_running_loop().time() >= self._adopt_others_after
        rows = await self._store.requests.orphans(owner_alive=alive, now=now, mine=mine, owner=self._queen_id,
                                                  others=others)
        self._interrupts.forget(mine - {row["id"] for row in rows})  # ended, or another queen's now
        for row in rows:
            self._interrupts.forget([row["id"]])
            if row["id"] in self._supervisors:
                continue
            lease_until = now + timedelta(seconds=LEASE_SECONDS)
            old_owner = row.get("lease_owner")
            if await self._store.requests.adopt(row["id"], old_owner, self._queen_id, lease_until):
                log.warning("resuming request %s (%s) left %s by %s", row["id"], row["job_type"], row["job_state"],
                            old_owner or "no queen")
                if old_owner and old_owner != self._queen_id and old_owner not in self._adopted_queens:
                    self._adopted_queens.add(old_owner)
                    await self._broker.adopt_replies(old_owner)
                await self._resumer.resume_orphan({**row, "lease_owner": self._queen_id})
