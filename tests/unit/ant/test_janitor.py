"""Old job directories leave an ant's work root; those of running tasks and recent ones stay."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from myrmica.ant.executors.shell import ShellExecutor
from myrmica.ant.janitor import sweep
from myrmica.ant.worker import Ant
from myrmica.broker.memory import MemoryBroker
from myrmica.broker.messages import LogLine, TaskRequest, TaskResult

DAY = 24 * 3600.0


def job_dir(root: Path, name: str, *, age: float) -> Path:
    path = root / name / "task"
    path.mkdir(parents=True)
    (path / "out.txt").write_text("x")
    stamp = time.time() - age
    os.utime(root / name, (stamp, stamp))
    return root / name


def test_sweep_removes_only_old_directories_not_in_use(tmp_path: Path) -> None:
    old, recent, busy = (job_dir(tmp_path, "old", age=2 * DAY), job_dir(tmp_path, "recent", age=60),
                         job_dir(tmp_path, "busy", age=2 * DAY))
    (tmp_path / "stray-file").write_text("not a job directory")
    spares = job_dir(tmp_path, ".spare", age=2 * DAY)
    removed = sweep(tmp_path, older_than=time.time() - DAY, in_use={"busy"})
    assert removed == ["old"]
    assert not old.exists() and recent.exists() and busy.exists() and (tmp_path / "stray-file").exists()
    assert spares.exists(), "the pool of spare directories is not a job directory"
    assert sweep(tmp_path / "missing", older_than=time.time(), in_use=set()) == []


async def test_the_ant_keeps_the_job_directory_of_a_running_task(tmp_path: Path) -> None:
    broker = MemoryBroker()
    ant = Ant("a1", broker, [ShellExecutor(tmp_path)], capacity=2, work_root=tmp_path, keep_work_seconds=DAY)
    finished: asyncio.Queue[str] = asyncio.Queue()
    started = asyncio.Event()

    async def on_result(result: TaskResult) -> None:
        await finished.put(result.state)

    async def on_registration(_: dict[str, object]) -> None:
        return None

    def on_log(line: LogLine) -> None:
        if line.line == "started":
            started.set()

    broker.subscribe(on_result=on_result, on_log=on_log, on_registration=on_registration)
    await ant.start()
    try:
        request = TaskRequest(request_id="running-request", task_execution_id="te1", job_type="j", task_type="t",
                              method="SHELL", script=["touch out.txt; echo started; exec sleep 30"])
        await broker.dispatch("a1", request)
        await asyncio.wait_for(started.wait(), 10)
        old = job_dir(tmp_path, "finished-request", age=2 * DAY)
        stamp = time.time() - 2 * DAY
        os.utime(tmp_path / "running-request", (stamp, stamp))
        assert await ant.sweep_work(time.time()) == ["finished-request"]
        assert not old.exists() and (tmp_path / "running-request").is_dir()
        await broker.control("a1", {"action": "CANCEL", "task_execution_id": "te1"})
        assert await asyncio.wait_for(finished.get(), 10) == "FAILED"
        assert await ant.sweep_work(time.time() + 3 * DAY) == ["running-request"]
    finally:
        await ant.stop(drain_seconds=0)
