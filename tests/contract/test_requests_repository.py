"""Request records behave the same on SQLite and PostgreSQL: idempotent keys and guarded transitions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from myrmica.domain.definitions import parse_definition
from myrmica.domain.principal import Principal
from myrmica.ids import new_id
from myrmica.store.store import Store

JOB = "job_type: j\ntasks:\n- task_type: a\n  method: SHELL\n  script: [true]\n"


async def make_row(store: Store, principal: Principal, user_key: str | None = None) -> dict[str, Any]:
    saved = await store.definitions.save(principal, parse_definition(JOB))
    now = datetime.now(UTC)
    return {"id": new_id(), "parent_id": None, "user_key": user_key, "job_definition_id": saved.definition["id"],
            "job_execution_id": None, "last_job_execution_id": None, "owner_key": principal.owner_key,
            "organization_id": principal.organization_id, "user_id": principal.user_id, "description": "",
            "platform": "", "job_type": "j", "job_version": "1", "job_state": "PENDING", "job_group": "",
            "job_priority": 0, "schedule_attempts": 0, "retried": 0, "paused_count": 0, "cron_triggered": False,
            "error_code": "", "error_message": "", "current_task": "", "hard_restart": False,
            "cascade_cancel": False, "params": {}, "secret_params": None, "lease_owner": None,
            "lease_expires_at": None, "scheduled_at": now, "started_at": None, "ended_at": None,
            "created_at": now, "updated_at": now}


async def test_same_user_key_twice_gives_one_request(store: Store, alice: Principal) -> None:
    first = await make_row(store, alice, "key-1")
    second = {**first, "id": new_id()}
    results = await asyncio.gather(store.requests.create(first), store.requests.create(second))
    assert sorted(r.created for r in results) == [False, True]
    assert {r.request["id"] for r in results} == {first["id"]} or {r.request["id"] for r in results} == \
        {second["id"]}


async def test_user_keys_are_per_tenant(store: Store, alice: Principal, bob: Principal) -> None:
    """Another tenant's live key neither returns their request nor blocks ours."""
    theirs = await store.requests.create(await make_row(store, alice, "deploy-42"))
    mine = await store.requests.create(await make_row(store, bob, "deploy-42"))
    assert theirs.created and mine.created
    assert mine.request["id"] != theirs.request["id"] and mine.request["owner_key"] == bob.owner_key
    again = await store.requests.create(await make_row(store, bob, "deploy-42"))
    assert not again.created and again.request["id"] == mine.request["id"]


async def test_transitions_are_compare_and_set(store: Store, alice: Principal) -> None:
    row = await make_row(store, alice)
    await store.requests.create(row)
    won = await store.requests.claim([(row["id"], "PENDING")], "queen-a", datetime.now(UTC))
    lost = await store.requests.claim([(row["id"], "PENDING")], "queen-b", datetime.now(UTC))
    assert won == [row["id"]] and lost == []
    assert (await store.requests.get(row["id"]))["lease_owner"] == "queen-a"
    assert await store.requests.finish(row["id"], None, ["READY"], "CANCELLED")
    assert not await store.requests.finish(row["id"], None, ["READY"], "COMPLETED")
    assert (await store.requests.get(row["id"]))["job_state"] == "CANCELLED"


def execution_for(row: dict[str, Any]) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"id": new_id(), "job_request_id": row["id"], "job_type": "j", "job_version": "1", "job_state": "READY",
            "organization_id": None, "user_id": None, "current_task": "", "exit_code": "", "exit_message": "",
            "error_code": "", "error_message": "", "contexts": {}, "cpu_secs": 0.0, "started_at": now,
            "ended_at": None, "updated_at": now}


