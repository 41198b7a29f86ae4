"""A run's own code calling back about that run (Strait's SDK, spec/strait.md §5): heartbeat, complete,
fail, payload, log, progress, checkpoint. Every call carries the run token the run was given
(security/run_tokens.py): it is checked first (401 bad or expired, 403 another run's), then the run
(404 when it is gone). ``complete`` and ``fail`` end a run that executes (409 otherwise): its attempt
on the ant is cancelled, and it ends COMPLETED with the given result, or FAILED ``ERR_SDK_FAILED``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Protocol

from myrmica.clock import utcnow
from myrmica.domain.errors import ConflictError, DomainError, NotFoundError, PermissionDeniedError, ValidationError
from myrmica.domain.states import ErrorCode
from myrmica.security.run_tokens import RunTokenInvalid, RunTokenWrongRun, verify_run_token

SDK_FAILED = ErrorCode.ERR_SDK_FAILED
MAX_CHECKPOINT_BYTES = 256 * 1024
MAX_LOG_LINE = 10_000
ACTIVE = ("READY", "STARTED", "EXECUTING")
LEVELS = ("debug", "info", "warn", "warning", "error")


class Unauthorized(DomainError):
    status = 401


class TooLarge(DomainError):
    status = 413


class Signals(Protocol):
    async def heartbeat(self, request_id: str, at: datetime) -> None: ...
    async def checkpoint(self, request_id: str, data: str, at: datetime) -> None: ...
    async def progress(self, request_id: str, value: Any) -> None: ...
    async def result(self, request_id: str, value: Any) -> None: ...


class Runs(Protocol):
    async def find(self, request_id: str) -> dict[str, Any] | None: ...
    async def task_executions(self, execution_ids: list[str]) -> list[dict[str, Any]]: ...


class Ender(Protocol):
    async def end_run(self, request_id: str, state: str, *, from_states: Any = ..., error_code: str = "",
                      error_message: str = "", result: Any = None) -> bool: ...


class Lines(Protocol):
    def system(self, request_id: str, task_execution_id: str, task_type: str, text: str) -> None: ...


class RunCallbacks:
    def __init__(self, *, token_key: bytes, runs: Runs, signals: Signals, ender: Ender, lines: Lines) -> None:
        self._key = token_key
        self._runs = runs
        self._signals = signals
        self._ender = ender
        self._lines = lines

    async def authorize(self, run_id: str, token: str) -> dict[str, Any]:
        """The run (its request row) when ``token`` is its run token."""
        try:
            verify_run_token(self._key, token, run_id)
        except RunTokenInvalid as exc:
            raise Unauthorized(str(exc)) from exc
        except RunTokenWrongRun as exc:
            raise PermissionDeniedError(str(exc)) from exc
        run = await self._runs.find(run_id)
        if run is None:
            raise NotFoundError("run not found")
        return run

    @staticmethod
    def _active(run: dict[str, Any]) -> None:
        if run["job_state"] not in ACTIVE:
            raise ConflictError(f"the run is not executing (it is {run['job_state']})", field="status")

    async def heartbeat(self, run_id: str, token: str) -> None:
        run = await self.authorize(run_id, token)
        self._active(run)
        await self._signals.heartbeat(run_id, utcnow())

    async def complete(self, run_id: str, token: str, result: Any) -> None:
        run = await self.authorize(run_id, token)
        self._active(run)
        await self._signals.result(run_id, result)
        if not await self._ender.end_run(run_id, "COMPLETED", from_states=ACTIVE, result=result):
            raise ConflictError("the run is not executing", field="status")

    async def fail(self, run_id: str, token: str, error: str) -> None:
        if not isinstance(error, str) or not error.strip():
            raise ValidationError("error is required", field="error")
        run = await self.authorize(run_id, token)
        self._active(run)
        if not await self._ender.end_run(run_id, "FAILED", from_states=ACTIVE, error_code=SDK_FAILED,
                                         error_message=error[:10_000]):
            raise ConflictError("the run is not executing", field="status")

    async def payload(self, run_id: str, token: str) -> Any:
        run = await self.authorize(run_id, token)
        payload = (run.get("params") or {}).get("payload")
        if isinstance(payload, str):
            try:
                return json.loads(payload)
            except ValueError:
                return payload
        return payload if payload is not None else {}

    async def log(self, run_id: str, token: str, message: str, level: str = "info") -> None:
        if not isinstance(message, str) or not message:
            raise ValidationError("message is required", field="message")
        if level.lower() not in LEVELS:
            raise ValidationError(f"level must be one of {', '.join(LEVELS)}", field="level")
        run = await self.authorize(run_id, token)
        self._active(run)
        execution_id = run.get("job_execution_id")
        rows = await self._runs.task_executions([execution_id]) if execution_id else []
        task = rows[-1] if rows else {"id": "", "task_type": ""}
        for line in message[:MAX_LOG_LINE].splitlines() or [""]:
            self._lines.system(run_id, str(task["id"]), str(task["task_type"]), f"[{level.lower()}] {line}")

    async def progress(self, run_id: str, token: str, value: Any) -> None:
        run = await self.authorize(run_id, token)
        self._active(run)
        await self._signals.progress(run_id, value)

    async def checkpoint(self, run_id: str, token: str, data: Any) -> None:
        text = json.dumps(data, separators=(",", ":"), default=str)
        if len(text.encode()) > MAX_CHECKPOINT_BYTES:
            raise TooLarge(f"a checkpoint may be at most {MAX_CHECKPOINT_BYTES} bytes", field="data")
        run = await self.authorize(run_id, token)
        self._active(run)
        await self._signals.checkpoint(run_id, text, utcnow())
