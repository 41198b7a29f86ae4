"""Deleting requests: Tork's ``autoDelete`` (a definition's ``delete_after``: a COMPLETED request is
deleted with its runs and logs once its ``delete_at`` passes, by the leader's housekeeping) and the job
service's ``delete`` — on a real engine over SQLite and PostgreSQL with the embedded ant."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from myrmica.config import Settings
from myrmica.domain.errors import ConflictError, NotFoundError
from myrmica.domain.principal import Principal
from myrmica.domain.records import RequestEnded
from myrmica.queen.engine import Engine
from myrmica.runtime import Runtime
from myrmica.service.jobs import JobService
from myrmica.store.accounts import principal_of
from myrmica.store.store import Store
from tests.support.tork import submit_tork

WAIT_SECONDS = 60.0


@dataclass
class World:
    jobs: JobService
    engine: Engine
    store: Store
    admin: Principal
    stranger: Principal


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, embedded_ant=True,
                        ant_id="embedded-ant", admin_token="myr_test_" + uuid.uuid4().hex)
    engine = Engine(settings)
    runtime = Runtime(settings, services=[engine])
    ctx = await runtime.start()
    try:
        stranger = principal_of(await ctx.store.accounts.create_user("stranger"))
        yield World(ctx.services["jobs"], engine, ctx.store, ctx.admin, stranger)
    finally:
        await runtime.stop()


async def until_ended(jobs: JobService, principal: Principal, request_id: str) -> str:
    async with asyncio.timeout(WAIT_SECONDS):
        async for event in await jobs.follow(principal, request_id):
            if isinstance(event, RequestEnded):
                return event.job_state
    raise AssertionError("no end")


def job(after: str, run: str = "echo done") -> str:
    return f"name: tidy\nautoDelete: {{after: {after}}}\ntasks:\n  - name: t\n    run: {run}\n"


async def test_a_completed_job_is_deleted_after_its_time(world: World) -> None:
    done = (await submit_tork(world.jobs, world.admin, job("1ms"))).request.id
    kept = (await submit_tork(world.jobs, world.admin, job("1h"))).request.id
    failed = (await submit_tork(world.jobs, world.admin, job("1ms", run="exit 1"))).request.id
    for request_id, state in ((done, "COMPLETED"), (kept, "COMPLETED"), (failed, "FAILED")):
        assert await until_ended(world.jobs, world.admin, request_id) == state
    record = await world.jobs.get(world.admin, kept)
    assert record.delete_at is not None and record.ended_at is not None
    assert timedelta(minutes=59) < record.delete_at - record.ended_at <= timedelta(hours=1)
    assert (await world.jobs.get(world.admin, failed)).delete_at is None  # Tork: COMPLETED only
    assert (await world.jobs.logs(world.admin, done)).lines
    assert await world.engine.housekeeping.delete_expired() == 1
    with pytest.raises(NotFoundError):
        await world.jobs.get(world.admin, done)
    assert await world.store.logs.read(done) == []
    assert await world.store.requests.task_executions([str(record.job_execution_id)])  # others untouched
    assert (await world.jobs.get(world.admin, failed)).job_state == "FAILED"


async def test_delete_refuses_live_requests_and_strangers(world: World) -> None:
    running = (await submit_tork(world.jobs, world.admin, job("1h", run="sleep 60"))).request.id
    with pytest.raises(ConflictError):
        await world.jobs.delete(world.admin, running)
    await world.jobs.cancel(world.admin, running)
    assert await until_ended(world.jobs, world.admin, running) == "CANCELLED"
    with pytest.raises(NotFoundError):
        await world.jobs.delete(world.stranger, running)
    deleted = await world.jobs.delete(world.admin, running)
    assert deleted.id == running
    with pytest.raises(NotFoundError):
        await world.jobs.get(world.admin, running)
