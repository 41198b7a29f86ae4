"""Helpers for end-to-end engine tests: upload definitions, submit requests, and poll for their states.

Polling the API until a deadline is the only waiting these helpers do; none of them sleeps a fixed time
to "let things happen".
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.support.live import LiveServer

POLL_SECONDS = 0.05
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")

T = TypeVar("T")


class Timeout(AssertionError):
    """A state the test waited for did not come before the deadline."""


def apply(api: httpx.Client, yaml_text: str) -> dict[str, Any]:
    """Upload a definition (YAML); return the definition JSON (201 new, 200 unchanged)."""
    response = api.post("/api/jobs/definitions", content=yaml_text, headers={"Content-Type": "application/yaml"})
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


def submit_response(api: httpx.Client, job_type: str, params: dict[str, Any] | None = None,
                    **fields: Any) -> httpx.Response:
    return api.post("/api/jobs/requests", json={"job_type": job_type, "params": params or {}, **fields})


def submit(api: httpx.Client, job_type: str, params: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """Submit a request (201 expected); return the request JSON."""
    response = submit_response(api, job_type, params, **fields)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def get_request(api: httpx.Client, request_id: str) -> dict[str, Any]:
    response = api.get(f"/api/jobs/requests/{request_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_for(check: Callable[[], T | None], *, timeout: float = 30.0, what: str = "a condition") -> T:
    """Call ``check`` until it returns something other than None (or False); raise after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = check()
        if last is not None and last is not False:
            return last
        if time.monotonic() > deadline:
            raise Timeout(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(POLL_SECONDS)


def wait_state(api: httpx.Client, request_id: str, states: str | Iterable[str], timeout: float = 30.0
               ) -> dict[str, Any]:
    """Poll the request until its ``job_state`` is one of ``states``; return the request JSON.

    Fails at once if the request reaches a terminal state that is not wanted (it will never change).
    """
    wanted = {states} if isinstance(states, str) else set(states)
    deadline = time.monotonic() + timeout
    while True:
        body = get_request(api, request_id)
        state = body["job_state"]
        if state in wanted:
            return body
        if state in TERMINAL:
            raise AssertionError(f"request {request_id} ended {state} ({body['error_code']}: "
                                 f"{body['error_message']}) instead of {sorted(wanted)}; tasks: {summary(body)}")
        if time.monotonic() > deadline:
            raise Timeout(f"request {request_id} is still {state} after {timeout:g}s, not {sorted(wanted)}; "
                          f"tasks: {summary(body)}")
        time.sleep(POLL_SECONDS)


def run(api: httpx.Client, job_type: str, params: dict[str, Any] | None = None, *, timeout: float = 30.0,
        **fields: Any) -> dict[str, Any]:
    """Submit and wait until the request is terminal; return the final request JSON."""
    request = submit(api, job_type, params, **fields)
    return wait_state(api, request["id"], TERMINAL, timeout)


def tasks(request: dict[str, Any]) -> list[dict[str, Any]]:
    execution = request.get("execution") or {}
    found: list[dict[str, Any]] = execution.get("tasks") or []
    return found


def task_types(request: dict[str, Any]) -> list[str]:
    """The task types executed, in task_order."""
    return [t["task_type"] for t in sorted(tasks(request), key=lambda t: t["task_order"])]


def task(request: dict[str, Any], task_type: str) -> dict[str, Any]:
    """The (last) execution of ``task_type``; fails when it did not run."""
    found = [t for t in tasks(request) if t["task_type"] == task_type]
    assert found, f"task {task_type!r} did not run; tasks: {summary(request)}"
    return max(found, key=lambda t: t["task_order"])


def summary(request: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(t["task_type"], t["task_state"], t["exit_code"], t["error_code"])
            for t in sorted(tasks(request), key=lambda t: t["task_order"])]


def contexts(rows: list[dict[str, Any]]) -> dict[str, str]:
    return {row["name"]: row["value"] for row in rows}


def job_context(request: dict[str, Any]) -> dict[str, str]:
    return contexts((request.get("execution") or {}).get("contexts") or [])


def log_lines(api: httpx.Client, request_id: str, task_type: str | None = None) -> list[dict[str, Any]]:
    params = {"task_type": task_type} if task_type else None
    response = api.get(f"/api/jobs/requests/{request_id}/logs", params=params)
    assert response.status_code == 200, response.text
    lines: list[dict[str, Any]] = response.json()["lines"]
    return lines


def followed_lines(api: httpx.Client, request_id: str, task_type: str | None = None) -> list[dict[str, Any]]:
    """Every log line through the live stream (``?follow=true``), which pages through all of them."""
    params = {"follow": "true", **({"task_type": task_type} if task_type else {})}
    lines: list[dict[str, Any]] = []
    event = ""
    with api.stream("GET", f"/api/jobs/requests/{request_id}/logs", params=params) as response:
        assert response.status_code == 200
        for raw in response.iter_lines():
            if raw.startswith("event: "):
                event = raw[len("event: "):]
            elif raw.startswith("data: ") and event == "log":
                lines.append(json.loads(raw[len("data: "):]))
            elif raw.startswith("data: ") and event == "end":
                break
    return lines


def log_text(api: httpx.Client, request_id: str, task_type: str | None = None) -> list[str]:
    return [line["line"] for line in log_lines(api, request_id, task_type)]


def list_requests(api: httpx.Client, **query: str) -> dict[str, Any]:
    response = api.get("/api/jobs/requests", params=query)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def requests_of(api: httpx.Client, job_type: str) -> list[dict[str, Any]]:
    """Every request of a job type (up to 500), newest first."""
    records: list[dict[str, Any]] = list_requests(api, job_type=job_type, page_size="500")["Records"]
    return records


def job_dir(server: LiveServer, request_id: str) -> Path:
    """The SHELL working root the embedded ant gives a request (``$MYRMICA_JOB_DIR``)."""
    return Path(server.settings.effective_work_dir) / request_id


def host_pid(job: Path, pid: int) -> int | None:
    """The host's PID of the task process of the request in ``job`` that saw itself as ``pid`` (a sandboxed
    task has its own PID namespace, where ``$$`` is a small number): the process whose environment holds
    ``MYRMICA_JOB_DIR=<job>`` and whose innermost PID (``NSpid``) is ``pid``."""
    marker = f"MYRMICA_JOB_DIR={job}".encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as environ:
                if marker not in environ.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry.name}/status") as status:
                nspid = next((line.split()[1:] for line in status if line.startswith("NSpid:")), [])
        except OSError:
            continue
        if nspid and int(nspid[-1]) == pid:
            return int(entry.name)
    return None


