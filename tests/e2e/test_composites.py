"""Composite tasks through the job service, over a real engine and store (SQLite and PostgreSQL), with the
embedded ant running real shell tasks: parallel groups, fan-outs running a task of their own, nesting, and
child jobs defined inline (attached: awaited and cancelled both ways; detached: left running)."""

from __future__ import annotations

import asyncio
import shlex
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from myrmica.config import Settings
from myrmica.domain.definitions import parse_definition
from myrmica.domain.principal import Principal
from myrmica.domain.records import (
    DefinitionFilter,
    LogLine,
    NewRequest,
    PageRequest,
    RequestEnded,
    RequestFilter,
    RequestRecord,
    TaskRecord,
)
from myrmica.queen.engine import Engine
from myrmica.runtime import Runtime
from myrmica.service.jobs import JobService
from myrmica.store.accounts import principal_of

WAIT_SECONDS = 60.0
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")


@dataclass
class World:
    jobs: JobService
    user: Principal
    tmp: Path


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    # No sandbox: a task here waits for a gate file in the test's own temporary directory, which a sandboxed
    # task cannot see (its /tmp is its request's own; tests/e2e/test_task_isolation.py covers the sandbox).
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, embedded_ant=True,
                        ant_id="embedded-ant", admin_token="myr_test_" + uuid.uuid4().hex, sandbox="none")
    runtime = Runtime(settings, services=[Engine(settings)])
    ctx = await runtime.start()
    try:
        org = await ctx.store.accounts.create_org("composites")
        user = principal_of(await ctx.store.accounts.create_user("c1", organization_id=org["id"]))
        yield World(ctx.services["jobs"], user, tmp_path)
    finally:
        await runtime.stop()


async def until(world: World, request_id: str) -> RequestRecord:
    """The request once it has ended (its follow's last event says so)."""
    async with asyncio.timeout(WAIT_SECONDS):
        async for event in await world.jobs.follow(world.user, request_id):
            if isinstance(event, RequestEnded):
                return await world.jobs.get(world.user, request_id)
    raise AssertionError(f"the follow of {request_id} stopped before its end")


async def until_line(world: World, request_id: str, text: str) -> None:
    async with asyncio.timeout(WAIT_SECONDS):
        async for event in await world.jobs.follow(world.user, request_id):
            if isinstance(event, LogLine) and text in event.line:
                return
    raise AssertionError(f"{request_id} ended without printing {text!r}")


async def run(world: World, source: str, params: dict[str, str] | None = None) -> RequestRecord:
    definition = (await world.jobs.definitions.upsert(world.user, parse_definition(source))).definition
    request = (await world.jobs.submit(world.user, NewRequest(definition.job_type, params=params or {}))).request
    return await until(world, request.id)


def tasks(record: RequestRecord) -> tuple[TaskRecord, ...]:
    assert record.execution is not None
    return record.execution.tasks


def top(record: RequestRecord) -> list[tuple[str, str]]:
    return [(t.task_type, t.task_state) for t in tasks(record) if t.parent_task_id is None]


def children_of(record: RequestRecord, task_type: str) -> list[TaskRecord]:
    parent = next(t for t in tasks(record) if t.task_type == task_type and t.parent_task_id is None)
    return sorted((t for t in tasks(record) if t.parent_task_id == parent.id), key=lambda t: t.item_index or 0)


async def log_of(world: World, request_id: str) -> list[str]:
    return [line.line for line in (await world.jobs.logs(world.user, request_id)).lines]


def barrier(name: str, count: int) -> str:
    """A script line that waits (up to 30 s) until ``count`` tasks of the request reached it: it ends
    well only if they all run at the same time."""
    return (f'touch "$MYRMICA_JOB_DIR/here.{name}"; for i in $(seq 600); do '
            f'[ "$(ls "$MYRMICA_JOB_DIR" | grep -c "^here")" -ge {count} ] && break; sleep 0.05; done; '
            f'[ "$(ls "$MYRMICA_JOB_DIR" | grep -c "^here")" -ge {count} ]')


