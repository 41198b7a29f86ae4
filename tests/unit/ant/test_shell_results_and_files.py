"""ShellExecutor: a task's result file (``output_file_env``) and its ``files``, against real /bin/sh."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from myrmica.ant.executors.shell import MAX_RESULT_BYTES, ShellExecutor
from tests.unit.ant.test_shell_executor import make_request, run


@pytest.fixture
def executor(tmp_path: Path) -> ShellExecutor:
    return ShellExecutor(tmp_path / "work", ant_id="ant-1", ant_host="host-1")


async def test_the_file_named_by_the_variable_is_the_result_whole_and_then_gone(executor: ShellExecutor) -> None:
    request = make_request(script=['printf "line one\\n  two  \\n" > "$OUT"', 'echo "file=$OUT"'],
                           output_file_env="OUT")
    result = await run(executor, request)
    assert result.state == "COMPLETED" and result.result == "line one\n  two  \n"  # untrimmed
    assert not executor.output_file(request).exists()
    assert not any(p.name.startswith(".output") for p in executor.job_dir(request).rglob("*"))


async def test_no_variable_no_result_and_an_unwritten_file_is_empty(executor: ShellExecutor) -> None:
    result = await run(executor, make_request(script=['echo "[${OUT:-unset}]" && printf x > /dev/null']))
    assert result.result == ""
    assert (await run(executor, make_request(script=["true"], output_file_env="OUT"))).result == ""


async def test_a_failed_task_still_gives_what_it_wrote_and_secrets_are_masked(executor: ShellExecutor) -> None:
    request = make_request(script=['printf "token=hush" > "$OUT"; exit 4'], output_file_env="OUT", secrets=["hush"])
    result = await run(executor, request)
    assert result.state == "FAILED" and result.result == "token=[****]"


async def test_a_huge_result_is_cut_at_the_limit(executor: ShellExecutor) -> None:
    request = make_request(script=[f'head -c {MAX_RESULT_BYTES + 10} /dev/zero | tr "\\0" a > "$OUT"'],
                           output_file_env="OUT")
    assert len((await run(executor, request)).result) == MAX_RESULT_BYTES


async def test_each_attempt_has_its_own_fresh_file(executor: ShellExecutor) -> None:
    first = make_request(script=['[ -s "$OUT" ] && echo -n stale >> "$OUT"; echo -n one >> "$OUT"'],
                         output_file_env="OUT")
    assert (await run(executor, first)).result == "one"
    second = make_request(script=first.script, output_file_env="OUT", attempt=1)
    assert (await run(executor, second)).result == "one"


async def test_files_are_written_read_only_before_the_script(executor: ShellExecutor) -> None:
    request = make_request(script=["cat a.txt sub/dir/b.txt > both"], files={"a.txt": "A\n", "sub/dir/b.txt": "B\n"})
    result = await run(executor, request)
    assert result.state == "COMPLETED", result.error_message
    cwd = executor.working_dir(request)
    assert (cwd / "both").read_text() == "A\nB\n"
    assert stat.S_IMODE((cwd / "a.txt").stat().st_mode) == 0o444


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd-copy", "a/../../b", ""])
async def test_a_file_outside_the_working_directory_fails_the_task(executor: ShellExecutor, tmp_path: Path,
                                                                   name: str) -> None:
    result = await run(executor, make_request(script=["echo ran"], files={name: "x"}))
    assert result.state == "FAILED" and "outside the working directory" in result.error_message
    assert not (tmp_path / "escape.txt").exists() and not Path("/etc/passwd-copy").exists()
