"""Tasks the queen runs itself: FORK_JOB, AWAIT_FORKED_JOB and fan-out (spec §2.6)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from myrmica.clock import utcnow
from myrmica.domain.definition_model import TaskDefinition
from myrmica.domain.documents import load_json
from myrmica.domain.errors import ValidationError
from myrmica.domain.methods import TaskMethod
from myrmica.domain.principal import Principal
from myrmica.domain.records import NewRequest
from myrmica.domain.states import ErrorCode
from myrmica.domain.walk import Outcome
from myrmica.ids import new_id
from myrmica.queen.ports import RunnerView, RunTools
from myrmica.queen.render import RenderError, render_task, render_text
from myrmica.store.accounts import principal_of

log = logging.getLogger("myrmica.queen.tasklets")

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")
POLL_SECONDS = 1.0


class Tasklets:
    def __init__(self, tools: RunTools) -> None:
        self.tools = tools

    async def run(self, runner: RunnerView, task: TaskDefinition, row: dict[str, Any], attempt: int) -> Outcome:
        try:
            if task.fan_out is not None:
                if task.fan_out.fork_job_type:
                    return await self._fan_out_jobs(runner, task, row)
                return await self._fan_out_tasks(runner, task, row)
            if task.method == TaskMethod.FORK_JOB:
                return await self._fork(runner, task, row)
            if task.method == TaskMethod.AWAIT_FORKED_JOB:
                return await self._await(runner, task, row)
        except RenderError as exc:
            return Outcome("FAILED", "-1", ErrorCode.ERR_TEMPLATE,
                           f"template error: {runner.run.hide_secrets(str(exc))}")
        return Outcome("FAILED", "-1", ErrorCode.ERR_TASK_EXECUTE,
                       f"method {task.method.value} is not available in this version of Myrmica")

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
                            params: dict[str, Any]) -> dict[str, Any]:
        parent = runner.run.request
        params = {**params, "ForkedJob": True, f"ParentJobType_{parent['id']}": parent["job_type"]}
        if job_type == parent["job_type"] or sum(k.startswith("ParentJobType_") for k in parent["params"]) >= 10:
            raise _Refused(f"refused to fork {job_type}: it would fork itself or nest more than 10 levels")
        for key, value in parent["params"].items():
            if key.startswith("ParentJobType_"):
                params.setdefault(key, value)
                if value == job_type:
                    raise _Refused(f"refused to fork {job_type}: it is already an ancestor (fork bomb guard)")
        child, _ = await self.tools.submitter.submit(
            await self._owner(runner), NewRequest(job_type=job_type, job_version=str(version or ""), params=params),
            parent=parent)
        return child

    async def _fork(self, runner: RunnerView, task: TaskDefinition, row: dict[str, Any]) -> Outcome:
        try:
            child = await self._submit_child(runner, task, task.fork_job_type,
                                             task.fork_job_version or task.job_version,
                                             self._input_params(runner, task, {}))
        except _Refused as exc:
            return Outcome("FAILED", "-1", ErrorCode.ERR_VALIDATION, str(exc))
        except Exception as exc:
            return Outcome("FAILED", "-1", ErrorCode.ERR_TASK_EXECUTE, f"could not fork {task.fork_job_type}: {exc}")
        outputs = {f"{task.task_type}.ForkedJobID": child["id"], f"{task.task_type}.ForkedJobType": child["job_type"],
                   f"{task.task_type}.ForkedJobVersion": child["job_version"]}
        runner.run.contexts.update(outputs)
        await self._set_contexts(row, outputs)
        if task.sub_workflow is not None and task.sub_workflow.wait_for_completion:
            return await self._wait_children(runner, task, row, [child["id"]])
        return Outcome("COMPLETED", "0")

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
            contexts = await self._child_contexts(child)
            for name, value in contexts.items():
                if name.startswith("__"):
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

    def _items(self, runner: RunnerView, task: TaskDefinition) -> list[Any]:
        assert task.fan_out is not None
        source = task.fan_out.source
        run = runner.run
        for layer in (run.contexts, run.params, run.configs, run.spec.job_variables):
            if source in layer:
                value = layer[source]
                break
        else:
            raise _Refused(f"fan_out source {source!r} is not a variable, param or output of this job")
        if isinstance(value, str):
            try:
                value = load_json(value, root=source)
            except ValidationError as exc:
                raise _Refused(f"fan_out source {source!r} is not a JSON array: {exc.message}") from exc
        if not isinstance(value, list):
            raise _Refused(f"fan_out source {source!r} is not a list")
        return value

    async def _fan_out_tasks(self, runner: RunnerView, task: TaskDefinition, row: dict[str, Any]) -> Outcome:
        assert task.fan_out is not None
        fan = task.fan_out
        try:
            items = self._items(runner, task)
        except _Refused as exc:
            return Outcome("FAILED", "-1", ErrorCode.ERR_VALIDATION, str(exc))
        limit = fan.max_parallel if fan.max_parallel > 0 else max(1, len(items))
        semaphore = asyncio.Semaphore(limit)
        failed = asyncio.Event()
        results: dict[int, tuple[Outcome, dict[str, Any]]] = {}
        stored = runner.run.spec.task(task.task_type) or task

        async def one(index: int, item: Any) -> None:
            async with semaphore:
                if failed.is_set() and fan.fail_fast:
                    results[index] = (Outcome("CANCELLED", "-1", ErrorCode.ERR_JOB_CANCELLED, "fail_fast"), {})
                    return
                results[index] = await self._fan_out_item(runner, stored, row, index, item, fan.item_var)
                if results[index][0].state != "COMPLETED":
                    failed.set()

        jobs = [asyncio.create_task(one(i, item)) for i, item in enumerate(items)]
        if fan.fail_fast:
            waiter = asyncio.create_task(failed.wait())
            done, _ = await asyncio.wait([*jobs, waiter], return_when=asyncio.FIRST_COMPLETED)
            while not failed.is_set() and not all(j.done() for j in jobs):
                done, _ = await asyncio.wait([*[j for j in jobs if not j.done()], waiter],
                                             return_when=asyncio.FIRST_COMPLETED)
            if failed.is_set():
                await self.tools.dispatch.cancel_fan_out(runner.run.request_id)
            waiter.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        outputs: dict[str, Any] = {"FanOutItemCount": len(items), "FanOutSource": fan.source, "FanOutMode": "task"}
        first_failure: Outcome | None = None
        for index in sorted(results):
            outcome, job_context = results[index]
            prefix = f"{fan.item_var}_{index}_"
            outputs.update({prefix + "status": outcome.state, prefix + "exit_code": outcome.exit_code,
                            prefix + "error_message": outcome.error_message})
            for key, value in job_context.items():
                outputs[prefix + key] = value
            if outcome.state != "COMPLETED" and first_failure is None:
                first_failure = outcome
        runner.run.contexts.update(outputs)
        await self._set_contexts(row, outputs)
        if first_failure is not None:
            return Outcome("FAILED", first_failure.exit_code, first_failure.error_code or ErrorCode.ERR_TASK_EXECUTE,
                           f"fan-out item failed: {first_failure.error_message}")
        return Outcome("COMPLETED", "0")

    async def _fan_out_item(self, runner: RunnerView, stored: TaskDefinition, parent: dict[str, Any], index: int,
                            item: Any, item_var: str) -> tuple[Outcome, dict[str, Any]]:
        tools = self.tools
        dispatch = tools.dispatch
        now = utcnow()
        child: dict[str, Any] = {
            "id": new_id(), "job_execution_id": runner.run.execution_id, "job_request_id": runner.run.request_id,
            "task_type": stored.task_type, "parent_task_id": parent["id"], "item_index": index,
            "method": stored.execution_method.value, "task_state": "EXECUTING", "allow_failure": stored.allow_failure,
            "exit_code": "", "exit_message": "", "error_code": "", "error_message": "", "failed_command": "",
            "comments": "", "ant_id": "", "ant_host": "", "retried": 0, "attempt": 0, "contexts": {item_var: item},
            "stdout": [], "task_order": parent["task_order"], "cost_factor": 0.0, "log_bytes": 0, "started_at": now,
            "ended_at": None, "updated_at": now}
        await tools.store.requests.insert_task_execution(child)
        extra = {item_var: item, f"{item_var}_index": index}
        try:
            data = {**runner.data_for(stored, 0, for_template=True), **extra}
            task = render_task(runner.run.definition["raw_source"], runner.run.definition["raw_format"],
                               runner.run.spec, stored.task_type, data, tools.specs.template_functions(runner.run))
        except RenderError as exc:
            outcome = Outcome("FAILED", "-1", ErrorCode.ERR_TEMPLATE, f"template error: {exc}")
            await tools.store.requests.update_task_execution(child["id"], ["EXECUTING"], task_state="FAILED",
                                                              exit_code="-1", error_code=outcome.error_code,
                                                              error_message=outcome.error_message, ended_at=utcnow())
            return outcome, {}
        method, tags = task.execution_method.value, frozenset(task.tags)
        key = f"{child['id']}:0"
        timeout = runner.timeout_of(task)
        ant_id = await dispatch.reserve_ant(method, tags, key, timeout)
        if ant_id is None:
            outcome = Outcome("FAILED", "-1", ErrorCode.ERR_ANTS_UNAVAILABLE, f"no ant can run {method}")
        else:
            try:
                request = runner.task_request(task, child, 0, extra_variables=extra)
                dispatch.fan_out_started(runner.run.request_id, child["id"], ant_id)
                result = await dispatch.dispatch(ant_id, request, timeout + 5)
            finally:
                dispatch.fan_out_ended(runner.run.request_id, child["id"], ant_id)
                await dispatch.release_ant(ant_id, key)
            if result is None:
                outcome = Outcome("FAILED", "-1", ErrorCode.ERR_TASK_TIMED_OUT, "no result within the task timeout")
            else:
                outcome = Outcome(result.state, result.exit_code, result.error_code, result.error_message)
                await tools.store.requests.update_task_execution(
                    child["id"], ["EXECUTING"], task_state=result.state, exit_code=result.exit_code,
                    error_code=result.error_code, error_message=result.error_message, ant_id=result.ant_id,
                    ant_host=result.ant_host, stdout=result.stdout, ended_at=utcnow(),
                    contexts={item_var: item, **result.task_context})
                dispatch.recorded(child["id"], 0)
                return outcome, result.job_context
        await tools.store.requests.update_task_execution(child["id"], ["EXECUTING"], task_state=outcome.state,
                                                          exit_code=outcome.exit_code, error_code=outcome.error_code,
                                                          error_message=outcome.error_message, ended_at=utcnow())
        return outcome, {}

    async def _fan_out_jobs(self, runner: RunnerView, task: TaskDefinition, row: dict[str, Any]) -> Outcome:
        assert task.fan_out is not None
        fan = task.fan_out
        try:
            items = self._items(runner, task)
            ids = []
            for index, item in enumerate(items):
                extra = {fan.item_var: item, f"{fan.item_var}_index": index}
                child = await self._submit_child(runner, task, fan.fork_job_type, fan.fork_job_version,
                                                 self._input_params(runner, task, extra))
                ids.append(child["id"])
        except _Refused as exc:
            return Outcome("FAILED", "-1", ErrorCode.ERR_VALIDATION, str(exc))
        outcome = await self._wait_children(runner, task, row, ids) if ids else Outcome("COMPLETED", "0")
        outputs: dict[str, Any] = {"FanOutItemCount": len(items), "FanOutSource": fan.source, "FanOutMode": "job"}
        for index, child_id in enumerate(ids):
            child = await self.tools.store.requests.get(child_id)
            prefix = f"{fan.item_var}_{index}_"
            outputs.update({prefix + "status": child["job_state"], prefix + "error_message": child["error_message"],
                            prefix + "exit_code": "0" if child["job_state"] == "COMPLETED" else "-1"})
        runner.run.contexts.update(outputs)
        await self._set_contexts(row, outputs)
        return outcome


class _Refused(Exception):
    pass