PARALLEL = f"""job_type: cmp-parallel
tasks:
- task_type: start
  method: SHELL
  script: [echo start]
  on_completed: group
- task_type: group
  parallel:
  - task_type: a
    method: SHELL
    script: [{shlex.quote(barrier("a", 3))}, echo a done]
  - task_type: b
    method: SHELL
    script: [{shlex.quote(barrier("b", 3))}, echo b done]
  - task_type: c
    method: SHELL
    script: [{shlex.quote(barrier("c", 3))}, echo c done]
  on_completed: end
- task_type: end
  method: SHELL
  script: [echo end]
"""


async def test_a_parallel_group_runs_its_tasks_at_once_then_the_walk_goes_on(world: World) -> None:
    done = await run(world, PARALLEL)
    assert done.job_state == "COMPLETED", done.error_message
    assert top(done) == [("start", "COMPLETED"), ("group", "COMPLETED"), ("end", "COMPLETED")]
    group = children_of(done, "group")
    assert [(t.task_type, t.item_index, t.task_state, t.exit_code) for t in group] == [
        ("a", 0, "COMPLETED", "0"), ("b", 1, "COMPLETED", "0"), ("c", 2, "COMPLETED", "0")]
    assert all(t.ant_id == "embedded-ant" for t in group)
    lines = await log_of(world, done.id)
    assert lines[0] == "start" and lines[-1] == "end"
    assert sorted(lines[1:-1]) == ["a done", "b done", "c done"]


FAIL_FAST = f"""job_type: cmp-fail-fast
tasks:
- task_type: group
  parallel:
  - task_type: breaks
    method: SHELL
    script: [{shlex.quote(barrier("breaks", 2))}, exit 3]
  - task_type: sleeps
    method: SHELL
    script: [{shlex.quote(barrier("sleeps", 2))}, echo sleeping, sleep 600]
  on_completed: never
- task_type: never
  method: SHELL
  script: [echo never]
"""


async def test_a_failed_child_fails_the_group_at_once_and_cancels_the_others(world: World) -> None:
    done = await run(world, FAIL_FAST)  # a sibling left to sleep 600 s would outlast the wait
    assert done.job_state == "FAILED" and done.error_code == "ERR_TASK_EXECUTE", done.error_message
    assert top(done) == [("group", "FAILED")]
    breaks, sleeps = children_of(done, "group")
    assert (breaks.task_state, breaks.exit_code) == ("FAILED", "3")
    assert (sleeps.task_state, sleeps.error_code) == ("CANCELLED", "ERR_JOB_CANCELLED")
    assert "never" not in await log_of(world, done.id)


COUNT_RUNNING = ('touch "$MYRMICA_JOB_DIR/running.$region"; sleep 0.3; '
                 'ls "$MYRMICA_JOB_DIR" | grep -c "^running" >> "$MYRMICA_JOB_DIR/observed"; '
                 'rm "$MYRMICA_JOB_DIR/running.$region"')
FAN_OUT = f"""job_type: cmp-fan-out
job_variables:
  Regions: '["us", "eu", "ap", "sa"]'
tasks:
- task_type: deploy
  fan_out:
    source: Regions
    item_var: region
    max_parallel: 2
    task:
      task_type: deploy-one
      method: SHELL
      script:
      - echo "deploying $region ($region_index)"
      - {shlex.quote(COUNT_RUNNING)}
      - {shlex.quote('cat "$MYRMICA_JOB_DIR/observed" | sort -n | tail -1 | sed "s/^/most at once: /"')}
"""


