"""Running a composite task — a parallel group or a fan-out of tasks — as its children, each a task
execution of the same run (``parent_task_id`` = the composite's row, ``item_index`` = its place).

The children are created in one transaction when the composite first runs (a fan-out's list is
evaluated then, once, and each item stored with its child), all ``READY``. Then at most ``limit`` of
them run at a time, in index order, each through the task runner like any task (rendering, ant,
retries, its own composite children, a child job). A composite that fails fast (a parallel group, a
Tork ``each``) stops at its first failed child: the children still running are cancelled on their ants
(child jobs among them are cancelled too) and the rest never start. The children's ends, as stored,
decide the composite's (``domain.composite.outcome``).

Nothing here lives only in memory: after a restart the supervisor runs the composite again on the same
row, which finds its children as they were left — ended ones count as they ended, ones cut off mid-run
go on (or count an attempt, as any task does), READY ones start.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from myrmica.broker.messages import TaskResult
from myrmica.clock import utcnow
from myrmica.domain import composite
from myrmica.domain.composite import Child, Kind, descendants
from myrmica.domain.definition_model import TaskDefinition
from myrmica.domain.states import ErrorCode
from myrmica.domain.walk import Outcome
from myrmica.ids import new_id
from myrmica.queen.dialects import FORMICARY, ItemsError, dialect_of, fan_out_items, item_work
from myrmica.queen.ports import ChildWork, RunnerView, RunTools

log = logging.getLogger("myrmica.queen.composites")

ACTIVE = ("READY", "EXECUTING")
SIBLING_FAILED = "cancelled: another task of its group failed"


def _child(row: dict[str, Any]) -> Child:
    return Child(index=int(row.get("item_index") or 0), state=str(row["task_state"]),
                 exit_code=str(row.get("exit_code") or ""), error_code=str(row.get("error_code") or ""),
                 error_message=str(row.get("error_message") or ""), allow_failure=bool(row.get("allow_failure")))


class Composites:
    def __init__(self, tools: RunTools) -> None:
        self.tools = tools

    async def run(self, runner: RunnerView, task: TaskDefinition, row: dict[str, Any],
                  inherited: ChildWork | None = None) -> Outcome:
        kind = composite.kind(task)
        assert kind is not None
        rows = await self._children(runner, task, row, kind)
        if isinstance(rows, Outcome):
            return rows
        works = {int(r["item_index"]): self._work(runner, task, kind, r, inherited) for r in rows}
        limit = composite.limit_of(task, len(rows), self.tools.settings.max_composite_parallel)
        states = {int(r["item_index"]): _child(r) for r in rows}
        ended = {index: child for index, child in states.items() if child.ended}
        decided = composite.outcome(task, list(states.values()))  # a restart after the end was decided
        # Those a restart left running first (they hold ant slots or child jobs), then the rest by index.
        queue = sorted((r for r in rows if int(r["item_index"]) not in ended),
                       key=lambda r: (r["task_state"] != "EXECUTING", int(r["item_index"])))
        results: dict[int, TaskResult | None] = {}
        failed = asyncio.Event()

        async def worker() -> None:
            while queue and not failed.is_set():
                child_row = queue.pop(0)
                index = int(child_row["item_index"])
                outcome, result = await runner.run_child(works[index], child_row)
                results[index] = result
                states[index] = Child(index, outcome.state, outcome.exit_code, outcome.error_code,
                                      outcome.error_message, bool(child_row.get("allow_failure")))
                verdict = composite.outcome(task, list(states.values()))
                if verdict is not None and verdict.state != "COMPLETED":
                    failed.set()

        if decided is None and queue:
            await self._run_workers([asyncio.create_task(worker(), name=f"{task.task_type}-child-{n}")
                                     for n in range(min(limit, len(queue)))], failed)
        stored = [r for r in await self.tools.store.requests.task_executions([runner.run.execution_id])
                  if r.get("parent_task_id") == row["id"]]
        if failed.is_set() or (decided is not None and decided.state != "COMPLETED"):
            await self._cancel_rest(runner, stored)
            stored = [r for r in await self.tools.store.requests.task_executions([runner.run.execution_id])
                      if r.get("parent_task_id") == row["id"]]
        final = composite.outcome(task, [_child(r) for r in stored])
        if final is None:  # a child the fail-fast left running could not be stopped: fail rather than hang
            final = Outcome("FAILED", "-1", ErrorCode.ERR_TASK_EXECUTE, f"children of {task.task_type} did not end")
        if kind is Kind.FAN_OUT and dialect_of(runner.run) == FORMICARY:
            await self._merge_fan_out(runner, task, row, stored, results)
        return final

    @staticmethod
    async def _run_workers(workers: list[asyncio.Task[None]], failed: asyncio.Event) -> None:
        """Until every worker is done or one saw the composite fail; the others are stopped then (and
        whenever this is left early: cancelled, or a worker broke)."""
        waiter = asyncio.create_task(failed.wait())
        try:
            pending = set(workers)
            while pending and not failed.is_set():
                done, _ = await asyncio.wait(pending | {waiter}, return_when=asyncio.FIRST_COMPLETED)
                for job in done - {waiter}:
                    pending.discard(job)
                    error = job.exception()
                    if error is not None:
                        raise error
        finally:
            waiter.cancel()
            for job in workers:
                job.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    # --- children -------------------------------------------------------------------------------

    async def _children(self, runner: RunnerView, task: TaskDefinition, row: dict[str, Any], kind: Kind
                        ) -> list[dict[str, Any]] | Outcome:
        """The composite's children as stored, or created now (all in one transaction)."""
        store = self.tools.store.requests
        existing = [r for r in await store.task_executions([runner.run.execution_id])
                    if r.get("parent_task_id") == row["id"]]
        if existing:
            return sorted(existing, key=lambda r: int(r["item_index"]))
        planned: list[tuple[TaskDefinition, dict[str, Any]]]
        if kind is Kind.PARALLEL:
            planned = [(child, {}) for child in task.parallel]
        else:
            try:
                items = fan_out_items(runner, task, self.tools.specs.template_functions(runner.run))
            except ItemsError as exc:
                return Outcome("FAILED", "-1", exc.error_code, exc.message)
            cap = self.tools.settings.max_composite_children
            if len(items) > cap:
                return Outcome("FAILED", "-1", ErrorCode.ERR_VALIDATION,
                               f"the list of {task.task_type} has {len(items)} items; at most {cap} may run")
            var = task.fan_out.item_var if task.fan_out is not None else "item"
            child = composite.item_task(task)
            planned = [(child, {var or "item": item}) for item in items]
        now = utcnow()
        rows = [{
            "id": new_id(), "job_execution_id": runner.run.execution_id, "job_request_id": runner.run.request_id,
            "task_type": child.task_type, "parent_task_id": row["id"], "item_index": index,
            "method": child.method.value, "task_state": "READY", "allow_failure": child.allow_failure,
            "exit_code": "", "exit_message": "", "error_code": "", "error_message": "", "failed_command": "",
            "comments": "", "ant_id": "", "ant_host": "", "retried": 0, "attempt": 0, "contexts": contexts,
            "stdout": [], "task_order": row["task_order"], "cost_factor": 0.0, "log_bytes": 0, "started_at": now,
            "ended_at": None, "updated_at": now,
        } for index, (child, contexts) in enumerate(planned)]
        await store.insert_task_executions(rows)
        return rows

    def _work(self, runner: RunnerView, task: TaskDefinition, kind: Kind, row: dict[str, Any],
              inherited: ChildWork | None) -> ChildWork:
        index = int(row["item_index"])
        if kind is Kind.PARALLEL:
            if inherited is None:
                return ChildWork(task.parallel[index])
            return ChildWork(task.parallel[index], template_data=inherited.template_data,
                             variables=inherited.variables)
        assert task.fan_out is not None
        var = task.fan_out.item_var or "item"
        return item_work(runner.run, task, index, (row.get("contexts") or {}).get(var), inherited)

    async def _cancel_rest(self, runner: RunnerView, children: list[dict[str, Any]]) -> None:
        """After a failure that ends the composite: every child (and grandchild) not ended is cancelled —
        on its ant when it runs there, and a child job it forked with it."""
        rows = await self.tools.store.requests.task_executions([runner.run.execution_id])
        targets = [r for r in children if r["task_state"] in ACTIVE] + \
            [r for r in descendants(rows, {r["id"] for r in children}) if r["task_state"] in ACTIVE]
        for target in targets:
            if target.get("ant_id") and target["task_state"] == "EXECUTING":
                await self.tools.dispatch.control(target["ant_id"], {"action": "CANCEL",
                                                                      "task_execution_id": target["id"]})
            await self.tools.store.requests.update_task_execution(
                target["id"], ACTIVE, task_state="CANCELLED", error_code=ErrorCode.ERR_JOB_CANCELLED,
                error_message=SIBLING_FAILED, ended_at=utcnow())
            forked = next((v for k, v in (target.get("contexts") or {}).items() if k.endswith("ForkedJobID")), None)
            if forked:
                await self.tools.canceller.cancel_child(str(forked))

    async def _merge_fan_out(self, runner: RunnerView, task: TaskDefinition, row: dict[str, Any],
                             children: list[dict[str, Any]], results: dict[int, TaskResult | None]) -> None:
        """Formicary's fan-out outputs on the parent (and in the job's context): the item count, and per
        item ``<item_var>_<i>_status``, ``…_exit_code``, ``…_error_message`` and its own outputs."""
        assert task.fan_out is not None
        fan = task.fan_out
        outputs: dict[str, Any] = {"FanOutItemCount": len(children), "FanOutSource": fan.source or fan.items,
                                   "FanOutMode": "task"}
        for child in sorted(children, key=lambda r: int(r["item_index"])):
            index = int(child["item_index"])
            prefix = f"{fan.item_var}_{index}_"
            outputs.update({prefix + "status": child["task_state"], prefix + "exit_code": child["exit_code"],
                            prefix + "error_message": child["error_message"]})
            result = results.get(index)
            for key, value in (result.job_context if result is not None else {}).items():
                outputs[prefix + key] = value
        runner.run.contexts.update(outputs)
        row["contexts"] = {**(row.get("contexts") or {}), **outputs}
        await self.tools.store.requests.update_task_execution(row["id"], ["EXECUTING"], contexts=row["contexts"])
