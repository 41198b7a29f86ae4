"""HTTP_ENDPOINT attempts against real HTTP servers on 127.0.0.1 (tests/support/http_stub.py): the
payload and headers sent, the answer kept, each failure class, the fallback, and the SSRF guard."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from myrmica.ant.executors.egress import EgressGuard
from myrmica.ant.executors.http import HttpExecutor
from myrmica.broker.messages import TaskRequest, TaskResult
from tests.support.http_stub import http_stub

LOCAL = EgressGuard.of(False, ["127.0.0.1"])  # the test allow-list


def endpoint_request(url: str, *, fallback: str = "", timeout: float = 5.0, body: str = '{"a":1}',
                     attempt: int = 0) -> TaskRequest:
    return TaskRequest(request_id="run-1", task_execution_id="te-1", job_type="job", task_type="call",
                       method="HTTP_ENDPOINT", attempt=attempt, url=url, timeout_secs=timeout, body=body,
                       fallback_url=fallback,
                       headers={"X-Run-ID": "run-1", "X-Job-ID": "job-1", "X-Attempt": "1", "X-Run-Token": "tok"})


async def attempt(request: TaskRequest, guard: EgressGuard = LOCAL) -> TaskResult:
    async with HttpExecutor(ant_id="ant", guard=guard) as executor:
        return await executor.execute(request, lambda stream, line: None, asyncio.Event())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_2xx_completes_with_the_answer_as_result() -> None:
    with http_stub() as stub:
        result = await attempt(endpoint_request(stub.url + "/run"))
    assert result.state == "COMPLETED", result.error_message
    assert result.exit_code == "201"
    assert result.task_context["result"] == {"id": 1, "title": "stub", "method": "POST"}
    assert result.task_context["http_status"] == 201 and result.task_context["endpoint"] == "primary"
    trace = result.task_context["execution_trace"]
    assert set(trace) == {"connect_ms", "ttfb_ms", "transfer_ms", "dispatch_ms", "total_ms"}
    assert trace["dispatch_ms"] == trace["connect_ms"] + trace["ttfb_ms"] + trace["transfer_ms"]
    assert trace["total_ms"] >= 1 and trace["ttfb_ms"] >= 1
    seen = stub.seen[0]
    assert (seen.method, seen.path, seen.body) == ("POST", "/run", b'{"a":1}')
    headers = {k.lower(): v for k, v in seen.headers.items()}
    assert headers["content-type"] == "application/json"
    assert (headers["x-run-id"], headers["x-job-id"], headers["x-attempt"], headers["x-run-token"]) == \
        ("run-1", "job-1", "1", "tok")


@pytest.mark.parametrize(("status", "code", "kind"), [
    (500, "ERR_ENDPOINT_SERVER", "server"), (503, "ERR_ENDPOINT_SERVER", "server"),
    (429, "ERR_ENDPOINT_RATE_LIMITED", "rate_limited"), (401, "ERR_ENDPOINT_AUTH", "auth"),
    (403, "ERR_ENDPOINT_AUTH", "auth"), (404, "ERR_ENDPOINT_CLIENT", "client"), (422, "ERR_ENDPOINT_CLIENT", "client"),
])
async def test_each_status_class(status: int, code: str, kind: str) -> None:
    with http_stub([status]) as stub:
        result = await attempt(endpoint_request(stub.url + "/run"))
    assert (result.state, result.error_code, result.exit_code) == ("FAILED", code, str(status))
    assert result.task_context["error_class"] == kind
    assert result.error_message.startswith(f"HTTP {status}")


async def test_a_hung_endpoint_times_out() -> None:
    with http_stub(hang=frozenset({"/slow"})) as stub:
        result = await attempt(endpoint_request(stub.url + "/slow", timeout=0.3))
    assert (result.state, result.error_code, result.task_context["error_class"]) == \
        ("FAILED", "ERR_TASK_TIMED_OUT", "timeout")
    assert result.error_message == "execution timed out"


async def test_no_connection_is_a_connection_error() -> None:
    result = await attempt(endpoint_request(f"http://127.0.0.1:{closed_port()}/run"))
    assert (result.error_code, result.task_context["error_class"]) == ("ERR_ENDPOINT_CONNECTION", "connection")


async def test_a_transient_failure_goes_to_the_fallback_without_the_run_token() -> None:
    with http_stub(hang=frozenset({"/slow"})) as primary, http_stub() as fallback:
        result = await attempt(endpoint_request(primary.url + "/slow", fallback=fallback.url + "/backup",
                                                timeout=0.6))
        assert result.state == "COMPLETED", result.error_message
        assert result.task_context["endpoint"] == "fallback"
        headers = {k.lower() for k in fallback.seen[0].headers}
        assert "x-run-id" in headers and "x-run-token" not in headers
        assert fallback.seen[0].body == b'{"a":1}'
    refused_port = closed_port()
    with http_stub() as fallback:
        result = await attempt(endpoint_request(f"http://127.0.0.1:{refused_port}/", fallback=fallback.url + "/b"))
        assert result.state == "COMPLETED" and len(fallback.seen) == 1


async def test_a_5xx_or_4xx_does_not_go_to_the_fallback_and_both_errors_are_kept() -> None:
    with http_stub([404]) as primary, http_stub() as fallback:
        result = await attempt(endpoint_request(primary.url + "/run", fallback=fallback.url + "/b"))
        assert result.error_code == "ERR_ENDPOINT_CLIENT" and not fallback.seen
    with http_stub([429]) as primary, http_stub([503]) as fallback:
        result = await attempt(endpoint_request(primary.url + "/run", fallback=fallback.url + "/b"))
        assert result.state == "FAILED" and result.task_context["endpoint"] == "fallback"
        assert "HTTP 429" in result.error_message and "fallback: HTTP 503" in result.error_message


async def test_private_targets_are_refused_by_default() -> None:
    with http_stub() as stub:
        result = await attempt(endpoint_request(stub.url + "/run"), guard=EgressGuard())
        assert (result.state, result.error_code, result.task_context["error_class"]) == \
            ("FAILED", "ERR_ENDPOINT_REFUSED", "refused")
        assert "loopback" in result.error_message and "http_allow_private" in result.error_message
        assert not stub.seen  # nothing was sent
        # the native HTTP methods pass the same guard
        native = TaskRequest(request_id="r", task_execution_id="t", job_type="j", task_type="get",
                             method="HTTP_GET", url=stub.url + "/x", timeout_secs=5)
        result = await attempt(native, guard=EgressGuard())
        assert result.state == "FAILED" and "refused to call" in result.error_message and not stub.seen
        # the setting lifts it
        result = await attempt(endpoint_request(stub.url + "/run"), guard=EgressGuard(allow_private=True))
        assert result.state == "COMPLETED"


async def test_a_redirect_to_a_refused_target_is_refused() -> None:
    with http_stub() as target:
        with http_stub([302]) as first:
            guard = EgressGuard.of(False, [f"127.0.0.1:{first.url.rsplit(':', 1)[1]}"])
            request = TaskRequest(request_id="r", task_execution_id="t", job_type="j", task_type="get",
                                  method="HTTP_GET", url=first.url + "/go", timeout_secs=5)
            result = await attempt(request, guard=guard)
        # the stub's 302 has no Location: httpx stops there; the first call was allowed
        assert len(first.seen) == 1 and not target.seen
        assert result.exit_code == "302"


async def test_the_body_is_sent_as_given_and_any_2xx_completes() -> None:
    with http_stub([202]) as stub:
        result = await attempt(endpoint_request(stub.url + "/run", body=json.dumps({"k": [1, 2]})))
    assert result.state == "COMPLETED" and result.exit_code == "202"
    assert stub.seen[0].body == b'{"k": [1, 2]}'


@contextmanager
def redirector(location: str, status: int = 307) -> Iterator[str]:
    """A server on 127.0.0.1 that answers every call with a redirect to ``location``."""
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_redirects_are_followed_through_the_guard() -> None:
    with http_stub() as target, redirector(target.url + "/there") as first:
        port = first.rsplit(":", 1)[1]
        result = await attempt(endpoint_request(first + "/here"), guard=EgressGuard.of(False, [f"127.0.0.1:{port}"]))
        assert (result.error_code, result.task_context["error_class"]) == ("ERR_ENDPOINT_REFUSED", "refused")
        assert not target.seen  # the hop to a refused target was not made
        result = await attempt(endpoint_request(first + "/here"))  # both allowed: followed, a 307 keeps the POST
        assert result.state == "COMPLETED", result.error_message
        assert [(s.method, s.path, s.body) for s in target.seen] == [("POST", "/there", b'{"a":1}')]
