"""A job supervisor: walks one request's task graph from its first task, by exit codes, to its end.

One asyncio task per running request. Every state change it makes is a compare-and-set, so a
request cancelled (or adopted by another queen) meanwhile is never overwritten.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from myrmica.ant.executors.base import mask
from myrmica.clock import utcnow
from myrmica.domain.composite import descendants
from myrmica.domain.definition_model import TaskDefinition
from myrmica.domain.graph import first_task
from myrmica.domain.records import STARTED
from myrmica.domain.retry import full_restart, job_retry_delay
from myrmica.domain.states import ErrorCode
from myrmica.domain.stop_reasons import parse_end_reason
from myrmica.domain.walk import Outcome, always_run_tasks, final_job_state, next_step
from myrmica.queen.context import RunContext
from myrmica.queen.logs import stamp
from myrmica.queen.ports import QueenTasks, RunTools
from myrmica.queen.render import RenderError, render_expr_text
from myrmica.queen.task_runner import ENDABLE, TaskRunner
from myrmica.store.outage import is_outage

log = logging.getLogger("myrmica.queen.supervisor")

MAX_STEPS_PER_WALK = 10_000
NOT_RETRIED = {ErrorCode.ERR_FATAL, ErrorCode.ERR_JOB_CANCELLED, ErrorCode.ERR_MANUAL_REJECTION,
               ErrorCode.ERR_RESTART_JOB, ErrorCode.ERR_FILTERED_JOB}


class Suspend(Exception):
    """The walk stops without ending the request (pause, approval, restart of the job)."""

    def __init__(self, state: str, error_code: str, message: str, current_task: str = "") -> None:
        super().__init__(message)
        self.state, self.error_code, self.message, self.current_task = state, error_code, message, current_task


class JobSupervisor:
    def __init__(self, tools: RunTools, tasklets: QueenTasks, run: RunContext, *,
                 on_done: Callable[[JobSupervisor], None]) -> None:
        self.tools = tools
        self.run = run
        self.runner = TaskRunner(tools, tasklets, run)
        self._on_done = on_done
        self.stop_reason: str | None = None  # "cancel" | "pause" | "shutdown" | "end:<state>:<code>"
        self.result: str | None = None  # the job's result (an expr definition's ``output``)
        self.task: asyncio.Task[None] | None = None

    async def supervise(self) -> None:
        try:
            await self._supervise()
        except Exception as exc:
            if is_outage(exc):
                # Nothing can be written now; what was done is in the database and what the ants
                # report meanwhile is kept, so the request is resumed from there when it answers.
                self.tools.interrupts.interrupt(self.run.request_id, exc)
            else:
                log.exception("supervisor of %s failed while ending the request", self.run.request_id)
        finally:
            self._on_done(self)

    async def _supervise(self) -> None:
        run = self.run
        if run.new_execution is not None:  # a fresh run (not one resumed after a queen's death)
            self.tools.events.emit(STARTED, {**run.request, "job_state": "EXECUTING",
                                             "started_at": run.request.get("started_at") or run.started},
                                   run.definition)
        timeout = run.spec.timeout or self.tools.settings.max_job_timeout_secs
        try:
            async with asyncio.timeout(timeout):
                await self._walk_with_retries()
        except Suspend as suspend:
            await self._suspend(suspend)
        except TimeoutError:
            await self.runner.settle()
            await self.runner.cancel_current()
            message = f"the job timed out after {timeout:g}s"
            await self._mark_running_tasks("FAILED", ErrorCode.ERR_TASK_TIMED_OUT, message)
            await self._cancel_attached_children()
            await self._end("FAILED", ErrorCode.ERR_TASK_TIMED_OUT, message)
        except asyncio.CancelledError:
            await self._stopped()
        except Exception as exc:
            if is_outage(exc):
                raise
            log.exception("supervisor of %s failed", run.request_id)
            await self._end("FAILED", ErrorCode.ERR_JOB_EXECUTE, f"internal error: {type(exc).__name__}: {exc}")

    # --- the walk -------------------------------------------------------------------------------

    async def _walk_with_retries(self) -> None:
        run = self.run
        while True:
            state, code, message, executed = await self._walk()
            if state == "COMPLETED" or state == "CANCELLED":
                await self._end(state, code, message)
                return
            if code not in NOT_RETRIED and run.job_retry < run.job_retries:
                delay = job_retry_delay(run.spec, run.job_retry, self.tools.rng)
                log.info("request %s failed (%s); job retry %d of %d in %.1fs", run.request_id, code,
                         run.job_retry + 1, run.job_retries, delay)
                self.tools.logs.marker(run.request_id, f"{state} ({code}); job retry {run.job_retry + 1} of "
                                                        f"{run.job_retries} starts at "
                                                        f"{stamp(utcnow() + timedelta(seconds=delay))}")
                await self.runner.settle()
                await self.tools.sleep(delay)
                run.job_retry += 1
                await self.tools.store.requests.transition(run.request_id, ["EXECUTING"], retried=run.job_retry)
                await self._forget_for_retry(full_restart(False, run.spec.hard_reset_after_retries, run.job_retry))
                continue
            await self._always_run(executed)
            await self._end("FAILED", code, message)
            return

    async def _walk(self) -> tuple[str, str, str, list[tuple[TaskDefinition, Outcome]]]:
        run = self.run
        spec = run.spec
        current: str | None = first_task(spec)
        executed: list[tuple[TaskDefinition, Outcome]] = []
        ran_now: set[str] = set()
        steps = 0
        while current is not None:
            steps += 1
            if steps > MAX_STEPS_PER_WALK:
                return "FAILED", ErrorCode.ERR_INVALID_NEXT_TASK, "the walk looped more than 10000 steps", executed
            stored = spec.task(current)
            if stored is None:
                return "FAILED", ErrorCode.ERR_INVALID_NEXT_TASK, f"no task {current!r} in the definition", executed
            previous = run.reused.get(current)
            if previous is not None and current not in ran_now:
                task, outcome = stored, Outcome(previous["task_state"], previous["exit_code"],
                                                previous["error_code"], previous["error_message"])
            else:
                task, outcome, _ = await self.runner.run_task(stored)
                ran_now.add(current)
            executed.append((task, outcome))
            step = next_step(task, outcome, spec)
            if step.job_outcome is None:
                current = step.next_task
                continue
            if step.job_outcome in ("PAUSED", "MANUAL_APPROVAL_REQUIRED", "RESTART_JOB"):
                raise Suspend(step.job_outcome, step.error_code, step.error_message, task.task_type)
            if step.job_outcome == "COMPLETED":
                state, code, message = final_job_state(executed)
                return state, code, message, executed
            return step.job_outcome, step.error_code, step.error_message, executed
        state, code, message = final_job_state(executed)
        return state, code, message, executed

    async def _always_run(self, executed: list[tuple[TaskDefinition, Outcome]]) -> None:
        done = {task.task_type for task, _ in executed} | set(self.run.reused)
        for task in always_run_tasks(self.run.spec, done):
            try:
                await self.runner.run_task(task)
            except Exception:
                log.exception("always_run task %s of %s failed to run", task.task_type, self.run.request_id)

    async def _forget_for_retry(self, everything: bool) -> None:
        """Before a job retry: failed tasks run again; with a full reset, every task does."""
        rows = await self.tools.store.requests.task_executions([self.run.execution_id])
        top = [r for r in rows if r["parent_task_id"] is None]
        dropped = [r for r in top if everything or r["task_state"] != "COMPLETED"]
        dropped += descendants(rows, {r["id"] for r in dropped})  # a composite that runs again makes new children
        await self.tools.store.requests.delete_task_executions([r["id"] for r in dropped])
        self.run.reused = {} if everything else {r["task_type"]: r for r in top if r["task_state"] == "COMPLETED"}

    # --- endings --------------------------------------------------------------------------------

    async def _save_contexts(self) -> dict[str, Any]:
        """Column values for the execution row: its ``contexts`` column holds ``{"contexts": {…}}`` (and
        the job's ``result``, once an expr definition's ``output`` gave one)."""
        column: dict[str, Any] = {"contexts": dict(self.run.contexts)}
        if self.result is not None:
            column["result"] = self.result
        return {"contexts": column}

    def _output(self, state: str, error_code: str, message: str) -> tuple[str, str, str]:
        """A completing expr definition's ``output`` rendered into the job's result; failing, it fails the job."""
        spec = self.run.spec
        if state != "COMPLETED" or spec.templates != "expr" or not spec.output:
            return state, error_code, message
        try:
            # stored masked, as log lines are: a result is shown to whoever may read the job
            self.result = mask(render_expr_text(spec.output, self.runner.expr_env(), self.tools.rng), self.run.secrets)
        except RenderError as exc:
            return "FAILED", ErrorCode.ERR_JOB_OUTPUT, self.run.hide_secrets(str(exc))
        return state, error_code, message

    async def _end(self, state: str, error_code: str, message: str) -> None:
        run = self.run
        state, error_code, message = self._output(state, error_code, message)
        values = {"error_code": error_code, "error_message": message, "current_task": ""}
        request_values: dict[str, Any] = {**values, "user_key": None} if run.request.get("user_key") else values
        if state == "COMPLETED" and run.spec.delete_after > 0:
            request_values = {**request_values, "delete_at": utcnow() + timedelta(seconds=run.spec.delete_after)}
        held = self.runner.held_end
        if self.tools.distributed:  # followers on other queens read the lines from the database
            await self.tools.logs.store_lines_of(run.request_id)
        ended = await self.tools.store.requests.finish(
            run.request_id, run.execution_id, ["EXECUTING", "READY"], state,
            request_values=request_values,
            execution_values={**values, **(await self._save_contexts())},
            task_end=(held.task_execution_id, ENDABLE, held.fields) if held is not None else None)
        self.runner.end_written()
        if ended:
            self.tools.ends.request_ended(run, state)

    async def _suspend(self, suspend: Suspend) -> None:
        await self.runner.settle()
        run = self.run
        now = utcnow()
        request_values: dict[str, Any] = {"error_code": suspend.error_code, "error_message": suspend.message,
                                          "lease_owner": None}
        state = suspend.state
        marker = ""
        if state == "PAUSED":
            # It resumes by itself at scheduled_at (Formicary's code; its docs say a person must restart
            # it). Like a restart, a pause counts in ``retried`` (the template's ``JobRetry``), so a task
            # that pauses its job until ``JobRetry`` reaches some number ends.
            resume_at = now + timedelta(seconds=self._pause_seconds())
            request_values.update(scheduled_at=resume_at, paused_count=run.request.get("paused_count", 0) + 1,
                                  retried=run.job_retry + 1)
            marker = f"paused at {stamp(now)}; resumes at {stamp(resume_at)}"
        elif state == "MANUAL_APPROVAL_REQUIRED":
            request_values.update(current_task=suspend.current_task)
        elif state == "RESTART_JOB":
            limit = max(run.spec.retry, 1)
            if run.job_retry >= limit:
                await self._always_run([])
                await self._end("FAILED", suspend.error_code, f"{suspend.message} (job restarts exhausted)")
                return
            await self._forget_for_retry(full_restart(False, run.spec.hard_reset_after_retries, run.job_retry + 1))
            state = "PENDING"
            again_at = now + timedelta(seconds=job_retry_delay(run.spec, run.job_retry, self.tools.rng))
            request_values.update(retried=run.job_retry + 1, scheduled_at=again_at)
            marker = f"{suspend.message} at {stamp(now)}; runs again at {stamp(again_at)}"
        ok = await self.tools.store.requests.finish(run.request_id, run.execution_id, ["EXECUTING"], state,
                                                     request_values=request_values,
                                                     execution_values=await self._save_contexts())
        if ok:
            if marker:
                self.tools.logs.marker(run.request_id, marker)
            self.tools.ends.request_suspended(run, state)

    def _pause_seconds(self) -> float:
        return self.run.spec.pause_time or self.tools.rng.uniform(30, 39)

    async def _stopped(self) -> None:
        reason = self.stop_reason or "shutdown"
        await self.runner.settle()
        await self.runner.cancel_current()
        if reason == "cancel":
            await self.tools.store.requests.update_execution(
                self.run.execution_id, job_state="CANCELLED", ended_at=utcnow(),
                error_code=ErrorCode.ERR_JOB_CANCELLED, **(await self._save_contexts()))
            await self._mark_running_tasks("CANCELLED", ErrorCode.ERR_JOB_CANCELLED, "cancelled")
            self.tools.ends.request_ended(self.run, "CANCELLED")
        elif (ended := parse_end_reason(reason)) is not None:  # the run's own code ended it (run_ends.py)
            state, code = ended
            await self.tools.store.requests.update_execution(
                self.run.execution_id, job_state=state, ended_at=utcnow(), error_code=code,
                **(await self._save_contexts()))
            await self._mark_running_tasks(state, code, "ended by the run")
            self.tools.ends.request_ended(self.run, state)
        elif reason == "pause":
            await self._mark_running_tasks("PAUSED", ErrorCode.ERR_PAUSE_JOB, "paused")
            await self._suspend(Suspend("PAUSED", ErrorCode.ERR_PAUSE_JOB, "paused by request"))
        # shutdown: the request stays EXECUTING with our lease; recovery resumes it after restart

    async def _cancel_attached_children(self) -> None:
        """The child requests its tasks forked and were waiting for (as a cancel of the request would)."""
        for child in await self.tools.store.requests.children(self.run.request_id):
            if child["cascade_cancel"] and child["job_state"] not in ("COMPLETED", "FAILED", "CANCELLED"):
                await self.tools.canceller.cancel_child(child["id"])

    async def _mark_running_tasks(self, state: str, code: str, message: str) -> None:
        rows = await self.tools.store.requests.task_executions([self.run.execution_id])
        for row in rows:
            if row["task_state"] in ("EXECUTING", "READY"):
                await self.tools.store.requests.update_task_execution(
                    row["id"], ["EXECUTING", "READY"], task_state=state, error_code=code, error_message=message,
                    ended_at=utcnow())
