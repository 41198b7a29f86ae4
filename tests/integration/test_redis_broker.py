"""RedisBroker against a real redis-server: delivery, ordering, acknowledgement, adoption, reservations,
events, malformed entries, Redis restarts and an unreachable Redis."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from myrmica.ant.executors.shell import ShellExecutor
from myrmica.ant.worker import Ant
from myrmica.broker._redis_outbox import Outbox
from myrmica.broker._redis_support import Link
from myrmica.broker.messages import LogLine, TaskRequest, TaskResult
from myrmica.broker.redis import MAX_CONNECTIONS, BrokerStopped, RedisBroker
from tests.support.redis_server import RedisServer, throwaway_redis

DEADLINE = 20.0


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with throwaway_redis() as server:
        yield server


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A server of this test alone (it gets killed and restarted)."""
    with throwaway_redis() as server:
        yield server


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


BrokerFactory = Callable[..., Awaitable[RedisBroker]]


@pytest.fixture
async def brokers(redis_server: RedisServer, prefix: str) -> AsyncIterator[BrokerFactory]:
    """Started brokers on the shared server, each stopped after the test."""
    made: list[RedisBroker] = []

    async def make(queen_id: str = "", *, url: str = "", start: bool = True,
                   setup: Callable[[RedisBroker], None] | None = None) -> RedisBroker:
        broker = RedisBroker(url or redis_server.url, queen_id=queen_id, prefix=prefix)
        made.append(broker)
        if setup is not None:
            setup(broker)
        if start:
            await asyncio.wait_for(broker.start(), DEADLINE)
        return broker

    yield make
    for broker in made:
        await asyncio.wait_for(broker.stop(), DEADLINE)


class Queen:
    """Collects what a queen-side broker delivers; waits on futures, never on sleeps."""

    def __init__(self) -> None:
        self.results: list[TaskResult] = []
        self.logs: list[LogLine] = []
        self.registrations: list[dict[str, Any]] = []
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    def attach(self, broker: RedisBroker) -> None:
        broker.subscribe(on_result=self.on_result, on_log=self.on_log, on_registration=self.on_registration)

    async def on_result(self, result: TaskResult) -> None:
        self.results.append(result)
        self._check()

    def on_log(self, line: LogLine) -> None:
        self.logs.append(line)
        self._check()

    async def on_registration(self, registration: dict[str, Any]) -> None:
        self.registrations.append(registration)
        self._check()

    def _check(self) -> None:
        for predicate, future in list(self._waiters):
            if not future.done() and predicate():
                future.set_result(None)

    async def until(self, predicate: Callable[[], bool], timeout: float = DEADLINE) -> None:
        if predicate():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, future))
        await asyncio.wait_for(future, timeout)


def request(n: int, reply_to: str = "", script: list[str] | None = None) -> TaskRequest:
    return TaskRequest(request_id=f"req-{n}", task_execution_id=f"te-{n}", job_type="job", task_type=f"t{n}",
                       method="SHELL", script=script or [f"echo {n}"], reply_to=reply_to)


def result(n: int, reply_to: str) -> TaskResult:
    return TaskResult(request_id=f"req-{n}", task_execution_id=f"te-{n}", attempt=0, state="COMPLETED",
                      ant_id="a1", reply_to=reply_to)


