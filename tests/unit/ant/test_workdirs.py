"""Task directories: empty ones are recycled through the pool; anything with content stays put."""

from __future__ import annotations

import asyncio
from pathlib import Path

from myrmica.ant.executors.shell import ShellExecutor
from myrmica.ant.executors.workdirs import SPARE_DIR, WorkDirs
from myrmica.broker.messages import TaskRequest


def spares(root: Path) -> list[str]:
    pool = root / SPARE_DIR
    return sorted(p.name for p in pool.iterdir()) if pool.exists() else []


def test_empty_directories_go_to_the_pool_and_come_back_for_the_next_task(tmp_path: Path) -> None:
    dirs = WorkDirs(tmp_path)
    job, task = tmp_path / "req-1", tmp_path / "req-1" / "build"
    job.mkdir()
    task.mkdir()
    assert dirs.enter(job, task)
    dirs.leave(job, task)
    assert not job.exists() and len(spares(tmp_path)) == 2

    job2, task2 = tmp_path / "req-2", tmp_path / "req-2" / "test"
    assert dirs.enter(job2, task2)
    assert task2.is_dir() and spares(tmp_path) == [], "both directories came from the pool"


def test_a_directory_with_content_stays_where_it_is(tmp_path: Path) -> None:
    dirs = WorkDirs(tmp_path)
    job, task = tmp_path / "req-1", tmp_path / "req-1" / "build"
    task.mkdir(parents=True)
    dirs.enter(job, task)
    (task / "report.txt").write_text("kept")
    dirs.leave(job, task)
    assert (task / "report.txt").read_text() == "kept" and spares(tmp_path) == []


def test_a_directory_stays_while_another_task_runs_in_it(tmp_path: Path) -> None:
    dirs = WorkDirs(tmp_path)
    job = tmp_path / "req-1"
    first, second = job / "a", job / "b"
    first.mkdir(parents=True)
    second.mkdir()
    dirs.enter(job, first)
    dirs.enter(job, second)
    dirs.enter(job, second)  # two items of a fan-out share their task's directory
    dirs.leave(job, first)
    assert job.is_dir() and not first.exists(), "b still runs in this request's job directory"
    dirs.leave(job, second)
    assert second.is_dir(), "the other item still runs in it"
    dirs.leave(job, second)
    assert not job.exists()


def test_a_task_of_its_own_working_directory_never_takes_from_the_pool(tmp_path: Path) -> None:
    (tmp_path / SPARE_DIR / "s1").mkdir(parents=True)
    dirs = WorkDirs(tmp_path)
    job = tmp_path / "req-1"
    assert not dirs.enter(job, None), "the caller creates a custom working directory itself"
    assert not job.exists() and spares(tmp_path) == ["s1"]


def test_the_pool_is_bounded_and_read_back_from_disk(tmp_path: Path) -> None:
    dirs = WorkDirs(tmp_path, max_spares=1)
    for name in ("x", "y"):
        (tmp_path / name).mkdir()
        dirs.give_back(tmp_path / name)
    assert len(spares(tmp_path)) == 1 and not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
    again = WorkDirs(tmp_path)  # a restarted ant
    assert again.take(tmp_path / "z") and spares(tmp_path) == []


def request(task_type: str, script: list[str], working_dir: str = "") -> TaskRequest:
    return TaskRequest(request_id="req-9", task_execution_id=f"te-{task_type}", job_type="j", task_type=task_type,
                       method="SHELL", script=script, working_dir=working_dir)


async def test_the_shell_executor_runs_in_recycled_directories_and_keeps_what_tasks_write(tmp_path: Path) -> None:
    executor = ShellExecutor(tmp_path)
    quiet = await executor.execute(request("quiet", ["pwd"]), lambda s, t: None, asyncio.Event())
    assert quiet.state == "COMPLETED" and len(spares(tmp_path)) == 2, "its empty directories were recycled"
    lines: list[str] = []
    writer = await executor.execute(request("writer", ["pwd", "echo hi > out.txt"]),
                                    lambda s, t: lines.append(t), asyncio.Event())
    assert writer.state == "COMPLETED" and spares(tmp_path) == []
    assert lines == [str(tmp_path / "req-9" / "writer")]
    assert (tmp_path / "req-9" / "writer" / "out.txt").read_text() == "hi\n"
    custom = await executor.execute(request("custom", ["touch made"], working_dir="deep/er"),
                                    lambda s, t: None, asyncio.Event())
    assert custom.state == "COMPLETED" and (tmp_path / "req-9" / "deep" / "er" / "made").exists()
