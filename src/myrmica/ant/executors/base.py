"""The executor seam: one class per family of methods, run by an ant."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from myrmica.broker.messages import TaskRequest, TaskResult
from myrmica.domain.masking import mask

__all__ = ["Executor", "LogCallback", "LogPressure", "mask", "pressure_of"]

# Called for every line a task prints: (stream, text). Must not block.
LogCallback = Callable[[str, str], None]


@runtime_checkable
class LogPressure(Protocol):
    """Backpressure of a log callback whose lines queue for a transport (the embedded ant's pipe):
    ``log_full`` says the queue is over its high-water mark; ``log_room`` returns once it has drained
    below the low one. An executor that reads a task's output stops reading meanwhile, so a task that
    floods its output blocks on its own pipe instead of filling the ant's memory."""

    def log_full(self) -> bool: ...

    async def log_room(self) -> None: ...


def pressure_of(log: LogCallback) -> LogPressure | None:
    """The callback's backpressure (its ``pressure`` attribute), or None: a plain callable never pushes back."""
    pressure = getattr(log, "pressure", None)
    return pressure if isinstance(pressure, LogPressure) else None


class Executor(Protocol):
    methods: frozenset[str]

    async def execute(self, request: TaskRequest, log: LogCallback, cancel: asyncio.Event) -> TaskResult:
        """Run the task to its end. Never raises for task failures: they are FAILED results.

        When ``cancel`` is set, stop at once (kill what runs) and return a FAILED result with
        error code ERR_JOB_CANCELLED. When ``request.timeout_secs`` passes, the same with
        ERR_TASK_TIMED_OUT.
        """
        ...
