"""Queue triggers (spec §2.8) on a real redis-server: a message on ``formicary-queue-{topic}`` makes one
request whose params are the message's fields, and is acked once the request is stored; a filtered
message is acked and makes none; a restarted queen does not handle an acked message again."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from myrmica.config import Settings
from tests.conftest import fresh_redis
from tests.support.jobs import apply, requests_of, wait_for, wait_state
from tests.support.live import LiveServer, live_server
from tests.support.migrated import migrated_sqlite
from tests.support.redis_server import RedisServer

QUEUE_JOB = """
job_type: {name}
triggers:
- type: queue
  name: orders
  topic: {topic}
  filter: '{{{{ if gt (atoi .Message.amount) 5 }}}}true{{{{ end }}}}'
  params:
    Shop: '{{{{ .Properties.source }}}}'
tasks:
- task_type: book
  method: SHELL
  script: ["echo order $order_id amount $amount from $Shop"]
"""


@pytest.fixture(scope="module")
def redis_url(redis_server: RedisServer) -> str:
    return fresh_redis(redis_server)


def _settings(tmp: Path, redis_url: str, **more: Any) -> Settings:
    fields: dict[str, Any] = {"embedded_ant": True, **more}
    return Settings(data_dir=tmp / "data", database_url=migrated_sqlite(tmp / "myrmica.db"),
                    admin_token="myr_test_" + uuid.uuid4().hex, ant_id="embedded-ant", work_dir=tmp / "work",
                    sandbox="none", trigger_tick_secs=0.02, trigger_rescan_secs=0.05, trigger_queue_url=redis_url,
                    **fields)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[LiveServer]:
    with live_server(_settings(tmp_path_factory.mktemp("queue"), redis_url)) as live:
        yield live


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client



def _count(api: httpx.Client, job_type: str, n: int) -> list[dict[str, Any]] | None:
    found = requests_of(api, job_type)
    assert len(found) <= n, found
    return found if len(found) == n else None


def _group_ready(client: redis.Redis, stream: str) -> bool:
    return bool(client.exists(stream)) and bool(client.xinfo_groups(stream))


def _settled(client: redis.Redis, stream: str, delivered: int) -> bool:
    """Every entry read by the group and acked."""
    [group] = client.xinfo_groups(stream)
    return int(group["pending"]) == 0 and int(group.get("entries-read") or 0) >= delivered


def _job(api: httpx.Client) -> tuple[str, str]:
    name, topic = f"orders-{uuid.uuid4().hex[:8]}", f"shop-{uuid.uuid4().hex[:6]}"
    apply(api, QUEUE_JOB.format(name=name, topic=topic))
    return name, f"formicary-queue-{topic}"


def test_a_message_makes_one_request_with_its_fields_and_is_acked(api: httpx.Client, redis_url: str) -> None:
    name, stream = _job(api)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        client.xadd(stream, {"message": json.dumps({"order_id": "42", "amount": "10"}), "source": "web"})
        client.xadd(stream, {"message": json.dumps({"order_id": "43", "amount": "1"}), "source": "web"})
        [made] = wait_for(lambda: _count(api, name, 1), timeout=10, what="the message's request")
        done = wait_state(api, made["id"], "COMPLETED")
        assert (done["params"]["order_id"], done["params"]["amount"], done["params"]["Shop"]) == ("42", "10", "web")
        wait_for(lambda: _settled(client, stream, 2), timeout=10, what="both messages acked")
        client.xadd(stream, {"order_id": "44", "amount": "7"})  # fields without a message field: the message
        wait_for(lambda: _settled(client, stream, 3), timeout=10, what="the third message acked")
        made3 = wait_for(lambda: _count(api, name, 2), timeout=10, what="the third request")
        assert sorted(r["params"]["order_id"] for r in made3) == ["42", "44"]
    finally:
        client.close()


def test_a_restarted_queen_handles_no_acked_message_again(tmp_path: Path, redis_url: str) -> None:
    url = redis_url
    settings = _settings(tmp_path, url, embedded_ant=False)
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        with live_server(settings) as first, first.client() as api:
            name, stream = _job(api)
            wait_for(lambda: _group_ready(client, stream), timeout=10, what="the consumer group")
            client.xadd(stream, {"message": json.dumps({"order_id": "1", "amount": "9"})})
            wait_for(lambda: _settled(client, stream, 1), timeout=10, what="the message acked")
            assert len(requests_of(api, name)) == 1
        with live_server(replace(settings)) as again, again.client() as api:
            client.xadd(stream, {"message": json.dumps({"order_id": "2", "amount": "9"})})
            made = wait_for(lambda: _count(api, name, 2), timeout=10, what="the new message's request")
            wait_for(lambda: _settled(client, stream, 2), timeout=10, what="the new message acked")
            assert sorted(r["params"]["order_id"] for r in made) == ["1", "2"]
    finally:
        client.close()


SHARING_JOB = """
job_type: {name}
triggers:
- type: queue
  name: feed
  topic: {topic}
  group: {group}
  shared: {shared}
  rate_limit: {{max: {most}, window: 1h}}
