"""Tasks the queen runs itself: FORK_JOB, AWAIT_FORKED_JOB and fan-out (spec §2.6)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from myrmica.domain.composite import kind as composite_kind
from myrmica.domain.definition_model import TaskDefinition
from myrmica.domain.methods import TaskMethod
from myrmica.domain.principal import Principal
from myrmica.domain.records import NewRequest
from myrmica.domain.states import ErrorCode
from myrmica.domain.walk import Outcome
from myrmica.ids import new_id
from myrmica.queen.composites import Composites
from myrmica.queen.context import RESULTS
from myrmica.queen.dialects import TORK, ItemsError, fan_out_items, render_values
from myrmica.queen.ports import ChildWork, RunnerView, RunTools
from myrmica.queen.render import RenderError, render_text
from myrmica.store.accounts import principal_of

log = logging.getLogger("myrmica.queen.tasklets")

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")
FAN_OUT_IDS = "__fan_out_request_ids"  # a job fan-out's children, chosen before they are made
FAN_OUT_ITEMS = "__fan_out_items"
RESULT = "result"  # a task's result, in its contexts (a child job's: its definition's output, evaluated)
POLL_SECONDS = 1.0


class Tasklets:
    def __init__(self, tools: RunTools) -> None:
        self.tools = tools
        self.composites = Composites(tools)

    async def run(self, runner: RunnerView, task: TaskDefinition, row: dict[str, Any], attempt: int,
                  work: ChildWork | None = None) -> Outcome:
        """``work``: what a composite gave this task, when it is one's child (its children see it too)."""
        try:
            if composite_kind(task) is not None:
                return await self.composites.run(runner, task, row, work)
            if task.fan_out is not None and task.fan_out.fork_job_type:
                return await self._fan_out_jobs(runner, task, row)
            if task.method == TaskMethod.FORK_JOB:
                return await self._fork(runner, task, row, work)
            if task.method == TaskMethod.AWAIT_FORKED_JOB:
                return await self._await(runner, task, row)
            if task.method == TaskMethod.EXPIRE_ARTIFACTS:
                return await self._expire_artifacts(runner, row)
        except RenderError as exc:
            return Outcome("FAILED", "-1", ErrorCode.ERR_TEMPLATE,
                           f"template error: {runner.run.hide_secrets(str(exc))}")
        return Outcome("FAILED", "-1", ErrorCode.ERR_TASK_EXECUTE,
                       f"method {task.method.value} is not available in this version of Myrmica")

    async def _expire_artifacts(self, runner: RunnerView, row: dict[str, Any]) -> Outcome:
        """Formicary's EXPIRE_ARTIFACTS: every artifact whose time is up, deleted now (spec §2.10)."""
        count, size = await self.tools.artifacts.sweep()
        outputs = {"TotalExpired": count, "TotalSize": size}
        runner.run.contexts.update(outputs)
        await self._set_contexts(row, outputs)
        self.tools.logs.system(runner.run.request_id, row["id"], row["task_type"],
                               f"expired {count} artifact(s), {size} bytes")
        return Outcome("COMPLETED", "0")

    async def _owner(self, runner: RunnerView) -> Principal:
        user_id = runner.run.request.get("user_id")
        if user_id:
            return principal_of(await self.tools.store.accounts.user(user_id))
        return self.tools.admin

    def _input_params(self, runner: RunnerView, task: TaskDefinition, extra: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = dict(extra)
        if task.sub_workflow is None:
            return params
        data = {**runner.data_for(task, 0, for_template=True), **extra}
        functions = self.tools.specs.template_functions(runner.run)
        for item in task.sub_workflow.input_params:
            value = item.value
            params[item.name] = render_text(value, data, functions) if isinstance(value, str) else value
        return params

    async def _submit_child(self, runner: RunnerView, task: TaskDefinition, job_type: str, version: str,
                            params: dict[str, Any], *, secret_params: dict[str, Any] | None = None,
                            attached: bool = True, request_id: str | None = None) -> dict[str, Any]:
        """A child request of this run's request (``attached``: linked to it, and cancelled with it)."""
        parent = runner.run.request
        params = {**params, "ForkedJob": True, f"ParentJobType_{parent['id']}": parent["job_type"]}
        if job_type == parent["job_type"] or sum(k.startswith("ParentJobType_") for k in parent["params"]) >= 10:
            raise _Refused(f"refused to fork {job_type}: it would fork itself or nest more than 10 levels")
        for key, value in parent["params"].items():
            if key.startswith("ParentJobType_"):
                params.setdefault(key, value)
                if value == job_type:
                    raise _Refused(f"refused to fork {job_type}: it is already an ancestor (fork bomb guard)")
        new = NewRequest(job_type=job_type, job_version=str(version or ""), params=params,
                         secret_params=secret_params or {})
        child, _ = await self.tools.submitter.submit(await self._owner(runner), new,
                                                     parent=parent if attached else None, request_id=request_id)
        return child

    async def _fork(self, runner: RunnerView, task: TaskDefinition, row: dict[str, Any],
                    work: ChildWork | None = None) -> Outcome:
        """Fork the child request (by job type, or the inline ``child_job``) and, unless it is detached
        or not awaited, wait for it. Its id is chosen and stored on this task's row first, so after a
        restart the fork finds the child it made (or makes it then, with that id)."""
        key = f"{task.task_type}.ForkedJobID"
        # The chosen id is kept under its own key until the child exists: readers of ForkedJobID
        # (the Tork view's subjob.id) must never see an id that no request has yet.
        reserved = f"{task.task_type}.ForkingJobID"
        contexts = row.get("contexts") or {}
        child_id = str(contexts.get(key) or contexts.get(reserved) or "")
        child = await self.tools.store.requests.find(child_id) if child_id else None
        inline = task.child_job
        if child is None:
            if not child_id:
                child_id = new_id()
                await self._set_contexts(row, {reserved: child_id})
            try:
                child = await self._make_child(runner, task, child_id, work)
            except (_Refused, RenderError) as exc:
                code = ErrorCode.ERR_TEMPLATE if isinstance(exc, RenderError) else ErrorCode.ERR_VALIDATION
                return Outcome("FAILED", "-1", code, runner.run.hide_secrets(str(exc)))
            except Exception as exc:
                name = task.fork_job_type or "its child job"
                return Outcome("FAILED", "-1", ErrorCode.ERR_TASK_EXECUTE,
                               f"could not fork {name}: {runner.run.hide_secrets(str(exc))}")
        outputs = {key: child["id"], f"{task.task_type}.ForkedJobType": child["job_type"],
                   f"{task.task_type}.ForkedJobVersion": child["job_version"]}
        runner.run.contexts.update(outputs)
        await self._set_contexts(row, outputs)
        waits = not inline.detached if inline is not None else \
            task.sub_workflow is not None and task.sub_workflow.wait_for_completion
        if not waits:
            return Outcome("COMPLETED", "0")
        outcome = await self._wait_children(runner, task, row, [child["id"]])
        if inline is not None:
            ended = await self.tools.store.requests.get(child["id"])
            execution = await self.tools.store.requests.execution(ended["job_execution_id"]) \
                if ended.get("job_execution_id") else None
            result = ((execution or {}).get("contexts") or {}).get("result")
            if isinstance(result, str) and result:
                await self._set_contexts(row, {RESULT: result})
                if task.result_var and outcome.state == "COMPLETED":  # Tork: the sub-job's output is the task's
                    kept = runner.run.contexts.get(RESULTS)
                    runner.run.contexts[RESULTS] = {**(kept if isinstance(kept, dict) else {}),
                                                    task.result_var: result}
        return outcome

    async def _make_child(self, runner: RunnerView, task: TaskDefinition, child_id: str,
                          work: ChildWork | None) -> dict[str, Any]:
        inline = task.child_job
        if inline is None:
            return await self._submit_child(runner, task, task.fork_job_type,
                                            task.fork_job_version or task.job_version,
                                            self._input_params(runner, task, {}), request_id=child_id)
        functions = self.tools.specs.template_functions(runner.run)
        seen = work.template_data if work is not None else {}
        params = render_values(runner, task, inline.params, functions, seen)
        # A detached child gets no secrets (as Tork's): nothing ties it to the parent's any more.
        secrets = {} if inline.detached else render_values(runner, task, inline.secret_params, functions, seen)
        job_type, version = await self.tools.child_definitions.save_child(
            await self._owner(runner), inline.definition, dialect=inline.dialect,
            dialect_settings=inline.dialect_settings)
        return await self._submit_child(runner, task, job_type, str(version), params, secret_params=secrets,
                                        attached=not inline.detached, request_id=child_id)

    async def _await(self, runner: RunnerView, task: TaskDefinition, row: dict[str, Any]) -> Outcome:
        ids = []
        for name in task.await_forked_tasks:
            child_id = runner.run.contexts.get(f"{name}.ForkedJobID")
            if not child_id:
                return Outcome("FAILED", "-1", ErrorCode.ERR_VALIDATION, f"task {name} forked no job to wait for")
            ids.append(str(child_id))
        return await self._wait_children(runner, task, row, ids)

    async def _wait_children(self, runner: RunnerView, task: TaskDefinition, row: dict[str, Any],
                             ids: list[str]) -> Outcome:
        children = await self.wait_terminal(ids)
        outputs: dict[str, Any] = {"RequestIDs": ",".join(ids), "TotalRequests": len(ids)}
        failed: dict[str, Any] | None = None
        mapping = {v.name: str(v.value) for v in (task.sub_workflow.output_variables if task.sub_workflow else [])}
        for child in children:
            prefix = f"Request_{child['id']}_"
            outputs.update({prefix + "ErrorCode": child["error_code"], prefix + "ErrorMessage": child["error_message"],
                            prefix + "JobExecutionID": child.get("job_execution_id") or "",
                            prefix + "State": child["job_state"]})
            if child["job_state"] != "COMPLETED" and failed is None:
                failed = child
            # A Tork sub-job's context stays its own (the parent sees only its output); no child's kept
            # results (``tasks``) replace the parent's.
            own = task.child_job is not None and task.child_job.dialect == TORK
            contexts = {} if own else await self._child_contexts(child)
            for name, value in contexts.items():
                if name.startswith("__") or name == RESULTS:
                    continue
                if mapping:
                    if name in mapping:
                        outputs[mapping[name]] = value
                else:
                    outputs[name] = value
        runner.run.contexts.update(outputs)
        await self._set_contexts(row, outputs)
        if failed is not None:
            return Outcome("FAILED", "-1", failed["error_code"] or ErrorCode.ERR_TASK_EXECUTE,
                           f"forked request {failed['id']} ({failed['job_type']}) ended {failed['job_state']}: "
                           f"{failed['error_message']}")
        return Outcome("COMPLETED", "0")

    async def _child_contexts(self, child: dict[str, Any]) -> dict[str, Any]:
        if not child.get("job_execution_id"):
            return {}
        execution = await self.tools.store.requests.execution(child["job_execution_id"])
        return dict(((execution or {}).get("contexts") or {}).get("contexts", {}))

    async def wait_any_ended(self, ids: list[str]) -> list[str]:
        """Wait until at least one of the requests has ended; the ids of those still running."""
        store = self.tools.store
        while True:
            event = self.tools.watch.watch_ends(ids)
            try:
                still = [i for i in ids if (await store.requests.get(i))["job_state"] not in TERMINAL]
                if len(still) < len(ids):
                    return still
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout=POLL_SECONDS)
            finally:
                self.tools.watch.unwatch_ends(ids, event)

    async def wait_terminal(self, ids: list[str]) -> list[dict[str, Any]]:
        """Wait until each request has ended: woken by their ends, with a slow poll as the safety net."""
        store = self.tools.store
        while True:
            event = self.tools.watch.watch_ends(ids)
            try:
                rows = [await store.requests.get(i) for i in ids]
                if all(r["job_state"] in TERMINAL for r in rows):
                    return rows
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout=POLL_SECONDS)
            finally:
                self.tools.watch.unwatch_ends(ids, event)

    async def _set_contexts(self, row: dict[str, Any], values: dict[str, Any]) -> None:
        row["contexts"] = {**(row.get("contexts") or {}), **values}
        await self.tools.store.requests.update_task_execution(row["id"], ["EXECUTING"], contexts=row["contexts"])

    # --- fan-out --------------------------------------------------------------------------------

    async def _fan_out_jobs(self, runner: RunnerView, task: TaskDefinition, row: dict[str, Any]) -> Outcome:
        """One child request per item, at most ``max_parallel`` (0: all) not ended at once, then wait for
        them all. Their ids are chosen and stored first, so after a restart the same children are awaited
        (and any not made yet made then, still within ``max_parallel``)."""
        assert task.fan_out is not None
        fan = task.fan_out
        stored = (row.get("contexts") or {}).get(FAN_OUT_IDS)
        try:
            if isinstance(stored, list):
                items: list[Any] = list((row.get("contexts") or {}).get(FAN_OUT_ITEMS) or [None] * len(stored))
                ids = [str(i) for i in stored]
            else:
                items = fan_out_items(runner, task, self.tools.specs.template_functions(runner.run))
                ids = [new_id() for _ in items]
                await self._set_contexts(row, {FAN_OUT_IDS: ids, FAN_OUT_ITEMS: items})
            limit = fan.max_parallel if fan.max_parallel > 0 else len(ids)
            running: list[str] = []  # made and not ended yet: at most ``limit`` of them (spec §2.6)
            for index, (item, child_id) in enumerate(zip(items, ids, strict=True)):
                found = await self.tools.store.requests.find(child_id)
                if found is not None:
                    if found["job_state"] not in TERMINAL:
                        running.append(child_id)
                    continue
                while len(running) >= limit:
                    running = await self.wait_any_ended(running)
                extra = {fan.item_var: item, f"{fan.item_var}_index": index}
                await self._submit_child(runner, task, fan.fork_job_type, fan.fork_job_version,
                                         self._input_params(runner, task, extra), request_id=child_id)
                running.append(child_id)
        except ItemsError as exc:
            return Outcome("FAILED", "-1", exc.error_code, exc.message)
        except _Refused as exc:
            return Outcome("FAILED", "-1", ErrorCode.ERR_VALIDATION, str(exc))
        outcome = await self._wait_children(runner, task, row, ids) if ids else Outcome("COMPLETED", "0")
        outputs: dict[str, Any] = {"FanOutItemCount": len(items), "FanOutSource": fan.source or fan.items,
                                   "FanOutMode": "job"}
        for index, child_id in enumerate(ids):
            child = await self.tools.store.requests.get(child_id)
            prefix = f"{fan.item_var}_{index}_"
            outputs.update({prefix + "status": child["job_state"], prefix + "error_message": child["error_message"],
                            prefix + "exit_code": "0" if child["job_state"] == "COMPLETED" else "-1"})
            # Spec §2.6: each child's outputs too, as ``{item_var}_{i}_{key}``.
            outputs.update({prefix + name: value for name, value in (await self._child_contexts(child)).items()
                            if not name.startswith("__") and name != RESULTS})
        runner.run.contexts.update(outputs)
        await self._set_contexts(row, outputs)
        return outcome


class _Refused(Exception):
    pass
