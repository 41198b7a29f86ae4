"""HTTP_ENDPOINT: one attempt of an endpoint run (Strait's execution mode ``http``, spec/strait.md §5).

The request's ``body`` (the run's payload, JSON) is POSTed to ``url`` with its headers (the queen sets
``X-Run-ID``, ``X-Job-ID``, ``X-Attempt``, ``X-Run-Token`` and, on a retry, ``X-Previous-Error`` and the
last checkpoint). A 2xx ends the task COMPLETED with the answer (JSON-decoded when it is JSON) as its
``result``; anything else FAILS it with an error code naming the failure's class:

============  ==========================  =========
class         error code                  retried
============  ==========================  =========
timeout       ERR_TASK_TIMED_OUT          yes
connection    ERR_ENDPOINT_CONNECTION     yes
transient     ERR_ENDPOINT_CONNECTION     yes
rate_limited  ERR_ENDPOINT_RATE_LIMITED   yes (429)
server        ERR_ENDPOINT_SERVER         yes (5xx and other non-2xx)
auth          ERR_ENDPOINT_AUTH           no (401, 403)
client        ERR_ENDPOINT_CLIENT         no (other 4xx)
refused       ERR_ENDPOINT_REFUSED        no (the SSRF guard)
============  ==========================  =========

With a ``fallback_url``, a failure of a retried class (but ``server``) sends the same call, without
the run token, to the fallback; its 2xx completes the task. Both calls share the attempt's deadline:
with a fallback the primary has half of it, so a hung primary leaves the fallback time to answer.

The task context keeps ``http_status``, ``error_class``, ``endpoint`` (``primary`` or ``fallback``) and
``execution_trace`` (``connect_ms``, ``ttfb_ms``, ``transfer_ms``, ``dispatch_ms`` = their sum,
``total_ms`` = the whole attempt; a non-zero duration is at least 1 ms).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
import yarl

from myrmica.ant.executors.base import mask
from myrmica.ant.executors.egress import EgressGuard, EgressRefused
from myrmica.broker.messages import TaskRequest, TaskResult
from myrmica.domain.states import ErrorCode

FALLBACK_CLASSES = frozenset({"timeout", "connection", "transient", "rate_limited"})
NO_FALLBACK_HEADERS = frozenset({"x-run-token"})
ERROR_CODES = {
    "timeout": ErrorCode.ERR_TASK_TIMED_OUT, "connection": ErrorCode.ERR_ENDPOINT_CONNECTION,
    "transient": ErrorCode.ERR_ENDPOINT_CONNECTION, "rate_limited": ErrorCode.ERR_ENDPOINT_RATE_LIMITED,
    "server": ErrorCode.ERR_ENDPOINT_SERVER, "auth": ErrorCode.ERR_ENDPOINT_AUTH,
    "client": ErrorCode.ERR_ENDPOINT_CLIENT, "refused": ErrorCode.ERR_ENDPOINT_REFUSED,
}


def status_class(status: int) -> str:
    """The failure class of a non-2xx status."""
    if status == 429:
        return "rate_limited"
    if status in (401, 403):
        return "auth"
    if 400 <= status < 500:
        return "client"
    return "server"


def exception_class(exc: BaseException) -> str:
    if isinstance(exc, EgressRefused):
        return "refused"
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, aiohttp.ClientConnectionError | httpx.ConnectError | httpx.RemoteProtocolError
                  | httpx.ReadError | httpx.WriteError | ConnectionError):
        return "connection"
    return "transient"


MAX_REDIRECTS = 10
REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _ms(seconds: float) -> int:
    if seconds <= 0:
        return 0
    return max(1, round(seconds * 1000))


@dataclass
class Call:
    """One POST's outcome."""

    status: int = 0
    body: bytes = b""
    charset: str | None = None
    error_class: str = ""
    error: str = ""
    connect: float = 0.0
    ttfb: float = 0.0
    transfer: float = 0.0
    trace: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and not self.error_class


async def post(session: aiohttp.ClientSession, guard: EgressGuard, url: str, headers: dict[str, str], body: bytes,
               timeout: float, max_body_bytes: int) -> Call:
    """POST ``body`` to ``url`` within ``timeout`` seconds, following redirects (each hop through the SSRF
    guard); never raises for the endpoint's failures. On aiohttp: httpx's pool costs ten times its CPU
    per call when many run at once."""
    call = Call()
    marks: dict[str, float] = {}
    started = time.perf_counter()
    answered = started
    try:
        async with asyncio.timeout(max(timeout, 0.001)):
            target, method, content = url, "POST", body
            for _ in range(MAX_REDIRECTS + 1):
                reason = await guard.refusal(httpx.URL(target))
                if reason is not None:
                    raise EgressRefused(f"refused to call {reason} (the http_allow_private setting permits it)")
                async with session.request(method, target, data=content, headers=headers, allow_redirects=False,
                                           trace_request_ctx=marks) as response:
                    answered = time.perf_counter()
                    location = response.headers.get("Location")
                    if response.status in REDIRECTS and location:
                        target = str(response.url.join(yarl.URL(location)))
                        if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                            method, content = "GET", b""
                        continue
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in response.content.iter_chunked(64 * 1024):
                        chunks.append(chunk[:max_body_bytes - size])
                        size += len(chunk)
                        if size >= max_body_bytes:
                            break
                    call.status, call.body, call.charset = response.status, b"".join(chunks), response.charset
                    break
            else:
                raise aiohttp.ClientError(f"more than {MAX_REDIRECTS} redirects")
        if not 200 <= call.status < 300:
            call.error_class = status_class(call.status)
            call.error = f"HTTP {call.status}"
    except (aiohttp.ClientError, httpx.HTTPError, httpx.InvalidURL, OSError, TimeoutError, ValueError) as exc:
        call.error_class = exception_class(exc)
        call.error = "execution timed out" if call.error_class == "timeout" else \
            f"{type(exc).__name__}: {str(exc) or 'no response'}"
    ended = time.perf_counter()
    if "connected" in marks and "connecting" in marks:
        call.connect = marks["connected"] - marks["connecting"]
    sent_from = marks.get("connected") or started
    if call.status:
        call.ttfb = answered - sent_from
        call.transfer = ended - answered
    return call


