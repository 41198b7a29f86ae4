"""Tork's container fields on the DOCKER runtime (entrypoint, volume/tmpfs/bind mounts, workdir, limits);
the rest, the shell runtime and pre/post container fields stay a gap."""

from __future__ import annotations

from typing import Any

from myrmica.domain.tork.translate import DOCKER_RUNTIME, SHELL_RUNTIME, to_core


def _job(**task: Any) -> dict[str, Any]:
    return {"name": "j", "tasks": [{"name": "t", "image": "ubuntu:mantic", "run": "echo hi", **task}]}


def test_entrypoint_and_volume_mounts_run_on_docker() -> None:
    core = to_core(_job(entrypoint=["bash", "-c"], mounts=[{"type": "volume", "target": "/xyz"}],
                        pre=[{"name": "p", "run": "echo pre > /xyz/pre"}]), "s", image_runtime=DOCKER_RUNTIME)
    task = core.document["tasks"][0]
    assert core.needs == ()
    assert task["script"][-1] == "bash -c 'echo hi'" and task["script"][0].endswith("exit $rc")
    assert task["container"] == {"image": "ubuntu:mantic", "mounts": [{"type": "volume", "target": "/xyz"}]}


def test_bind_and_tmpfs_mounts_and_limits_are_the_container_s() -> None:
    core = to_core(_job(mounts=[{"type": "bind", "source": "/srv/in", "target": "/in"},
                                {"type": "tmpfs", "target": "/scratch"}],
                        limits={"cpus": "0.5", "memory": "64m"}), "s", image_runtime=DOCKER_RUNTIME)
    assert core.needs == ()
    assert core.document["tasks"][0]["container"] == {
        "image": "ubuntu:mantic", "mounts": [{"type": "tmpfs", "target": "/scratch"}], "volumes": ["/srv/in:/in"],
        "cpu_limit": "0.5", "memory_limit": "64m"}


def test_workdir_is_where_the_run_starts_with_the_files_copied_in() -> None:
    core = to_core(_job(workdir="/work dir", files={"a.txt": "x"}), "s", image_runtime=DOCKER_RUNTIME)
    assert core.needs == ()
    assert core.document["tasks"][0]["script"] == [
        "mkdir -p '/work dir' && cp -p -- a.txt '/work dir'/ && cd '/work dir' && sh -c 'echo hi'"]


def test_other_container_fields_the_shell_runtime_and_aux_fields_stay_refused() -> None:
    assert to_core(_job(networks=["n"]), "s", image_runtime=DOCKER_RUNTIME).needs == ("container",)
    assert to_core(_job(cmd=["x"]), "s", image_runtime=DOCKER_RUNTIME).needs == ("container",)
    assert to_core(_job(entrypoint=["bash", "-c"]), "s", image_runtime=SHELL_RUNTIME).needs == ("container",)
    assert to_core(_job(workdir="/w"), "s", image_runtime=SHELL_RUNTIME).needs == ("container",)
    aux = _job(pre=[{"name": "p", "run": "x", "entrypoint": ["sh", "-c"]}])
    assert to_core(aux, "s", image_runtime=DOCKER_RUNTIME).needs == ("container",)
    aux_limits = _job(post=[{"name": "p", "run": "x", "limits": {"cpus": "1"}}])
    assert to_core(aux_limits, "s", image_runtime=DOCKER_RUNTIME).needs == ("container",)


def test_empty_limits_are_no_gap_on_the_shell_runtime() -> None:
    assert to_core(_job(limits={"cpus": "", "memory": ""}), "s", image_runtime=SHELL_RUNTIME).needs == ()
