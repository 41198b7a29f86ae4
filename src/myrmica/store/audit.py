"""Audit records: who changed what, and when."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from myrmica.clock import utcnow
from myrmica.domain.principal import Principal
from myrmica.ids import new_id
from myrmica.store.database_lock import Conn, Database
from myrmica.store.rows import as_dicts
from myrmica.store.tables import audit_records


def audit_row(kind: str, principal: Principal | None, *, target_id: str = "", job_type: str = "",
              message: str = "", error: str = "", remote_ip: str = "", url: str = "") -> dict[str, Any]:
    return {"id": new_id(), "kind": kind, "target_id": target_id,
            "user_id": principal.user_id if principal else None,
            "organization_id": principal.organization_id if principal else None, "job_type": job_type,
            "message": message, "error": error, "remote_ip": remote_ip, "url": url, "created_at": utcnow()}


class AuditRepository:
    def __init__(self, engine: Database) -> None:
        self._engine = engine

    async def record(self, kind: str, principal: Principal | None, *, conn: Conn | None = None,
                     **fields: str) -> None:
        row = audit_row(kind, principal, **fields)
        if conn is not None:
            await conn.execute(audit_records.insert(), row)
            return
        async with self._engine.begin() as own:
            await own.execute(audit_records.insert(), row)

    async def search(self, *, target_id: str | None = None, kind: str | None = None, limit: int = 200
                   ) -> list[dict[str, Any]]:
        query = select(audit_records).order_by(audit_records.c.created_at.desc()).limit(limit)
        if target_id:
            query = query.where(audit_records.c.target_id == target_id)
        if kind:
            query = query.where(audit_records.c.kind == kind)
        async with self._engine.connect() as conn:
            return as_dicts(await conn.execute(query))
