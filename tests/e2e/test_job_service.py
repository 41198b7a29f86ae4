"""The job service used directly — as a dialect uses it — over a real engine and store (SQLite and
PostgreSQL), with the embedded ant running real shell tasks: submit a definition and a request in
one call, submit by type and version, get, list, cancel, restart, approve, logs and follow, and
tenancy (another tenant's requests and definitions are "not found")."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from myrmica.config import Settings
from myrmica.domain.definitions import parse_definition
from myrmica.domain.errors import ConflictError, NotFoundError
from myrmica.domain.principal import Principal
from myrmica.domain.records import (
    DefinitionFilter,
    FollowEvent,
    LogLine,
    NewRequest,
    PageRequest,
    Quiet,
    RequestEnded,
    RequestFilter,
)
from myrmica.queen.engine import Engine
from myrmica.runtime import Runtime
from myrmica.service.jobs import JobService
from myrmica.store.accounts import principal_of

WAIT_SECONDS = 60.0

HELLO = """job_type: svc-hello
tasks:
- task_type: greet
  method: SHELL
  script:
    - echo hello {{ .Name }}
    - echo secret is $Token
  on_completed: count
- task_type: count
  method: SHELL
  script:
    - for i in 1 2 3 4 5; do echo line-$i; done
"""

SLOW = """job_type: svc-slow
tasks:
- task_type: nap
  method: SHELL
  script:
    - echo napping
    - sleep 60
"""

GATED = """job_type: svc-gated
tasks:
- task_type: vote
  method: MANUAL
  on_completed: after
- task_type: after
  method: SHELL
  script:
    - echo approved
