"""What the parts of a queen need from one another: narrow interfaces, so that no part depends on the
whole engine, and no two queen modules import each other. ``engine.py`` (the composition root) builds
the parts and hands each the others it needs; each part names them only by these protocols."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from myrmica.broker.messages import TaskRequest, TaskResult
from myrmica.config import Settings
from myrmica.domain.definition_model import JobDefinitionSpec, TaskDefinition
from myrmica.domain.principal import Principal
from myrmica.domain.records import NewRequest
from myrmica.domain.walk import Outcome
from myrmica.metrics import Metrics
from myrmica.queen.ants import AntRegistry
from myrmica.queen.artifacts import ArtifactKeeper
from myrmica.queen.context import RunContext
from myrmica.store.store import Store


class Waker(Protocol):
    """Wakes the scheduler (a submit, a finished request, a freed slot)."""

    def wake(self) -> None: ...
    def wake_for_new(self, spec: JobDefinitionSpec) -> None: ...


class SpecSource(Protocol):
    def spec_of(self, definition: dict[str, Any]) -> JobDefinitionSpec: ...
    def template_functions(self, run: RunContext) -> dict[str, Callable[..., Any]]: ...


class LogWriter(Protocol):
    """The queen's side of the log sink: lines it writes itself, and wake-ups of followers."""

    def marker(self, request_id: str, text: str) -> None: ...
    def system(self, request_id: str, task_execution_id: str, task_type: str, text: str) -> None: ...
    def notify(self, request_id: str) -> None: ...
    def set_secrets(self, request_id: str, secrets: list[str]) -> None: ...
    async def store_lines_of(self, request_id: str) -> None: ...


class Publisher(Protocol):
    """Events to every queen (this one included)."""

    async def publish(self, event: dict[str, Any]) -> None: ...


class Background(Protocol):
    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None: ...


class EndWatch(Protocol):
    """Waiting for requests to end (a parent for its children, a ``wait``)."""

    def watch_ends(self, request_ids: list[str]) -> asyncio.Event: ...
    def unwatch_ends(self, request_ids: list[str], event: asyncio.Event) -> None: ...
    def ended(self, request_id: str) -> None: ...


class RequestEnds(Protocol):
    """What follows a request's end (or suspension) written by its supervisor."""

    def request_ended(self, run: RunContext, state: str) -> None: ...
    def request_suspended(self, run: RunContext, state: str) -> None: ...


class Events(Protocol):
    """Events of requests and tasks for listening dialects (``events.py``); free when nobody listens."""

    @property
    def listening(self) -> bool: ...

    def emit(self, cause: str, request: dict[str, Any], definition: dict[str, Any],
             task: dict[str, Any] | None = None) -> None: ...
    async def emit_loading(self, cause: str, request: dict[str, Any]) -> None: ...


class CronFollowUp(Protocol):
    async def after_cron_run(self, definition: dict[str, Any]) -> None: ...


class Interrupts(Protocol):
    """Requests whose supervisor stopped because the database went away (resumed when it answers)."""

    def interrupt(self, request_id: str, exc: BaseException) -> None: ...
    def __contains__(self, request_id: object) -> bool: ...


class InterruptLedger(Interrupts, Protocol):
    def ids(self) -> set[str]: ...
    def forget(self, request_ids: Iterable[str]) -> None: ...


class Submitter(Protocol):
    async def submit(self, principal: Principal, new: NewRequest, *, parent: dict[str, Any] | None = None,
                     cron_at: datetime | None = None, request_id: str | None = None
                     ) -> tuple[dict[str, Any], bool]: ...


class ChildCanceller(Protocol):
    """Cancels a child request a composite or a fork started (no-op when it has ended)."""

    async def cancel_child(self, request_id: str) -> None: ...


class ChildDefinitions(Protocol):
    """Saves a child job's inline definition for the parent's owner: its (job type, version). The same
    document again gives the same definition."""

    async def save_child(self, principal: Principal, document: Mapping[str, Any], *, dialect: str,
                         dialect_settings: Mapping[str, Any] | None) -> tuple[str, int]: ...


class Supervised(Protocol):
    """A running supervisor, as others steer it: a reason to stop, and its task to cancel."""

    stop_reason: str | None
    task: asyncio.Task[None] | None


class SupervisorLookup(Protocol):
    def get(self, request_id: str) -> Supervised | None: ...


