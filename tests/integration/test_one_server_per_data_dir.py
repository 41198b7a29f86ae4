"""One server per data directory, and nothing touched by a server that cannot start.

A second server on a live server's data directory exits at once, naming the live one, and the live
server's running request finishes as if nothing happened. A server whose port is taken exits before
it resumes (or fails) anything its data directory left in flight.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import httpx

from myrmica.security.crypto import SecretBox
from myrmica.store.store import open_store
from tests.support.jobs import wait_for
from tests.support.process import ServerProcess, free_port

GATED = """job_type: gated
tasks:
- task_type: wait
  method: SHELL
  script:
    - echo waiting
    - while [ ! -e "$MYRMICA_JOB_DIR/gate" ]; do sleep 0.02; done
    - echo released
"""


def _start_gated(api: httpx.Client) -> str:
    """A request whose task waits for ``gate`` in its job directory (a sandboxed task sees no other)."""
    assert api.post("/api/jobs/definitions", content=GATED,
                    headers={"Content-Type": "application/yaml"}).status_code == 201
    request_id: str = api.post("/api/jobs/requests", json={"job_type": "gated"}).json()["id"]

    def waiting() -> bool:
        lines = api.get(f"/api/jobs/requests/{request_id}/logs").json()["lines"]
        return "waiting" in [line["line"] for line in lines]

    wait_for(waiting, timeout=30, what="the gated task to run")
    return request_id


def test_a_second_server_on_a_live_data_dir_exits_at_once_and_changes_nothing(tmp_path: Path) -> None:
    first = ServerProcess(tmp_path).start()
    try:
        with first.client() as api:
            request_id = _start_gated(api)
            second = ServerProcess(tmp_path).run_to_exit()
            assert second.returncode != 0
            assert first.process is not None
            assert f"another server (pid {first.process.pid}) is using {tmp_path}" in second.stderr
            assert "serving on" not in second.stdout
            (first.work_dir / request_id / "gate").touch()
            wait_for(lambda: api.get(f"/api/jobs/requests/{request_id}").json()["job_state"] in
                     ("COMPLETED", "FAILED"), timeout=30, what="the request to end")
            body = api.get(f"/api/jobs/requests/{request_id}").json()
            assert (body["job_state"], body["error_code"]) == ("COMPLETED", ""), body
            task = body["execution"]["tasks"][0]
            assert (task["task_state"], task["retried"]) == ("COMPLETED", 0)
            lines = [line["line"] for line in api.get(f"/api/jobs/requests/{request_id}/logs").json()["lines"]]
            assert lines == ["waiting", "released"]
    finally:
        first.stop()
    # Once the first server is gone, the directory is free again.
    again = ServerProcess(tmp_path).start()
    again.stop()


def _snapshot(data_dir: Path, request_id: str) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        store = await open_store(f"sqlite:///{data_dir / 'myrmica.db'}", SecretBox("unused"))
        try:
            request = await store.requests.get(request_id)
            tasks = await store.requests.task_executions([request["job_execution_id"]])
            return {"request": request, "tasks": tasks}
        finally:
            await store.close()

    return asyncio.run(read())


def test_a_server_whose_port_is_taken_resumes_nothing(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path).start()
    with server.client() as api:
        request_id = _start_gated(api)
    server.kill9()
    before = _snapshot(tmp_path, request_id)
    assert before["request"]["job_state"] == "EXECUTING"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        blocked = ServerProcess(tmp_path, port=port).run_to_exit()
    assert blocked.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in blocked.stderr
    assert _snapshot(tmp_path, request_id) == before  # not resumed, not failed, not re-leased
    # What it left alone was there to resume: a server that can listen takes it up (the cut-off task
    # had no retry left, so the request fails as lost).
    restarted = ServerProcess(tmp_path, port=free_port()).start()
    try:
        with restarted.client() as api:
            wait_for(lambda: api.get(f"/api/jobs/requests/{request_id}").json()["job_state"] in
                     ("COMPLETED", "FAILED"), timeout=60, what="the request to end after the restart")
            body = api.get(f"/api/jobs/requests/{request_id}").json()
            assert (body["job_state"], body["error_code"]) == ("FAILED", "ERR_ANT_LOST"), body
    finally:
        restarted.stop()