"""


@dataclass
class World:
    jobs: JobService
    alpha: Principal  # a user of organisation alpha
    alpha2: Principal  # another user of alpha: sees alpha's things
    bravo: Principal  # a user of organisation bravo: sees none of them
    admin: Principal


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, embedded_ant=True,
                        ant_id="embedded-ant", admin_token="myr_test_" + uuid.uuid4().hex)
    runtime = Runtime(settings, services=[Engine(settings)])
    ctx = await runtime.start()
    try:
        accounts = ctx.store.accounts
        alpha_org, bravo_org = await accounts.create_org("alpha"), await accounts.create_org("bravo")
        users = [await accounts.create_user(name, organization_id=org["id"])
                 for name, org in (("a1", alpha_org), ("a2", alpha_org), ("b1", bravo_org))]
        yield World(ctx.services["jobs"], *(principal_of(user) for user in users), ctx.admin)
    finally:
        await runtime.stop()


def later(seconds: float = 3600) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def events_until(jobs: JobService, principal: Principal, request_id: str, *, text: str = "",
                       after_id: int = 0) -> list[FollowEvent]:
    """Follow the request until its end, or until a line containing ``text`` when one is given."""
    seen: list[FollowEvent] = []
    async with asyncio.timeout(WAIT_SECONDS):
        async for event in await jobs.follow(principal, request_id, after_id=after_id):
            seen.append(event)
            if isinstance(event, RequestEnded) or (text and isinstance(event, LogLine) and text in event.line):
                return seen
    raise AssertionError(f"the follow of {request_id} stopped without an end: {seen}")


def lines(events: list[FollowEvent]) -> list[str]:
    return [event.line for event in events if isinstance(event, LogLine)]


async def test_a_definition_and_a_request_in_one_call(world: World) -> None:
    jobs = world.jobs
    request = NewRequest(job_type="ignored: the definition's", params={"Name": "world"},
                         secret_params={"Token": "s3cr3t-value"})
    first = await jobs.submit_job(world.alpha, parse_definition(HELLO), dialect="tork",
                                  dialect_settings={"origin": "test"}, request=request)
    assert first.created and first.definition_created and first.definition is not None
    assert first.definition.dialect == "tork" and first.definition.dialect_settings == {"origin": "test"}
    assert first.request.job_type == "svc-hello" and first.request.job_definition_id == first.definition.id
    assert first.request.job_state == "PENDING" and first.request.params == {"Name": "world"}
    assert first.request.secret_names == ("Token",)

    events = await events_until(jobs, world.alpha, first.request.id)
    assert events[-1] == RequestEnded("COMPLETED")
    assert lines(events) == ["hello world", "secret is [****]", *(f"line-{i}" for i in range(1, 6))]
    done = await jobs.get(world.alpha, first.request.id)
    assert done.job_state == "COMPLETED" and done.execution is not None
    assert [(t.task_type, t.task_state, t.exit_code) for t in done.execution.tasks] == [
        ("greet", "COMPLETED", "0"), ("count", "COMPLETED", "0")]
    assert "s3cr3t-value" not in repr(done)
    greet = done.execution.tasks[0]
    assert await world.jobs.get_task(world.alpha2, greet.id) == greet
    with pytest.raises(NotFoundError):
        await world.jobs.get_task(world.bravo, greet.id)
    with pytest.raises(NotFoundError):
        await world.jobs.get_task(world.alpha, "01NOSUCHTASKEXECUTION0000")

    # The same source again: the same definition version, a new request.
    again = await jobs.submit_job(world.alpha, parse_definition(HELLO), dialect="tork", request=request)
    assert not again.definition_created and again.definition is not None
    assert again.definition.id == first.definition.id and again.request.id != first.request.id
    second = await events_until(jobs, world.alpha, again.request.id)
    assert second[-1] == RequestEnded("COMPLETED"), (second, await jobs.get(world.alpha, again.request.id))


async def test_submit_of_an_existing_definition_by_type_and_version(world: World) -> None:
    jobs = world.jobs
    v1 = (await jobs.definitions.upsert(world.alpha, parse_definition(HELLO))).definition
    changed = parse_definition(HELLO.replace("echo hello", "echo hi"))
    v2 = (await jobs.definitions.upsert(world.alpha, changed)).definition
    assert (v1.version, v2.version, v1.dialect) == (1, 2, "formicary")
    old = await jobs.submit(world.alpha, NewRequest("svc-hello", job_version="1", params={"Name": "v1"}))
    new = await jobs.submit(world.alpha, NewRequest("svc-hello", params={"Name": "v2"}))
    assert old.request.job_definition_id == v1.id and new.request.job_definition_id == v2.id
    assert lines(await events_until(jobs, world.alpha, old.request.id))[0] == "hello v1"
    assert lines(await events_until(jobs, world.alpha, new.request.id))[0] == "hi v2"
    with pytest.raises(NotFoundError):
        await jobs.submit(world.alpha, NewRequest("svc-no-such-job"))


async def test_list_filters_and_pages_newest_first(world: World) -> None:
    jobs = world.jobs
    await jobs.definitions.upsert(world.alpha, parse_definition(HELLO))
    await jobs.definitions.upsert(world.alpha, parse_definition(SLOW))
    made = [(await jobs.submit(world.alpha, NewRequest(job_type, params={"Name": "x"}, scheduled_at=later()))).request
            for job_type in ("svc-hello", "svc-slow", "svc-hello", "svc-hello", "svc-slow")]
    everything = await jobs.search(world.alpha, RequestFilter(), PageRequest(0, 10))
    assert everything.total == 5 and [r.id for r in everything.items] == [r.id for r in reversed(made)]
    hello = await jobs.search(world.alpha, RequestFilter(job_type="svc-hello"), PageRequest(0, 2))
    assert (hello.total, len(hello.items), hello.page, hello.size) == (3, 2, 0, 2)
    rest = await jobs.search(world.alpha, RequestFilter(job_type="svc-hello"), PageRequest(1, 2))
    assert [r.id for r in hello.items + rest.items] == [made[3].id, made[2].id, made[0].id]
    await jobs.cancel(world.alpha, made[1].id)
    cancelled = await jobs.search(world.alpha, RequestFilter(states=frozenset({"CANCELLED"})), PageRequest())
    assert [r.id for r in cancelled.items] == [made[1].id]
    assert (await jobs.search(world.alpha2, RequestFilter(), PageRequest())).total == 5  # same organisation
    assert (await jobs.search(world.bravo, RequestFilter(), PageRequest())).total == 0


async def test_cancel_a_running_request_and_restart_a_cancelled_one(world: World) -> None:
    jobs = world.jobs
    await jobs.definitions.upsert(world.alpha, parse_definition(SLOW))
    running = (await jobs.submit(world.alpha, NewRequest("svc-slow"))).request
    await events_until(jobs, world.alpha, running.id, text="napping")
    cancelled = await jobs.cancel(world.alpha, running.id)
    assert cancelled.job_state == "CANCELLED" and cancelled.error_code == "ERR_JOB_CANCELLED"
    assert (await events_until(jobs, world.alpha, running.id))[-1] == RequestEnded("CANCELLED")
    with pytest.raises(ConflictError):
        await jobs.cancel(world.alpha, running.id)

    await jobs.definitions.upsert(world.alpha, parse_definition(HELLO))
    waiting = (await jobs.submit(world.alpha, NewRequest("svc-hello", params={"Name": "again"},
                                                         scheduled_at=later()))).request
    await jobs.cancel(world.alpha, waiting.id)
    restarted = await jobs.restart(world.alpha, waiting.id)
    assert restarted.job_state == "PENDING" and restarted.retried == 1
    events = await events_until(jobs, world.alpha, waiting.id)
    assert events[-1] == RequestEnded("COMPLETED") and "hello again" in lines(events)
    with pytest.raises(ConflictError):
        await jobs.restart(world.alpha, waiting.id)  # only FAILED, CANCELLED or PAUSED requests


async def test_approve_a_manual_task(world: World) -> None:
    jobs = world.jobs
    await jobs.definitions.upsert(world.alpha, parse_definition(GATED))
    request = (await jobs.submit(world.alpha, NewRequest("svc-gated"))).request
    await events_until(jobs, world.alpha, request.id, text="waiting for approval")
    with pytest.raises(NotFoundError):
        await jobs.approve(world.bravo, request.id, "vote")
    outcome = await jobs.approve(world.alpha2, request.id, "vote", "looks fine")
    assert (outcome.decision, outcome.quorum_reached, outcome.approvals_received) == ("APPROVED", True, 1)
    events = await events_until(jobs, world.alpha, request.id)
    assert events[-1] == RequestEnded("COMPLETED") and "approved" in lines(events)


async def test_wait_returns_at_the_end_or_when_the_time_is_up(world: World) -> None:
    jobs = world.jobs
    await jobs.definitions.upsert(world.alpha, parse_definition(HELLO))
    quick = (await jobs.submit(world.alpha, NewRequest("svc-hello", params={"Name": "w"}))).request
    assert (await jobs.wait(world.alpha, quick.id, timeout_seconds=WAIT_SECONDS)).job_state == "COMPLETED"
    waiting = (await jobs.submit(world.alpha, NewRequest("svc-hello", params={"Name": "w"},
                                                         scheduled_at=later()))).request
    assert (await jobs.wait(world.alpha, waiting.id, timeout_seconds=0.05)).job_state == "PENDING"
    with pytest.raises(NotFoundError):
        await jobs.wait(world.bravo, quick.id, timeout_seconds=0.05)


async def test_logs_in_pages_and_a_follow_from_where_a_page_ended(world: World) -> None:
    jobs = world.jobs
    await jobs.definitions.upsert(world.alpha, parse_definition(HELLO))
    request = (await jobs.submit(world.alpha, NewRequest("svc-hello", params={"Name": "pages"}))).request
    await events_until(jobs, world.alpha, request.id)
    first = await jobs.logs(world.alpha, request.id, limit=3)
    assert [line.line for line in first.lines] == ["hello pages", "secret is", "line-1"] and first.more
    second = await jobs.logs(world.alpha, request.id, after_id=first.next_after_id, limit=100)
    assert [line.line for line in second.lines] == [f"line-{i}" for i in range(2, 6)] and not second.more
    only_count = await jobs.logs(world.alpha, request.id, task_type="count")
    assert {line.task_type for line in only_count.lines} == {"count"} and len(only_count.lines) == 5
    tail = await events_until(jobs, world.alpha, request.id, after_id=first.next_after_id)
    assert lines(tail) == [f"line-{i}" for i in range(2, 6)] and tail[-1] == RequestEnded("COMPLETED")


async def test_a_follow_with_nothing_to_say_reports_quiet(world: World) -> None:
    jobs = world.jobs
    await jobs.definitions.upsert(world.alpha, parse_definition(HELLO))
    waiting = (await jobs.submit(world.alpha, NewRequest("svc-hello", params={"Name": "x"},
                                                         scheduled_at=later()))).request
    events = await jobs.follow(world.alpha, waiting.id, quiet_seconds=0.05)
    async with asyncio.timeout(WAIT_SECONDS):
        assert await anext(events) == Quiet()
    await events.aclose()


async def test_another_tenant_gets_not_found_and_changes_nothing(world: World) -> None:
    jobs = world.jobs
    definition = (await jobs.definitions.upsert(world.alpha, parse_definition(HELLO))).definition
    request = (await jobs.submit(world.alpha, NewRequest("svc-hello", params={"Name": "mine"},
                                                         scheduled_at=later()))).request
    rid = request.id
    bravo = world.bravo
    attempts: dict[str, Callable[[], Awaitable[object]]] = {
        "get": lambda: jobs.get(bravo, rid), "cancel": lambda: jobs.cancel(bravo, rid),
        "pause": lambda: jobs.pause(bravo, rid), "restart": lambda: jobs.restart(bravo, rid),
        "trigger": lambda: jobs.trigger(bravo, rid), "reject": lambda: jobs.reject(bravo, rid, "greet", "no"),
        "logs": lambda: jobs.logs(bravo, rid), "follow": lambda: jobs.follow(bravo, rid),
        "wait_time": lambda: jobs.wait_time(bravo, rid), "request_dot": lambda: jobs.request_dot(bravo, rid),
        "definition": lambda: jobs.definitions.get(bravo, definition.id),
        "definition by type": lambda: jobs.definitions.get(bravo, "svc-hello"),
        "definition_stats": lambda: jobs.definition_stats(bravo, definition.id),
        "disable": lambda: jobs.definitions.set_disabled(bravo, definition.id, True),
        "delete": lambda: jobs.definitions.delete(bravo, definition.id),
        "submit": lambda: jobs.submit(bravo, NewRequest("svc-hello", params={"Name": "theirs"})),
    }
    for name, attempt in attempts.items():
        with pytest.raises(NotFoundError) as caught:
            await attempt()
        assert "mine" not in caught.value.message, name
    assert await jobs.dead_ids(bravo) == [] and await jobs.job_stats(bravo) == []
    assert (await jobs.definitions.search(bravo, DefinitionFilter(), PageRequest())).total == 0

    # Nothing changed, and the owner's organisation and the admin see it all.
    for principal in (world.alpha, world.alpha2, world.admin):
        seen = await jobs.get(principal, rid)
        assert (seen.job_state, seen.params) == ("PENDING", {"Name": "mine"})
        assert (await jobs.definitions.get(principal, definition.id)).active
    assert (await jobs.wait_time(world.alpha, rid)).queue_number == 1
    assert "greet" in await jobs.request_dot(world.alpha, rid)
