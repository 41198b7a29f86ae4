"""The executor seam: one class per family of methods, run by an ant."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from myrmica.broker.messages import TaskRequest, TaskResult
from myrmica.domain.masking import mask

__all__ = ["Executor", "LogCallback", "mask"]

# Called for every line a task prints: (stream, text). Must not block.
LogCallback = Callable[[str, str], None]


class Executor(Protocol):
    methods: frozenset[str]

    async def execute(self, request: TaskRequest, log: LogCallback, cancel: asyncio.Event) -> TaskResult:
        """Run the task to its end. Never raises for task failures: they are FAILED results.

        When ``cancel`` is set, stop at once (kill what runs) and return a FAILED result with
        error code ERR_JOB_CANCELLED. When ``request.timeout_secs`` passes, the same with
        ERR_TASK_TIMED_OUT.
        """
        ...