class RunningRequests(Protocol):
    """The ids of the requests this queen's supervisors run."""

    def __iter__(self) -> Iterator[str]: ...
    def __contains__(self, request_id: object) -> bool: ...


class Launcher(Protocol):
    def launch(self, run: RunContext) -> None: ...


class SharedLoad(Protocol):
    async def count_shared_load(self) -> None: ...


class OrphanResumer(Protocol):
    async def resume_orphan(self, request: dict[str, Any]) -> None: ...


class CronSweep(Protocol):
    async def sweep(self) -> None: ...


class AntLoss(Protocol):
    def ant_lost(self, ant_id: str, keys: set[str]) -> None: ...


class AntDispatch(Protocol):
    """Sending one task attempt to an ant and getting its result."""

    async def reserve_ant(self, method: str, tags: frozenset[str], key: str, wait_seconds: float) -> str | None: ...
    async def release_ant(self, ant_id: str, key: str, *, answered: bool = False) -> None: ...
    async def dispatch(self, ant_id: str, request: TaskRequest, wait: float) -> TaskResult | None: ...
    async def attach(self, ant_id: str, key: str, wait: float) -> TaskResult | None: ...
    def recorded(self, task_execution_id: str, attempt: int) -> None: ...
    def orphan_result(self, key: str) -> TaskResult | None: ...
    async def control(self, ant_id: str, message: dict[str, Any]) -> None: ...
    def fan_out_started(self, request_id: str, task_execution_id: str, ant_id: str) -> None: ...
    def fan_out_ended(self, request_id: str, task_execution_id: str, ant_id: str) -> None: ...
    async def cancel_fan_out(self, request_id: str) -> None: ...


@dataclass(frozen=True)
class ChildWork:
    """What one child of a composite runs, before rendering: its definition, what its template and its
    variables see besides the job's (a fan-out's item), and what to make of the rendered definition
    (a Formicary fan-out item is its parent without ``fan_out``)."""

    stored: TaskDefinition
    template_data: Mapping[str, Any] = field(default_factory=dict)
    variables: Mapping[str, Any] = field(default_factory=dict)
    derive: Callable[[TaskDefinition], TaskDefinition] | None = None
    absorb: bool = True  # its outputs join the job's context (a Formicary fan-out merges them by item instead)


class RunnerView(Protocol):
    """A task runner, as the tasks the queen runs itself (fork, await, fan-out, composites) use it."""

    @property
    def run(self) -> RunContext: ...
    def data_for(self, task: TaskDefinition, task_retry: int, *, for_template: bool) -> dict[str, Any]: ...
    def render(self, stored: TaskDefinition, task_retry: int,
               extra: Mapping[str, Any] | None = None) -> TaskDefinition: ...
    async def run_child(self, work: ChildWork, row: dict[str, Any]) -> tuple[Outcome, TaskResult | None]: ...
    def task_request(self, task: TaskDefinition, row: dict[str, Any], attempt: int,
                     extra_variables: dict[str, Any] | None = None) -> TaskRequest: ...
    def timeout_of(self, task: TaskDefinition) -> float: ...


class QueenTasks(Protocol):
    async def run(self, runner: RunnerView, task: TaskDefinition, row: dict[str, Any], attempt: int,
                  work: ChildWork | None = None) -> Outcome: ...


class SlaCheck(Protocol):
    async def check(self) -> list[tuple[str, str]]: ...


class ArtifactSweep(Protocol):
    async def sweep(self, now: datetime | None = None, limit: int = 10_000) -> tuple[int, int]: ...


@dataclass(frozen=True)
class RunTools:
    """What a running request's supervisor, its task runner and the queen's own tasks use."""

    store: Store
    settings: Settings
    metrics: Metrics
    logs: LogWriter
    ants: AntRegistry
    dispatch: AntDispatch
    ends: RequestEnds
    watch: EndWatch
    interrupts: Interrupts
    submitter: Submitter
    canceller: ChildCanceller
    child_definitions: ChildDefinitions
    specs: SpecSource
    events: Events
    admin: Principal
    queen_id: str
    distributed: bool
    rng: random.Random
    sleep: Callable[[float], Awaitable[None]]
    artifacts: ArtifactKeeper


class RunEnding(Protocol):
    """Ending a run from outside its supervisor (queen/run_ends.py): an SDK call, the run keeper."""

    async def end_run(self, request_id: str, state: str, *, from_states: Iterable[str] = ("EXECUTING",),
                      error_code: str = "", error_message: str = "", result: Any = None) -> bool: ...
