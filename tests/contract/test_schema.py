"""The migrated schema is the one the code declares, and on PostgreSQL a conditional update of a
request always finds its row through the primary key, whatever the planner knows of the table."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from sqlalchemy import Connection, inspect

from myrmica.domain.principal import Principal
from myrmica.store.store import Store
from myrmica.store.tables import metadata
from tests.contract.test_requests_repository import make_row


def _indexes(connection: Connection) -> dict[str, set[str]]:
    inspector = inspect(connection)
    return {table: {str(i["name"]) for i in inspector.get_indexes(table) if str(i["name"]).startswith("ix_")}
            for table in metadata.tables}


async def test_migrations_create_the_declared_indexes(store: Store) -> None:
    db = store.requests._engine  # noqa: SLF001 - the schema is what is under test
    async with db.connect() as conn:
        found = await conn.run_sync(_indexes)
    declared: dict[str, set[str]] = {}
    for table in metadata.tables.values():
        names = declared.setdefault(table.name, set())
        for index in table.indexes:
            condition = index._ddl_if  # noqa: SLF001 - which backends the index is for
            if str(index.name).startswith("ix_") and (condition is None or condition.dialect in (None, db.name)):
                names.add(str(index.name))
    assert found == declared


async def test_a_conditional_update_uses_the_primary_key_on_a_young_table(store: Store, alice: Principal,
                                                                          database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        return  # SQLite's planner takes the unique index for id = ?; this is about PostgreSQL's generic plans
    rows = [await make_row(store, alice) for _ in range(3)]
    await asyncio.gather(*(store.requests.create(row) for row in rows))
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        await conn.execute("PREPARE move(varchar, varchar, varchar) AS UPDATE job_requests "
                           "SET job_state = $3 WHERE id = $1 AND job_state = $2")
        for _ in range(200):  # the queue grows; no ANALYZE has run yet
            row: dict[str, Any] = await make_row(store, alice)
            await store.requests.create(row)
        plan = "\n".join(r[0] for r in await conn.fetch(
            f"EXPLAIN EXECUTE move('{rows[0]['id']}', 'PENDING', 'READY')"))
    finally:
        await conn.close()
    assert "pk_job_requests" in plan, plan