async def next_message(messages: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    return await asyncio.wait_for(anext(messages), DEADLINE)


async def pending(raw: Redis, stream: str, group: str) -> int:
    summary = await raw.xpending(stream, group)
    return int(summary["pending"])


async def test_dispatch_reaches_the_ant_and_results_reach_the_queen_in_order(brokers: BrokerFactory) -> None:
    queen = Queen()
    queen_broker = await brokers("q1", setup=queen.attach)
    ant = await brokers()
    for n in range(5):
        await queen_broker.dispatch("a1", request(n))
    await queen_broker.control("a1", {"action": "CANCEL", "task_execution_id": "te-3"})

    messages = ant.messages("a1")
    received = [await next_message(messages) for _ in range(6)]
    assert [m["action"] for m in received] == ["EXECUTE"] * 5 + ["CANCEL"]
    assert [m["request"].task_execution_id for m in received[:5]] == [f"te-{n}" for n in range(5)]
    assert all(isinstance(m["request"], TaskRequest) and m["request"].reply_to == "q1" for m in received[:5])
    assert received[5]["task_execution_id"] == "te-3"
    assert all(isinstance(m["_id"], str) for m in received)
    for n, message in enumerate(received[:5]):
        await ant.send_result(result(n, message["request"].reply_to))
        await ant.ack("a1", message)
    await ant.ack("a1", received[5])

    await queen.until(lambda: len(queen.results) == 5)
    assert [r.task_execution_id for r in queen.results] == [f"te-{n}" for n in range(5)]
    assert all(r.state == "COMPLETED" and r.ant_id == "a1" for r in queen.results)
    await messages.aclose()


async def test_a_result_answering_its_message_frees_the_ants_slot_and_acknowledges_it(
        brokers: BrokerFactory, raw: Redis, prefix: str) -> None:
    queen = Queen()
    queen_broker = await brokers("q1", setup=queen.attach)
    ant = await brokers()
    assert await queen_broker.reserve([("a1", 1)], "te-1:0") == "a1"
    assert await queen_broker.reserve([("a1", 1)], "te-2:0") is None, "the ant's one slot is taken"
    await queen_broker.dispatch("a1", request(1))
    messages = ant.messages("a1")
    message = await next_message(messages)
    assert await pending(raw, f"{prefix}:ant:a1", "ant") == 1
    await ant.send_result(result(1, "q1"), message)
    await queen.until(lambda: len(queen.results) == 1)
    assert await pending(raw, f"{prefix}:ant:a1", "ant") == 0, "acknowledged with the result"
    assert await queen_broker.reserve([("a1", 1)], "te-2:0") == "a1", "the reply freed the slot"
    await messages.aclose()


async def test_many_log_lines_arrive_in_order_and_before_the_result(brokers: BrokerFactory) -> None:
    queen = Queen()
    await brokers("q1", setup=queen.attach)
    ant = await brokers()
    started = time.monotonic()
    for i in range(10_000):
        ant.send_log(LogLine("req-1", "te-1", "build", "stdout", f"line {i}", time.time(), "q1"))
    await ant.send_result(result(1, "q1"))
    await queen.until(lambda: len(queen.results) == 1)
    elapsed = time.monotonic() - started
    assert [line.line for line in queen.logs] == [f"line {i}" for i in range(10_000)]
    assert elapsed < 10, f"10,000 log lines took {elapsed:.1f}s"


async def test_an_unacknowledged_execute_is_redelivered_to_the_restarted_ant(brokers: BrokerFactory,
                                                                           raw: Redis, prefix: str) -> None:
    queen = await brokers("q1")
    for n in (1, 2):
        await queen.dispatch("a1", request(n))
    first = await brokers()
    messages = first.messages("a1")
    one, two = await next_message(messages), await next_message(messages)
    await first.ack("a1", one)  # done with; `two` was taken but the ant "crashed" before its result
    await messages.aclose()
    await first.stop()

    restarted = await brokers()
    again = restarted.messages("a1")
    redelivered = await next_message(again)
    assert redelivered["_id"] == two["_id"]
    assert redelivered["request"].task_execution_id == "te-2"
    await queen.dispatch("a1", request(3))
    assert (await next_message(again))["request"].task_execution_id == "te-3"
    assert await pending(raw, f"{prefix}:ant:a1", "ant") == 2
    await restarted.ack("a1", redelivered)
    assert await pending(raw, f"{prefix}:ant:a1", "ant") == 1
    await again.aclose()


async def test_adopt_replies_delivers_the_results_of_a_dead_queen(brokers: BrokerFactory, raw: Redis,
                                                                  prefix: str) -> None:
    ant = await brokers()
    stream = f"{prefix}:replies:dead-q"
    await ant.send_result(result(1, "dead-q"))
    # The dead queen had read this one but died before acknowledging it.
    await raw.xgroup_create(stream, "queen", id="0", mkstream=True)
    taken = cast(list[Any], await raw.xreadgroup("queen", "dead-q", {stream: ">"}, count=10))
    assert len(taken[0][1]) == 1
    await ant.send_result(result(2, "dead-q"))

    queen = Queen()
    survivor = await brokers("q2", setup=queen.attach)
    await survivor.adopt_replies("dead-q")
    await queen.until(lambda: len(queen.results) == 2)
    await ant.send_result(result(3, "dead-q"))
    await queen.until(lambda: len(queen.results) == 3)
    assert [r.task_execution_id for r in queen.results] == ["te-1", "te-2", "te-3"]
    # a batch is acknowledged once every result in it was handled
    async with asyncio.timeout(DEADLINE):
        while await pending(raw, stream, "queen"):  # noqa: ASYNC110 - Redis state, no event to await
            await asyncio.sleep(0.01)


async def test_reserve_honours_capacity_atomically(brokers: BrokerFactory) -> None:
    one, two = await brokers("q1"), await brokers("q2")
    outcomes = await asyncio.gather(*[(one if i % 2 else two).reserve([("a1", 10)], f"k{i}") for i in range(50)])
    assert outcomes.count("a1") == 10
    held = await one.reservations("a1")
    assert len(held) == 10
    assert await two.reserve([("a1", 10)], "another") is None
    assert await two.reserve([("a1", 10)], sorted(held)[0]) == "a1", "a key already reserved stays reserved"
    assert len(await one.reservations("a1")) == 10

    await one.release("a1", sorted(held)[0])
    assert len(await two.reservations("a1")) == 9
    assert await two.reserve([("a1", 10)], "another") == "a1"
    assert "another" in await one.reservations("a1")

    await one.forget_ant("a1")
    assert await two.reservations("a1") == set()


async def test_reserve_takes_the_first_candidate_with_room_in_one_step(brokers: BrokerFactory) -> None:
    one, two = await brokers("q1"), await brokers("q2")
    choices = [("a1", 1), ("a2", 2)]
    assert await one.reserve(choices, "k1") == "a1"
    assert await two.reserve(choices, "k2") == "a2", "a1 is full: the next candidate"
    assert await one.reserve([("a2", 2), ("a1", 1)], "k1") == "a1", "a key keeps the ant that holds it"
    assert await two.reserve(choices, "k3") == "a2"
    assert await one.reserve(choices, "k4") is None, "every candidate is full"
    assert await one.reserve([], "k4") is None
    assert await one.reservations("a1") == {"k1"} and await one.reservations("a2") == {"k2", "k3"}


async def test_events_reach_every_subscribed_broker(brokers: BrokerFactory, raw: Redis, prefix: str) -> None:
    received: dict[str, list[dict[str, Any]]] = {"q1": [], "q2": [], "q3": []}
    done = {name: asyncio.get_running_loop().create_future() for name in received}

    def subscriber(name: str) -> Callable[[RedisBroker], None]:
        async def handler(event: dict[str, Any]) -> None:
            received[name].append(event)
            if event.get("type") == "last" and not done[name].done():
                done[name].set_result(None)

        return lambda broker: broker.on_event(handler)

    sender = await brokers("q1", setup=subscriber("q1"))
    await brokers("q2", setup=subscriber("q2"))
    await brokers("q3", setup=subscriber("q3"))
    await sender.publish_event({"type": "cancel", "request_id": "r1"})
    await raw.publish(f"{prefix}:events", "not json")
    await sender.publish_event({"type": "last"})
    await asyncio.wait_for(asyncio.gather(*done.values()), DEADLINE)
    for events in received.values():
        assert events == [{"type": "cancel", "request_id": "r1"}, {"type": "last"}]


async def test_malformed_entries_are_acknowledged_and_skipped(brokers: BrokerFactory, raw: Redis, prefix: str,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="myrmica.broker.redis")
    junk: list[dict[str, str]] = [
        {"x": "1"},
        {"m": "not json"},
        {"m": "[1, 2]"},
        {"m": json.dumps({"kind": "surprise", "body": {}})},
        {"m": json.dumps({"kind": "execute", "body": "text"})},
        {"m": json.dumps({"kind": "execute", "body": {"task_execution_id": "te-x"}})},
        {"m": json.dumps({"kind": "control", "body": {"no": "action"}})},
        {"m": json.dumps({"kind": "result", "body": {"task_execution_id": "te-x"}})},
    ]
    ant_stream, reply_stream = f"{prefix}:ant:a1", f"{prefix}:replies:q1"
    for fields in junk:
        await raw.xadd(ant_stream, fields)  # type: ignore[arg-type]
        await raw.xadd(reply_stream, fields)  # type: ignore[arg-type]
    await raw.xadd(reply_stream, {"m": json.dumps({"kind": "log", "body": {"line": "no ids"}})})

    queen = Queen()
    queen_broker = await brokers("q1", setup=queen.attach)
    ant = await brokers()
    await queen_broker.dispatch("a1", request(1))
    messages = ant.messages("a1")
    good = await next_message(messages)
    assert good["request"].task_execution_id == "te-1"
    await ant.ack("a1", good)
    await ant.send_result(result(1, "q1"))
    await queen.until(lambda: len(queen.results) == 1)
    assert queen.results[0].task_execution_id == "te-1" and queen.logs == []
    assert await pending(raw, ant_stream, "ant") == 0
    assert await pending(raw, reply_stream, "queen") == 0
    skipped = [r for r in caplog.records if "skipped" in r.getMessage() and r.levelno == logging.WARNING]
    assert len(skipped) == 2 * len(junk) + 1
    await messages.aclose()


class OutageWatcher(logging.Handler):
    """Sets ``all`` once this many brokers logged that Redis is unreachable."""

    def __init__(self, expected: int) -> None:
        super().__init__(logging.WARNING)
        self.expected, self.seen = expected, 0
        self.all = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "unreachable; retrying" in record.getMessage():
            self.seen += 1
            if self.seen >= self.expected:
                self.all.set()


async def test_the_broker_recovers_when_redis_restarts(own_redis: RedisServer, prefix: str,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="myrmica.broker.redis")
    queen = Queen()
    queen_broker = RedisBroker(own_redis.url, queen_id="q1", prefix=prefix)
    queen.attach(queen_broker)
    ant = RedisBroker(own_redis.url, prefix=prefix)
    await queen_broker.start()
    await ant.start()
    messages = ant.messages("a1")
    try:
        await queen_broker.dispatch("a1", request(1))
        first = await next_message(messages)
        await ant.send_result(result(1, "q1"))
        await ant.ack("a1", first)
        await queen.until(lambda: len(queen.results) == 1)

        noticed = OutageWatcher(expected=2)  # both brokers
        logging.getLogger("myrmica.broker.redis").addHandler(noticed)
        own_redis.stop()
        # While Redis is away nothing blocks the caller of send_log, and nothing is lost.
        reading = asyncio.create_task(next_message(messages))
        for i in range(100):
            ant.send_log(LogLine("req-2", "te-2", "t2", "stdout", f"down {i}", time.time(), "q1"))
        sending = asyncio.create_task(ant.send_result(result(2, "q1")))
        dispatching = asyncio.create_task(queen_broker.dispatch("a1", request(3)))
        with pytest.raises(Exception):  # noqa: B017 - whichever error redis-py raises
            await queen_broker.ping()
        await asyncio.wait_for(noticed.all.wait(), DEADLINE)
        logging.getLogger("myrmica.broker.redis").removeHandler(noticed)
        assert not sending.done() and not dispatching.done() and not reading.done()
        own_redis.start()

        await asyncio.wait_for(asyncio.gather(sending, dispatching), DEADLINE)
        third = await asyncio.wait_for(reading, DEADLINE)
        assert third["request"].task_execution_id == "te-3"
        await queen.until(lambda: len(queen.results) == 2)
        assert [line.line for line in queen.logs] == [f"down {i}" for i in range(100)]
        await queen_broker.ping()
        # and it keeps working afterwards
        await queen_broker.dispatch("a1", request(4))
        assert (await next_message(messages))["request"].task_execution_id == "te-4"
    finally:
        await messages.aclose()
        await asyncio.wait_for(ant.stop(), DEADLINE)
        await asyncio.wait_for(queen_broker.stop(), DEADLINE)
    texts = [r.getMessage() for r in caplog.records]
    down = [t for t in texts if "unreachable; retrying" in t]
    up = [t for t in texts if "reachable again" in t]
    assert len(down) == 2, down  # once per broker and outage
    assert len(up) == 2, up


async def test_start_against_a_closed_port_does_not_hang(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="myrmica.broker.redis")
    with throwaway_redis() as server:
        url = server.url  # a port that answered once and is closed now
    broker = RedisBroker(url, queen_id="q1", prefix="closed")
    Queen().attach(broker)

    async def on_event(event: dict[str, Any]) -> None:
        return None

    broker.on_event(on_event)
    await asyncio.wait_for(broker.start(), 10)
    assert any("unreachable; retrying" in r.getMessage() for r in caplog.records)
    with pytest.raises(Exception):  # noqa: B017
        await broker.ping()
    dispatching = asyncio.create_task(broker.dispatch("a1", request(1)))
    broker.send_log(LogLine("r", "te", "t", "stdout", "kept in memory", time.time(), "q1"))
    await asyncio.wait_for(broker.stop(), 10)
    with pytest.raises(BrokerStopped):
        await asyncio.wait_for(dispatching, 10)


async def test_the_log_queue_is_bounded_and_drops_the_oldest(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="myrmica.broker.redis")
    with throwaway_redis() as server:
        url = server.url
    client = Redis.from_url(url, decode_responses=True)
    closing = asyncio.Event()
    outbox = Outbox(client, Link(url, closing), closing, max_lines=5)
    for i in range(8):
        outbox.put_log("stream", {"m": str(i)})
    assert len(outbox) <= 6  # at most one batch in flight besides the bounded queue
    assert any("dropping the oldest" in r.getMessage() for r in caplog.records)
    closing.set()
    await asyncio.wait_for(outbox.drain(1.0), 10)
    assert len(outbox) == 0
    await client.aclose()


async def test_an_ant_runs_a_shell_task_over_redis(brokers: BrokerFactory, raw: Redis, prefix: str,
                                                  tmp_path: Path) -> None:
    queen = Queen()
    queen_broker = await brokers("q1", setup=queen.attach)
    ant = Ant("a1", await brokers(), [ShellExecutor(tmp_path)], capacity=2)
    await ant.start()
    try:
        await queen.until(lambda: any(r["ant_id"] == "a1" for r in queen.registrations))
        registration = queen.registrations[-1]
        assert registration["methods"] == ["SHELL"] and registration["max_capacity"] == 2
        await queen_broker.dispatch("a1", request(7, script=["echo hello", "echo world >&2"]))
        await queen.until(lambda: len(queen.results) == 1)
        outcome = queen.results[0]
        assert outcome.state == "COMPLETED", outcome
        assert outcome.ant_id == "a1" and outcome.reply_to == "q1" and outcome.task_execution_id == "te-7"
        assert {(line.stream, line.line) for line in queen.logs if line.stream != "system"} == {
            ("stdout", "hello"), ("stderr", "world")}
        assert await pending(raw, f"{prefix}:ant:a1", "ant") == 0
    finally:
        await ant.stop(drain_seconds=1)


async def test_reserve_works_after_redis_forgot_its_script(brokers: BrokerFactory, raw: Redis) -> None:
    one = await brokers("q1")
    assert await one.reserve([("a1", 2)], "k1") == "a1"
    await raw.script_flush()  # as after a Redis restart
    assert await one.reserve([("a1", 2)], "k2") == "a1"
    assert await one.reserve([("a1", 2)], "k3") is None


async def test_a_burst_of_commands_shares_a_bounded_set_of_connections(brokers: BrokerFactory, raw: Redis) -> None:
    before = len(await raw.client_list())
    one = await brokers("q1")
    outcomes = await asyncio.gather(*(one.reserve([("a1", 1000)], f"k{n}") for n in range(300)))
    assert outcomes == ["a1"] * 300
    assert len(await raw.client_list()) - before <= MAX_CONNECTIONS
