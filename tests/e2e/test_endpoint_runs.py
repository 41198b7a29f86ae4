"""HTTP_ENDPOINT runs through the engine (embedded, SQLite) against real HTTP servers on 127.0.0.1:
retries by strategy (their delays read from a fake sleep), the headers of each attempt (run token,
previous error), a 4xx that is not retried, attempts exhausted, a timeout."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from myrmica.config import Settings
from myrmica.domain.definitions import parse_definition
from myrmica.domain.principal import Principal
from myrmica.domain.records import NewRequest, RequestRecord, TaskRecord
from myrmica.queen.engine import Engine
from myrmica.runtime import Runtime
from myrmica.security.run_tokens import RUN_TOKEN_PURPOSE, verify_run_token
from myrmica.service.jobs import JobService
from tests.support.http_stub import HttpStub, http_stub


class Middle(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return (a + b) / 2  # no jitter: the strategy's own delays


@dataclass
class World:
    jobs: JobService
    admin: Principal
    slept: list[float]
    token_key: bytes


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                        embedded_ant=True, embedded_ant_process=False, ant_id="embedded-ant",
                        admin_token="myr_test_" + uuid.uuid4().hex, work_dir=tmp_path / "work",
                        http_allowed_hosts=("127.0.0.1",))
    engine = Engine(settings)
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    engine.sleep, engine.rng = fake_sleep, Middle()
    runtime = Runtime(settings, services=[engine])
    ctx = await runtime.start()
    try:
        yield World(ctx.services["jobs"], ctx.admin, slept, ctx.store.box.derived_key(RUN_TOKEN_PURPOSE))
    finally:
        await runtime.stop()


def definition(name: str, url: str, *, retry: int, strategy: str = "exponential", delays: str = "[]",
               timeout: str = "5s", fallback: str = "") -> str:
    return f"""job_type: {name}
tasks:
- task_type: call
  method: HTTP_ENDPOINT
  url: {url}
  timeout: {timeout}
  retry: {retry}
  endpoint:
    job_id: job-{name}
    fallback_url: "{fallback}"
    retry_strategy: {strategy}
    retry_delays_secs: {delays}
"""


async def run(world: World, text: str, payload: object) -> tuple[RequestRecord, TaskRecord]:
    submitted = await world.jobs.submit_job(world.admin, parse_definition(text), dialect="formicary",
                                            request=NewRequest(job_type="", params={"payload": payload}))
    await world.jobs.wait(world.admin, submitted.request.id, timeout_seconds=30)
    done = await world.jobs.get(world.admin, submitted.request.id)
    assert done.execution is not None
    return done, done.execution.tasks[0]


def headers(stub: HttpStub, n: int) -> dict[str, str]:
    return {k.lower(): v for k, v in stub.seen[n].headers.items()}


async def test_endpoint_runs(world: World) -> None:
    # 500, 500, then 201: three attempts, 1 s then 2 s apart (exponential), the answer is the result
    with http_stub([500, 500]) as stub:
        done, task = await run(world, definition("retried", stub.url + "/hook", retry=3), {"b": 2, "a": 1})
        assert done.job_state == "COMPLETED", (done.error_code, done.error_message)
        assert world.slept == [1.0, 2.0]
        assert len(stub.seen) == 3 and task.attempt == 2
        assert task.contexts["result"] == {"id": 1, "title": "stub", "method": "POST"}
        assert set(task.contexts["execution_trace"]) >= {"connect_ms", "ttfb_ms", "transfer_ms", "total_ms"}
        assert stub.seen[0].body == b'{"a":1,"b":2}'
        first, third = headers(stub, 0), headers(stub, 2)
        assert (first["x-run-id"], first["x-job-id"], first["x-attempt"]) == (done.id, "job-retried", "1")
        assert third["x-attempt"] == "3" and "x-previous-error" not in first
        assert third["x-previous-error"].startswith("HTTP 500")
        assert verify_run_token(world.token_key, third["x-run-token"], done.id) == done.id

    # linear and custom strategies (the classes alternate: the poison pill stops a repeated one)
    world.slept.clear()
    with http_stub([503, 429, 503]) as stub:
        done, _ = await run(world, definition("linear", stub.url + "/h", retry=3, strategy="linear"), {})
        assert done.job_state == "COMPLETED" and world.slept == [1.0, 2.0, 3.0]
    world.slept.clear()
    with http_stub([502, 429, 502]) as stub:
        done, _ = await run(world, definition("custom", stub.url + "/h", retry=3, strategy="custom",
                                              delays="[5, 30]"), {})
        assert done.job_state == "COMPLETED" and world.slept == [5.0, 30.0, 30.0]

    # a 4xx is not retried; the request ends FAILED with the client error (Strait's dead letter)
    world.slept.clear()
    with http_stub([404]) as stub:
        done, task = await run(world, definition("client", stub.url + "/h", retry=3), {})
        assert (done.job_state, done.error_code, len(stub.seen), world.slept) == \
            ("FAILED", "ERR_ENDPOINT_CLIENT", 1, [])
        assert task.contexts["error_class"] == "client"

    # the poison pill: the third attempt fails as the second did (server), so the fourth is not made
    world.slept.clear()
    with http_stub([429, 500, 503, 500]) as stub:
        done, task = await run(world, definition("poison", stub.url + "/h", retry=4), {})
        assert (done.job_state, done.error_code, len(stub.seen)) == ("FAILED", "ERR_ENDPOINT_SERVER", 3)
        assert done.error_message.startswith("poison pill: attempts 2 and 3 failed with the same error class "
                                              "(server); not retried: HTTP 503"), done.error_message
        assert task.attempt == 2 and len(world.slept) == 2

    # attempts exhausted on 5xx
    with http_stub([500, 500]) as stub:
        done, task = await run(world, definition("exhausted", stub.url + "/h", retry=1), {})
        assert (done.job_state, done.error_code, len(stub.seen)) == ("FAILED", "ERR_ENDPOINT_SERVER", 2)

    # a timeout; with a fallback, the fallback answers within the same attempt's deadline
    with http_stub(hang=frozenset({"/slow"})) as slow, http_stub() as backup:
        done, task = await run(world, definition("timeout", slow.url + "/slow", retry=0, timeout="0.4s"), {})
        assert (done.job_state, done.error_code) == ("FAILED", "ERR_TASK_TIMED_OUT")
        done, task = await run(world, definition("fallback", slow.url + "/slow", retry=0, timeout="0.6s",
                                                 fallback=backup.url + "/b"), {})
        assert done.job_state == "COMPLETED" and task.contexts["endpoint"] == "fallback"
