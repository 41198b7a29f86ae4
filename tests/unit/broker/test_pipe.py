"""The embedded ant's pipe to its queen: log lines in bounded batches, in order before the result,
with backpressure while the queen does not read (a flooding task must not fill the ant's memory)."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

from myrmica.broker.memory import MemoryBroker
from myrmica.broker.messages import LogLine, TaskResult
from myrmica.broker.pipe import BATCH_BYTES, LINE_LIMIT, PipeAntSide, PipeQueenBridge


async def _pair() -> tuple[PipeAntSide, asyncio.StreamReader, asyncio.StreamWriter]:
    ours, theirs = socket.socketpair()
    ant_reader, ant_writer = await asyncio.open_unix_connection(sock=theirs, limit=LINE_LIMIT)
    queen_reader, queen_writer = await asyncio.open_unix_connection(sock=ours, limit=LINE_LIMIT)
    return PipeAntSide(ant_reader, ant_writer), queen_reader, queen_writer


def _line(i: int) -> LogLine:
    return LogLine("r1", "te1", "task", "stdout", f"line {i} " + "x" * 90, 0.0)


async def test_lines_travel_in_bounded_batches_before_the_result_and_push_back_while_unread() -> None:
    side, reader, writer = await _pair()
    count = 60_000  # about 15 MB with their ids: well past the high-water mark
    for i in range(count):
        side.send_log(_line(i))
    assert side.log_full(), "the outbox is over its high-water mark"
    room = asyncio.ensure_future(side.log_room())
    result = asyncio.ensure_future(side.send_result(TaskResult("r1", "te1", 1, "COMPLETED")))
    await asyncio.sleep(0.05)
    assert not room.done() and not result.done(), "nothing drains while the queen does not read"
    seen: list[str] = []
    kinds: list[str] = []
    while True:
        message: dict[str, Any] = json.loads(await reader.readline())
        kinds.append(message["k"])
        if message["k"] == "res":
            break
        assert sum(len(item["line"]) for item in message["v"]) <= BATCH_BYTES + 200
        seen.extend(item["line"] for item in message["v"])
    assert seen == [_line(i).line for i in range(count)], "every line, in order, before the result"
    assert len(kinds) < count // 100, f"{len(kinds)} messages for {count} lines: not batched"
    await asyncio.wait_for(asyncio.gather(room, result), timeout=5)
    assert not side.log_full() and side.dropped == 0
    await side.close()
    writer.close()


async def test_the_queen_side_stores_what_it_holds_between_batches() -> None:
    side, reader, writer = await _pair()
    broker = MemoryBroker()
    got: list[LogLine] = []
    settled: list[int] = []

    async def on_result(result: TaskResult) -> None:
        return None

    async def on_registration(registration: dict[str, Any]) -> None:
        return None

    async def logs_stored() -> bool:
        settled.append(len(got))
        return True

    broker.subscribe(on_result=on_result, on_log=got.append, on_registration=on_registration,
                     logs_stored=logs_stored)
    bridge = PipeQueenBridge(broker, "ant", reader, writer, settle=broker.settle_logs)
    inbound = asyncio.create_task(bridge.inbound())
    for i in range(25_000):
        side.send_log(_line(i))
    await side.register({"ant_id": "ant"})
    await asyncio.wait_for(bridge.registered.wait(), timeout=5)
    assert len(got) == 25_000 and [line.line for line in got[:2]] == [_line(0).line, _line(1).line]
    assert len(settled) == 2 and all(10_000 <= n < 25_000 for n in settled), settled
    await side.close()
    await asyncio.wait_for(inbound, timeout=5)
    writer.close()
