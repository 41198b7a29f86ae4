"""Job requests and their executions: every state change is a compare-and-set on the old state."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, delete, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from myrmica.clock import utcnow
from myrmica.domain.errors import NotFoundError
from myrmica.domain.principal import Principal
from myrmica.domain.records import RequestFilter
from myrmica.store.database_lock import Conn, Database
from myrmica.store.rows import as_dict, as_dicts
from myrmica.store.statements import (
    Change,
    chain_statement,
    delete_in,
    insert,
    select_where,
    update_chain,
    update_each,
    update_where,
    where_params,
)
from myrmica.store.tables import (
    ACTIVE_PREDICATE,
    ACTIVE_STATES,
    WAITING_PREDICATE,
    approval_votes,
    artifacts,
    audit_records,
    log_lines,
)
from myrmica.store.tables import job_definitions as jd
from myrmica.store.tables import job_executions as je
from myrmica.store.tables import job_requests as jr
from myrmica.store.tables import task_executions as te

TERMINAL_STATES = ("COMPLETED", "FAILED", "CANCELLED")
__all__ = ["CreateResult", "RequestFilter", "RequestRepository", "request_visible_to"]

# The states are literal SQL: PostgreSQL's partial indexes need their predicate in the query (migration 0003).
_DUE = (select(jr).where(text(WAITING_PREDICATE),
                         jr.c.scheduled_at <= bindparam("now", type_=jr.c.scheduled_at.type))
        .order_by(jr.c.job_priority.desc(), jr.c.created_at, jr.c.id).limit(bindparam("limit")))
# SQLite: the same, read in the order of its queue index (it would otherwise sort every waiting request).
_DUE_SQLITE = text(
    f"SELECT {', '.join(c.name for c in jr.c)} FROM job_requests INDEXED BY ix_job_requests_queue "
    f"WHERE {WAITING_PREDICATE} AND scheduled_at <= :now ORDER BY job_priority DESC, created_at, id LIMIT :limit"
).bindparams(bindparam("now", type_=jr.c.scheduled_at.type), bindparam("limit")).columns(*jr.c)
_NEXT_DUE = select(func.min(jr.c.scheduled_at)).where(text(WAITING_PREDICATE))
_ACTIVE_COUNTS = (select(jr.c.owner_key, jr.c.job_type, func.count()).where(text(ACTIVE_PREDICATE))
                  .group_by(jr.c.owner_key, jr.c.job_type))


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass
class CreateResult:
    request: dict[str, Any]
    created: bool


def request_visible_to(principal: Principal) -> ColumnElement[bool]:
    if principal.admin:
        return jr.c.id.is_not(None)
    return jr.c.owner_key == principal.owner_key


class RequestRepository:
    def __init__(self, engine: Database) -> None:
        self._engine = engine

    @property
    def engine(self) -> Database:
        return self._engine

    # --- requests -------------------------------------------------------------------------------

    async def create(self, row: dict[str, Any], audit: dict[str, Any] | None = None,
                     extra: Sequence[tuple[Any, dict[str, Any]]] = ()) -> CreateResult:
        """Insert a PENDING request; a live request of the same owner with the same ``user_key`` is
        returned instead (keys are per tenant: another tenant's key never matches). ``extra``: more rows
        (an insert and its values) stored in the same transaction (a run's end notice)."""
        try:
            await self._engine.batched_insert((insert(jr), row),
                                              *([(insert(audit_records), audit)] if audit is not None else []),
                                              *extra)
            return CreateResult(row, created=True)
        except IntegrityError:
            if not row.get("user_key"):
                raise
            async with self._engine.connect() as conn:
                existing = as_dict((await conn.execute(
                    select(jr).where(jr.c.owner_key == row["owner_key"], jr.c.user_key == row["user_key"])
                )).first())
            if existing is None:
                raise
            return CreateResult(existing, created=False)

    async def get(self, request_id: str, principal: Principal | None = None) -> dict[str, Any]:
        where = {"id": request_id}
        if principal is not None and not principal.admin:
            where["owner_key"] = principal.owner_key
        async with self._engine.connect() as conn:
            found = as_dict((await conn.execute(select_where(jr, where=tuple(where)), where_params(where))).first())
        if found is None:
            raise NotFoundError(f"job request {request_id} not found")
        return found

    async def find(self, request_id: str) -> dict[str, Any] | None:
        async with self._engine.connect() as conn:
            return as_dict((await conn.execute(select_where(jr, where=("id",)),
                                               where_params({"id": request_id}))).first())

    async def search(self, principal: Principal, flt: RequestFilter, *, page: int, page_size: int
                   ) -> tuple[list[dict[str, Any]], int]:
        conditions: list[ColumnElement[bool]] = [request_visible_to(principal)]
        if flt.job_type:
            conditions.append(jr.c.job_type == flt.job_type)
        if flt.states:
            conditions.append(jr.c.job_state.in_(sorted(flt.states)))
        if flt.platform:
            conditions.append(jr.c.platform == flt.platform)
        if flt.job_group:
            conditions.append(jr.c.job_group == flt.job_group)
        if flt.parent_id:
            conditions.append(jr.c.parent_id == flt.parent_id)
        if flt.cron_triggered is not None:
            conditions.append(jr.c.cron_triggered.is_(flt.cron_triggered))
        if flt.q:
            like = f"%{flt.q}%"
            conditions.append(or_(jr.c.id.like(like), jr.c.job_type.like(like), jr.c.description.like(like),
                                  jr.c.user_id.like(like), jr.c.organization_id.like(like),
                                  func.cast(jr.c.params, jr.c.description.type).like(like)))
        conditions += self._dialect_conditions(flt)
        where = and_(*conditions)
        async with self._engine.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(jr).where(where))).scalar() or 0
            rows = as_dicts(await conn.execute(
                select(jr).where(where).order_by(jr.c.created_at.desc(), jr.c.id.desc())
                .offset(page * page_size).limit(page_size)))
        return rows, int(total)

    @staticmethod
    def _dialect_conditions(flt: RequestFilter) -> list[ColumnElement[bool]]:
        """The filters a dialect's search needs: its own requests, words in the descriptions, labels."""
        conditions: list[ColumnElement[bool]] = []
        if flt.dialect:
            conditions.append(jr.c.job_definition_id.in_(select(jd.c.id).where(jd.c.dialect == flt.dialect)))
        for word in flt.words:
            pattern = f"%{_like_escaped(word.lower())}%"
            described = select(jd.c.id).where(func.lower(jd.c.description).like(pattern, escape="\\"))
            conditions.append(or_(func.lower(jr.c.description).like(pattern, escape="\\"),
                                  jr.c.job_definition_id.in_(described)))
        if flt.labels_any:
            conditions.append(or_(*[jr.c.labels.like(f"%{_like_escaped(json.dumps(label))}%", escape="\\")
                                    for label in flt.labels_any]))
        return conditions

    async def transition(self, request_id: str, from_states: Iterable[str], **values: Any) -> bool:
        """Set ``values`` when the request is still in one of ``from_states``; False when it is not."""
        states = list(from_states)
        return await self._engine.batched(lambda conn: self.transition_in(conn, request_id, states, **values))

    async def transition_in(self, conn: Conn, request_id: str, from_states: Iterable[str],
                            **values: Any) -> bool:
        values.setdefault("updated_at", utcnow())
        return bool(await update_where(conn, jr, values, where={"id": request_id}, in_column="job_state",
                                       in_values=list(from_states)))

    async def due(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        """PENDING and PAUSED requests whose time has come, by priority then age."""
        async with self._engine.connect() as conn:
            statement = _DUE_SQLITE if self._engine.name == "sqlite" else _DUE
            return as_dicts(await conn.execute(statement, {"now": now, "limit": limit}))

    async def next_due_at(self) -> datetime | None:
        async with self._engine.connect() as conn:
            value = (await conn.execute(_NEXT_DUE)).scalar()
        if not isinstance(value, datetime):
            return None
        return value.replace(tzinfo=utcnow().tzinfo) if value.tzinfo is None else value

    async def claim(self, ids: Sequence[tuple[str, str]], owner: str, lease_until: datetime) -> list[str]:
        """Move each (id, expected state) to READY with our lease; return the ids we won."""
        now = utcnow()
        values = {"job_state": "READY", "lease_owner": owner, "lease_expires_at": lease_until, "updated_at": now}
        async with self._engine.begin(direct=True) as conn:
            return await self._move_each(conn, [(request_id, state, values) for request_id, state in ids])

    @staticmethod
    async def _move_each(conn: Conn, moves: Sequence[tuple[str, str, dict[str, Any]]]) -> list[str]:
        """Set each (id, expected state, values) whose row is still in that state; the ids moved.

        The rows are locked first, skipping those another transaction holds (PostgreSQL's SKIP
        LOCKED): two queens starting the same due requests would otherwise queue on each other's row
        locks for a whole pass; now each takes what the other has not. (SQLite has one writer at a
        time and no row locks.)"""
        if not moves:
            return []
        ids = [request_id for request_id, _, _ in moves]
        rows = await conn.execute(select(jr.c.id, jr.c.job_state).where(jr.c.id.in_(ids))
                                  .with_for_update(skip_locked=True))
        locked = {str(row.id): str(row.job_state) for row in rows}
        won = [(request_id, state, values) for request_id, state, values in moves if locked.get(request_id) == state]
        # Locked by us and in the expected state: each update will hit its row.
        await update_each(conn, jr, [(values, {"id": request_id, "job_state": state})
                                     for request_id, state, values in won])
        return [request_id for request_id, _, _ in won]

    async def defer(self, request_id: str, state: str, *, scheduled_at: datetime, reason: str,
                    attempts: int, priority: int) -> bool:
        async with self._engine.begin() as conn:
            return await self.transition_in(conn, request_id, [state], scheduled_at=scheduled_at,
                                            error_message=reason, schedule_attempts=attempts,
                                            job_priority=priority)

    async def retarget(self, owner_key: str, job_type: str, definition_id: str, job_version: str) -> int:
        """The job type's requests that never started (PENDING with no run yet, BLOCKED) now run another
        version of their definition; how many moved."""
        async with self._engine.begin() as conn:
            result = await conn.execute(update(jr).where(
                jr.c.owner_key == owner_key, jr.c.job_type == job_type, jr.c.job_state.in_(["PENDING", "BLOCKED"]),
                jr.c.job_execution_id.is_(None), jr.c.last_job_execution_id.is_(None),
                jr.c.job_definition_id != definition_id).values(job_definition_id=definition_id,
                                                                 job_version=job_version, updated_at=utcnow()))
        return int(result.rowcount or 0)

    async def active_counts(self) -> dict[tuple[str, str], int]:
        """(owner_key, job_type) → requests READY or EXECUTING."""
        async with self._engine.connect() as conn:
            rows: Sequence[Any] = (await conn.execute(_ACTIVE_COUNTS)).all()
        return {(r[0], r[1]): int(r[2]) for r in rows}

    async def active_counts_by(self, column: str) -> dict[str, int]:
        col = jr.c[column]
        async with self._engine.connect() as conn:
            rows: Sequence[Any] = (await conn.execute(select(col, func.count()).where(text(ACTIVE_PREDICATE),
                                                                        col.is_not(None)).group_by(col))).all()
        return {str(r[0]): int(r[1]) for r in rows}

    async def count_by_type_and_states(self, owner_key: str, job_type: str, states: Sequence[str]) -> int:
        async with self._engine.connect() as conn:
            value = (await conn.execute(select(func.count()).select_from(jr).where(
                jr.c.owner_key == owner_key, jr.c.job_type == job_type, jr.c.job_state.in_(list(states))))).scalar()
        return int(value or 0)

    async def orphans(self, *, owner_alive: Sequence[str] | None, now: datetime, mine: Collection[str] = (),
                      owner: str = "", others: bool = True) -> list[dict[str, Any]]:
        """READY/EXECUTING requests whose queen is gone (with ``others``): no owner, not a live owner, or a
        lapsed lease; and those of ``mine`` that ``owner`` still holds (their supervisor stopped)."""
        gone: list[ColumnElement[bool]] = []
        if others:
            gone += [jr.c.lease_owner.is_(None), jr.c.lease_expires_at < now]
            if owner_alive is not None:
                gone.append(jr.c.lease_owner.not_in(list(owner_alive)))
        if mine:
            gone.append(and_(jr.c.id.in_(list(mine)), jr.c.lease_owner == owner))
        if not gone:
            return []
        async with self._engine.connect() as conn:
            return as_dicts(await conn.execute(select(jr).where(text(ACTIVE_PREDICATE), or_(*gone))))

    async def adopt(self, request_id: str, old_owner: str | None, owner: str, lease_until: datetime) -> bool:
        condition = jr.c.lease_owner.is_(None) if old_owner is None else jr.c.lease_owner == old_owner
        async with self._engine.begin() as conn:
            result = await conn.execute(update(jr).where(jr.c.id == request_id, condition,
                                                         jr.c.job_state.in_(ACTIVE_STATES))
                                        .values(lease_owner=owner, lease_expires_at=lease_until))
        return bool(result.rowcount)

    async def renew_leases(self, owner: str, ids: Sequence[str], lease_until: datetime) -> None:
        if not ids:
            return
        async with self._engine.begin() as conn:
            await conn.execute(update(jr).where(jr.c.id.in_(list(ids)), jr.c.lease_owner == owner)
                               .values(lease_expires_at=lease_until))

    async def pending_cron(self, owner_key: str, job_type: str) -> dict[str, Any] | None:
        async with self._engine.connect() as conn:
            return as_dict((await conn.execute(select(jr).where(
                jr.c.owner_key == owner_key, jr.c.job_type == job_type, jr.c.cron_triggered.is_(True),
                jr.c.job_state == "PENDING").order_by(jr.c.scheduled_at).limit(1))).first())

    async def children(self, parent_id: str) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            return as_dicts(await conn.execute(select(jr).where(jr.c.parent_id == parent_id)))

    async def dead_ids(self, principal: Principal, limit: int = 1000) -> list[str]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(jr.c.id).where(request_visible_to(principal),
                                                             jr.c.job_state.in_(TERMINAL_STATES))
                                       .order_by(jr.c.updated_at.desc()).limit(limit))).all()
        return [r[0] for r in rows]

    async def stats(self, principal: Principal, job_type: str | None = None) -> list[dict[str, Any]]:
        conditions: list[ColumnElement[bool]] = [request_visible_to(principal)]
        if job_type:
            conditions.append(jr.c.job_type == job_type)
        async with self._engine.connect() as conn:
            rows: Sequence[Any] = (await conn.execute(
                select(jr.c.job_type, jr.c.job_state, jr.c.error_code, func.count(), func.min(jr.c.created_at),
                       func.max(jr.c.updated_at))
                .where(*conditions).group_by(jr.c.job_type, jr.c.job_state, jr.c.error_code))).all()
        return [{"job_type": r[0], "job_state": r[1], "error_code": r[2], "counts": int(r[3]),
                 "start_time": r[4], "end_time": r[5]} for r in rows]

    async def durations(self, principal: Principal, job_type: str | None = None, limit: int = 1000
                        ) -> list[tuple[str, str, datetime, datetime]]:
        conditions: list[ColumnElement[bool]] = [request_visible_to(principal), jr.c.started_at.is_not(None),
                                                 jr.c.ended_at.is_not(None)]
        if job_type:
            conditions.append(jr.c.job_type == job_type)
        async with self._engine.connect() as conn:
            query = select(jr.c.job_type, jr.c.job_state, jr.c.started_at, jr.c.ended_at).where(*conditions)
            rows: Sequence[Any] = (await conn.execute(query.order_by(jr.c.ended_at.desc()).limit(limit))).all()
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    # --- executions -----------------------------------------------------------------------------

    async def execution(self, execution_id: str) -> dict[str, Any] | None:
        async with self._engine.connect() as conn:
            return as_dict((await conn.execute(select_where(je, where=("id",)),
                                               where_params({"id": execution_id}))).first())

    async def task_executions(self, execution_ids: Sequence[str]) -> list[dict[str, Any]]:
        if not execution_ids:
            return []
        statement = select_where(te, in_column="job_execution_id", in_count=len(execution_ids),
                                 order_by=("task_order", "started_at", "id"))
        async with self._engine.connect() as conn:
            return as_dicts(await conn.execute(statement, where_params(in_values=list(execution_ids))))

    async def awaiting_approval(self, limit: int = 1000) -> list[dict[str, Any]]:
        """MANUAL task executions still waiting for votes, with their request's definition id (SLA checks)."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(te, jr.c.job_definition_id, jr.c.job_type.label("request_job_type"))
                .select_from(te.join(jr, te.c.job_request_id == jr.c.id))
                .where(te.c.task_state == "MANUAL_APPROVAL_REQUIRED", jr.c.job_state == "MANUAL_APPROVAL_REQUIRED")
                .order_by(te.c.started_at).limit(limit))
            return as_dicts(rows)

    async def task_execution(self, task_execution_id: str) -> dict[str, Any] | None:
        async with self._engine.connect() as conn:
            return as_dict((await conn.execute(select_where(te, where=("id",)),
                                               where_params({"id": task_execution_id}))).first())

    async def start_fresh(self, items: Sequence[tuple[str, dict[str, Any]]], owner: str,
                          lease_until: datetime) -> list[str]:
        """PENDING → EXECUTING with a new execution row, for many requests in one transaction; the ids won.

        The same statement clears the reason it waited (``no live ant can run …``): a fresh request has no
        other error_message."""
        now = utcnow()
        values = {"job_state": "EXECUTING", "lease_owner": owner, "lease_expires_at": lease_until,
                  "started_at": now, "updated_at": now, "error_message": ""}
        async with self._engine.begin(direct=True) as conn:
            won = await self._move_each(conn, [(request_id, "PENDING", {**values, "job_execution_id": execution["id"]})
                                               for request_id, execution in items])
            chosen = set(won)
            executions = [execution | {"job_state": "EXECUTING"} for request_id, execution in items
                          if request_id in chosen]
            if executions:
                await conn.write(insert(je), executions)
        return won

    async def begin_execution(self, request_id: str, execution: dict[str, Any] | None,
                              new_execution: dict[str, Any] | None, owner: str) -> bool:
        """READY → EXECUTING, creating the execution row when this is a fresh run; the reason it waited or
        was paused (its error_message) goes in the same statement."""
        now = utcnow()
        async with self._engine.begin() as conn:
            values: dict[str, Any] = {"job_state": "EXECUTING", "updated_at": now, "error_message": ""}
            if new_execution is not None:
                values["job_execution_id"] = new_execution["id"]
            ok = await conn.execute(update(jr).where(jr.c.id == request_id, jr.c.job_state == "READY",
                                                     jr.c.lease_owner == owner)
                                    .values(started_at=func.coalesce(jr.c.started_at, now), **values))
            if not ok.rowcount:
                return False
            if new_execution is not None:
                await conn.execute(je.insert(), new_execution)
            elif execution is not None:
                await conn.execute(update(je).where(je.c.id == execution["id"])
                                   .values(job_state="EXECUTING", updated_at=now, ended_at=None))
        return True

    async def insert_task_execution(self, row: dict[str, Any]) -> None:
        await self._engine.batched_insert((insert(te), row))

    async def insert_task_executions(self, rows: Sequence[dict[str, Any]]) -> None:
        """Several task executions in one transaction: all of them or none (a composite's children)."""
        if rows:
            await self._engine.batched_insert(*[(insert(te), row) for row in rows])

    async def update_task_execution(self, task_execution_id: str, expected_states: Iterable[str],
                                    **values: Any) -> bool:
        values.setdefault("updated_at", utcnow())
        states = list(expected_states)
        return bool(await self._engine.batched(lambda conn: update_where(
            conn, te, values, where={"id": task_execution_id}, in_column="task_state", in_values=states),
            one_statement=True))

    async def delete_task_executions(self, ids: Sequence[str]) -> None:
        if ids:
            async with self._engine.begin() as conn:
                await conn.execute(delete_in(te, len(ids)), where_params(in_values=list(ids)))

    async def delete_requests(self, ids: Sequence[str]) -> int:
        """Requests gone with everything they ran: executions, task executions, log lines, votes; their
        artifacts expire now (the housekeeping sweep deletes their objects, then their rows)."""
        if not ids:
            return 0
        chosen = list(ids)
        now = utcnow()
        async with self._engine.begin() as conn:
            await conn.execute(update(artifacts).where(artifacts.c.job_request_id.in_(chosen),
                                                       artifacts.c.expires_at > now).values(expires_at=now))
            for table in (log_lines, te, approval_votes, je):
                await conn.execute(delete(table).where(table.c.job_request_id.in_(chosen)))
            result = await conn.execute(delete(jr).where(jr.c.id.in_(chosen)))
        return int(result.rowcount or 0)

    async def expired(self, now: datetime, limit: int = 1000) -> list[str]:
        """Ids of ended requests whose ``delete_at`` has passed (Tork's autoDelete)."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(jr.c.id).where(jr.c.delete_at <= now,
                                                            jr.c.job_state.in_(list(TERMINAL_STATES)))
                                      .order_by(jr.c.delete_at).limit(limit))
            return [str(row.id) for row in rows]

    async def running_counts(self, principal: Principal) -> tuple[int, int]:
        """(requests READY or EXECUTING, their task executions EXECUTING) that ``principal`` may see."""
        visible = request_visible_to(principal)
        async with self._engine.connect() as conn:
            jobs = (await conn.execute(select(func.count()).select_from(jr)
                                       .where(text(ACTIVE_PREDICATE), visible))).scalar()
            tasks = (await conn.execute(select(func.count()).select_from(te.join(jr, te.c.job_request_id == jr.c.id))
                                        .where(te.c.task_state == "EXECUTING", jr.c.job_state == "EXECUTING",
                                               visible))).scalar()
        return int(jobs or 0), int(tasks or 0)

    async def ids_of_type(self, owner_key: str, job_type: str, limit: int = 100_000) -> list[str]:
        """Every request of one job type of one owner (a scheduled job's instances)."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(jr.c.id).where(jr.c.owner_key == owner_key, jr.c.job_type == job_type)
                                      .limit(limit))
            return [str(row.id) for row in rows]

    async def update_execution(self, execution_id: str, **values: Any) -> None:
        values.setdefault("updated_at", utcnow())
        await self._engine.batched(lambda conn: update_where(conn, je, values, where={"id": execution_id}),
                                   one_statement=True)

    async def finish(self, request_id: str, execution_id: str | None, from_states: Iterable[str], state: str,
                     *, request_values: dict[str, Any] | None = None,
                     execution_values: dict[str, Any] | None = None,
                     task_end: tuple[str, Sequence[str], dict[str, Any]] | None = None) -> bool:
        """End (or suspend) a request and its execution together, if it is still in ``from_states``.

        ``task_end`` (task execution id, expected states, values): its last task's end, written in the
        same transaction whatever becomes of the request."""
        now = utcnow()
        values = {"job_state": state, "updated_at": now, **(request_values or {})}
        if state in TERMINAL_STATES:
            values.setdefault("ended_at", now)
            values["lease_owner"] = None
        states = list(from_states)

        task_change = None
        if task_end is not None:
            task_id, task_states, task_values = task_end
            task_change = Change(te, {"updated_at": now, **task_values}, {"id": task_id}, "task_state",
                                 list(task_states))
        execution_change = None
        if execution_id:
            ev = {"job_state": state, "updated_at": now, **(execution_values or {})}
            if state in TERMINAL_STATES:
                ev.setdefault("ended_at", now)
            execution_change = Change(je, ev, {"id": execution_id})
        request_change = Change(jr, values, {"id": request_id}, "job_state", states)

        if self._engine.name == "postgresql":  # one statement, sent with the group's other ends
            return bool(await self._engine.batched_value(*chain_statement(task_change, request_change,
                                                                            execution_change)))

        async def write(conn: Conn) -> bool:
            return await update_chain(conn, task_change, request_change, execution_change)

        return await self._engine.batched(write)
