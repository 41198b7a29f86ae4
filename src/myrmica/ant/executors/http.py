"""HTTP_*: every ``script`` line is a URL (or ``url`` when the script is empty), requested in order.

The exit code is the HTTP status of the last request made; the first non-2xx status stops the task
as FAILED. The response body (bounded) is logged on stdout and kept in ``result.stdout``. A request
that gets no response (connection refused, DNS, invalid URL) is FAILED with exit code ``"-1"``.
Timeout and cancel stop the request in flight: FAILED, exit code ``"-1"``, ERR_TASK_TIMED_OUT or
ERR_JOB_CANCELLED.

Every request (each redirect too) passes the SSRF guard first (ant/executors/egress.py): by default a
private, loopback or link-local target is refused, FAILED with exit code ``"-1"``.

``HTTP_ENDPOINT`` (an endpoint run: the payload POSTed, the answer the result, failures classified) is
ant/executors/endpoint.py's, on this executor's client and guard.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import httpx

from myrmica.ant.executors.base import LogCallback, mask
from myrmica.ant.executors.egress import EgressGuard
from myrmica.ant.executors.endpoint import run_endpoint, trace_config
from myrmica.ant.executors.shell import stringify
from myrmica.broker.messages import TaskRequest, TaskResult

# method → (HTTP verb, body encoding)
_METHODS: dict[str, tuple[str, str]] = {
    "HTTP_GET": ("GET", ""),
    "HTTP_POST_FORM": ("POST", "form"),
    "HTTP_POST_JSON": ("POST", "json"),
    "HTTP_PUT_FORM": ("PUT", "form"),
    "HTTP_PUT_JSON": ("PUT", "json"),
    "HTTP_DELETE": ("DELETE", ""),
}
ENDPOINT = "HTTP_ENDPOINT"


@dataclass
class _Outcome:
    status: int = 0
    failed_command: str = ""
    error_message: str = ""
    bodies: list[str] = field(default_factory=list)


def _query(query: dict[str, Any]) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    for name, value in query.items():
        values = value if isinstance(value, list | tuple) else [value]
        params.extend((str(name), stringify(v)) for v in values)
    return params


class HttpExecutor:
    methods: frozenset[str] = frozenset({*_METHODS, ENDPOINT})

    def __init__(self, *, ant_id: str = "", ant_host: str = "", max_body_bytes: int = 1024 * 1024,
                 max_timeout_secs: float = 3600.0, client: httpx.AsyncClient | None = None,
                 guard: EgressGuard | None = None) -> None:
        self.ant_id = ant_id
        self.ant_host = ant_host
        self.max_body_bytes = max_body_bytes
        self.max_timeout_secs = max_timeout_secs
        self.guard = guard or EgressGuard()
        self._client = client
        self._own_client = client is None
        self._aiohttp: aiohttp.ClientSession | None = None  # HTTP_ENDPOINT's
        if client is not None:
            client.event_hooks["request"] = [*client.event_hooks.get("request", []), self.guard.check]

    async def aclose(self) -> None:
        """Close the HTTP clients this executor created (a client passed in stays open)."""
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._aiohttp is not None:
            await self._aiohttp.close()
            self._aiohttp = None

    async def close(self) -> None:
        """What the ant calls when it stops."""
        await self.aclose()

    def _session(self) -> aiohttp.ClientSession:
        if self._aiohttp is None:
            self._aiohttp = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None),
                                                  connector=aiohttp.TCPConnector(limit=200),
                                                  trace_configs=[trace_config()])
        return self._aiohttp

    async def __aenter__(self) -> HttpExecutor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # No client-side timeout: the task's own deadline bounds every request.
            self._client = httpx.AsyncClient(timeout=None, follow_redirects=True,
                                             event_hooks={"request": [self.guard.check]})
        return self._client

    def timeout_for(self, request: TaskRequest) -> float:
        wanted = request.timeout_secs
        return min(wanted, self.max_timeout_secs) if wanted > 0 else self.max_timeout_secs

    async def execute(self, request: TaskRequest, log: LogCallback, cancel: asyncio.Event) -> TaskResult:
        if request.method == ENDPOINT:
            return await run_endpoint(request, self._session(), self.guard, timeout=self.timeout_for(request),
                                      max_body_bytes=self.max_body_bytes, ant_id=self.ant_id,
                                      ant_host=self.ant_host, cancel=cancel)
        started = time.time()
        result = TaskResult(request.request_id, request.task_execution_id, request.attempt, "COMPLETED",
                            ant_id=self.ant_id, ant_host=self.ant_host, started_at=started)
        timeout = self.timeout_for(request)
        outcome = _Outcome()
        stopped = ""
        if cancel.is_set():
            stopped = "cancel"
        else:
            work = asyncio.create_task(self._requests(request, log, outcome))
            watcher = asyncio.create_task(cancel.wait())
            try:
                done, _ = await asyncio.wait((work, watcher), timeout=timeout,
                                             return_when=asyncio.FIRST_COMPLETED)
            finally:
                watcher.cancel()
                if not work.done():
                    work.cancel()
                    await asyncio.gather(work, return_exceptions=True)
            if work not in done:
                stopped = "cancel" if cancel.is_set() else "timeout"
            elif work.exception() is not None:
                outcome.failed_command = outcome.failed_command or request.method
                outcome.error_message = f"{type(work.exception()).__name__}: {work.exception()}"
                outcome.status = -1
        result.stdout = outcome.bodies
        if outcome.status > 0:
            result.task_context["HTTPStatus"] = outcome.status
        if stopped:
            result.state, result.exit_code = "FAILED", "-1"
            result.failed_command = outcome.failed_command
            if stopped == "cancel":
                result.error_code, result.error_message = "ERR_JOB_CANCELLED", "task cancelled"
            else:
                result.error_code = "ERR_TASK_TIMED_OUT"
                result.error_message = f"task timed out after {timeout:g}s"
        else:
            result.exit_code = str(outcome.status)
            if outcome.error_message:
                result.state, result.error_code = "FAILED", "ERR_TASK_EXECUTE"
                result.failed_command = outcome.failed_command
                result.error_message = mask(outcome.error_message, request.secrets)
        result.exit_message = result.error_message
        result.job_context[f"{request.task_type}-status"] = result.state
        result.ended_at = time.time()
        return result

    async def _requests(self, request: TaskRequest, log: LogCallback, outcome: _Outcome) -> None:
        spec = _METHODS.get(request.method)
        urls = [line.strip() for line in request.script if line.strip()] or (
            [request.url.strip()] if request.url.strip() else [])
        if spec is None or not urls:
            outcome.status = -1
            outcome.failed_command = request.method
            outcome.error_message = (f"unsupported method {request.method}" if spec is None
                                     else "no URL: both script and url are empty")
            return
        verb, encoding = spec
        headers = {str(k): stringify(v) for k, v in request.headers.items()}
        content: bytes | None = None
        if encoding == "json":
            content = json.dumps(request.variables, default=str).encode()
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json"
        elif encoding == "form":
            content = urlencode({str(k): stringify(v) for k, v in request.variables.items()}).encode()
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/x-www-form-urlencoded"
        params = _query(request.query)
        for url in urls:
            command = mask(f"{verb} {url}", request.secrets)
            outcome.failed_command = command  # what is in flight, should it be interrupted
            try:
                status, body, truncated = await self._send(verb, url, headers, params, content)
            except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError, ValueError) as exc:
                outcome.status = -1
                outcome.error_message = f"{command} failed: {type(exc).__name__}: {str(exc) or 'no response'}"
                return
            outcome.status = status
            text = mask(body, request.secrets)
            outcome.bodies.append(text)
            _log_lines(log, text)
            if truncated:
                _safe_log(log, "system", f"[response body truncated after {self.max_body_bytes} bytes]")
            if not 200 <= status < 300:
                outcome.error_message = f"{command} returned HTTP {status}"
                return
        outcome.failed_command = ""

    async def _send(self, verb: str, url: str, headers: dict[str, str], params: list[tuple[str, str]],
                    content: bytes | None) -> tuple[int, str, bool]:
        client = self._http()
        target = httpx.URL(url)
        if params:  # added to the URL's own query (httpx's params= would replace it)
            target = target.copy_merge_params(tuple(params))
        request = client.build_request(verb, target, headers=headers, content=content)
        response = await client.send(request, stream=True)
        try:
            chunks: list[bytes] = []
            size = 0
            truncated = False
            async for chunk in response.aiter_bytes():
                if size + len(chunk) > self.max_body_bytes:
                    chunks.append(chunk[:self.max_body_bytes - size])
                    truncated = True
                    break
                chunks.append(chunk)
                size += len(chunk)
        finally:
            await response.aclose()
        return response.status_code, _decode(b"".join(chunks), response.charset_encoding), truncated


def _decode(raw: bytes, charset: str | None) -> str:
    try:
        return raw.decode(charset or "utf-8", "replace")
    except LookupError:  # an unknown charset
        return raw.decode("utf-8", "replace")


def _log_lines(log: LogCallback, text: str) -> None:
    if not text:
        return
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    for line in lines:
        _safe_log(log, "stdout", line.removesuffix("\r"))


def _safe_log(log: LogCallback, stream: str, text: str) -> None:
    with contextlib.suppress(Exception):  # a broken log sink must not break the task
        log(stream, text)