async def test_two_schedulers_starting_the_same_requests_start_each_once(store: Store, alice: Principal) -> None:
    rows = [await make_row(store, alice) for _ in range(6)]
    for row in rows:
        await store.requests.create(row)
    cancelled = rows[-1]
    assert await store.requests.finish(cancelled["id"], None, ["PENDING"], "CANCELLED")
    lease = datetime.now(UTC)
    a_items = [(row["id"], execution_for(row)) for row in rows]
    b_items = [(row["id"], execution_for(row)) for row in reversed(rows)]
    won_a, won_b = await asyncio.gather(store.requests.start_fresh(a_items, "queen-a", lease),
                                        store.requests.start_fresh(b_items, "queen-b", lease))
    assert sorted(won_a + won_b) == sorted(row["id"] for row in rows[:-1]), "each startable request exactly once"
    executions = {item[0]: item[1]["id"] for item in a_items if item[0] in won_a}
    executions.update((item[0], item[1]["id"]) for item in b_items if item[0] in won_b)
    for row in rows[:-1]:
        stored = await store.requests.get(row["id"])
        assert stored["job_state"] == "EXECUTING" and stored["job_execution_id"] == executions[row["id"]]
        assert stored["lease_owner"] == ("queen-a" if row["id"] in won_a else "queen-b")
        assert (await store.requests.execution(executions[row["id"]]) or {}).get("job_state") == "EXECUTING"
    assert (await store.requests.get(cancelled["id"]))["job_state"] == "CANCELLED"


async def test_finish_ends_the_last_task_and_the_execution_only_with_the_request(store: Store,
                                                                                 alice: Principal) -> None:
    rows = [await make_row(store, alice) for _ in range(2)]
    for row in rows:
        await store.requests.create(row)
    lease = datetime.now(UTC)
    items = [(row["id"], execution_for(row)) for row in rows]
    assert sorted(await store.requests.start_fresh(items, "queen-a", lease)) == sorted(r["id"] for r in rows)
    tasks = []
    for row, (_, execution) in zip(rows, items, strict=True):
        task = {"id": new_id(), "job_execution_id": execution["id"], "job_request_id": row["id"], "task_type": "a",
                "parent_task_id": None, "item_index": None, "method": "SHELL", "task_state": "EXECUTING",
                "allow_failure": False, "exit_code": "", "exit_message": "", "error_code": "", "error_message": "",
                "failed_command": "", "comments": "", "ant_id": "", "ant_host": "", "retried": 0, "attempt": 0,
                "contexts": {}, "stdout": [], "task_order": 1, "cost_factor": 0.0, "log_bytes": 0,
                "started_at": lease, "ended_at": None, "updated_at": lease}
        await store.requests.insert_task_execution(task)
        tasks.append(task)
    ended, stale = await asyncio.gather(*(
        store.requests.finish(row["id"], execution["id"], [from_state], "COMPLETED",
                              execution_values={"contexts": {"contexts": {"k": "v"}}},
                              task_end=(task["id"], ["EXECUTING"], {"task_state": "COMPLETED", "exit_code": "0",
                                                                    "stdout": ["done"], "ended_at": lease}))
        for row, (_, execution), task, from_state in zip(rows, items, tasks, ["EXECUTING", "PAUSED"], strict=True)))
    assert (ended, stale) == (True, False)
    for row, (_, execution), state in zip(rows, items, ["COMPLETED", "EXECUTING"], strict=True):
        assert (await store.requests.get(row["id"]))["job_state"] == state
        stored_execution = await store.requests.execution(execution["id"]) or {}
        assert stored_execution["job_state"] == state, "the execution ends only with its request"
        (stored_task,) = await store.requests.task_executions([execution["id"]])
        assert stored_task["task_state"] == "COMPLETED" and stored_task["stdout"] == ["done"], \
            "the task's end is written whatever becomes of the request"
    assert (await store.requests.execution(items[0][1]["id"]) or {})["contexts"] == {"contexts": {"k": "v"}}


async def test_due_requests_come_by_priority_then_age_and_only_when_due(store: Store, alice: Principal) -> None:
    from datetime import timedelta

    now = datetime.now(UTC)
    base = await make_row(store, alice)

    def row(priority: int, age: int, state: str = "PENDING", later: bool = False) -> dict[str, Any]:
        created = now - timedelta(seconds=age)
        return {**base, "id": new_id(), "job_priority": priority, "job_state": state, "created_at": created,
                "scheduled_at": now + timedelta(hours=1) if later else created}

    rows = {"low-old": row(0, 30), "high-new": row(5, 10), "high-old": row(5, 20), "low-new": row(0, 5),
            "paused": row(1, 1, "PAUSED"), "running": row(9, 40, "EXECUTING"), "later": row(9, 50, later=True)}
    for value in rows.values():
        await store.requests.create(value)
    names = {value["id"]: name for name, value in rows.items()}
    due = await store.requests.due(now, 10)
    assert [names[r["id"]] for r in due] == ["high-old", "high-new", "paused", "low-old", "low-new"]
    assert [names[r["id"]] for r in await store.requests.due(now, 2)] == ["high-old", "high-new"]
    assert due[0]["scheduled_at"] == rows["high-old"]["scheduled_at"] and due[0]["params"] == {}


