"""HttpExecutor against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from myrmica.ant.executors.egress import EgressGuard
from myrmica.ant.executors.http import HttpExecutor
from myrmica.broker.messages import TaskRequest, TaskResult

LOCAL = EgressGuard.of(False, ["127.0.0.1"])  # the test allow-list: this test's servers only


@dataclass
class EchoServer:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    hanging: threading.Event = field(default_factory=threading.Event)  # a request reached /hang
    release: threading.Event = field(default_factory=threading.Event)  # set at teardown


def make_handler(server: EchoServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            parts = urlsplit(self.path)
            record = {"method": self.command, "path": parts.path, "query": parse_qs(parts.query),
                      "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
            server.received.append(record)
            status = 200
            payload = json.dumps(record, indent=1).encode()
            if parts.path.startswith("/status/"):
                status = int(parts.path.rsplit("/", 1)[1])
            elif parts.path == "/hang":
                server.hanging.set()
                server.release.wait(30)
            elif parts.path == "/big":
                payload = b"x" * 5000 + b"\n" + b"y" * 5000
            elif parts.path == "/secret":
                payload = b"line one\nthe token is hunter2\n"
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _handle

    return Handler


@pytest.fixture
def echo_server() -> Iterator[EchoServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server = EchoServer(f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.RequestHandlerClass = make_handler(server)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


@pytest.fixture
async def executor() -> AsyncIterator[HttpExecutor]:
    async with HttpExecutor(ant_id="ant-h", ant_host="host-h", guard=LOCAL) as executor:
        yield executor


class Recorder:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def __call__(self, stream: str, line: str) -> None:
        self.lines.append((stream, line))


def make_request(method: str, **kwargs: Any) -> TaskRequest:
    return TaskRequest(request_id="req1", task_execution_id="te1", job_type="job", task_type="call",
                       method=method, **kwargs)


async def run(executor: HttpExecutor, request: TaskRequest, log: Recorder | None = None,
              cancel: asyncio.Event | None = None) -> TaskResult:
    return await executor.execute(request, log if log is not None else Recorder(), cancel or asyncio.Event())


VARIABLES = {"name": "ant", "count": 3, "flag": True}


@pytest.mark.parametrize(("method", "verb", "kind"), [
    ("HTTP_GET", "GET", ""), ("HTTP_DELETE", "DELETE", ""),
    ("HTTP_POST_JSON", "POST", "json"), ("HTTP_PUT_JSON", "PUT", "json"),
    ("HTTP_POST_FORM", "POST", "form"), ("HTTP_PUT_FORM", "PUT", "form"),
])
async def test_each_method_sends_what_the_server_receives(executor: HttpExecutor, echo_server: EchoServer,
                                                          method: str, verb: str, kind: str) -> None:
    log = Recorder()
    request = make_request(method, script=[f"{echo_server.url}/things?fixed=1"], variables=VARIABLES,
                           headers={"X-Trace": "abc", "X-Number": 7}, query={"q": "find me", "n": 2})
    result = await run(executor, request, log)
    assert result.state == "COMPLETED", result
    assert result.exit_code == "200"
    assert result.task_context["HTTPStatus"] == 200
    assert result.job_context == {"call-status": "COMPLETED"}
    assert (result.ant_id, result.ant_host) == ("ant-h", "host-h")
    [seen] = echo_server.received
    assert seen["method"] == verb
    assert seen["path"] == "/things"
    assert seen["query"] == {"fixed": ["1"], "q": ["find me"], "n": ["2"]}
    assert seen["headers"]["x-trace"] == "abc" and seen["headers"]["x-number"] == "7"
    if kind == "json":
        assert seen["headers"]["content-type"] == "application/json"
        assert json.loads(seen["body"]) == VARIABLES
    elif kind == "form":
        assert seen["headers"]["content-type"] == "application/x-www-form-urlencoded"
        assert parse_qs(seen["body"]) == {"name": ["ant"], "count": ["3"], "flag": ["true"]}
    else:
        assert seen["body"] == ""
    # The response body is logged line by line on stdout and kept as the task's stdout.
    assert json.loads(result.stdout[0]) == seen
    stdout = [line for stream, line in log.lines if stream == "stdout"]
    assert json.loads("\n".join(stdout)) == seen


async def test_url_is_used_when_script_is_empty(executor: HttpExecutor, echo_server: EchoServer) -> None:
    result = await run(executor, make_request("HTTP_GET", url=f"{echo_server.url}/from-url"))
    assert result.state == "COMPLETED"
    assert [r["path"] for r in echo_server.received] == ["/from-url"]


async def test_every_script_line_is_requested(executor: HttpExecutor, echo_server: EchoServer) -> None:
    urls = [f"{echo_server.url}/a", f"{echo_server.url}/status/201"]
    result = await run(executor, make_request("HTTP_POST_JSON", script=urls))
    assert (result.state, result.exit_code) == ("COMPLETED", "201")
    assert [r["path"] for r in echo_server.received] == ["/a", "/status/201"]
    assert len(result.stdout) == 2


async def test_non_2xx_fails_with_the_status(executor: HttpExecutor, echo_server: EchoServer) -> None:
    urls = [f"{echo_server.url}/status/404", f"{echo_server.url}/never"]
    result = await run(executor, make_request("HTTP_GET", script=urls))
    assert result.state == "FAILED"
    assert result.exit_code == "404"
    assert result.error_code == "ERR_TASK_EXECUTE"
    assert result.failed_command == f"GET {echo_server.url}/status/404"
    assert "404" in result.error_message
    assert result.task_context["HTTPStatus"] == 404
    assert result.job_context["call-status"] == "FAILED"
    assert [r["path"] for r in echo_server.received] == ["/status/404"]


async def test_connection_refused_fails(executor: HttpExecutor) -> None:
    with socket.socket() as sock:  # bound but not listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/x"
        result = await run(executor, make_request("HTTP_GET", script=[url]))
    assert result.state == "FAILED"
    assert result.exit_code == "-1"
    assert result.error_code == "ERR_TASK_EXECUTE"
    assert result.failed_command == f"GET {url}"
    assert "ConnectError" in result.error_message


async def test_invalid_url_and_missing_url_fail(executor: HttpExecutor) -> None:
    bad = await run(executor, make_request("HTTP_GET", script=["not a url"]))
    assert (bad.state, bad.exit_code) == ("FAILED", "-1")
    missing = await run(executor, make_request("HTTP_GET"))
    assert missing.state == "FAILED" and "no URL" in missing.error_message


async def test_body_is_bounded(echo_server: EchoServer) -> None:
    async with HttpExecutor(max_body_bytes=6000, guard=LOCAL) as executor:
        log = Recorder()
        result = await run(executor, make_request("HTTP_GET", script=[f"{echo_server.url}/big"]), log)
    assert result.state == "COMPLETED"
    assert len(result.stdout[0]) == 6000
    assert [len(line) for stream, line in log.lines if stream == "stdout"] == [5000, 999]
    assert log.lines[-1][0] == "system" and "truncated" in log.lines[-1][1]


async def test_secrets_are_masked(executor: HttpExecutor, echo_server: EchoServer) -> None:
    log = Recorder()
    request = make_request("HTTP_GET", script=[f"{echo_server.url}/secret", f"{echo_server.url}/status/500?k=hunter2"],
                           secrets=["hunter2"])
    result = await run(executor, request, log)
    assert ("stdout", "the token is [****]") in log.lines
    assert "hunter2" not in result.stdout[0]
    assert result.failed_command == f"GET {echo_server.url}/status/500?k=[****]"
    assert "hunter2" not in result.error_message


async def test_timeout(executor: HttpExecutor, echo_server: EchoServer) -> None:
    request = make_request("HTTP_GET", script=[f"{echo_server.url}/hang"], timeout_secs=0.3)
    result = await run(executor, request)
    assert result.state == "FAILED"
    assert result.error_code == "ERR_TASK_TIMED_OUT"
    assert result.exit_code == "-1"
    assert "timed out" in result.error_message
    assert result.failed_command == f"GET {echo_server.url}/hang"


async def test_cancel(executor: HttpExecutor, echo_server: EchoServer) -> None:
    cancel = asyncio.Event()
    request = make_request("HTTP_GET", script=[f"{echo_server.url}/hang"])
    task = asyncio.create_task(run(executor, request, cancel=cancel))
    assert await asyncio.to_thread(echo_server.hanging.wait, 10)
    cancel.set()
    result = await task
    assert result.state == "FAILED"
    assert result.error_code == "ERR_JOB_CANCELLED"
    assert result.exit_code == "-1"


async def test_unsupported_method(executor: HttpExecutor) -> None:
    result = await run(executor, make_request("HTTP_PATCH", url="http://127.0.0.1:1/"))
    assert result.state == "FAILED" and "unsupported" in result.error_message
