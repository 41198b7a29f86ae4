"""Files passed between the tasks of one request on an ant: ``artifacts.paths`` and ``dependencies``.

A task's artifacts are copied to ``<job dir>/.artifacts/<task type>/`` when it ends; a later task
that lists it under ``dependencies`` gets them copied into its working directory before its script
runs. (Across machines this needs the artifact store; on one ant the job directory is enough.)
"""

from __future__ import annotations

import shutil
from pathlib import Path

ARTIFACTS_DIR = ".artifacts"


def _store(job_dir: Path, task_type: str) -> Path:
    return job_dir / ARTIFACTS_DIR / task_type.replace("/", "_")


def collect_artifacts(cwd: Path, job_dir: Path, task_type: str, patterns: list[str]) -> list[str]:
    """Copy the files matching ``patterns`` (relative to the working directory); their relative names."""
    target = _store(job_dir, task_type)
    copied: list[str] = []
    for pattern in patterns:
        pattern = pattern.strip()
        if not pattern or pattern.startswith("/") or ".." in Path(pattern).parts:
            continue
        for path in sorted(cwd.glob(pattern)):
            relative = path.relative_to(cwd)
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir():
                shutil.copytree(path, destination, dirs_exist_ok=True)
            elif path.is_file():
                shutil.copy2(path, destination)
            else:
                continue
            copied.append(str(relative))
    return copied


def fetch_dependencies(cwd: Path, job_dir: Path, dependencies: list[str]) -> list[str]:
    """Copy each dependency's artifacts into ``cwd``; the dependencies that left none."""
    missing: list[str] = []
    for task_type in dependencies:
        source = _store(job_dir, task_type)
        if not source.is_dir():
            missing.append(task_type)
            continue
        shutil.copytree(source, cwd, dirs_exist_ok=True)
    return missing
