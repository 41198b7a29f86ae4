"""Group commit: writes queued together share a transaction, yet each caller sees only its own outcome.
A failing write costs nothing to the others, and nothing of it is kept."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from myrmica.domain.principal import Principal
from myrmica.store.audit import audit_row
from myrmica.store.database_lock import Conn, Database
from myrmica.store.statements import Change, chain_statement, update_where
from myrmica.store.store import Store
from myrmica.store.tables import audit_records, leases, strait_runs
from tests.contract.test_requests_repository import make_row

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _db(store: Store) -> Database:
    return store.requests._engine  # noqa: SLF001 - the group commit is what is under test


async def _holders(db: Database) -> dict[str, str]:
    async with db.connect() as conn:
        rows: Any = (await conn.execute(select(leases.c.name, leases.c.holder))).all()
    return {str(r[0]): str(r[1]) for r in rows}


def _row(name: str, holder: str = "q1") -> tuple[Any, dict[str, Any]]:
    return insert(leases), {"name": name, "holder": holder, "expires_at": NOW}


async def test_one_failing_insert_among_many_fails_alone(store: Store) -> None:
    db = _db(store)
    await db.batched_insert(_row("taken"))
    outcomes = await asyncio.gather(*(db.batched_insert(_row(name)) for name in ("a", "taken", "b", "c")),
                                    return_exceptions=True)
    assert [type(o) for o in outcomes] == [type(None), IntegrityError, type(None), type(None)]
    assert set(await _holders(db)) == {"taken", "a", "b", "c"}


async def test_a_failing_statement_keeps_nothing_and_spares_its_group(store: Store) -> None:
    db = _db(store)
    await db.batched_insert(_row("one"), _row("two"))

    def rename(old: str, new: str) -> Any:
        async def write(conn: Conn) -> int:
            return await update_where(conn, leases, {"name": new}, where={"name": old})
        return write

    outcomes = await asyncio.gather(
        db.batched(rename("one", "two"), one_statement=True),  # the primary key forbids it
        db.batched(rename("two", "three"), one_statement=True),
        db.batched_insert(_row("four")), return_exceptions=True)
    assert isinstance(outcomes[0], IntegrityError)
    assert outcomes[1:] == [1, None]
    assert set(await _holders(db)) == {"one", "three", "four"}
    with pytest.raises(IntegrityError):  # alone in its group, without a transaction on PostgreSQL
        await db.batched(rename("one", "three"), one_statement=True)
    assert set(await _holders(db)) == {"one", "three", "four"}


async def test_a_multi_statement_write_is_all_or_nothing(store: Store) -> None:
    db = _db(store)
    await db.batched_insert(_row("x"))

    async def two_inserts(conn: Conn) -> None:
        await conn.write(insert(leases), {"name": "y", "holder": "q", "expires_at": NOW})
        await conn.write(insert(leases), {"name": "x", "holder": "q", "expires_at": NOW})

    with pytest.raises(IntegrityError):
        await db.batched(two_inserts)
    assert set(await _holders(db)) == {"x"}, "the first insert was rolled back with the second"


async def test_single_value_statements_of_a_group_each_get_their_own_result(store: Store) -> None:
    db = _db(store)
    if db.name != "postgresql":
        pytest.skip("a write inside a SELECT needs PostgreSQL's data-modifying CTEs")
    await db.batched_insert(*(_row(name) for name in ("a", "b", "c", "d")))

    def move(old: str, new: str) -> Any:  # a chain, as a request's end is written on PostgreSQL
        return chain_statement(None, Change(leases, {"name": new}, {"name": old}), None)

    outcomes = await asyncio.gather(
        db.batched_value(*move("a", "a2")), db.batched_value(*move("b", "c")),  # c exists: refused
        db.batched_value(*move("missing", "m2")), db.batched_value(*move("d", "d2")), return_exceptions=True)
    assert outcomes[0] == 1 and outcomes[2] == 0 and outcomes[3] == 1
    assert isinstance(outcomes[1], IntegrityError)
    assert set(await _holders(db)) == {"a2", "b", "c", "d2"}


async def test_requests_and_their_audit_records_are_written_together(store: Store, alice: Principal) -> None:
    taken = await make_row(store, alice, "taken-key")
    await store.requests.create(taken, audit_row("JOB_REQUEST_CREATED", alice, target_id=taken["id"]))
    rows = [await make_row(store, alice, key) for key in ("k1", "k2", "taken-key", "k3")]
    results = await asyncio.gather(*(store.requests.create(row, audit_row("JOB_REQUEST_CREATED", alice,
                                                                          target_id=row["id"])) for row in rows))
    assert [r.created for r in results] == [True, True, False, True]
    assert results[2].request["id"] == taken["id"], "the live request with that key is returned"
    async with _db(store).connect() as conn:
        audited: Any = (await conn.execute(select(audit_records.c.target_id))).all()
    assert sorted(str(r[0]) for r in audited) == sorted([taken["id"], rows[0]["id"], rows[1]["id"], rows[3]["id"]])


async def _via_sqlalchemy(conn: Conn, name: str) -> None:
    """A write that goes through SQLAlchemy (not straight to the driver): a dialect's own statement."""
    await conn.execute(insert(leases), {"name": name, "holder": "q", "expires_at": NOW})


async def test_a_group_with_a_statement_through_sqlalchemy_commits_once(store: Store) -> None:
    """On PostgreSQL SQLAlchemy's own transaction nests in the group's as a savepoint: its rollback at the
    connection's release came after the group's COMMIT and failed, so the committed group was run again,
    each write alone — and each caller got a duplicate-key error for the row it had just stored."""
    db = _db(store)
    outcomes = await asyncio.gather(db.batched_insert(_row("a")), db.batched(lambda c: _via_sqlalchemy(c, "s")),
                                    db.batched_insert(_row("b")), return_exceptions=True)
    assert outcomes == [None, None, None]
    assert set(await _holders(db)) == {"a", "s", "b"}


async def test_a_one_statement_write_through_sqlalchemy_alone_is_kept(store: Store) -> None:
    """Alone in its group on PostgreSQL (no BEGIN of ours), SQLAlchemy began a transaction the release
    rolled back: the row was lost without an error."""
    db = _db(store)
    await db.batched(lambda c: _via_sqlalchemy(c, "s"), one_statement=True)
    assert set(await _holders(db)) == {"s"}


def _run_row(request_id: str) -> tuple[Any, dict[str, Any]]:
    """A row that relies on a column default (``concurrency_key``), so it cannot go straight to the driver."""
    return insert(strait_runs), {"request_id": request_id, "job_id": "j", "owner_key": "o", "payload_hash": "h",
                                 "info": {}, "created_at": NOW}


async def test_inserts_that_need_several_statements_are_all_or_nothing(store: Store) -> None:
    """Callers inserting alike rows into two tables share one statement on PostgreSQL without BEGIN; rows that
    cannot (a column default) go as one statement per table. Those ran without a transaction: the first
    table's rows stayed when the second's failed, and the group, run again, failed on them."""
    db = _db(store)
    await db.batched_insert(_run_row("taken"))
    outcomes = await asyncio.gather(db.batched_insert(_row("one"), _run_row("r1")),
                                    db.batched_insert(_row("two"), _run_row("taken")), return_exceptions=True)
    assert outcomes[0] is None
    assert isinstance(outcomes[1], IntegrityError)
    assert set(await _holders(db)) == {"one"}, "the failing caller's first row was not kept"
