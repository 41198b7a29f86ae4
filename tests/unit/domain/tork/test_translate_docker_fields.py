"""Tork's ``entrypoint`` and ``volume`` mounts on the DOCKER runtime; bind mounts and shell runtimes stay a gap."""

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


def test_bind_mounts_shell_runtime_and_aux_fields_stay_refused() -> None:
    bind = _job(mounts=[{"type": "bind", "source": "/etc", "target": "/x"}])
    assert to_core(bind, "s", image_runtime=DOCKER_RUNTIME).needs == ("container",)
    assert to_core(_job(entrypoint=["bash", "-c"]), "s", image_runtime=SHELL_RUNTIME).needs == ("container",)
    aux = _job(pre=[{"name": "p", "run": "x", "entrypoint": ["sh", "-c"]}])
    assert to_core(aux, "s", image_runtime=DOCKER_RUNTIME).needs == ("container",)