def trace_config() -> aiohttp.TraceConfig:
    """Connection times for ``execution_trace`` (each call's marks dict is its trace context)."""
    config = aiohttp.TraceConfig()  # its context holds the call's ``trace_request_ctx`` (the marks)

    async def connecting(session: Any, context: Any, params: Any) -> None:
        context.trace_request_ctx.setdefault("connecting", time.perf_counter())

    async def connected(session: Any, context: Any, params: Any) -> None:
        context.trace_request_ctx["connected"] = time.perf_counter()

    config.on_connection_create_start.append(connecting)
    config.on_connection_create_end.append(connected)
    return config


def _result_value(call: Call) -> Any:
    text = call.body.decode(call.charset or "utf-8", "replace")
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


async def run_endpoint(request: TaskRequest, session: aiohttp.ClientSession, guard: EgressGuard, *, timeout: float,
                       max_body_bytes: int, ant_id: str, ant_host: str, cancel: asyncio.Event,
                       clock: Callable[[], float] = time.time) -> TaskResult:
    """One attempt (see the module docstring)."""
    started = clock()
    begun = time.perf_counter()
    result = TaskResult(request.request_id, request.task_execution_id, request.attempt, "COMPLETED",
                        ant_id=ant_id, ant_host=ant_host, started_at=started)
    headers = {str(k): str(v) for k, v in request.headers.items()}
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/json"
    body = request.body.encode()
    url = request.url.strip() or next((line.strip() for line in request.script if line.strip()), "")
    fallback = request.fallback_url.strip()
    primary_budget = timeout / 2 if fallback else timeout

    async def attempt() -> tuple[Call, str]:
        call = await post(session, guard, url, headers, body, primary_budget, max_body_bytes)
        if call.ok or not fallback or call.error_class not in FALLBACK_CLASSES:
            return call, "primary"
        remaining = timeout - (time.perf_counter() - begun)
        plain = {k: v for k, v in headers.items() if k.lower() not in NO_FALLBACK_HEADERS}
        second = await post(session, guard, fallback, plain, body, remaining, max_body_bytes)
        if not second.ok:
            second.error = f"{call.error}; fallback: {second.error}"
        return second, "fallback"

    work = asyncio.ensure_future(attempt())
    watcher = asyncio.ensure_future(cancel.wait())
    try:
        await asyncio.wait((work, watcher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if not work.done():
        work.cancel()
        await asyncio.gather(work, return_exceptions=True)
        result.state, result.exit_code = "FAILED", "-1"
        result.error_code, result.error_message = ErrorCode.ERR_JOB_CANCELLED, "task cancelled"
        result.exit_message = result.error_message
        result.ended_at = clock()
        return result
    call, which = work.result()
    total = time.perf_counter() - begun
    trace = {"connect_ms": _ms(call.connect), "ttfb_ms": _ms(call.ttfb), "transfer_ms": _ms(call.transfer)}
    trace["dispatch_ms"] = trace["connect_ms"] + trace["ttfb_ms"] + trace["transfer_ms"]
    trace["total_ms"] = _ms(total)
    context: dict[str, Any] = {"execution_trace": trace, "endpoint": which}
    if call.status:
        context["http_status"] = call.status
        result.exit_code = str(call.status)
    text = mask(call.body.decode(call.charset or "utf-8", "replace"), request.secrets)
    if call.ok:
        context["result"] = _result_value(call) if not request.secrets else text or None
        result.result = text
    else:
        context["error_class"] = call.error_class
        result.state = "FAILED"
        result.exit_code = result.exit_code if call.status else "-1"
        result.error_code = ERROR_CODES[call.error_class]
        message = call.error if not call.status or not text else f"{call.error}: {text[:500]}"
        result.error_message = mask(message, request.secrets)
        result.failed_command = mask(f"POST {url if which == 'primary' else fallback}", request.secrets)
        if text:
            result.stdout = [text]
    result.task_context = context
    result.exit_message = result.error_message
    result.job_context[f"{request.task_type}-status"] = result.state
    result.ended_at = clock()
    return result