tasks:
- task_type: t
  method: SHELL
  script: ["true"]
"""


def _groups(client: redis.Redis, stream: str) -> dict[str, dict[str, Any]]:
    return {str(g["name"]): g for g in client.xinfo_groups(stream)} if client.exists(stream) else {}


def test_shared_false_sees_every_message_from_its_start_and_rate_limit_drops(api: httpx.Client,
                                                                            redis_url: str) -> None:
    topic, group = f"feed-{uuid.uuid4().hex[:6]}", f"pool-{uuid.uuid4().hex[:6]}"
    stream = f"formicary-queue-{topic}"
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        client.xadd(stream, {"n": "before"})  # queued before any trigger existed
        shared_a, shared_b, alone = (f"q-{uuid.uuid4().hex[:8]}" for _ in range(3))
        for name, shared, most in ((shared_a, "true", 100), (shared_b, "true", 100), (alone, "false", 2)):
            apply(api, SHARING_JOB.format(name=name, topic=topic, group=group, shared=shared, most=most))
        own = f"{group}:"
        # bool(): an empty dict is falsy but not False, and wait_for would take it as done
        wait_for(lambda: bool((g := _groups(client, stream)) and group in g and any(n.startswith(own) for n in g)),
                 timeout=10, what="both groups")
        for i in range(4):
            client.xadd(stream, {"n": str(i)})

        def settled() -> bool:
            # "lag" can be nil on Redis 7.0, so a group counts as done when it was handed the stream's last
            # entry and holds none unacked (an entry is acked only once its request is stored)
            last = client.xinfo_stream(stream)["last-generated-id"]
            groups = _groups(client, stream)
            return len(groups) == 2 and all(int(g["pending"]) == 0 and g["last-delivered-id"] == last
                                            for g in groups.values())

        wait_for(settled, timeout=10, what="every group read to the end and acked")
        competing = requests_of(api, shared_a) + requests_of(api, shared_b)
        # the shared group read the queue from its beginning: the message sent before, and the 4 after,
        # each once between its two triggers
        assert sorted(r["params"]["n"] for r in competing) == ["0", "1", "2", "3", "before"]
        # the trigger of its own saw from its start only, every message, and its rate limit kept 2
        assert sorted(r["params"]["n"] for r in requests_of(api, alone)) == ["0", "1"]
    finally:
        client.close()


def test_only_the_leader_reads_and_a_new_one_takes_over_what_was_left_pending(
        tmp_path: Path, redis_url: str, postgres_cluster: str) -> None:
    from tests.support.migrated import migrated_postgres

    one = replace(_settings(tmp_path, redis_url, embedded_ant=False, leader_lease_secs=0.4),
                  database_url=migrated_postgres(postgres_cluster))
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        with ExitStack() as first:
            a = first.enter_context(live_server(one))
            readers_a = a.app.state.ctx.services["queue_triggers"]
            with live_server(replace(one, data_dir=tmp_path / "data-two")) as b, b.client() as api:
                readers_b = b.app.state.ctx.services["queue_triggers"]
                name, stream = _job(api)
                wait_for(lambda: _group_ready(client, stream) and readers_a._readers or None, timeout=10,
                         what="the leader's reader")
                assert not readers_b._readers  # the follower reads nothing
                readers_a._leading = lambda: False  # the leader stops reading ...
                wait_for(lambda: not readers_a._readers, timeout=10, what="the leader to stop reading")
                client.xadd(stream, {"message": json.dumps({"order_id": "left", "amount": "9"})})
                [group] = client.xinfo_groups(stream)  # ... after it read one entry it never acked (it died)
                client.xreadgroup(group["name"], "queen-gone-1", {stream: ">"}, count=10)
                assert int(client.xinfo_groups(stream)[0]["pending"]) == 1
                first.close()  # its lease is given up: b leads, and claims the entry at once (not in 30 s)
                [made] = wait_for(lambda: _count(api, name, 1), timeout=10, what="the left entry's request")
                assert made["params"]["order_id"] == "left"
                wait_for(lambda: _settled(client, stream, 1), timeout=10, what="the entry acked")
    finally:
        client.close()