def read_pid(server: LiveServer, request_id: str, name: str = "pid", timeout: float = 15.0) -> int:
    """Wait for a script to write its PID (``$$``) to ``$MYRMICA_JOB_DIR/<name>``; return that process's
    PID on the host (in a sandbox, ``$$`` is its PID in the sandbox's own namespace)."""
    job = job_dir(server, request_id)
    path = job / name

    def check() -> int | None:
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            return None
        return host_pid(job, int(text)) if text.isdigit() else None

    return wait_for(check, timeout=timeout, what=f"{path} to hold the PID of a running process")


def wait_task_process_gone(server: LiveServer, request_id: str, name: str = "pid", timeout: float = 10.0) -> None:
    """The process that wrote its PID (``$$``) to ``$MYRMICA_JOB_DIR/<name>`` is gone (or a zombie)."""
    job = job_dir(server, request_id)
    text = wait_for(lambda: (job / name).read_text().strip() if (job / name).exists() else None, timeout=timeout,
                    what=f"{job / name} to hold a PID")
    wait_for(lambda: host_pid(job, int(text)) is None, timeout=timeout, what=f"the process of {job / name} to end")


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def wait_process_gone(pid: int, timeout: float = 10.0) -> None:
    wait_for(lambda: not process_alive(pid), timeout=timeout, what=f"process {pid} to be gone")


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def from_rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def in_seconds(seconds: float) -> str:
    return rfc3339(datetime.now(UTC) + timedelta(seconds=seconds))


def count_containing(lines: Iterable[str], needle: str) -> int:
    return sum(1 for line in lines if needle in line)
