"""The queen's registry of ants: what it refuses, how liveness and reservations work."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from myrmica.queen.ants import AntRegistry
from myrmica.security.crypto import SecretBox
from myrmica.store.store import open_store


def registration(**overrides: object) -> dict[str, object]:
    return {"ant_id": "a1", "methods": ["SHELL"], "tags": ["linux"], "max_capacity": 2,
            "heartbeat_at": time.time(), **overrides}


async def test_unknown_method_is_refused_with_a_clear_log_line(caplog: pytest.LogCaptureFixture) -> None:
    registry = AntRegistry()
    with caplog.at_level(logging.ERROR):
        await registry.on_registration(registration(methods=["SHELL", "TELEPORT"]))
    assert registry.get("a1") is None
    assert "refused ant registration 'a1'" in caplog.text and "TELEPORT" in caplog.text


@pytest.mark.parametrize("capacity", [0, -3, "lots"])
async def test_capacity_must_be_positive(caplog: pytest.LogCaptureFixture, capacity: object) -> None:
    registry = AntRegistry()
    with caplog.at_level(logging.ERROR):
        await registry.on_registration(registration(max_capacity=capacity))
    assert registry.get("a1") is None
    assert "capacity must be positive" in caplog.text


async def test_least_loaded_fitting_ant_comes_first() -> None:
    registry = AntRegistry()
    await registry.on_registration(registration())
    await registry.on_registration(registration(ant_id="a2", tags=["linux", "gpu"], max_capacity=4))
    assert [a.ant_id for a in registry.candidates("SHELL", frozenset({"gpu"}))] == ["a2"]
    registry.hold("a1", "t1:0")
    assert [a.ant_id for a in registry.candidates("SHELL", frozenset({"linux"}))] == ["a2", "a1"]
    assert registry.free_for("SHELL", frozenset({"linux"})) == 1 + 4
    assert registry.missing([("HTTP_GET", frozenset())]) == "no live ant can run HTTP_GET"
    assert registry.missing([("SHELL", frozenset({"gpu", "builder"}))]) == \
        "no live ant can run SHELL with tags [builder, gpu]"


async def test_a_registration_read_again_unchanged_is_not_a_heartbeat() -> None:
    registry = AntRegistry()
    reg = registration(heartbeat_at=123.0)
    await registry.on_registration(reg)
    ant = registry.get("a1")
    assert ant is not None
    ant.heartbeat_at -= 60  # as if a minute passed
    await registry.on_registration(reg)  # the same stale registration polled again
    assert not ant.alive(time.time())
    lost = registry.expire()
    assert [ant_id for ant_id, _ in lost] == ["a1"] and registry.get("a1") is None


async def test_free_slots_count_other_queens_reservations() -> None:
    """With several queens, an ant's free slots are what no queen holds: the broker's count, plus ours since."""
    registry = AntRegistry()
    await registry.on_registration(registration(max_capacity=4))
    registry.hold("a1", "ours:0")
    assert registry.free_for("SHELL", frozenset()) == 3
    registry.counted({"a1": 3})  # another queen holds two more
    assert registry.free_for("SHELL", frozenset()) == 1
    registry.hold("a1", "ours-again:0")
    assert registry.free_for("SHELL", frozenset()) == 0 and registry.spare_capacity() == 0
    registry.release("a1", "ours:0")
    registry.release("a1", "ours-again:0")
    registry.counted({"a1": 0})
    assert registry.free_for("SHELL", frozenset()) == 4


async def test_a_blacklisted_ant_stays_registered_but_gets_no_task(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'm.db'}", SecretBox("unit-test-key"))
    try:
        registry = AntRegistry(store.ants)
        await store.ants.set_blacklisted("a1", True)
        await store.ants.set_blacklisted("a1", True)  # twice: still one row
        await registry.on_registration(registration())
        await registry.on_registration(registration(ant_id="a2"))
        assert registry.blacklisted == {"a1"} and registry.get("a1") is not None
        assert [a.ant_id for a in registry.candidates("SHELL", frozenset())] == ["a2"]
        await store.ants.set_blacklisted("a2", True)
        registry._blacklist_read_at = 0.0  # the next registration reads the list again
        await registry.on_registration(registration(ant_id="a2", heartbeat_at=time.time() + 1))
        assert not registry.can_serve("SHELL", frozenset())
        await store.ants.set_blacklisted("a1", False)
        assert await store.ants.blacklisted() == {"a2"}
    finally:
        await store.close()
