"""Opening the database (SQLite in WAL mode or PostgreSQL) and bringing its schema up to date."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from myrmica.store.database_lock import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def normalise_url(url: str) -> str:
    """Accept the URLs people write (``sqlite:///x.db``, ``postgresql://…``) and pick our drivers."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+pysqlite").render_as_string(hide_password=False)
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database {backend!r}: use sqlite:///path or postgresql://…")


def create_database(url: str) -> Database:
    target = normalise_url(url)
    if not target.startswith("sqlite"):
        return Database(create_async_engine(target, pool_size=10, max_overflow=20, pool_pre_ping=True))
    database = make_url(target).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_sync_engine(target, connect_args={"check_same_thread": False, "timeout": 30,
                                                      "isolation_level": None})

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