async def test_writes_queued_together_fail_alone(store: Store, alice: Principal) -> None:
    """Creates in one turn share a commit on SQLite; a duplicate key among them spoils none of the others."""
    taken = await make_row(store, alice, "taken")
    await store.requests.create(taken)
    rows = [await make_row(store, alice), {**await make_row(store, alice), "user_key": "taken"},
            await make_row(store, alice)]
    results = await asyncio.gather(*(store.requests.create(row) for row in rows))
    assert [r.created for r in results] == [True, False, True]
    assert results[1].request["id"] == taken["id"]
    for row in (rows[0], rows[2]):
        assert (await store.requests.get(row["id"]))["job_state"] == "PENDING"


async def test_task_rows_read_back_as_written(store: Store, alice: Principal) -> None:
    """Every column type round-trips through the hot-path writes: times, JSON, booleans, nulls."""
    request = await make_row(store, alice)
    await store.requests.create(request)
    started = datetime(2026, 11, 23, 4, 5, 6, 789000, tzinfo=UTC)
    row = {"id": new_id(), "job_execution_id": new_id(), "job_request_id": request["id"], "task_type": "a",
           "parent_task_id": None, "item_index": None, "method": "SHELL", "task_state": "EXECUTING",
           "allow_failure": True, "exit_code": "", "exit_message": "", "error_code": "", "error_message": "",
           "failed_command": "", "comments": "", "ant_id": "", "ant_host": "", "retried": 0, "attempt": 0,
           "contexts": {"k": [1, "two", None]}, "stdout": ["é", "line"], "task_order": 1, "cost_factor": 0.5,
           "log_bytes": 12, "started_at": started, "ended_at": None, "updated_at": started}
    await store.requests.insert_task_execution(row)
    assert await store.requests.task_execution(row["id"]) == row
    ended = datetime(2026, 11, 23, 4, 5, 7, tzinfo=UTC)
    assert await store.requests.update_task_execution(row["id"], ["EXECUTING"], task_state="COMPLETED",
                                                      contexts={"out": {"a": 1}}, ended_at=ended, exit_code="0")
    assert not await store.requests.update_task_execution(row["id"], ["EXECUTING"], task_state="FAILED")
    stored = await store.requests.task_execution(row["id"])
    assert stored is not None
    assert (stored["task_state"], stored["contexts"], stored["ended_at"], stored["allow_failure"]) == \
        ("COMPLETED", {"out": {"a": 1}}, ended, True)


async def test_starting_clears_the_reason_a_request_waited(store: Store, alice: Principal) -> None:
    """The waiting reason ("no live ant can run …") goes in the statement that starts the request."""
    lease = datetime.now(UTC)
    fresh, claimed = await make_row(store, alice), await make_row(store, alice)
    for row in (fresh, claimed):
        await store.requests.create(row)
        assert await store.requests.defer(row["id"], "PENDING", scheduled_at=lease, attempts=1, priority=0,
                                          reason="no live ant can run SHELL with tags [builder]")
        assert (await store.requests.get(row["id"]))["error_message"].startswith("no live ant")
    assert await store.requests.start_fresh([(fresh["id"], execution_for(fresh))], "queen-a", lease) == [fresh["id"]]
    assert await store.requests.claim([(claimed["id"], "PENDING")], "queen-a", lease) == [claimed["id"]]
    assert await store.requests.begin_execution(claimed["id"], None, execution_for(claimed), "queen-a")
    for row in (fresh, claimed):
        started = await store.requests.get(row["id"])
        assert (started["job_state"], started["error_message"]) == ("EXECUTING", "")