async def test_a_fan_out_runs_its_task_once_per_item_at_most_max_parallel_at_a_time(world: World) -> None:
    done = await run(world, FAN_OUT)
    assert done.job_state == "COMPLETED", done.error_message
    items = children_of(done, "deploy")
    assert [(t.task_type, t.item_index, t.contexts.get("region"), t.task_state) for t in items] == [
        ("deploy-one", 0, "us", "COMPLETED"), ("deploy-one", 1, "eu", "COMPLETED"),
        ("deploy-one", 2, "ap", "COMPLETED"), ("deploy-one", 3, "sa", "COMPLETED")]
    lines = await log_of(world, done.id)
    assert {f"deploying {r} ({i})" for i, r in enumerate(["us", "eu", "ap", "sa"])} <= set(lines)
    most = max(int(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("most at once: "))
    assert 1 <= most <= 2


NESTED = """job_type: cmp-nested
tasks:
- task_type: each
  fan_out:
    items: '["x", "y"]'
    task:
      task_type: pair
      parallel:
      - task_type: left
        method: SHELL
        script: ['echo "{{ .item }} left"']
      - task_type: right
        method: SHELL
        script: ['echo "{{ .item }} right"']
"""


async def test_composites_nest_and_each_child_renders_with_its_item(world: World) -> None:
    done = await run(world, NESTED)
    assert done.job_state == "COMPLETED", done.error_message
    pairs = children_of(done, "each")
    assert [(t.task_type, t.item_index, t.task_state) for t in pairs] == [
        ("pair", 0, "COMPLETED"), ("pair", 1, "COMPLETED")]
    below = {p.id: sorted((t.task_type, t.task_state) for t in tasks(done) if t.parent_task_id == p.id)
             for p in pairs}
    assert list(below.values()) == [[("left", "COMPLETED"), ("right", "COMPLETED")]] * 2
    assert sorted(await log_of(world, done.id)) == ["x left", "x right", "y left", "y right"]


def forking(child_script: str, *, detached: bool = False, job_type: str = "cmp-fork") -> str:
    return f"""job_type: {job_type}
tasks:
- task_type: fork
  method: FORK_JOB
  child_job:
    detached: {'true' if detached else 'false'}
    params:
      Who: '{{{{ .Name }}}}'
    secret_params:
      Token: hush
    definition:
      job_type: {job_type}-child
      tasks:
      - task_type: work
        method: SHELL
        script: [{shlex.quote(child_script)}]
  on_completed: after
- task_type: after
  method: SHELL
  script: [echo parent after]
"""


async def child_of(world: World, parent: RequestRecord) -> RequestRecord:
    fork = next(t for t in tasks(parent) if t.task_type == "fork")
    return await world.jobs.get(world.user, str(fork.contexts["fork.ForkedJobID"]))


async def test_an_inline_child_job_runs_as_a_child_request_and_is_awaited(world: World) -> None:
    done = await run(world, forking('echo "child of $Who"'), {"Name": "parent"})
    assert done.job_state == "COMPLETED", done.error_message
    assert top(done) == [("fork", "COMPLETED"), ("after", "COMPLETED")]
    child = await child_of(world, done)
    assert (child.job_state, child.parent_id, child.cascade_cancel) == ("COMPLETED", done.id, True)
    assert child.job_type == "cmp-fork-child" and child.params["Who"] == "parent"
    assert child.secret_names == ("Token",)
    assert await log_of(world, child.id) == ["child of parent"]
    # The child's definition is an ordinary one of the parent's owner; the same one serves the next run.
    found = await world.jobs.definitions.search(world.user, DefinitionFilter(job_type="cmp-fork-child"),
                                                PageRequest())
    assert found.total == 1
    again = await run(world, forking('echo "child of $Who"'), {"Name": "again"})
    assert (await child_of(world, again)).job_definition_id == child.job_definition_id


async def test_cancelling_the_parent_cancels_its_child_job(world: World) -> None:
    definition = (await world.jobs.definitions.upsert(world.user, parse_definition(
        forking("echo child started; sleep 600", job_type="cmp-cancel-parent")))).definition
    parent = (await world.jobs.submit(world.user, NewRequest(definition.job_type, params={"Name": "p"}))).request
    fork_started = await wait_child(world, parent.id)
    await until_line(world, fork_started, "child started")
    await world.jobs.cancel(world.user, parent.id)
    assert (await until(world, parent.id)).job_state == "CANCELLED"
    assert (await until(world, fork_started)).job_state == "CANCELLED"


async def test_cancelling_the_child_job_cancels_its_parent(world: World) -> None:
    definition = (await world.jobs.definitions.upsert(world.user, parse_definition(
        forking("echo child started; sleep 600", job_type="cmp-cancel-child")))).definition
    parent = (await world.jobs.submit(world.user, NewRequest(definition.job_type, params={"Name": "p"}))).request
    child_id = await wait_child(world, parent.id)
    await until_line(world, child_id, "child started")
    await world.jobs.cancel(world.user, child_id)
    done = await until(world, parent.id)
    assert done.job_state == "CANCELLED" and done.error_code == "ERR_JOB_CANCELLED"
    assert top(done) == [("fork", "FAILED")]  # a child cancelled: Tork shows the task CANCELLED
    assert "parent after" not in await log_of(world, parent.id)


async def wait_child(world: World, parent_id: str) -> str:
    """The id of the request's child request, once its fork stored it (the fork's row says "forking")."""
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            record = await world.jobs.get(world.user, parent_id)
            fork = next((t for t in tasks(record) if t.task_type == "fork"), None) if record.execution else None
            child_id = fork.contexts.get("fork.ForkedJobType") and fork.contexts.get("fork.ForkedJobID") \
                if fork is not None else None
            if child_id:
                return str(child_id)
            await asyncio.sleep(0.02)  # nothing announces a row's contexts: look again shortly


async def test_a_detached_child_job_is_left_running_and_gets_no_secrets(world: World) -> None:
    gate = world.tmp / "gate"
    script = f'echo "token=[$Token]"; while [ ! -e {shlex.quote(str(gate))} ]; do sleep 0.05; done; echo released'
    done = await run(world, forking(script, detached=True, job_type="cmp-detached"), {"Name": "d"})
    assert done.job_state == "COMPLETED", done.error_message  # while its child waits for the gate
    assert top(done) == [("fork", "COMPLETED"), ("after", "COMPLETED")]
    child = await child_of(world, done)
    assert child.job_state in ("PENDING", "READY", "EXECUTING")
    assert (child.parent_id, child.cascade_cancel, child.secret_names) == (None, False, ())
    gate.touch()
    child = await until(world, child.id)
    assert child.job_state == "COMPLETED"
    assert await log_of(world, child.id) == ["token=[]", "released"]


FORK_PER_ITEM = """job_type: cmp-fork-per-item
tasks:
- task_type: each
  fan_out:
    items: '[1, 2, 3]'
    task:
      task_type: per-item
      method: FORK_JOB
      child_job:
        params:
          N: '{{ .item }}'
        definition:
          job_type: cmp-per-item-child
          tasks:
          - task_type: work
            method: SHELL
            script: ['echo "item $N"']
"""


async def test_a_fan_out_of_child_jobs(world: World) -> None:
    done = await run(world, FORK_PER_ITEM)
    assert done.job_state == "COMPLETED", done.error_message
    items = children_of(done, "each")
    assert [(t.task_type, t.task_state) for t in items] == [("per-item", "COMPLETED")] * 3
    children = (await world.jobs.search(world.user, RequestFilter(parent_id=done.id), PageRequest())).items
    assert sorted(c.params["N"] for c in children) == ["1", "2", "3"]
    assert {c.job_state for c in children} == {"COMPLETED"}
    printed = [line for child in children for line in await log_of(world, child.id)]
    assert sorted(printed) == ["item 1", "item 2", "item 3"]
