"""The store's connection to its database, with one interface for both backends.

PostgreSQL runs on asyncpg. SQLite runs on the standard ``sqlite3`` driver called directly on the
event loop: its statements take microseconds in WAL mode, far less than a hop to a worker thread
(aiosqlite costs about a millisecond a statement here). Writes are serialised in-process, so a
write never waits in SQLite's sleeping busy handler.

Group commit: the small writes of the hot path (a request's row, its task rows, its end)
go through :meth:`Database.batched`. The writes queued during one turn of the event loop share one
transaction and one commit, and each caller resumes only after that commit. When one of them
fails, none is kept and each is run again alone, so only the failing caller sees its error.
On SQLite one group runs at a time; on PostgreSQL a new group starts while earlier ones are still
in flight on other connections. A PostgreSQL group that is one statement (one caller's single
statement, or rows for one table that go as one executemany, which asyncpg makes atomic) runs
without BEGIN and COMMIT: two round trips fewer.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager, nullcontext
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Connection, CursorResult, Engine, Executable, Insert, Select, Update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from myrmica.store.direct_writes import PreparedWrite, prepare

T = TypeVar("T")
Operation = Callable[["Conn"], Awaitable[Any]]
PreparedCache = dict[tuple[int, tuple[str, ...]], tuple[Executable, PreparedWrite | None]]


class Conn:
    """A connection inside a transaction: ``await conn.execute(statement)``."""

    def __init__(self, sync: Connection | None = None, aio: AsyncConnection | None = None,
                 prepared: PreparedCache | None = None, postgres: Any = None, *, direct_in_begin: bool = False) -> None:
        self._sync = sync
        self._aio = aio
        self._prepared = prepared
        self._postgres = postgres  # the asyncpg connection, inside a group commit's transaction
        # PostgreSQL, in SQLAlchemy's transaction: writes go to the driver once that transaction has begun
        self._direct_in_begin = direct_in_begin

    def _direct(self, statement: Insert | Update, rows: list[Mapping[str, Any]]) -> PreparedWrite | None:
        if self._prepared is None or not rows or (self._sync is None and self._postgres is None
                                                   and not self._direct_in_begin):
            return None
        keys = tuple(rows[0]) if isinstance(statement, Insert) else ()
        cached = self._prepared.get((id(statement), keys))
        if cached is None:
            dialect = self._sync.dialect if self._sync is not None else self._aio.dialect  # type: ignore[union-attr]
            compiled = prepare(statement, dialect, keys or None)
            usable: PreparedWrite | None = compiled
            if keys and not set(compiled.names) <= set(keys):
                usable = None  # an INSERT that relies on column defaults: SQLAlchemy fills them
            cached = self._prepared[(id(statement), keys)] = (statement, usable)
        if keys and any(tuple(row) != keys for row in rows):
            return None
        return cached[1]

    async def write(self, statement: Insert | Update, parameters: Mapping[str, Any] | list[dict[str, Any]]) -> int:
        """Run a long-lived INSERT or UPDATE (see ``store.statements``); the number of rows it wrote.

        On SQLite, and on PostgreSQL inside a group commit, it goes straight to the driver
        (``store.direct_writes``)."""
        rows: list[Mapping[str, Any]] = list(parameters) if isinstance(parameters, list) else [parameters]
        prepared = self._direct(statement, rows)
        if prepared is None:
            return int((await self.execute(statement, parameters)).rowcount)
        postgres = self._postgres
        if postgres is None and self._direct_in_begin:
            assert self._aio is not None
            driver = (await self._aio.get_raw_connection()).driver_connection
            if driver is None or not driver.is_in_transaction():  # nothing ran yet: SQLAlchemy begins it
                return int((await self.execute(statement, parameters)).rowcount)
            postgres = driver
        values = [prepared.parameters(row) for row in rows]
        if postgres is not None:  # errors need no translation: a failed group is rerun through SQLAlchemy
            if len(values) == 1:
                status = await postgres.execute(prepared.sql, *values[0])  # "UPDATE 1", "INSERT 0 1"
                return int(str(status).rsplit(" ", 1)[-1])
            await postgres.executemany(prepared.sql, values)
            return len(values)
        assert self._sync is not None
        driver = self._sync.connection.dbapi_connection
        assert driver is not None
        try:
            if len(values) == 1:
                return int(driver.execute(prepared.sql, values[0]).rowcount)
            return int(driver.executemany(prepared.sql, values).rowcount)
        except sqlite3.Error as exc:  # the same exceptions SQLAlchemy raises (IntegrityError, …)
            raise DBAPIError.instance(prepared.sql, values, exc, sqlite3.Error) from exc

    def outside_transaction(self) -> bool:
        """Inside a PostgreSQL group of one statement (no BEGIN): each statement commits by itself."""
        return self._postgres is not None and not self._postgres.is_in_transaction()

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[None]:
        """Inside a PostgreSQL group: a transaction of asyncpg's own for the statements within. A statement
        that went through SQLAlchemy began a transaction of SQLAlchemy's, which asyncpg nests as a savepoint:
        it is settled here, inside ours — left to the connection's release, its rollback would come after
        our COMMIT and fail, and the group, committed, would be taken for failed (and run again)."""
        assert self._postgres is not None and self._aio is not None
        async with self._postgres.transaction():
            try:
                yield
            except BaseException:
                if self._aio.in_transaction():
                    await self._aio.rollback()
                raise
            if self._aio.in_transaction():
                await self._aio.commit()

    async def settle(self) -> None:
        """Inside a PostgreSQL group of one statement: a statement that went through SQLAlchemy began a
        transaction (SQLAlchemy's); commit it — the connection's release would roll it back, silently."""
        if self._aio is not None and self._postgres is not None and self._aio.in_transaction():
            await self._aio.commit()

    async def insert_together(self, rows: list[tuple[tuple[Insert, Mapping[str, Any]], ...]]) -> bool:
        """Inside a PostgreSQL group: each item's rows (alike: same statements, same columns) as one
        statement, for all items in one round trip; False where that cannot be done (nothing written)."""
        if self._postgres is None or not rows:
            return False
        prepared: list[PreparedWrite] = []
        for statement, row in rows[0]:
            write = self._direct(statement, [row])
            if write is None:
                return False
            prepared.append(write)
        sql = _together_sql(tuple(p.sql for p in prepared), tuple(len(p.names) for p in prepared))
        values = [tuple(v for write, (_, row) in zip(prepared, item, strict=True) for v in write.parameters(row))
                  for item in rows]
        if len(values) == 1:
            await self._postgres.execute(sql, *values[0])
        else:
            await self._postgres.executemany(sql, values)
        return True

    def _prepared_select(self, statement: Select[Any]) -> PreparedWrite:
        assert self._prepared is not None and self._aio is not None
        cached = self._prepared.get((id(statement), ()))
        if cached is None:
            cached = self._prepared[(id(statement), ())] = (statement, prepare(statement, self._aio.dialect))
        assert cached[1] is not None
        return cached[1]

    async def fetch_value(self, statement: Select[Any], parameters: Mapping[str, Any]) -> Any:
        """The first column of the first row (straight to asyncpg inside a PostgreSQL group)."""
        if self._postgres is None or self._prepared is None:
            return (await self.execute(statement, parameters)).scalar()
        prepared = self._prepared_select(statement)
        return await self._postgres.fetchval(prepared.sql, *prepared.parameters(parameters))

    async def fetch_values(self, statement: Select[Any], parameters: list[Mapping[str, Any]]) -> list[Any]:
        """:meth:`fetch_value` for each set of parameters; inside a PostgreSQL group, pipelined in one
        round trip (atomic like executemany). ``statement`` must return exactly one row."""
        if self._postgres is None or self._prepared is None or len(parameters) == 1:
            return [await self.fetch_value(statement, p) for p in parameters]
        prepared = self._prepared_select(statement)
        rows = await self._postgres.fetchmany(prepared.sql, [prepared.parameters(p) for p in parameters])
        if len(rows) != len(parameters):
            raise RuntimeError(f"{len(rows)} rows for {len(parameters)} statements")  # the group is run again
        return [row[0] for row in rows]

    async def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]:
        if self._aio is not None:
            result: CursorResult[Any] = await self._aio.execute(statement, parameters)
            return result
        assert self._sync is not None
        return self._sync.execute(statement, parameters)

    async def run_sync(self, fn: Callable[[Connection], T]) -> T:
        if self._aio is not None:
            value: T = await self._aio.run_sync(fn)
            return value
        assert self._sync is not None
        return fn(self._sync)


@dataclass(frozen=True)
class _Inserts:
    """A queued write that only inserts rows (see ``Database.batched_insert``)."""

    rows: tuple[tuple[Insert, Mapping[str, Any]], ...]


@dataclass(frozen=True)
class _FetchValue:
    """A queued statement whose result is one value (``Database.batched_value``). Those of a group that
    share a statement go to PostgreSQL together, as one pipelined round trip."""

    statement: Select[Any]
    params: Mapping[str, Any]


@dataclass(frozen=True)
class _OneStatement:
    """A queued write that runs exactly one statement on PostgreSQL (``Database.batched(one_statement=True)``)."""

    operation: Operation


Write = Operation | _Inserts | _FetchValue | _OneStatement
Queued = tuple[Write, asyncio.Future[Any]]


def _shape(statement: Insert, row: Mapping[str, Any]) -> tuple[int, tuple[str, ...]]:
    return id(statement), tuple(row)


def _signature(operation: _Inserts) -> tuple[tuple[int, tuple[str, ...]], ...]:
    return tuple(_shape(*row) for row in operation.rows)


def _renumber(sql: str, shift: int) -> str:
    return re.sub(r"\$(\d+)", lambda m: f"${int(m.group(1)) + shift}", sql)


@cache
def _together_sql(sqls: tuple[str, ...], counts: tuple[int, ...]) -> str:
    """Several INSERTs as one statement: the first ones as data-modifying CTEs, their parameters numbered on."""
    parts: list[str] = []
    offset = 0
    for sql, count in zip(sqls, counts, strict=True):
        parts.append(_renumber(sql, offset))
        offset += count
    return "WITH " + ", ".join(f"w{n} AS ({sql})" for n, sql in enumerate(parts[:-1])) + " " + parts[-1]


def _is_one_statement(batch: list[Queued]) -> bool:
    kinds = {type(operation) for operation, _ in batch}
    if kinds == {_OneStatement}:
        return len(batch) == 1
    if kinds == {_FetchValue}:
        return len({id(operation.statement) for operation, _ in batch if isinstance(operation, _FetchValue)}) == 1
    if kinds == {_Inserts}:  # all alike: one statement (see _insert_all)
        return len({_signature(operation) for operation, _ in batch if isinstance(operation, _Inserts)}) == 1
    return False


async def _run_one(conn: Conn, operation: Write) -> Any:
    if isinstance(operation, _Inserts):
        return await _insert_all(conn, [operation])
    if isinstance(operation, _FetchValue):
        return await conn.fetch_value(operation.statement, operation.params)
    if isinstance(operation, _OneStatement):
        return await operation.operation(conn)
    return await operation(conn)


async def _insert_all(conn: Conn, operations: list[_Inserts]) -> None:
    """The rows, one executemany per statement and set of columns. On PostgreSQL in a group, callers
    that each insert rows into several tables alike (a request and its audit record) share one
    statement instead (``Conn.insert_together``): one round trip, atomic without BEGIN/COMMIT."""
    rows: list[tuple[Insert, Mapping[str, Any]]] = []
    together: dict[tuple[tuple[int, tuple[str, ...]], ...], list[_Inserts]] = {}
    for operation in operations:
        if len(operation.rows) > 1:
            together.setdefault(_signature(operation), []).append(operation)
        else:
            rows.extend(operation.rows)
    for alike in together.values():
        if not await conn.insert_together([operation.rows for operation in alike]):
            rows.extend(row for operation in alike for row in operation.rows)
    shapes: dict[tuple[int, tuple[str, ...]], tuple[Insert, list[dict[str, Any]]]] = {}
    for statement, row in rows:
        shapes.setdefault(_shape(statement, row), (statement, []))[1].append(dict(row))
    # several statements in a group without BEGIN: all of them or none
    scope: AbstractAsyncContextManager[None] = (conn.atomic() if len(shapes) > 1 and conn.outside_transaction()
                                                 else nullcontext())
    async with scope:
        for statement, same in shapes.values():
            await conn.write(statement, same if len(same) > 1 else same[0])


async def _run_all(conn: Conn, batch: list[Queued]) -> list[Any]:
    """A group's inserts first, all together, then its single-value statements, one round trip per
    statement, then its other operations in order; their results."""
    await _insert_all(conn, [operation for operation, _ in batch if isinstance(operation, _Inserts)])
    results: list[Any] = [None] * len(batch)
    fetches: dict[int, list[tuple[int, _FetchValue]]] = {}
    for position, (operation, _) in enumerate(batch):
        if isinstance(operation, _FetchValue):
            fetches.setdefault(id(operation.statement), []).append((position, operation))
    for same in fetches.values():
        values = await conn.fetch_values(same[0][1].statement, [operation.params for _, operation in same])
        for (position, _), value in zip(same, values, strict=True):
            results[position] = value
    for position, (operation, _) in enumerate(batch):
        if not isinstance(operation, _Inserts | _FetchValue):
            results[position] = await _run_one(conn, operation)
    return results


class Database:
    def __init__(self, engine: AsyncEngine | Engine) -> None:
        self._aio = engine if isinstance(engine, AsyncEngine) else None
        self._reads = self._aio.execution_options(isolation_level="AUTOCOMMIT") if self._aio is not None else None
        self._sync = engine if isinstance(engine, Engine) else None
        self.dialect: Dialect = engine.dialect
        self._write_lock = asyncio.Lock() if self._sync is not None else None
        self._shared: Connection | None = None  # SQLite: one connection, used only from the event loop
        self._prepared: PreparedCache = {}
        self._queued: list[Queued] = []
        self._flushes: set[asyncio.Task[None]] = set()

    def _connection(self) -> Connection:
        assert self._sync is not None
        if self._shared is None or self._shared.closed:
            self._shared = self._sync.connect()
        return self._shared

    @property
    def name(self) -> str:
        return self.dialect.name

    @asynccontextmanager
    async def begin(self, *, direct: bool = False) -> AsyncIterator[Conn]:
        """A transaction. ``direct``: on PostgreSQL its writes (after its first statement) go straight to
        asyncpg, whose errors then come untranslated — for internal moves that expect none."""
        if self._aio is not None:
            async with self._aio.begin() as conn:
                yield Conn(aio=conn, prepared=self._prepared if direct else None, direct_in_begin=direct)
            return
        assert self._write_lock is not None
        async with self._write_lock:
            with self._sqlite_transaction() as conn:
                yield conn

    @contextmanager
    def _sqlite_transaction(self) -> Iterator[Conn]:
        """A transaction on the shared SQLite connection; the caller holds the write lock."""
        shared = self._connection()
        if shared.in_transaction():
            shared.rollback()
        with shared.begin():
            yield Conn(sync=shared, prepared=self._prepared)

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Conn]:
        """A connection for reads. On PostgreSQL in autocommit: one round trip a query, no BEGIN/ROLLBACK."""
        if self._reads is not None:
            async with self._reads.connect() as conn:
                yield Conn(aio=conn)
            return
        shared = self._connection()
        if shared.in_transaction():  # a write transaction is open: read inside it
            yield Conn(sync=shared, prepared=self._prepared)
            return
        try:
            yield Conn(sync=shared, prepared=self._prepared)
        finally:
            if shared.in_transaction():
                shared.rollback()

    async def batched(self, operation: Callable[[Conn], Awaitable[T]], *, one_statement: bool = False) -> T:
        """Run ``operation`` in a transaction shared with the writes queued alongside it (group commit).

        ``one_statement``: on PostgreSQL it runs exactly one statement, so alone it needs no transaction."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._enqueue(_OneStatement(operation) if one_statement else operation, future)
        return await future

    async def batched_value(self, statement: Select[Any], params: Mapping[str, Any]) -> Any:
        """The first column of the first row of ``statement`` (a write with RETURNING, or a CTE), in a group
        commit: on PostgreSQL those of a group that share the statement go in one round trip."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._enqueue(_FetchValue(statement, params), future)
        return await future

    async def batched_insert(self, *rows: tuple[Insert, Mapping[str, Any]]) -> None:
        """Insert rows in a group commit. A group's inserts run before its other writes, as one
        executemany per table and set of columns (one round trip, not one per row)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._enqueue(_Inserts(rows), future)
        await future

    def _enqueue(self, operation: Write, future: asyncio.Future[Any]) -> None:
        self._queued.append((operation, future))
        if len(self._queued) == 1:
            task = asyncio.get_running_loop().create_task(self._flush())
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)

    async def _flush(self) -> None:
        if self._write_lock is None:  # PostgreSQL: groups run side by side, each on its own connection
            batch, self._queued = self._queued, []
            results = await self._run_group(batch)
        else:
            async with self._write_lock:  # the writes queued until we hold the lock go together
                batch, self._queued = self._queued, []
                results = await self._run_group(batch)
        if results is not None:
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
            return
        for operation, future in batch:  # one failed: each alone, so only that one sees its error
            try:
                async with self.begin() as conn:
                    result = await _run_one(conn, operation)
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(result)

    async def _run_group(self, batch: list[Queued]) -> list[Any] | None:
        """Every operation in one transaction; None (nothing kept) when any of them failed."""
        try:
            if self._aio is not None:
                async with self._aio.connect() as aio:
                    driver = (await aio.get_raw_connection()).driver_connection
                    assert driver is not None
                    conn = Conn(aio=aio, prepared=self._prepared, postgres=driver)
                    if _is_one_statement(batch):  # atomic by itself
                        results = await _run_all(conn, batch)
                        await conn.settle()
                        return results
                    async with conn.atomic():  # asyncpg's own: our writes bypass SQLAlchemy here
                        return await _run_all(conn, batch)
            with self._sqlite_transaction() as conn:
                return await _run_all(conn, batch)
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception:
            return None

    async def dispose(self) -> None:
        if self._aio is not None:
            await self._aio.dispose()
        elif self._sync is not None:
            if self._shared is not None:
                self._shared.close()
            self._sync.dispose()
