"""The queen's log buffer, over a real SQLite store."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from myrmica.broker.messages import LogLine
from myrmica.queen.logs import LogSink
from myrmica.security.crypto import SecretBox
from myrmica.store.store import Store, open_store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_store(f"sqlite:///{tmp_path / 'myrmica.db'}", SecretBox("unit-test-key"))
    try:
        yield opened
    finally:
        await opened.close()


def line(request_id: str, text: str) -> LogLine:
    return LogLine(request_id, f"te-{request_id}", "work", "stdout", text, time.time())


async def test_a_requests_lines_are_stored_before_its_end_and_only_when_it_has_some(store: Store) -> None:
    sink = LogSink(store.logs, max_bytes_per_task=10_000)  # not started: nothing flushes by itself
    sink.add(line("r1", "last words"))
    await sink.store_lines_of("r2")  # nothing of r2's waits: no write
    assert await store.logs.read("r1") == []
    await sink.store_lines_of("r1")
    assert [row["line"] for row in await store.logs.read("r1")] == ["last words"]
