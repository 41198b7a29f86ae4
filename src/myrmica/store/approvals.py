"""Votes on manual-approval tasks: one per voter per task execution."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from myrmica.clock import utcnow
from myrmica.ids import new_id
from myrmica.store.database_lock import Database
from myrmica.store.rows import as_dicts
from myrmica.store.tables import approval_votes


class ApprovalRepository:
    def __init__(self, engine: Database) -> None:
        self._engine = engine

    async def cast(self, request_id: str, task_execution_id: str, task_type: str, voter: str, decision: str,
                   comments: str) -> bool:
        """Record a vote; False when this voter already voted on this task (the first vote stands)."""
        try:
            async with self._engine.begin() as conn:
                await conn.execute(approval_votes.insert().values(
                    id=new_id(), job_request_id=request_id, task_execution_id=task_execution_id,
                    task_type=task_type, voter=voter, decision=decision, comments=comments, created_at=utcnow()))
            return True
        except IntegrityError:
            return False

    async def votes(self, task_execution_id: str) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            return as_dicts(await conn.execute(select(approval_votes)
                                               .where(approval_votes.c.task_execution_id == task_execution_id)
                                               .order_by(approval_votes.c.created_at)))
