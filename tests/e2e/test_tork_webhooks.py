"""Tork's webhooks end to end: Tork jobs run by a real engine (SQLite and PostgreSQL) with the embedded
ant, and a real HTTP receiver on 127.0.0.1 that answers the first calls 429 and 500 (retried at once:
the back-off setting is 0). Events, ``if`` with Go field names, templated headers with a secret,
job and task bodies, cancel and restart."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from myrmica.api.tork import webhooks as tork_webhooks
from myrmica.api.tork.ids import to_tork
from myrmica.config import Settings
from myrmica.domain.principal import Principal
from myrmica.domain.records import RequestEnded
from myrmica.domain.webhooks import DELIVERED
from myrmica.queen.engine import Engine
from myrmica.runtime import Runtime
from myrmica.service.jobs import JobService
from myrmica.store.store import Store
from tests.support.http_stub import HttpStub, Seen, http_stub
from tests.support.tork import submit_tork

WAIT_SECONDS = 60.0


@dataclass
class World:
    jobs: JobService
    store: Store
    admin: Principal


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, embedded_ant=True,
                        ant_id="embedded-ant", admin_token="myr_test_" + uuid.uuid4().hex, webhook_backoff_secs=0)
    runtime = Runtime(settings, services=[Engine(settings)])
    ctx = await runtime.start()
    try:
        tork_webhooks.start(ctx)
        yield World(ctx.services["jobs"], ctx.store, ctx.admin)
    finally:
        await runtime.stop()


async def until_ended(jobs: JobService, principal: Principal, request_id: str) -> str:
    async with asyncio.timeout(WAIT_SECONDS):
        async for event in await jobs.follow(principal, request_id):
            if isinstance(event, RequestEnded):
                return event.job_state
    raise AssertionError("no end")


async def deliveries_done(store: Store, request_id: str, count: int) -> list[Any]:
    """The request's webhook deliveries once ``count`` of them have ended (polled until a deadline)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        found = await store.webhooks.of_source(request_id)
        if len(found) >= count and all(d.state in ("DELIVERED", "FAILED") for d in found):
            return found
        assert time.monotonic() < deadline, f"deliveries of {request_id}: {[(d.state, d.attempts) for d in found]}"
        await asyncio.sleep(0.05)


def bodies(receiver: HttpStub, path: str) -> list[dict[str, Any]]:
    seen: list[Seen] = [s for s in receiver.seen if s.path == path and s.status < 300]  # not the 429, 500
    return [json.loads(s.body) for s in seen]


def hooks(url: str) -> str:
    return f"""
webhooks:
  - url: {url}/every
    headers:
      Authorization: "Bearer {{{{ secrets.token }}}}"
      X-Who: "{{{{ inputs.who }}}}"
  - url: {url}/completed
    event: job.StateChange
    if: "{{{{ job.State == 'COMPLETED' }}}}"
  - url: {url}/failed
    if: "{{{{ job.State == 'FAILED' }}}}"
  - url: {url}/tasks
    event: task.StateChange
  - url: {url}/progress
    event: job.Progress
"""


async def test_a_completed_job_calls_its_webhooks(world: World) -> None:
    with http_stub(statuses=[429, 500]) as receiver:
        submitted = await submit_tork(world.jobs, world.admin, f"""
name: hooked
inputs: {{who: ant}}
secrets: {{token: s3cr3t-value}}
tasks:
  - name: first
    run: echo one
  - name: second
    run: echo two
{hooks(receiver.url)}""")
        request_id = submitted.request.id
        assert await until_ended(world.jobs, world.admin, request_id) == "COMPLETED"
        # every: PENDING, RUNNING, COMPLETED; completed: 1; tasks: 2 × (PENDING, RUNNING, COMPLETED); progress: 2
        found = await deliveries_done(world.store, request_id, 3 + 1 + 6 + 2)
    assert all(d.state == DELIVERED for d in found)
    assert sum(d.attempts for d in found) == len(found) + 2  # the 429 and the 500 were retried
    tork_id = to_tork(request_id)
    every = bodies(receiver, "/every")
    assert sorted(b["state"] for b in every) == ["COMPLETED", "PENDING", "RUNNING"]
    assert {b["id"] for b in every} == {tork_id} and {b["name"] for b in every} == {"hooked"}
    headers = next(s.headers for s in receiver.seen if s.path == "/every")
    assert headers["Authorization"] == "Bearer s3cr3t-value" and headers["X-Who"] == "ant"
    assert headers["Content-Type"] == "application/json; charset=UTF-8"
    assert [b["state"] for b in bodies(receiver, "/completed")] == ["COMPLETED"]
    assert bodies(receiver, "/failed") == []
    tasks = bodies(receiver, "/tasks")
    assert sorted((t["position"], t["state"]) for t in tasks) == [
        (1, "COMPLETED"), (1, "PENDING"), (1, "RUNNING"), (2, "COMPLETED"), (2, "PENDING"), (2, "RUNNING")]
    assert {t["jobId"] for t in tasks} == {tork_id} and {t["name"] for t in tasks} == {"first", "second"}
    assert sorted(b["progress"] for b in bodies(receiver, "/progress")) == [50.0, 100.0]
    assert not any("s3cr3t-value" in s.body.decode() for s in receiver.seen)  # bodies are summaries


async def test_a_failed_job_and_a_restart(world: World) -> None:
    with http_stub() as receiver:
        submitted = await submit_tork(world.jobs, world.admin, f"""
name: failing
secrets: {{token: t}}
tasks:
  - name: boom
    run: exit 3
{hooks(receiver.url)}""")
        request_id = submitted.request.id
        assert await until_ended(world.jobs, world.admin, request_id) == "FAILED"
        await deliveries_done(world.store, request_id, 3 + 1 + 3)  # no job.Progress: no task completed
        failed = bodies(receiver, "/failed")
        assert [b["state"] for b in failed] == ["FAILED"]
        task_states = {t["state"]: t for t in bodies(receiver, "/tasks")}
        assert task_states["FAILED"]["error"] == "error executing command: exit status 3"
        await world.jobs.restart(world.admin, request_id)
        assert await until_ended(world.jobs, world.admin, request_id) == "FAILED"
        await deliveries_done(world.store, request_id, 2 * (3 + 1 + 3))  # RESTART instead of PENDING
    states = [b["state"] for b in bodies(receiver, "/every")]
    assert sorted(states) == ["FAILED", "FAILED", "PENDING", "RESTART", "RUNNING", "RUNNING"]


async def test_a_cancelled_job_calls_its_webhook(world: World) -> None:
    with http_stub() as receiver:
        submitted = await submit_tork(world.jobs, world.admin, f"""
name: cancelled
tasks:
  - name: nap
    run: sleep 60
webhooks:
  - url: {receiver.url}/every
  - url: {receiver.url}/cancelled
    if: "{{{{ job.State == 'CANCELLED' && job.Name == 'cancelled' }}}}"
""")
        request_id = submitted.request.id
        deadline = time.monotonic() + WAIT_SECONDS
        while "RUNNING" not in [b["state"] for b in bodies(receiver, "/every")]:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await world.jobs.cancel(world.admin, request_id)
        assert await until_ended(world.jobs, world.admin, request_id) == "CANCELLED"
        await deliveries_done(world.store, request_id, 4)
    assert sorted(b["state"] for b in bodies(receiver, "/every")) == ["CANCELLED", "PENDING", "RUNNING"]
    assert [b["state"] for b in bodies(receiver, "/cancelled")] == ["CANCELLED"]
