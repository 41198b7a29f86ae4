"""Opening the database (SQLite in WAL mode or PostgreSQL) and bringing its schema up to date."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import create_async_engine

from myrmica.security.private_files import FILE_MODE, create_private, tighten
from myrmica.store.database_lock import Database
from myrmica.store.json_columns import read_json

MIGRATIONS = Path(__file__).parent / "migrations"
POOL_SIZE = 25
IDLE_PING_SECONDS = 1.0


def normalise_url(url: str) -> str:
    """Accept the URLs people write (``sqlite:///x.db``, ``postgresql://…``) and pick our drivers."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+pysqlite").render_as_string(hide_password=False)
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database {backend!r}: use sqlite:///path or postgresql://…")


def _ping_when_idle(engine: Any) -> None:
    """Check a pooled connection before use when it sat idle (PostgreSQL may have restarted meanwhile).

    SQLAlchemy's ``pool_pre_ping`` checks every checkout, and on asyncpg a check is three round trips
    (BEGIN, a query, ROLLBACK): more than most of our transactions. A connection in steady use is
    taken on trust; one that rested for a second is checked, and replaced if it is dead."""

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("returned_at", 0.0) < IDLE_PING_SECONDS:
            return
        try:
            dbapi_connection.ping()
        except Exception as exc:
            raise DisconnectionError(f"a pooled connection is dead: {exc}") from exc


def _private_database_files(path: Path) -> None:
    """The SQLite file is created 0600 before SQLite opens it (its ``-wal`` and ``-shm`` files take its
    mode); files an older version made with the umask's mode are tightened."""
    path.parent.mkdir(parents=True, exist_ok=True)
    create_private(path)
    for suffix in ("-wal", "-shm", "-journal"):
        tighten(path.with_name(path.name + suffix), FILE_MODE)


def create_database(url: str) -> Database:
    target = normalise_url(url)
    if not target.startswith("sqlite"):
        # A fixed pool: connections opened beyond it would be closed on return and opened again under
        # steady load (each opening costs a TLS negotiation attempt and a login). Requests wait for a free
        # connection instead. 25 per queen leaves room for three queens in PostgreSQL's default 100.
        postgres = create_async_engine(target, pool_size=POOL_SIZE, max_overflow=0, pool_timeout=60,
                                       json_deserializer=read_json)
        _ping_when_idle(postgres.sync_engine)
        return Database(postgres)
    database = make_url(target).database
    if database and database != ":memory:" and not database.startswith("file:"):
        _private_database_files(Path(database))
    engine = create_sync_engine(target, connect_args={"check_same_thread": False, "timeout": 30,
                                                      "isolation_level": None}, json_deserializer=read_json)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # The driver runs in autocommit; SQLAlchemy's transactions become real BEGIN … COMMIT.
        # Straight to the driver: a statement through SQLAlchemy costs ten times more.
        conn.connection.dbapi_connection.execute("BEGIN")  # type: ignore[union-attr]

    return Database(engine)


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def migrate(db: Database) -> None:
    async with db.begin() as conn:
        if db.name == "postgresql":
            # One migrator at a time when several queens start together.
            await conn.execute(text("SELECT pg_advisory_xact_lock(7777001)"))
        await conn.run_sync(_upgrade)
