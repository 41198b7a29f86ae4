"""The embedded ant runs in its own process: it is listed like any ant, and it never outlives its server."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.jobs import host_pid, wait_for
from tests.support.process import ServerProcess

JOB = """job_type: long-sleep
tasks:
- task_type: nap
  method: SHELL
  timeout: 10m
  script:
    - echo $$ > "$MYRMICA_JOB_DIR/pid"; exec sleep 600
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie has exited already
        return stat.read().split(")")[-1].split()[0] != "Z"


def test_kill_9_of_the_server_stops_the_ant_and_its_tasks(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path).start()
    try:
        with server.client() as api:
            ants = api.get("/api/ants").json()["Records"]
            assert [(a["ant_id"], a["alive"], a["embedded"]) for a in ants] == [("embedded-ant", True, True)]
            assert api.post("/api/jobs/definitions", content=JOB,
                            headers={"Content-Type": "application/yaml"}).status_code == 201
            request_id = api.post("/api/jobs/requests", json={"job_type": "long-sleep"}).json()["id"]
            job_dir = server.work_dir / request_id
            pid_file = job_dir / "pid"
            wait_for(lambda: pid_file.exists() and pid_file.read_text().strip().isdigit(),
                     timeout=30, what="the task to start")
        # $$ is the shell's PID in its sandbox's namespace (when there is one): find it on the host.
        shell = wait_for(lambda: host_pid(job_dir, int(pid_file.read_text())), timeout=10, what="the task's process")
        assert alive(shell)
        server.kill9()
        wait_for(lambda: not alive(shell), timeout=30, what="the task's process to be stopped")
    finally:
        server.stop()
