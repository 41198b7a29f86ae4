"""The store: one engine and the repositories over it."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from myrmica.security.crypto import SecretBox
from myrmica.store.accounts import AccountRepository
from myrmica.store.ants import AntRepository
from myrmica.store.approvals import ApprovalRepository
from myrmica.store.audit import AuditRepository
from myrmica.store.database import create_engine, migrate
from myrmica.store.definitions import DefinitionRepository
from myrmica.store.job_configs import JobConfigRepository
from myrmica.store.logs import LogRepository
from myrmica.store.requests import RequestRepository


class Store:
    def __init__(self, engine: AsyncEngine, box: SecretBox) -> None:
        self.engine = engine
        self.box = box
        self.accounts = AccountRepository(engine)
        self.definitions = DefinitionRepository(engine)
        self.job_configs = JobConfigRepository(engine, box)
        self.audit = AuditRepository(engine)
        self.requests = RequestRepository(engine)
        self.logs = LogRepository(engine)
        self.ants = AntRepository(engine)
        self.approvals = ApprovalRepository(engine)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()


async def open_store(url: str, box: SecretBox) -> Store:
    engine = create_engine(url)
    await migrate(engine)
    return Store(engine, box)
