"""What the job service needs from the engine and the store, as narrow protocols (the store's
repositories and the queen's parts satisfy them as they are)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from myrmica.domain.definitions import ParsedDefinition
from myrmica.domain.principal import Principal
from myrmica.domain.records import (
    ApprovalRecord,
    DefinitionFilter,
    DefinitionRecord,
    JobEvent,
    NewRequest,
    RequestFilter,
)
from myrmica.domain.webhooks import DeliveryOutcome, WebhookCall


class Submitter(Protocol):
    """Creates a PENDING request (validating it against its definition) and wakes the scheduler."""

    async def submit(self, principal: Principal, new: NewRequest) -> tuple[dict[str, Any], bool]: ...


class RequestControl(Protocol):
    """The guarded changes of a request's state (each a compare-and-set)."""

    async def cancel(self, principal: Principal, request_id: str) -> dict[str, Any]: ...
    async def pause(self, principal: Principal, request_id: str) -> dict[str, Any]: ...
    async def restart(self, principal: Principal, request_id: str, *, hard: bool, version: str) -> dict[str, Any]: ...
    async def trigger(self, principal: Principal, request_id: str) -> dict[str, Any]: ...
    async def release(self, principal: Principal, request_id: str) -> bool: ...
    async def retarget(self, principal: Principal, job_type: str) -> int: ...
    async def vote(self, principal: Principal, request_id: str, task_type: str, decision: str,
                   comments: str) -> ApprovalRecord: ...
    async def approval(self, principal: Principal, request_id: str, task_type: str) -> ApprovalRecord: ...


class RequestReader(Protocol):
    """Stored requests and what they ran. Given a principal, a lookup sees only what it may (404 else)."""

    async def get(self, request_id: str, principal: Principal | None = None) -> dict[str, Any]: ...
    async def search(self, principal: Principal, flt: RequestFilter, *, page: int, page_size: int
                     ) -> tuple[list[dict[str, Any]], int]: ...
    async def execution(self, execution_id: str) -> dict[str, Any] | None: ...
    async def task_executions(self, execution_ids: Sequence[str]) -> list[dict[str, Any]]: ...
    async def task_execution(self, task_execution_id: str) -> dict[str, Any] | None: ...
    async def dead_ids(self, principal: Principal, limit: int = 1000) -> list[str]: ...
    async def stats(self, principal: Principal, job_type: str | None = None) -> list[dict[str, Any]]: ...
    async def durations(self, principal: Principal, job_type: str | None = None, limit: int = 1000
                        ) -> list[tuple[str, str, datetime, datetime]]: ...
    async def due(self, now: datetime, limit: int) -> list[dict[str, Any]]: ...


class RequestDeleter(Protocol):
    """Requests removed with everything they ran (executions, task executions, logs)."""

    async def delete_requests(self, ids: Sequence[str]) -> int: ...
    async def ids_of_type(self, owner_key: str, job_type: str, limit: int = 100_000) -> list[str]: ...


class LogReader(Protocol):
    async def read(self, request_id: str, *, task_type: str | None = None, after_id: int = 0,
                   limit: int = 10_000) -> list[dict[str, Any]]: ...
    async def read_text(self, request_id: str, *, streams: Sequence[str], after_id: int = 0,
                        limit: int = 10_000) -> list[tuple[int, str, str]]: ...


class LogAppender(Protocol):
    """Lines sent from outside a task (Formicary's ``POST /api/logs``), stored with the request's."""

    def posted(self, request_id: str, task_execution_id: str, task_type: str, stream: str, text: str) -> None: ...


class LogFeed(Protocol):
    """Lines not yet stored, and wake-ups when new ones are."""

    async def flush(self) -> None: ...
    def follow(self, request_id: str) -> asyncio.Event: ...
    def unfollow(self, request_id: str, event: asyncio.Event) -> None: ...


class SavedRow(Protocol):
    @property
    def definition(self) -> dict[str, Any]: ...
    @property
    def created(self) -> bool: ...


class DefinitionStore(Protocol):
    async def save(self, principal: Principal, parsed: ParsedDefinition, *, dialect: str = "formicary",
                   dialect_settings: dict[str, Any] | None = None) -> SavedRow: ...
    async def get(self, principal: Principal, id_or_type: str, *, version: int | None = None) -> dict[str, Any]: ...
    async def versions(self, principal: Principal, job_type: str) -> list[dict[str, Any]]: ...
    async def search(self, principal: Principal, flt: DefinitionFilter, *, page: int, page_size: int
                     ) -> tuple[list[dict[str, Any]], int]: ...
    async def delete(self, principal: Principal, id_or_type: str) -> dict[str, Any]: ...
    async def set_disabled(self, principal: Principal, id_or_type: str, disabled: bool) -> dict[str, Any]: ...
    async def set_concurrency(self, principal: Principal, id_or_type: str, concurrency: int) -> dict[str, Any]: ...


class Audit(Protocol):
    async def record(self, kind: str, principal: Principal | None, *, target_id: str = "", job_type: str = "",
                     message: str = "") -> None: ...


class Bundles(Protocol):
    """An organisation's bundle id: its public plugins are named ``org.bundle.name``."""

    async def org_bundle(self, org_id: str) -> str: ...


EventListener = Callable[[JobEvent], Awaitable[None]]


class EventSource(Protocol):
    """Events of requests and their tasks: ``wants`` picks the definitions whose events a listener hears."""

    def subscribe(self, listener: EventListener, wants: Callable[[Any], bool]) -> None: ...

    def subscribe_records(self, listener: EventListener, wants: Callable[[DefinitionRecord], bool]) -> None: ...


class WebhookOutbox(Protocol):
    """Webhook calls stored, then sent (and retried by their policy) by the queens' senders."""

    async def send(self, call: WebhookCall) -> str: ...

    async def outcomes(self, source: str) -> list[DeliveryOutcome]: ...


class Sealer(Protocol):
    """The server's secret box: values encrypted at rest (AES-GCM), opened only inside the engine."""

    def encrypt(self, plaintext: str) -> str: ...


class Capacity(Protocol):
    def live_capacity(self) -> int: ...


# A definition was saved, changed (disabled, enabled) or deleted: the engine's caches and cron hear of it.
DefinitionListener = Callable[[dict[str, Any]], Awaitable[None]]
