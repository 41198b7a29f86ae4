"""Checking the keys of a job definition before it is validated.

A misspelt key (``scripts:``, ``on_complete:``) must not be stored as a silent no-op, so every key
of the job, of each task and of their typed sub-objects must be one the model knows; the error
names it and suggests the nearest known key. Keys Formicary documents (spec §2.1–2.2) that Myrmica
keeps but does not act on yet are accepted, so Formicary's definitions still upload, and reported
as warnings.
"""

from __future__ import annotations

import difflib
import os
import types
from collections.abc import Iterator, Mapping
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from myrmica.domain.definition_model import JobDefinitionSpec, TaskDefinition
from myrmica.domain.errors import ValidationError

# Known keys that have no effect in Myrmica yet, with what that means for the user.
_CONTAINER = "stored, not used (a DOCKER task uses container.image, cpu_limit, memory_limit, volumes and host_network)"
_DOCKER_ONLY = "stored; only a DOCKER task runs in a container"
# Keys a DOCKER task uses: a warning only for the tasks of other methods.
DOCKER_TASK_KEYS = ("container", "host_network", "network_mode")
UNSUPPORTED_JOB_KEYS: Mapping[str, str] = {
    "webhook": "stored; no job webhook is called",
    "resources": "stored, not enforced",
    "triggers": "webhook, s3 (poll mode) and queue (with a Redis) triggers create requests; s3 notification "
                "mode is stored only",
    "retention_days_for_completed": "stored; history is not purged per job",
    "retention_days_for_failed": "stored; history is not purged per job",
    "retention_days_for_cancelled": "stored; history is not purged per job",
    "tags": "derived from the tasks' tags; the value given is ignored",
    "methods": "derived from the tasks' methods; the value given is ignored",
}
UNSUPPORTED_TASK_KEYS: Mapping[str, str] = {
    "resources": "stored, not enforced",
    "webhook": "stored; no task webhook is called",
    "artifacts_dir": "stored; artifacts are extracted into the working directory",
    "cache_dir": "stored; a cache is restored into the working directory",
    "allow_start_if_completed": "stored, not enforced (nor is it by Formicary)",
    "messaging_request_queue": "stored; no ant runs MESSAGING tasks",
    "messaging_reply_queue": "stored; no ant runs MESSAGING tasks",
    "cost_factor": "stored; usage is not accounted",
    "execute_command_without_shell": "stored; SHELL lines always run through /bin/sh",
    "debug": "stored, no effect",
    **{key: _DOCKER_ONLY for key in DOCKER_TASK_KEYS},
    **{key: _CONTAINER for key in (
        "helper", "helper_environment", "services", "privileged", "node_selector", "node_tolerations", "affinity",
        "pod_labels", "pod_annotations")},
}


def known_keys(model: type[BaseModel]) -> list[str]:
    """The keys a definition may spell for ``model``: each field's alias, else its name."""
    return [field.alias or name for name, field in model.model_fields.items()]


def _nested_models(model: type[BaseModel]) -> dict[str, tuple[type[BaseModel], bool]]:
    """key → (model, is a list of them) for the fields typed as sub-models (``X``, ``X | None``, ``list[X]``)."""
    out: dict[str, tuple[type[BaseModel], bool]] = {}
    for name, field in model.model_fields.items():
        annotation, many = field.annotation, False
        if get_origin(annotation) in (Union, types.UnionType):
            annotation = next((a for a in get_args(annotation) if a is not type(None)), None)
        if get_origin(annotation) is list:
            annotation, many = get_args(annotation)[0], True
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out[field.alias or name] = (annotation, many)
    return out


def nearest_key(key: str, known: list[str]) -> str | None:
    """The known key a misspelt one most likely meant: difflib's close matches, plus keys one is a prefix of
    the other of (``cron`` → ``cron_trigger``); those sharing a first syllable win over mere likeness
    (``retries`` → ``retry``, not ``services``)."""
    candidates = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
    candidates += [k for k in known if k not in candidates and min(len(k), len(key)) >= 3
                   and (k.startswith(key) or key.startswith(k))]
    if not candidates:
        return None
    return max(candidates, key=lambda k: (len(os.path.commonprefix([k, key])) >= 3,
                                          difflib.SequenceMatcher(None, key, k).ratio()))


def _unknown(document: Mapping[Any, Any], model: type[BaseModel], where: str,
             path: str = "") -> Iterator[ValidationError]:
    known = known_keys(model)
    for key in document:
        if str(key) not in known:
            close = nearest_key(str(key), known)
            hint = f" — did you mean {close!r}?" if close else ""
            yield ValidationError(f"unknown key {str(key)!r} in {where}{hint}", field=f"{path}{key}")
    for key, (sub_model, many) in _nested_models(model).items():
        value = document.get(key)
        if many and isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, Mapping):
                    yield from _unknown(item, sub_model, f"{key} of {where}", f"{path}{key}[{index}].")
        elif isinstance(value, Mapping):
            yield from _unknown(value, sub_model, f"{key} of {where}", f"{path}{key}.")


def unknown_task_key(item: Mapping[Any, Any], index: int | None = None) -> ValidationError | None:
    """The first unknown key of one task (or of its sub-objects), as the error to raise."""
    name = item.get("task_type")
    label = f"task {str(name)!r}" if name else f"tasks[{index}]"
    problem = next(_unknown(item, TaskDefinition, label), None)
    if problem is not None and name:
        problem.task = str(name)
    return problem


def check_keys(document: Any) -> list[str]:
    """Refuse the first unknown key (a 422 naming it); return a warning per known key Myrmica does not run."""
    if not isinstance(document, Mapping):
        return []  # the model's own validation says what is wrong
    tasks = document.get("tasks")
    task_items = [(i, t) for i, t in enumerate(tasks) if isinstance(t, Mapping)] if isinstance(tasks, list) else []
    job_keys = {k: v for k, v in document.items() if k != "tasks"}
    for problem in (next(_unknown(job_keys, JobDefinitionSpec, "job"), None),
                    *(unknown_task_key(item, index) for index, item in task_items)):
        if problem is not None:
            raise problem
    warnings = [f"job key {key!r}: {why}" for key, why in UNSUPPORTED_JOB_KEYS.items() if key in document]
    for key, why in UNSUPPORTED_TASK_KEYS.items():
        users = [str(t.get("task_type") or f"tasks[{i}]") for i, t in task_items
                 if key in t and not (key in DOCKER_TASK_KEYS and str(t.get("method", "")).upper() == "DOCKER")]
        if users:
            warnings.append(f"task key {key!r} (in {', '.join(users)}): {why}")
    return warnings
