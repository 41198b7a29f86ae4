"""What travels between a queen and an ant: task requests, log lines, results, control messages.

Plain dataclasses with ``to_dict``/``from_dict`` so every transport (in-memory, Redis) carries the
same JSON-friendly shape. ``to_dict`` is shallow (the dict shares the message's lists and dicts): every
caller serialises it at once, and ``dataclasses.asdict``'s deep copy cost more than the rest of a dispatch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

T = TypeVar("T")


_NAMES: dict[type[Any], tuple[str, ...]] = {}


def _names(cls: type[Any]) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def _to_dict(message: object) -> dict[str, Any]:
    return {name: getattr(message, name) for name in _names(type(message))}


def _from_dict(cls: type[T], data: dict[str, Any]) -> T:
    names = _names(cls)
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class TaskRequest:
    request_id: str
    task_execution_id: str
    job_type: str
    task_type: str
    method: str
    attempt: int = 0
    script: list[str] = field(default_factory=list)
    before_script: list[str] = field(default_factory=list)
    after_script: list[str] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)  # exported as env; HTTP body
    environment: dict[str, str] = field(default_factory=dict)
    headers: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    url: str = ""
    timeout_secs: float = 0.0  # 0 = the ant's maximum
    working_dir: str = ""
    report_stdout: bool = False
    secrets: list[str] = field(default_factory=list)  # values masked as [****] in logs and results
    artifact_paths: list[str] = field(default_factory=list)  # files kept for later tasks (artifacts.paths)
    artifacts_when: str = "always"  # always | onSuccess | onFailure
    dependencies: list[str] = field(default_factory=list)  # earlier tasks whose artifacts this one needs
    # With an artifact store: where this task's zip goes (``{prefix}/{task execution}-{attempt}.zip``), how long
    # it is kept, the zips to extract first ([{task_type, key}]; no key: the dependency left none) and the
    # cache ({paths, key, key_paths, prefix, expire_secs}).
    artifact_prefix: str = ""
    artifacts_expire_secs: float = 0.0
    downloads: list[dict[str, Any]] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)
    container: dict[str, Any] = field(default_factory=dict)  # DOCKER: Formicary's container block (image, …)
    host_network: bool = False  # DOCKER: the host's network instead of none
    output_file_env: str = ""  # SHELL: this env var names a fresh file whose content becomes the result
    files: dict[str, str] = field(default_factory=dict)  # SHELL: written read-only into the working dir
    body: str = ""  # HTTP_ENDPOINT: what is POSTed (the run's payload as JSON)
    fallback_url: str = ""  # HTTP_ENDPOINT: where the call goes when the url fails transiently
    reply_to: str = ""  # the queen that dispatched it

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskRequest:
        return _from_dict(cls, data)


@dataclass
class TaskResult:
    request_id: str
    task_execution_id: str
    attempt: int
    state: str  # COMPLETED | FAILED
    exit_code: str = "0"
    exit_message: str = ""
    error_code: str = ""
    error_message: str = ""
    failed_command: str = ""
    ant_id: str = ""
    ant_host: str = ""
    task_context: dict[str, Any] = field(default_factory=dict)
    job_context: dict[str, Any] = field(default_factory=dict)  # ::set-output values, {task}-status
    stdout: list[str] = field(default_factory=list)
    result: str = ""  # what the task wrote to the file of ``output_file_env``
    artifacts: list[dict[str, Any]] = field(default_factory=list)  # what went to the artifact store
    started_at: float = 0.0  # epoch seconds on the ant
    ended_at: float = 0.0
    reply_to: str = ""  # the queen that dispatched the task

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskResult:
        return _from_dict(cls, data)


@dataclass
class LogLine:
    request_id: str
    task_execution_id: str
    task_type: str
    stream: str  # stdout | stderr | system
    line: str
    at: float  # epoch seconds
    reply_to: str = ""  # the queen that dispatched the task

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogLine:
        return _from_dict(cls, data)
