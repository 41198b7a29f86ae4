"""The in-process broker's reservations follow the same rules as Redis's (tests/integration/test_redis_broker.py)."""

from __future__ import annotations

from myrmica.broker.memory import MemoryBroker
from myrmica.broker.messages import TaskRequest, TaskResult


async def test_reserve_takes_the_first_candidate_with_room() -> None:
    broker = MemoryBroker()
    choices = [("a1", 1), ("a2", 2)]
    assert await broker.reserve(choices, "k1") == "a1"
    assert await broker.reserve(choices, "k2") == "a2"
    assert await broker.reserve([("a2", 2), ("a1", 1)], "k1") == "a1", "a key keeps the ant that holds it"
    assert await broker.reserve(choices, "k3") == "a2"
    assert await broker.reserve(choices, "k4") is None
    await broker.release("a1", "k1")
    assert await broker.reserve(choices, "k4") == "a1"
    assert await broker.reserved_counts(["a1", "a2"]) == {"a1": 1, "a2": 2}


def test_messages_round_trip_through_their_dicts() -> None:
    request = TaskRequest("r1", "te1", "job", "task", "SHELL", attempt=2, script=["true"], variables={"a": [1]})
    assert TaskRequest.from_dict(request.to_dict()) == request
    assert TaskRequest.from_dict({**request.to_dict(), "unknown": 1}) == request, "unknown keys are ignored"
    result = TaskResult("r1", "te1", 2, "COMPLETED", stdout=["x"])
    assert TaskResult.from_dict(result.to_dict()) == result
