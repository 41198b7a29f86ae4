"""The leader: one queen at a time holds the ``leader`` lease in the database (DESIGN: "a lease-elected
cron/housekeeping leader"). It renews the lease every quarter of its length; a queen that stops renewing
(dead, cut off from the database) loses it once it lapses, and the next queen to ask takes it. A queen
that stops cleanly gives it up at once. The leader runs the cron sweep, approval SLAs, expiry sweeps and
the S3 and queue trigger pollers (spec §1.7: "trigger pollers/subscribers are documented as leader-only")."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

log = logging.getLogger("myrmica.queen")

LEADER_LEASE = "leader"


class Leases(Protocol):
    async def acquire(self, name: str, holder: str, seconds: float) -> bool: ...

    async def release(self, name: str, holder: str) -> None: ...


class LeaderElection:
    def __init__(self, leases: Leases, holder: str, *, lease_secs: float = 10.0) -> None:
        self._leases = leases
        self._holder = holder
        self.lease_secs = lease_secs
        self.leader = False
        self.changed = asyncio.Event()  # set whenever ``leader`` flips (waiters clear it)

    async def elect(self) -> bool:
        """Take or renew the lease; whether this queen leads now. A database error: it does not."""
        try:
            leading = await self._leases.acquire(LEADER_LEASE, self._holder, self.lease_secs)
        except Exception:
            log.warning("%s could not renew the leader lease", self._holder, exc_info=True)
            leading = False
        if leading != self.leader:
            log.info("%s %s", self._holder, "leads cron, housekeeping and triggers" if leading else "no longer leads")
            self.leader = leading
            self.changed.set()
        return leading

    async def run(self) -> None:
        while True:
            await self.elect()
            await asyncio.sleep(self.lease_secs / 4)

    async def resign(self) -> None:
        if self.leader:
            self.leader = False
            self.changed.set()
            try:
                await self._leases.release(LEADER_LEASE, self._holder)
            except Exception:
                log.warning("%s could not give up the leader lease", self._holder, exc_info=True)
