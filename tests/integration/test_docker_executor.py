"""DockerExecutor against a real Docker engine (our own dockerd) and the local busybox test image."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from myrmica.ant.executors.docker import DockerExecutor, memory_bytes, nano_cpus
from myrmica.ant.executors.docker_options import DockerOptions, engine_answers, map_image, parse_image_map
from myrmica.ant.executors.factory import build_executors
from myrmica.broker.messages import TaskRequest, TaskResult
from tests.support.docker_engine import TEST_IMAGE, DockerEngine


class Recorder:
    def __init__(self, on_line: str = "") -> None:
        self.lines: list[tuple[str, str]] = []
        self.on_line = on_line
        self.seen = asyncio.Event()

    def __call__(self, stream: str, line: str) -> None:
        self.lines.append((stream, line))
        if self.on_line and line == self.on_line:
            self.seen.set()

    def stream(self, name: str) -> list[str]:
        return [line for stream, line in self.lines if stream == name]


def make_request(task_type: str = "build", **kwargs: object) -> TaskRequest:
    kwargs.setdefault("container", {"image": TEST_IMAGE})
    return TaskRequest(request_id="req1", task_execution_id=f"te-{task_type}", job_type="job", task_type=task_type,
                       method="DOCKER", **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def executor(docker_engine: DockerEngine, tmp_path: Path) -> AsyncIterator[DockerExecutor]:
    options = DockerOptions(host=docker_engine.host, image_map={"alpine": TEST_IMAGE},
                            bind_allowed=(str(tmp_path / "shared"),))
    executor = DockerExecutor(tmp_path / "work", options, ant_id="ant-1")
    yield executor
    await executor.close()


async def run(executor: DockerExecutor, request: TaskRequest, log: Recorder | None = None,
              cancel: asyncio.Event | None = None) -> TaskResult:
    return await executor.execute(request, log if log is not None else Recorder(), cancel or asyncio.Event())


def mine(engine: DockerEngine, request: TaskRequest) -> list[str]:
    return engine.containers(f"label=io.myrmica.task_execution_id={request.task_execution_id}")


async def test_lines_arrive_as_logs_and_phases_share_one_container(executor: DockerExecutor,
                                                                   docker_engine: DockerEngine) -> None:
    log = Recorder()
    request = make_request(before_script=["echo before > /tmp/mark", "hostname > /tmp/host"],
                           script=["echo one; echo oops >&2; echo two", "cat /tmp/mark", "cat /tmp/host"],
                           after_script=["echo after"])
    result = await run(executor, request, log)
    assert result.state == "COMPLETED", result.error_message
    stdout = log.stream("stdout")
    assert stdout[:3] == ["one", "two", "before"]
    assert stdout[-1] == "after"
    assert log.stream("stderr") == ["oops"]
    assert any("started from myrmica-test/busybox:latest" in line for line in log.stream("system"))
    assert mine(docker_engine, request) == []  # removed at the end


async def test_exit_code_is_the_tasks_and_stops_the_phase(executor: DockerExecutor) -> None:
    log = Recorder()
    result = await run(executor, make_request(script=["echo a", "exit 7", "echo never"],
                                              after_script=["echo cleanup"]), log)
    assert (result.state, result.exit_code, result.error_code) == ("FAILED", "7", "ERR_TASK_EXECUTE")
    assert result.failed_command == "exit 7"
    assert result.error_message == 'command "exit 7" exited with 7'
    assert log.stream("stdout") == ["a", "cleanup"]


async def test_env_and_working_dir_reach_the_container(executor: DockerExecutor, tmp_path: Path) -> None:
    log = Recorder()
    request = make_request(variables={"NAME": "ant", "COUNT": 3}, environment={"GREETING": "hello"},
                           secrets=["hello"], script=["echo $NAME $COUNT $GREETING", "pwd", "echo $HOME"])
    result = await run(executor, request, log)
    assert result.state == "COMPLETED", result.error_message
    cwd = str(tmp_path / "work" / "req1" / "build")
    assert log.stream("stdout")[:2] == ["ant 3 [****]", cwd]


async def test_timeout_stops_and_removes_the_container(executor: DockerExecutor,
                                                       docker_engine: DockerEngine) -> None:
    request = make_request(script=["echo started", "sleep 600"], after_script=["echo no"], timeout_secs=1)
    log = Recorder()
    result = await run(executor, request, log)
    assert (result.state, result.error_code) == ("FAILED", "ERR_TASK_TIMED_OUT")
    assert result.failed_command == "sleep 600"
    assert "no" not in log.stream("stdout")
    assert mine(docker_engine, request) == []


async def test_cancel_stops_and_removes_the_container(executor: DockerExecutor,
                                                      docker_engine: DockerEngine) -> None:
    request = make_request(script=["echo ready; sleep 600"])
    log, cancel = Recorder(on_line="ready"), asyncio.Event()
    running = asyncio.create_task(run(executor, request, log, cancel))
    await asyncio.wait_for(log.seen.wait(), timeout=60)
    assert len(mine(docker_engine, request)) == 1  # the container is live while the line runs
    cancel.set()
    result = await asyncio.wait_for(running, timeout=60)
    assert (result.state, result.error_code) == ("FAILED", "ERR_JOB_CANCELLED")
    assert mine(docker_engine, request) == []


async def test_labels_limits_and_no_network(executor: DockerExecutor, docker_engine: DockerEngine) -> None:
    request = make_request(container={"image": TEST_IMAGE, "cpu_limit": "500m", "memory_limit": "64Mi"},
                           script=["echo ready; sleep 600"])
    log, cancel = Recorder(on_line="ready"), asyncio.Event()
    running = asyncio.create_task(run(executor, request, log, cancel))
    await asyncio.wait_for(log.seen.wait(), timeout=60)
    [container_id] = mine(docker_engine, request)
    shown = docker_engine.docker("inspect", "--format",
                                 "{{.HostConfig.NetworkMode}} {{.HostConfig.NanoCpus}} {{.HostConfig.Memory}} "
                                 "{{index .Config.Labels \"io.myrmica.request_id\"}} "
                                 "{{index .Config.Labels \"io.myrmica.task_type\"}}", container_id)
    cancel.set()
    await asyncio.wait_for(running, timeout=60)
    assert shown.split() == ["none", "500000000", str(64 * 1024 * 1024), "req1", "build"]


async def test_host_network_when_the_task_asks(executor: DockerExecutor) -> None:
    log = Recorder()
    result = await run(executor, make_request(host_network=True, script=["hostname"]), log)
    assert result.state == "COMPLETED", result.error_message
    import socket

    assert log.stream("stdout") == [socket.gethostname()]


async def test_image_map_runs_a_registry_image_on_the_local_one(executor: DockerExecutor) -> None:
    log = Recorder()
    result = await run(executor, make_request(container={"image": "alpine:3.19"}, script=["echo mapped"]), log)
    assert result.state == "COMPLETED", result.error_message
    assert log.stream("stdout") == ["mapped"]


async def test_unreachable_registry_is_a_clear_error(executor: DockerExecutor) -> None:
    result = await run(executor, make_request(container={"image": "example.invalid/nothing:1"}, script=["true"]))
    assert (result.state, result.error_code) == ("FAILED", "ERR_TASK_EXECUTE")
    assert result.error_message.startswith("cannot pull image example.invalid/nothing:1")
    assert "docker_image_map" in result.error_message


async def test_missing_image_and_bad_limits_are_named(executor: DockerExecutor) -> None:
    result = await run(executor, make_request(container={}, script=["true"]))
    assert result.error_message == "a DOCKER task needs container.image"
    result = await run(executor, make_request(container={"image": TEST_IMAGE, "memory_limit": "lots"},
                                              script=["true"]))
    assert result.error_message.startswith("container.memory_limit: ")


async def test_bind_mounts_only_under_the_allow_list(executor: DockerExecutor, tmp_path: Path) -> None:
    shared = tmp_path / "shared" / "data"
    shared.mkdir(parents=True)
    (shared / "in.txt").write_text("from host\n")
    log = Recorder()
    request = make_request(container={"image": TEST_IMAGE, "volumes": {"bind-mount-data": f"{shared}:/data"}},
                           script=["cat /data/in.txt"])
    result = await run(executor, request, log)
    assert result.state == "COMPLETED", result.error_message
    assert log.stream("stdout") == ["from host"]
    denied = make_request(container={"image": TEST_IMAGE, "volumes": {"bind-mount-etc": "/etc:/host-etc"}},
                          script=["true"])
    result = await run(executor, denied)
    assert result.state == "FAILED"
    assert "/etc is not under an allowed bind directory" in result.error_message


async def test_artifacts_are_copied_out_of_the_task_dir(executor: DockerExecutor, tmp_path: Path) -> None:
    request = make_request(script=["mkdir -p out", "echo built > out/app.txt"], artifact_paths=["out/app.txt"])
    log = Recorder()
    result = await run(executor, request, log)
    assert result.state == "COMPLETED", result.error_message
    kept = list((tmp_path / "work" / "req1").rglob("app.txt"))
    assert kept and all(path.read_text() == "built\n" for path in kept)
    assert any(line.startswith("artifacts kept: ") and "none" not in line for line in log.stream("system"))


def test_the_ant_advertises_docker_only_when_the_engine_answers(docker_engine: DockerEngine,
                                                                tmp_path: Path) -> None:
    assert engine_answers(docker_engine.host)
    live = build_executors(["SHELL", "DOCKER"], work_root=tmp_path, ant_id="a",
                           docker=DockerOptions(host=docker_engine.host))
    assert any("DOCKER" in e.methods for e in live)
    dead = build_executors(["SHELL", "DOCKER"], work_root=tmp_path, ant_id="a",
                           docker=DockerOptions(host=f"unix://{tmp_path}/none.sock"))
    assert [sorted(e.methods) for e in dead] == [["SHELL"]]


def test_settings_parsers() -> None:
    assert parse_image_map(["alpine=local:1", " ubuntu = local:2 "]) == {"alpine": "local:1", "ubuntu": "local:2"}
    with pytest.raises(ValueError, match="'alpine' is not IMAGE=LOCAL_IMAGE"):
        parse_image_map(["alpine"])
    mapping = {"alpine": "a", "docker.io/library/ubuntu:22.04": "u"}
    assert [map_image(i, mapping) for i in ("alpine", "alpine:3", "docker.io/library/ubuntu:22.04", "busybox")] == \
        ["a", "a", "u", "busybox"]
    assert map_image("anything:1", {"*": "x"}) == "x"
    assert (nano_cpus("500m"), nano_cpus(2), memory_bytes("64Mi"), memory_bytes("1g")) == \
        (500_000_000, 2_000_000_000, 64 * 1024**2, 1024**3)
