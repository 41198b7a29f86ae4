"""Ends a run's own code (or its keeper) decides: an SDK ``complete``/``fail``, a heartbeat gone stale, a
run that expired before it started. Each is one guarded change of the request (from the states it may
end from), then whoever runs it stops: the supervisor of this queen (its ant's attempt is cancelled),
or another queen's through a peer event; a request nobody supervises gets its tasks ended here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from myrmica.clock import utcnow
from myrmica.domain.records import ENDED
from myrmica.domain.stop_reasons import end_reason
from myrmica.metrics import Metrics
from myrmica.queen.ports import EndWatch, Events, LogWriter, Publisher, SupervisorLookup
from myrmica.store.store import Store

log = logging.getLogger("myrmica.queen.run_ends")

class RunEnder:
    def __init__(self, *, store: Store, supervisors: SupervisorLookup, watchers: EndWatch, publisher: Publisher,
                 logs: LogWriter, events: Events, metrics: Metrics) -> None:
        self._store = store
        self._supervisors = supervisors
        self._watchers = watchers
        self._publisher = publisher
        self._logs = logs
        self._events = events
        self._metrics = metrics

    async def end_run(self, request_id: str, state: str, *, from_states: Iterable[str] = ("EXECUTING",),
                      error_code: str = "", error_message: str = "", result: Any = None) -> bool:
        """End the request as ``state`` if it is in ``from_states`` now; False when it is not (ended,
        or not started). ``result`` (a COMPLETED end's) goes into its running task's context."""
        request = await self._store.requests.find(request_id)
        allowed = list(from_states)
        if request is None or request["job_state"] not in allowed:
            return False
        running = await self._running_tasks(request)
        ends = [(row, self._task_values(row, state, error_code, error_message, result)) for row in running]
        # The first running task's end goes with the request's (one transaction: a reader never sees the run
        # ended without its result); any other (a composite's children) right after.
        ok = await self._store.requests.finish(
            request_id, request.get("job_execution_id"), allowed, state,
            request_values={"error_code": error_code, "error_message": error_message, "user_key": None},
            execution_values={"error_code": error_code, "error_message": error_message}
            if request.get("job_execution_id") else None,
            task_end=(ends[0][0]["id"], [ends[0][0]["task_state"]], ends[0][1]) if ends else None)
        if not ok:
            return False
        for row, values in ends[1:]:
            await self._store.requests.update_task_execution(row["id"], [row["task_state"]], **values)
        for row, _ in ends:
            self._logs.system(request_id, row["id"], row["task_type"],
                              f"ended {state} by the run itself" if not error_code else
                              f"ended {state} ({error_code}): {error_message}")
        self._metrics.requests_finished.labels(state).inc()
        supervisor = self._supervisors.get(request_id)
        if supervisor is not None and supervisor.task is not None:
            supervisor.stop_reason = end_reason(state, error_code)
            supervisor.task.cancel()
        else:
            self._watchers.ended(request_id)
            await self._events.emit_loading(ENDED, {**request, "job_state": state, "error_code": error_code,
                                                    "error_message": error_message, "ended_at": utcnow()})
            await self._publisher.publish({"type": "end", "request_id": request_id, "state": state,
                                           "error_code": error_code})
            await self._publisher.publish({"type": "ended", "request_id": request_id})
        self._logs.notify(request_id)
        return True

    async def _running_tasks(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        if not request.get("job_execution_id"):
            return []
        rows = await self._store.requests.task_executions([request["job_execution_id"]])
        return [row for row in rows if row["task_state"] in ("EXECUTING", "READY")]

    @staticmethod
    def _task_values(row: dict[str, Any], state: str, error_code: str, error_message: str,
                     result: Any) -> dict[str, Any]:
        values: dict[str, Any] = {"task_state": state, "error_code": error_code, "error_message": error_message,
                                  "ended_at": utcnow()}
        if result is not None:
            values["contexts"] = {**(row.get("contexts") or {}), "result": result}
        return values
