"""HTTP_ENDPOINT calls per second of one HttpExecutor against a local asyncio no-op server (keep-alive),
N calls with at most P in flight (an ant's capacity), beside HTTP_POST_JSON (httpx) for comparison.

    .venv/bin/python bench/endpoint_calls.py            # -n 1000 -p 50
"""

from __future__ import annotations

import argparse
import asyncio
import time

from myrmica.ant.executors.egress import EgressGuard
from myrmica.ant.executors.http import HttpExecutor
from myrmica.broker.messages import TaskRequest


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:].strip())
            if length:
                await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def calls_per_second(method: str, port: int, n: int, parallel: int) -> float:
    limit = asyncio.Semaphore(parallel)
    async with HttpExecutor(guard=EgressGuard.of(False, ["127.0.0.1"])) as executor:
        def request(i: int) -> TaskRequest:
            return TaskRequest(request_id=f"r{i}", task_execution_id=f"t{i}", job_type="bench", task_type="call",
                               method=method, url=f"http://127.0.0.1:{port}/run", timeout_secs=30, body="{}")

        async def one(i: int) -> str:
            async with limit:
                result = await executor.execute(request(i), lambda stream, line: None, asyncio.Event())
                return result.state

        await one(-1)
        started = time.perf_counter()
        states = await asyncio.gather(*(one(i) for i in range(n)))
        elapsed = time.perf_counter() - started
    assert set(states) == {"COMPLETED"}, set(states)
    return n / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("-p", "--parallel", type=int, default=50)
    args = parser.parse_args()
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    for method in ("HTTP_ENDPOINT", "HTTP_POST_JSON"):
        rate = await calls_per_second(method, port, args.n, args.parallel)
        print(f"{method}: {rate:.0f} calls/s ({args.n} calls, {args.parallel} in flight)")
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
