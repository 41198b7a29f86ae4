"""The store: one engine and the repositories over it."""

from __future__ import annotations

from sqlalchemy import text

from myrmica.security.crypto import SecretBox
from myrmica.store.accounts import AccountRepository
from myrmica.store.ants import AntRepository
from myrmica.store.approvals import ApprovalRepository
from myrmica.store.artifacts import ArtifactRepository
from myrmica.store.audit import AuditRepository
from myrmica.store.catalogs import Catalogs
from myrmica.store.database import create_database, migrate
from myrmica.store.database_lock import Database
from myrmica.store.definitions import DefinitionRepository
from myrmica.store.job_configs import JobConfigRepository
from myrmica.store.leases import LeaseRepository
from myrmica.store.logs import LogRepository
from myrmica.store.orgs import OrgRepository
from myrmica.store.requests import RequestRepository
from myrmica.store.run_signals import RunSignalRepository
from myrmica.store.strait import StraitRepository
from myrmica.store.trigger_states import TriggerStateRepository
from myrmica.store.webhooks import WebhookRepository


class Store:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self.db = db
        self.box = box
        self.accounts = AccountRepository(db)
        self.definitions = DefinitionRepository(db)
        self.job_configs = JobConfigRepository(db, box)
        self.audit = AuditRepository(db)
        self.requests = RequestRepository(db)
        self.logs = LogRepository(db)
        self.ants = AntRepository(db)
        self.approvals = ApprovalRepository(db)
        self.leases = LeaseRepository(db)
        self.webhooks = WebhookRepository(db, box)
        self.strait = StraitRepository(db)
        self.run_signals = RunSignalRepository(db, box, self.webhooks)
        self.catalogs = Catalogs(db, box)
        self.orgs = OrgRepository(db)
        self.artifacts = ArtifactRepository(db)
        self.trigger_states = TriggerStateRepository(db)

    @property
    def backend(self) -> str:
        return self.db.name

    async def ping(self) -> None:
        async with self.db.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.db.dispose()


async def open_store(url: str, box: SecretBox) -> Store:
    db = create_database(url)
    await migrate(db)
    return Store(db, box)
