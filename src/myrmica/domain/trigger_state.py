"""An event trigger's state (spec §2.8), as ``trigger_states`` keeps it, and the store it is kept in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class TriggerState:
    owner_key: str
    job_type: str
    name: str
    trigger_type: str
    cursor: dict[str, Any] | None  # None: never polled (the first poll only records a watermark)
    pending: list[dict[str, Any]]  # claimed, maybe not yet submitted (submitting again is idempotent)
    fired_count: int
    version: int
    last_fired_at: datetime | None
    updated_at: datetime
    rate_hits: tuple[float, ...] = ()  # epoch seconds of the fires counted by the rate_limit window


class TriggerStates(Protocol):
    async def get(self, owner_key: str, job_type: str, name: str) -> TriggerState | None: ...

    async def of_job(self, owner_key: str, job_type: str) -> list[TriggerState]: ...

    async def ensure(self, owner_key: str, job_type: str, name: str, trigger_type: str) -> TriggerState: ...

    async def claim(self, state: TriggerState, *, cursor: dict[str, Any] | None, pending: list[dict[str, Any]],
                    fired: int = 0) -> TriggerState | None: ...

    async def reset(self, owner_key: str, job_type: str, name: str) -> bool: ...

    async def hit(self, owner_key: str, job_type: str, name: str, trigger_type: str, *, most: int, window: float,
                  now: float) -> bool: ...
