"""The migrated schema is the one the code declares, and on PostgreSQL a conditional update of a
request always finds its row through the primary key, whatever the planner knows of the table."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, inspect, text

from myrmica.domain.principal import Principal
from myrmica.security.crypto import SecretBox
from myrmica.store.database import MIGRATIONS, create_database
from myrmica.store.store import Store, open_store
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


def _upgrade_to(revision: str) -> Any:
    def run(connection: Connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return run


async def test_requests_stored_before_keys_were_per_tenant_survive_the_migration(database_url: str) -> None:
    db = create_database(database_url)
    try:
        async with db.begin() as conn:
            await conn.run_sync(_upgrade_to("0003"))
            now = "2026-01-02 03:04:05"
            await conn.execute(text(
                "INSERT INTO job_requests (id, user_key, job_definition_id, owner_key, description, platform, "
                "job_type, job_version, job_state, job_group, job_priority, schedule_attempts, retried, "
                "paused_count, cron_triggered, error_code, error_message, current_task, hard_restart, "
                "cascade_cancel, params, scheduled_at, created_at, updated_at) VALUES ('01OLDREQUEST0000000000000A', "
                "'k', 'D', 'tenant-a', '', '', 'j', '1', 'PENDING', '', 0, 0, 0, 0, false, '', '', '', false, "
                "false, '{\"a\": 1}', :now, :now, :now)").bindparams(now=datetime.fromisoformat(now + "+00:00")))
    finally:
        await db.dispose()
    store = await open_store(database_url, SecretBox("contract-test-key"))
    try:
        old = await store.requests.get("01OLDREQUEST0000000000000A")
        assert old["params"] == {"a": 1} and old["user_key"] == "k"
        row = {**old, "id": "01NEWREQUEST0000000000000B", "owner_key": "tenant-b"}
        assert (await store.requests.create(row)).created  # the same key, another tenant
        assert not (await store.requests.create({**row, "id": "01NEWREQUEST0000000000000C"})).created
    finally:
        await store.close()
