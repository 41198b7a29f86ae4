"""Fresh databases that already have the schema, for tests that start servers.

Running every migration takes a second or more per database; a server test needs an empty database with the
schema, not the migrations run again. Each test process migrates one template per backend once, then each test
gets a copy: ``CREATE DATABASE … TEMPLATE`` on PostgreSQL, a file copy on SQLite. The server still runs
``migrate`` at start, which finds the schema current. Tests of the migrations themselves use empty databases
(``tests.support.postgres.create_database``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from myrmica.store.database import create_database as open_database
from myrmica.store.database import migrate
from tests.support.postgres import create_database

_sqlite_template: Path | None = None
_postgres_templates: dict[str, str] = {}


async def _migrate(url: str) -> None:
    db = open_database(url)
    try:
        await migrate(db)
    finally:
        await db.dispose()


def migrated_sqlite(path: Path) -> str:
    """A SQLite database at ``path`` with the current schema."""
    global _sqlite_template
    if _sqlite_template is None:
        template = Path(tempfile.mkdtemp(prefix="myrmica-schema-")) / "template.db"
        asyncio.run(_migrate(f"sqlite:///{template}"))  # the last connection's close checkpoints the WAL
        _sqlite_template = template
    shutil.copyfile(_sqlite_template, path)
    os.chmod(path, 0o600)
    return f"sqlite:///{path}"


def migrated_postgres(admin_url: str) -> str:
    """A new database on the cluster at ``admin_url`` with the current schema."""
    template = _postgres_templates.get(admin_url)
    if template is None:
        template = f"schema_{uuid.uuid4().hex[:12]}"
        asyncio.run(_migrate(create_database(admin_url, template)))
        _postgres_templates[admin_url] = template
    return create_database(admin_url, f"t_{uuid.uuid4().hex[:12]}", template=template)
