"""Core records: what the job service takes from and gives back to every dialect.

Plain frozen values, no I/O. A dialect turns them into its own shapes (Formicary's snake_case
JSON, Tork's camelCase, …); the store's rows become records in the service, so no dialect
reads a row (or sees a stored secret, a lease, or an encrypted value).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def _names(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split(",") if part)


def labels_text(labels: tuple[str, ...] | list[str]) -> str | None:
    """Labels as stored: a JSON list of strings (None for none)."""
    return json.dumps([str(label) for label in labels]) if labels else None


def _labels(stored: Any) -> tuple[str, ...]:
    if not isinstance(stored, str) or not stored:
        return ()
    try:
        value = json.loads(stored)
    except ValueError:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


# --- what a caller asks for ---------------------------------------------------------------------


@dataclass(frozen=True)
class NewRequest:
    """One run of a definition, as a dialect asks for it (already decoded from its body)."""

    job_type: str
    job_version: str = ""  # "" or "latest": the active version; a number, a sem_version or a version's id
    params: Mapping[str, Any] = field(default_factory=dict)
    secret_params: Mapping[str, Any] = field(default_factory=dict)  # stored encrypted, shown masked
    job_priority: int = 0
    scheduled_at: datetime | None = None  # None: now (a time in the past means now too)
    user_key: str | None = None  # idempotency: a live request of the same owner and key is returned instead
    description: str = ""
    platform: str = ""
    job_group: str = ""
    labels: tuple[str, ...] = ()  # a dialect's tags of the request (Tork's job tags), for search
    expires_at: datetime | None = None  # picked up after this, it fails ERR_EXPIRED instead of running
    request_id: str | None = None  # the id to give it (chosen beforehand by a dialect that records it first)
    blocked: bool = False  # created BLOCKED (held by an unmet dependency) instead of PENDING; ``release`` frees it
    # A Strait run's own row (``strait_runs``: payload hash, tags, TTL …), stored in the request's transaction
    dialect_row: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class RequestFilter:
    job_type: str | None = None
    states: frozenset[str] = frozenset()
    platform: str | None = None
    job_group: str | None = None
    parent_id: str | None = None
    q: str | None = None  # a substring of the id, job type, description, user, organisation or params
    cron_triggered: bool | None = None
    dialect: str | None = None  # only requests of definitions this dialect made
    words: tuple[str, ...] = ()  # each one, in any case, in the request's or its definition's description
    labels_any: tuple[str, ...] = ()  # the request has at least one of these labels


@dataclass(frozen=True)
class DefinitionFilter:
    job_type: str | None = None
    platform: str | None = None
    disabled: bool | None = None
    public_plugin: bool | None = None
    tags: list[str] = field(default_factory=list)
    job_type_prefix: str | None = None  # job types starting with this (a dialect's own kind of definition)
    newest_first: bool = False  # by creation, newest first (else by job type)


@dataclass(frozen=True)
class PageRequest:
    page: int = 0  # 0-based
    size: int = 200


# --- what the service answers -------------------------------------------------------------------


@dataclass(frozen=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    total: int
    page: int
    size: int


@dataclass(frozen=True)
class DefinitionRecord:
    id: str
    job_type: str
    version: int
    sem_version: str
    active: bool
    disabled: bool
    max_concurrency: int
    public_plugin: bool
    platform: str
    description: str
    tags: tuple[str, ...]
    methods: tuple[str, ...]
    cron_trigger: str
    owner_key: str
    organization_id: str | None
    user_id: str | None
    dialect: str  # "formicary", "tork", …: whose front door made it
    raw_format: str  # "yaml" | "json"
    raw_source: str
    spec: Mapping[str, Any]  # the normalised JobDefinitionSpec document
    dialect_settings: Mapping[str, Any] | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> DefinitionRecord:
        return cls(
            id=row["id"], job_type=row["job_type"], version=row["version"], sem_version=row["sem_version"],
            active=row["active"], disabled=row["disabled"], max_concurrency=row["max_concurrency"],
            public_plugin=row["public_plugin"], platform=row["platform"], description=row["description"],
            tags=_names(row["tags"]), methods=_names(row["methods"]), cron_trigger=row["cron_trigger"],
            owner_key=row["owner_key"], organization_id=row["organization_id"], user_id=row["user_id"],
            dialect=row["dialect"], raw_format=row["raw_format"], raw_source=row["raw_source"], spec=row["spec"],
            dialect_settings=row.get("dialect_settings"), created_at=row["created_at"],
            updated_at=row["updated_at"])


@dataclass(frozen=True)
class SavedDefinition:
    definition: DefinitionRecord
    created: bool  # False: the same source was already the active version
    warnings: tuple[str, ...] = ()  # known keys kept but not acted on


@dataclass(frozen=True)
class TaskRecord:
    """One task execution (one row per task of a run; a fan-out's items have ``parent_task_id``)."""

    id: str
    job_execution_id: str
    job_request_id: str
    task_type: str
    parent_task_id: str | None
    item_index: int | None
    method: str
    task_state: str
    allow_failure: bool
    exit_code: str
    exit_message: str
    error_code: str
    error_message: str
    failed_command: str
    comments: str
    ant_id: str
    ant_host: str
    retried: int
    attempt: int
    contexts: Mapping[str, Any]  # its outputs
    stdout: tuple[str, ...]
    task_order: int
    cost_factor: float
    started_at: datetime
    ended_at: datetime | None
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> TaskRecord:
        return cls(
            id=row["id"], job_execution_id=row["job_execution_id"], job_request_id=row["job_request_id"],
            task_type=row["task_type"], parent_task_id=row.get("parent_task_id"), item_index=row.get("item_index"),
            method=row["method"], task_state=row["task_state"], allow_failure=row["allow_failure"],
            exit_code=row["exit_code"], exit_message=row["exit_message"], error_code=row["error_code"],
            error_message=row["error_message"], failed_command=row["failed_command"], comments=row["comments"],
            ant_id=row["ant_id"], ant_host=row["ant_host"], retried=row["retried"], attempt=row["attempt"],
            contexts=row.get("contexts") or {}, stdout=tuple(row.get("stdout") or ()), task_order=row["task_order"],
            cost_factor=row["cost_factor"], started_at=row["started_at"], ended_at=row["ended_at"],
            updated_at=row["updated_at"])


@dataclass(frozen=True)
class ExecutionRecord:
    """What one run of a request did: its state, outputs and task executions."""

    id: str
    job_request_id: str
    job_type: str
    job_version: str
    job_state: str
    organization_id: str | None
    user_id: str | None
    current_task: str
    exit_code: str
    exit_message: str
    error_code: str
    error_message: str
    contexts: Mapping[str, Any]  # the job's outputs (the stored column's ``contexts``)
    cpu_secs: float
    started_at: datetime
    ended_at: datetime | None
    updated_at: datetime
    tasks: tuple[TaskRecord, ...] = ()
    result: str = ""  # the job's result (a definition's ``output``, evaluated when it completed)

    @classmethod
    def from_row(cls, row: Mapping[str, Any], tasks: tuple[TaskRecord, ...] = ()) -> ExecutionRecord:
        stored = row.get("contexts") or {}
        return cls(
            id=row["id"], job_request_id=row["job_request_id"], job_type=row["job_type"],
            job_version=row["job_version"], job_state=row["job_state"], organization_id=row["organization_id"],
            user_id=row["user_id"], current_task=row["current_task"], exit_code=row["exit_code"],
            exit_message=row["exit_message"], error_code=row["error_code"], error_message=row["error_message"],
            contexts=stored.get("contexts", {}) if isinstance(stored, dict) else {}, cpu_secs=row["cpu_secs"],
            started_at=row["started_at"], ended_at=row["ended_at"], updated_at=row["updated_at"], tasks=tasks,
            result=str(stored.get("result") or "") if isinstance(stored, dict) else "")


@dataclass(frozen=True)
class RequestRecord:
    """A job request: one run of a definition version, with its state."""

    id: str
    parent_id: str | None
    user_key: str | None
    job_definition_id: str
    job_execution_id: str | None
    last_job_execution_id: str | None
    owner_key: str
    organization_id: str | None
    user_id: str | None
    description: str
    platform: str
    job_type: str
    job_version: str
    job_state: str
    job_group: str
    job_priority: int
    schedule_attempts: int
    retried: int
    paused_count: int
    cron_triggered: bool
    error_code: str
    error_message: str
    current_task: str
    hard_restart: bool
    cascade_cancel: bool
    params: Mapping[str, Any]  # without the secret ones
    secret_names: tuple[str, ...]  # the names of the secret params (their values never leave the engine)
    scheduled_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    created_at: datetime
    updated_at: datetime
    execution: ExecutionRecord | None = None  # filled by ``JobService.get``
    labels: tuple[str, ...] = ()
    delete_at: datetime | None = None  # when it is deleted with its runs and logs (a definition's delete_after)
    expires_at: datetime | None = None  # a first run picked up after this fails ERR_EXPIRED

    @classmethod
    def from_row(cls, row: Mapping[str, Any], execution: ExecutionRecord | None = None) -> RequestRecord:
        stored = row.get("params")
        return cls(
            id=row["id"], parent_id=row["parent_id"], user_key=row["user_key"],
            job_definition_id=row["job_definition_id"], job_execution_id=row["job_execution_id"],
            last_job_execution_id=row["last_job_execution_id"], owner_key=row["owner_key"],
            organization_id=row["organization_id"], user_id=row["user_id"], description=row["description"],
            platform=row["platform"], job_type=row["job_type"], job_version=row["job_version"],
            job_state=row["job_state"], job_group=row["job_group"], job_priority=row["job_priority"],
            schedule_attempts=row["schedule_attempts"], retried=row["retried"], paused_count=row["paused_count"],
            cron_triggered=row["cron_triggered"], error_code=row["error_code"], error_message=row["error_message"],
            current_task=row["current_task"], hard_restart=row["hard_restart"], cascade_cancel=row["cascade_cancel"],
            # (a row written past the engine may hold anything)
            params=dict(stored) if isinstance(stored, dict) else {},
            secret_names=tuple(row.get("secret_params") or ()), scheduled_at=row["scheduled_at"],
            started_at=row.get("started_at"), ended_at=row.get("ended_at"), created_at=row["created_at"],
            updated_at=row["updated_at"], execution=execution, labels=_labels(row.get("labels")),
            delete_at=row.get("delete_at"), expires_at=row.get("expires_at"))


@dataclass(frozen=True)
class Submitted:
    request: RequestRecord
    created: bool  # False: a live request with the same user_key was returned
    definition: DefinitionRecord | None = None  # with ``submit_job``: the definition it runs
    definition_created: bool = False


@dataclass(frozen=True)
class VoteRecord:
    voter: str
    decision: str
    comments: str


@dataclass(frozen=True)
class ApprovalRecord:
    """Where the votes on one MANUAL task stand after a vote."""

    task_execution_id: str
    job_request_id: str
    task_type: str
    approvals_received: int
    rejections_received: int
    min_approvals_required: int
    quorum_reached: bool
    rejected: bool
    decision: str  # APPROVED | REJECTED | PENDING
    votes: tuple[VoteRecord, ...]
    policy: dict[str, Any] | None = None  # the task's approval_policy (in the status, not after a vote)


@dataclass(frozen=True)
class WaitRecord:
    request: RequestRecord
    queue_number: int  # 1 = next of its job key to start; 0 when it is not waiting
    estimated_wait_secs: float
    stats: JobStatsRecord | None = None  # its job type's, as the caller may see them (None before any run)


@dataclass(frozen=True)
class JobStatsRecord:
    job_type: str
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    executing: int = 0
    pending: int = 0
    paused: int = 0
    manual_approval: int = 0
    succeeded_job_average_secs: float = 0.0
    succeeded_job_max_secs: float = 0.0
    succeeded_job_min_secs: float = 0.0
    failed_job_average_secs: float = 0.0
    failed_job_max_secs: float = 0.0
    failed_job_min_secs: float = 0.0
    first_job_at: datetime | None = None  # the earliest start among the requests counted
    last_job_at: datetime | None = None  # the latest end (or start) among them
    job_disabled: bool = False
    ants_capacity: int = 0  # the live ants' free and busy slots together, when the stats were taken


@dataclass(frozen=True)
class StateCount:
    """How many of one job type's requests are in one state, and when the first started and last ended."""

    job_type: str
    job_state: str
    error_code: str
    counts: int
    start_time: datetime | None
    end_time: datetime | None


# --- logs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogLine:
    """One stored line a task printed (or a system or marker line)."""

    id: int
    request_id: str
    task_execution_id: str  # "" for a marker between two runs of the request
    task_type: str
    stream: str  # stdout | stderr | system | marker
    line: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> LogLine:
        return cls(id=row["id"], request_id=row["job_request_id"], task_execution_id=row["task_execution_id"],
                   task_type=row["task_type"], stream=row["stream"], line=row["line"], created_at=row["created_at"])


@dataclass(frozen=True)
class LogPage:
    request_id: str
    lines: tuple[LogLine, ...]
    more: bool  # more lines follow: read on after ``next_after_id``
    next_after_id: int


@dataclass(frozen=True)
class RequestEnded:
    """The last event of a follow: the request reached a final state and every line was given."""

    job_state: str


@dataclass(frozen=True)
class Quiet:
    """A follow had nothing to say for a while (a transport may send a keep-alive)."""


FollowEvent = LogLine | RequestEnded | Quiet


# --- events -------------------------------------------------------------------------------------

# What happened to a request (``JobEvent.cause``).
SUBMITTED = "submitted"  # created PENDING
STARTED = "started"  # a fresh run began (EXECUTING); not sent again when another queen resumes it
TASK_STARTED = "task_started"  # an attempt of a task was handed to an ant (or the queen runs it)
TASK_ENDED = "task_ended"  # a task ended (COMPLETED, FAILED, CANCELLED; exit code SKIPPED when skipped)
ENDED = "ended"  # the request ended (COMPLETED, FAILED, CANCELLED)
RESTARTED = "restarted"  # a FAILED or CANCELLED request was put back to PENDING
EVENT_CAUSES = (SUBMITTED, STARTED, TASK_STARTED, TASK_ENDED, ENDED, RESTARTED)


@dataclass(frozen=True)
class JobEvent:
    """A change of a request or of one of its tasks, as a dialect hears of it (after it was stored).

    ``request`` is the request as the queen knew it then, with ``job_state`` the state the event is
    about (other fields may be older: read the request again for its times)."""

    cause: str
    request: RequestRecord
    definition: DefinitionRecord
    task: TaskRecord | None
    at: datetime
    secrets: Mapping[str, str] = field(default_factory=dict)  # the request's secret params, opened (never shown)


# --- users and the cluster ------------------------------------------------------------------------


@dataclass(frozen=True)
class UserRecord:
    """A user as a dialect shows it (never a password or its hash)."""

    id: str
    username: str
    name: str
    organization_id: str | None
    created_at: datetime
    has_password: bool = False

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> UserRecord:
        return cls(id=row["id"], username=row["username"], name=row.get("name") or "",
                   organization_id=row.get("organization_id"), created_at=row["created_at"],
                   has_password=bool(row.get("password_hash")))


@dataclass(frozen=True)
class NodeRecord:
    """A worker (ant) heard from recently."""

    id: str
    host: str
    version: str
    methods: tuple[str, ...]
    tags: tuple[str, ...]
    capacity: int
    load: int
    total_executed: int
    embedded: bool
    alive: bool  # a heartbeat within the live window (15 s)
    started_at: datetime
    heartbeat_at: datetime


@dataclass(frozen=True)
class ClusterMetrics:
    """What is running now, as the caller may see it, and the live workers."""

    running_requests: int
    running_tasks: int
    live_nodes: int
