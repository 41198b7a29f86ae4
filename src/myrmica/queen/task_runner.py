"""Running one task of a job: render it, skip it, gate it, or dispatch it to an ant; retry per policy."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ulid import ULID

from myrmica.broker.messages import TaskRequest, TaskResult
from myrmica.clock import utcnow
from myrmica.domain.composite import kind as composite_kind
from myrmica.domain.definition_model import TaskDefinition
from myrmica.domain.error_codes import match_rule
from myrmica.domain.methods import QUEEN_METHODS, TaskMethod
from myrmica.domain.records import TASK_ENDED, TASK_STARTED
from myrmica.domain.retry import poison_message, poison_pill, task_retry_delay
from myrmica.domain.states import ErrorCode, ExitCode
from myrmica.domain.variables import builtin_variables, task_variables, template_data
from myrmica.domain.walk import Outcome, apply_exit_code_override, is_skipped, should_retry_task
from myrmica.ids import new_id
from myrmica.queen.context import RESULTS, RunContext
from myrmica.queen.endpoint_calls import endpoint_fields
from myrmica.queen.ports import ChildWork, QueenTasks, RunTools
from myrmica.queen.render import RenderError, expr_env, render_expr_task, render_task
from myrmica.security.run_tokens import RUN_TOKEN_PURPOSE

log = logging.getLogger("myrmica.queen.tasks")

RESULT_GRACE_SECONDS = 5.0
HANDED_BACK = "ERR_ANT_DRAINING"
REPLY_CATCH_UP_SECONDS = 8.0
MAX_HANDBACKS = 20
MAX_SENSOR_POLLS = 100_000


ENDABLE = ("EXECUTING", "READY")  # the states a task's end may overwrite


@dataclass
class HeldEnd:
    """A task's end not yet written (see ``TaskRunner._hold_end``)."""

    task_execution_id: str
    attempt: int
    fields: dict[str, Any]


def stored_outcome(row: Mapping[str, Any]) -> Outcome:
    """How a stored task execution ended (or stands)."""
    return Outcome(str(row["task_state"]), str(row.get("exit_code") or ""), str(row.get("error_code") or ""),
                   str(row.get("error_message") or ""))


def _stringify(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class TaskRunner:
    def __init__(self, tools: RunTools, tasklets: QueenTasks, run: RunContext) -> None:
        self.tools = tools
        self.tasklets = tasklets
        self.run = run
        self.in_flight: dict[str, tuple[int, str]] = {}  # task execution id → (attempt, ant id) on an ant now
        self._unsaved: dict[str, Any] | None = None  # a new task's row, not stored until it has an ant
        self.held_end: HeldEnd | None = None
        self._previous_errors: dict[str, str] = {}  # task execution id → its last failed attempt's error
        self._error_classes: dict[str, str] = {}  # task execution id → its last endpoint failure's class

    # --- variables ------------------------------------------------------------------------------

    def data_for(self, task: TaskDefinition, task_retry: int, *, for_template: bool) -> dict[str, Any]:
        run = self.run
        builtins = builtin_variables(
            request_id=run.request_id, job_type=run.job_type, user_id=run.request.get("user_id") or "",
            org_id=run.request.get("organization_id") or "", job_retry=run.job_retry, task_retry=task_retry,
            task_type=task.task_type, elapsed_secs=(utcnow() - run.started).total_seconds(), now=utcnow())
        merge = template_data if for_template else task_variables
        return merge(org_configs={**run.system_configs, **run.org_configs}, user_configs={},
                     job_variables=run.spec.job_variables,
                     job_configs=run.configs, builtins=builtins, task_variables=task.variables,
                     params=run.params, contexts=run.contexts)

    def expr_env(self) -> dict[str, Any]:
        """What this run's expr templates see (inputs, secrets, tasks, job)."""
        run = self.run
        results = run.contexts.get(RESULTS)
        job = None if run.request.get("parent_id") else {
            "id": ULID.from_str(run.request_id).hex,
            "name": run.request.get("description") or run.job_type}
        return expr_env(params=run.params, secret_names=run.request.get("secret_params") or (),
                        results=results if isinstance(results, dict) else {}, job=job)

    def render(self, stored: TaskDefinition, task_retry: int,
               extra: Mapping[str, Any] | None = None) -> TaskDefinition:
        """The task as it runs now; ``extra``: what a composite's child sees besides the job (its item)."""
        if self.run.spec.templates == "expr":
            env = {**self.expr_env(), **extra} if extra else self.expr_env()
            return render_expr_task(stored, env, self.tools.rng)
        definition = self.run.definition
        data = self.data_for(stored, task_retry, for_template=True)
        if extra:
            data.update(extra)
        return render_task(definition["raw_source"], definition["raw_format"], self.run.spec, stored.task_type,
                           data, self.tools.specs.template_functions(self.run))

    def _preparer(self, work: ChildWork) -> Callable[[int], TaskDefinition]:
        def prepare(attempt: int) -> TaskDefinition:
            task = self.render(work.stored, attempt, work.template_data)
            return work.derive(task) if work.derive is not None else task

        return prepare

    # --- records --------------------------------------------------------------------------------

    async def _new_row(self, task: TaskDefinition, state: str, **values: Any) -> dict[str, Any]:
        row = self._row(task, state, **values)
        await self.tools.store.requests.insert_task_execution(row)
        return row

    def _row(self, task: TaskDefinition, state: str, **values: Any) -> dict[str, Any]:
        now = utcnow()
        self.run.task_order += 1
        row: dict[str, Any] = {
            "id": new_id(), "job_execution_id": self.run.execution_id, "job_request_id": self.run.request_id,
            "task_type": task.task_type, "parent_task_id": None, "item_index": None,
            "method": task.method.value, "task_state": state, "allow_failure": task.allow_failure,
            "exit_code": "", "exit_message": "", "error_code": "", "error_message": "", "failed_command": "",
            "comments": "", "ant_id": "", "ant_host": "", "retried": 0, "attempt": 0, "contexts": {},
            "stdout": [], "task_order": self.run.task_order, "cost_factor": 0.0, "log_bytes": 0,
            "started_at": now, "ended_at": None, "updated_at": now, **values,
        }
        return row

    async def _finish_row(self, row: dict[str, Any], outcome: Outcome, **values: Any) -> None:
        fields = {"task_state": outcome.state, "exit_code": outcome.exit_code, "error_code": outcome.error_code,
                  "error_message": outcome.error_message, "ended_at": utcnow(), **values}
        await self.tools.store.requests.update_task_execution(row["id"], ENDABLE, **fields)
        row.update(fields)
        self.tools.metrics.tasks_finished.labels(row["method"], outcome.state).inc()
        self._task_event(TASK_ENDED, row)

    def _hold_end(self, row: dict[str, Any], outcome: Outcome, attempt: int, values: dict[str, Any]) -> None:
        """Keep a task's end for the next write: the request's own end when this was its last task (one
        transaction for both), else the next task's start (``settle``)."""
        fields = {"task_state": outcome.state, "exit_code": outcome.exit_code, "error_code": outcome.error_code,
                  "error_message": outcome.error_message, "ended_at": utcnow(), **values}
        row.update(fields)
        self.tools.metrics.tasks_finished.labels(row["method"], outcome.state).inc()
        self.held_end = HeldEnd(row["id"], attempt, fields)
        self._task_event(TASK_ENDED, row)

    def _task_event(self, cause: str, row: dict[str, Any]) -> None:
        events = self.tools.events
        if events.listening:
            events.emit(cause, {**self.run.request, "job_state": "EXECUTING"}, self.run.definition, row)

    async def settle(self) -> None:
        """Write the held task end now."""
        held = self.held_end
        if held is not None:
            await self.tools.store.requests.update_task_execution(held.task_execution_id, ENDABLE, **held.fields)
            self.end_written()

    def end_written(self) -> None:
        """The held task end is stored (alone, or with the request's end): its reply may be acknowledged."""
        held, self.held_end = self.held_end, None
        if held is not None:
            self.tools.dispatch.recorded(held.task_execution_id, held.attempt)

    # --- one task, all attempts -----------------------------------------------------------------

    async def run_task(self, stored: TaskDefinition) -> tuple[TaskDefinition, Outcome, dict[str, Any]]:
        """A top-level task of the walk: its row (new, or the one a restart left), then its attempts."""
        await self.settle()
        try:
            task = self.render(stored, 0)
        except RenderError as exc:
            row = await self._new_row(stored, "EXECUTING")
            outcome = self._template_failure(exc)
            self.tools.logs.system(self.run.request_id, row["id"], stored.task_type, outcome.error_message)
            await self._finish_row(row, outcome)
            return stored, outcome, row
        if task.except_ and is_skipped(task.except_):
            row = await self._new_row(task, "EXECUTING")
            outcome = Outcome("COMPLETED", ExitCode.SKIPPED)
            await self._finish_row(row, outcome, exit_message="Skipped task due to except flag")
            return task, outcome, row
        if task.run_if and task.run_if.strip() == "false":
            row = await self._new_row(task, "EXECUTING")
            outcome = Outcome("COMPLETED", ExitCode.SKIPPED)
            await self._finish_row(row, outcome, exit_message="Skipped task: its run_if is false")
            return task, outcome, row
        if task.method == TaskMethod.MANUAL:
            return task, *await self._manual(task)
        lost = self.run.lost.pop(task.task_type, None)
        if lost is not None:
            row = lost
            resumed = await self._resume(task, row)
            if isinstance(resumed, Outcome):
                return task, resumed, row
            attempt, pending = resumed
        elif self._needs_ant(task):
            row = self._unsaved = self._row(task, "EXECUTING")  # stored once it has an ant (``_reserve``)
            attempt, pending = 0, None
        else:
            row = await self._new_row(task, "EXECUTING")
            attempt, pending = 0, None
        outcome, _ = await self._attempts(lambda retry: self.render(stored, retry), task, row, attempt, pending,
                                          top_level=True)
        return task, outcome, row

    async def run_child(self, work: ChildWork, row: dict[str, Any]) -> tuple[Outcome, TaskResult | None]:
        """One child of a composite on its stored row: READY (not started yet), or EXECUTING when a
        restart cut it off; its end is written at once."""
        resumed = row["task_state"] != "READY"
        if not resumed:
            if not await self.tools.store.requests.update_task_execution(row["id"], ["READY"],
                                                                          task_state="EXECUTING",
                                                                          started_at=utcnow()):
                current = await self.tools.store.requests.task_execution(row["id"])
                return stored_outcome(current or row), None  # ended (cancelled) meanwhile
            row["task_state"] = "EXECUTING"
        prepare = self._preparer(work)
        try:
            task = prepare(int(row.get("attempt") or 0))
        except RenderError as exc:
            outcome = self._template_failure(exc)
            self.tools.logs.system(self.run.request_id, row["id"], work.stored.task_type, outcome.error_message)
            await self._finish_row(row, outcome)
            return outcome, None
        if task.except_ and is_skipped(task.except_):
            outcome = Outcome("COMPLETED", ExitCode.SKIPPED)
            await self._finish_row(row, outcome, exit_message="Skipped task due to except flag")
            return outcome, None
        if task.run_if and task.run_if.strip() == "false":
            outcome = Outcome("COMPLETED", ExitCode.SKIPPED)
            await self._finish_row(row, outcome, exit_message="Skipped task: its run_if is false")
            return outcome, None
        attempt: int = 0
        pending: tuple[Outcome, TaskResult | None] | None = None
        if resumed:
            going_on = await self._resume(task, row)
            if isinstance(going_on, Outcome):
                return going_on, None
            attempt, pending = going_on
        return await self._attempts(prepare, task, row, attempt, pending, top_level=False, work=work)

    async def _resume(self, task: TaskDefinition, row: dict[str, Any]
                      ) -> Outcome | tuple[int, tuple[Outcome, TaskResult | None] | None]:
        """A row a restart (or an adoption) left running: the attempt goes on where it can, else it counts
        as one attempt. A task the queen runs itself (a composite, a fork) just goes on: it picks up its
        children, or the child request it forked, from what is stored."""
        attempt = int(row.get("attempt") or 0)
        if not self._needs_ant(task):
            return attempt, None
        result = await self._reattach(task, row, attempt)
        if result is not None:  # the ant finished the attempt the dead queen dispatched
            return attempt, (Outcome(result.state, result.exit_code, result.error_code, result.error_message), result)
        # The attempt a crash cut off counts as one attempt; the same row carries on.
        attempt += 1
        if attempt > task.retry:
            outcome = Outcome("FAILED", "-1", ErrorCode.ERR_ANT_LOST,
                              f"task {task.task_type} was cut off by a restart and has no retries left")
            await self.tools.store.requests.update_task_execution(
                row["id"], ["FAILED", "EXECUTING"], task_state="FAILED", error_code=outcome.error_code,
                error_message=outcome.error_message, ended_at=utcnow())
            row.update(task_state="FAILED", error_code=outcome.error_code, error_message=outcome.error_message)
            return outcome
        await self.tools.store.requests.update_task_execution(row["id"], ["FAILED", "EXECUTING"],
                                                               task_state="EXECUTING", attempt=attempt,
                                                               retried=attempt)
        row.update(attempt=attempt, retried=attempt)
        return attempt, None

    def _classify(self, task: TaskDefinition, outcome: Outcome, result: TaskResult | None) -> tuple[Outcome, int]:
        """A failure matched against the admin's error codes (``/api/errors``): the row's error code, and
        the retries it allows the task; a RETRY_JOB or HARD_FAILURE row also sets the job's."""
        run = self.run
        if outcome.state != "FAILED" or not run.error_rules:
            return outcome, task.retry
        rule = match_rule(run.error_rules, job_type=run.job_type, task_type=task.task_type,
                          platform=str(run.request.get("platform") or run.definition.get("platform") or ""),
                          exit_code=outcome.exit_code, message=outcome.error_message,
                          failed_command=result.failed_command if result is not None else "")
        if rule is None:
            return outcome, task.retry
        message = rule.display_message or outcome.error_message
        matched = Outcome(outcome.state, outcome.exit_code, rule.error_code or outcome.error_code, message)
        self.tools.logs.system(run.request_id, "", task.task_type,
                               f"error code {rule.error_code} ({rule.action or 'no action'}) matched the failure")
        if rule.hard:
            run.job_retry_limit = 0
            return matched, 0
        if rule.action == "SUSPEND_JOB":
            return Outcome("PAUSED", outcome.exit_code, ErrorCode.ERR_PAUSE_JOB, message), 0
        if rule.action == "RETRY_JOB":
            run.job_retry_limit = max(run.spec.retry, rule.retry, run.job_retry_limit or 0)
            return matched, task.retry
        if rule.action == "RETRY_TASK":
            return matched, max(task.retry, rule.retry)
        return matched, task.retry

    def _poison_pill(self, task: TaskDefinition, row: dict[str, Any], attempt: int, outcome: Outcome,
                     result: TaskResult | None, retry_limit: int) -> tuple[Outcome, int]:
        """An endpoint task failing the same way twice in a row from its third attempt on stops retrying."""
        if task.endpoint is None or outcome.state != "FAILED" or result is None:
            return outcome, retry_limit
        error_class = str(result.task_context.get("error_class") or "")
        previous = self._error_classes.get(row["id"], "")
        self._error_classes[row["id"]] = error_class
        if not poison_pill(attempt + 1, error_class, previous) or attempt >= retry_limit:
            return outcome, retry_limit
        message = poison_message(attempt + 1, error_class, outcome.error_message)
        self.tools.logs.system(self.run.request_id, row["id"], task.task_type, message)
        return Outcome(outcome.state, outcome.exit_code, outcome.error_code, message), attempt

    def _template_failure(self, exc: RenderError) -> Outcome:
        return Outcome("FAILED", "-1", ErrorCode.ERR_TEMPLATE, f"template error: {self.run.hide_secrets(str(exc))}")

    async def _attempts(self, prepare: Callable[[int], TaskDefinition], task: TaskDefinition, row: dict[str, Any],
                        attempt: int, pending: tuple[Outcome, TaskResult | None] | None, *, top_level: bool,
                        work: ChildWork | None = None) -> tuple[Outcome, TaskResult | None]:
        """Attempts of ``task`` on ``row`` until one ends it (or the retries are spent); a top-level task's
        end is held for the next write, a child's written now."""
        polls = 0
        deadline = time.monotonic() + self.timeout_of(task)
        while True:
            if attempt > 0:
                try:
                    task = prepare(attempt)
                except RenderError as exc:
                    outcome = self._template_failure(exc)
                    await self._finish_row(row, outcome)
                    return outcome, None
            if pending is not None:
                (outcome, result), pending = pending, None
            else:
                outcome, result = await self._attempt(task, row, attempt, work)
            outcome = apply_exit_code_override(task, outcome)
            outcome, retry_limit = self._classify(task, outcome, result)
            outcome, retry_limit = self._poison_pill(task, row, attempt, outcome, result, retry_limit)
            if result is not None and (work is None or work.absorb):
                self._absorb(task, result)
            if outcome.state == "EXECUTING":  # a sensor: poll again, bounded by the task timeout
                polls += 1
                if time.monotonic() >= deadline or polls >= MAX_SENSOR_POLLS:
                    outcome = Outcome("FAILED", outcome.exit_code, ErrorCode.ERR_TASK_TIMED_OUT,
                                      f"task {task.task_type} was still polling when its timeout passed")
                else:
                    await self.tools.store.requests.update_task_execution(row["id"], ["EXECUTING"],
                                                                           attempt=attempt + 1, ant_id="")
                    self.tools.dispatch.recorded(row["id"], attempt)
                    attempt += 1
                    await self.tools.sleep(task_retry_delay(task, 0, self.tools.rng))
                    continue
            if should_retry_task(outcome, attempt, task, retry_limit) and composite_kind(task) is None:
                delay = task_retry_delay(task, attempt, self.tools.rng)
                self._previous_errors[row["id"]] = self.run.hide_secrets(outcome.error_message)
                self.tools.logs.system(self.run.request_id, row["id"], task.task_type,
                                        f"attempt {attempt + 1} failed ({outcome.error_code} exit {outcome.exit_code});"
                                        f" retrying in {delay:.2f}s")
                await self.tools.store.requests.update_task_execution(row["id"], ["EXECUTING"], attempt=attempt + 1,
                                                                       retried=attempt + 1, ant_id="")
                self.tools.dispatch.recorded(row["id"], attempt)
                attempt += 1
                await self.tools.sleep(delay)
                continue
            extra: dict[str, Any] = {"retried": attempt, "attempt": attempt}
            if result is not None:
                contexts = {**result.task_context, "result": result.result} if task.output_file_env \
                    else result.task_context
                extra.update(exit_message=result.exit_message, failed_command=result.failed_command,
                             ant_id=result.ant_id, ant_host=result.ant_host, stdout=result.stdout,
                             contexts={**(row.get("contexts") or {}), **contexts})
            if top_level:
                self._hold_end(row, outcome, attempt, extra)
            else:
                await self._finish_row(row, outcome, **extra)
                self.tools.dispatch.recorded(row["id"], attempt)
            return outcome, result

    async def _reattach(self, task: TaskDefinition, row: dict[str, Any], attempt: int) -> TaskResult | None:
        """After adopting a request (from a dead queen, or ours after a database outage): the result of
        the attempt it left, or wait for that attempt while it still runs on a live ant."""
        ant_id = str(row.get("ant_id") or "")
        key = f"{row['id']}:{attempt}"
        early = self.tools.dispatch.orphan_result(key)  # it came while no supervisor waited (or was not stored)
        if early is not None:
            return early
        ant = self.tools.ants.get(ant_id) if ant_id else None
        if not self.tools.distributed or ant is None or not ant.alive(time.time()):
            return None
        # Still running on the ant (its last heartbeat says so): wait for it. Otherwise its reply may
        # still be on its way through the dead queen's reply stream: wait a little, then call it lost.
        still_running = key in ant.running
        wait = self.timeout_of(task) + RESULT_GRACE_SECONDS if still_running else REPLY_CATCH_UP_SECONDS
        try:
            return await self.tools.dispatch.attach(ant_id, key, wait)
        finally:
            await self.tools.dispatch.release_ant(ant_id, key)

    def timeout_of(self, task: TaskDefinition) -> float:
        limit = self.tools.settings.max_task_timeout_secs
        return min(task.timeout, limit) if task.timeout > 0 else limit

    def _absorb(self, task: TaskDefinition, result: TaskResult) -> None:
        """A task's job context (set-output values, its status) becomes visible to later tasks."""
        if result.job_context:
            self.run.contexts.update(result.job_context)
        self.run.contexts[f"{task.task_type}-status"] = result.state
        if task.result_var and result.result and result.state == "COMPLETED":
            kept = self.run.contexts.get(RESULTS)
            self.run.contexts[RESULTS] = {**(kept if isinstance(kept, dict) else {}), task.result_var: result.result}

    @staticmethod
    def _needs_ant(task: TaskDefinition) -> bool:
        return (task.execution_method not in QUEEN_METHODS and task.fan_out is None and composite_kind(task) is None
                and task.child_job is None)

    async def _reserve(self, task: TaskDefinition, row: dict[str, Any], key: str) -> str | None:
        """An ant for this attempt. A new task's row is first stored with the ant it got at once (one
        write, not two); when it must wait for one, the row is stored first so the task shows meanwhile."""
        method, tags = task.execution_method.value, frozenset(task.tags)
        if self._unsaved is row:
            ant_id = await self.tools.dispatch.reserve_ant(method, tags, key, 0.0)
            if ant_id is not None:
                return ant_id
            await self._save_unsaved(row, ant_id="")
        return await self.tools.dispatch.reserve_ant(method, tags, key, self.timeout_of(task))

    async def _save_unsaved(self, row: dict[str, Any], *, ant_id: str) -> None:
        self._unsaved = None
        row["ant_id"] = ant_id
        await self.tools.store.requests.insert_task_execution(row)

    async def _attempt(self, task: TaskDefinition, row: dict[str, Any], attempt: int,
                       work: ChildWork | None = None) -> tuple[Outcome, TaskResult | None]:
        if not self._needs_ant(task):
            self._task_event(TASK_STARTED, row)
            return await self.tasklets.run(self, task, row, attempt, work), None
        method = task.execution_method.value
        tags = frozenset(task.tags)
        key = f"{row['id']}:{attempt}"
        dispatch = self.tools.dispatch
        for _ in range(MAX_HANDBACKS):
            ant_id = await self._reserve(task, row, key)
            if ant_id is None:
                message = self.tools.ants.missing([(method, tags)]) or "every fitting ant is at capacity"
                return Outcome("FAILED", "-1", ErrorCode.ERR_ANTS_UNAVAILABLE, message), None
            result: TaskResult | None = None
            try:
                request = self.task_request(task, row, attempt, dict(work.variables) if work is not None else None)
                await self.tools.artifacts.prepare(request, task, self.run.request)
                if task.execution_method == TaskMethod.HTTP_ENDPOINT:
                    await self._endpoint_call(request, task, row, attempt)
                self.in_flight[row["id"]] = (attempt, ant_id)
                if self._unsaved is row:  # with its ant: another queen adopting this request must find it
                    await self._save_unsaved(row, ant_id=ant_id)
                elif self.tools.distributed:
                    await self.tools.store.requests.update_task_execution(row["id"], ["EXECUTING"], ant_id=ant_id)
                self._task_event(TASK_STARTED, {**row, "ant_id": ant_id, "attempt": attempt})
                result = await dispatch.dispatch(ant_id, request, self.timeout_of(task) + RESULT_GRACE_SECONDS)
            finally:
                self.in_flight.pop(row["id"], None)
                await dispatch.release_ant(ant_id, key, answered=result is not None and result.ant_id == ant_id)
            if result is None or result.error_code != HANDED_BACK:
                break
            # The ant was shutting down and handed the task back untouched: not an attempt.
        else:
            return Outcome("FAILED", "-1", ErrorCode.ERR_ANTS_UNAVAILABLE, "every ant handed the task back"), None
        if result is None:
            return Outcome("FAILED", "-1", ErrorCode.ERR_TASK_TIMED_OUT,
                           f"no result from ant {ant_id} within the task timeout"), None
        if result.artifacts:
            result.task_context.update(await self.tools.artifacts.record(result, task.task_type, row,
                                                                         self.run.request))
        return Outcome(result.state, result.exit_code, result.error_code, result.error_message), result

    def task_request(self, task: TaskDefinition, row: dict[str, Any], attempt: int,
                     extra_variables: dict[str, Any] | None = None) -> TaskRequest:
        # An expr definition's task gets its environment only (Tork's tasks see no Formicary variables).
        variables = {} if self.run.spec.templates == "expr" else self.data_for(task, attempt, for_template=False)
        if extra_variables:
            variables.update(extra_variables)
        return TaskRequest(
            request_id=self.run.request_id, task_execution_id=row["id"], job_type=self.run.job_type,
            task_type=task.task_type, method=task.execution_method.value, attempt=attempt,
            script=task.script, before_script=task.before_script, after_script=task.after_script,
            variables=variables, environment={k: _stringify(v) for k, v in task.environment.items()},
            headers=task.headers, query=task.query, url=task.url, timeout_secs=self.timeout_of(task),
            working_dir=task.working_dir, report_stdout=task.report_stdout, secrets=self.run.secrets,
            reply_to=self.tools.queen_id, artifact_paths=task.artifacts.paths if task.artifacts else [],
            artifacts_when=task.artifacts.when if task.artifacts else "always", dependencies=task.dependencies,
            container=dict(task.container or {}),
            host_network=str(task.host_network).strip().lower() in ("true", "yes", "1", "host")
            or task.network_mode.strip().lower() == "host",
            output_file_env=task.output_file_env, files=dict(task.files))

    async def _endpoint_call(self, request: TaskRequest, task: TaskDefinition, row: dict[str, Any],
                             attempt: int) -> None:
        """An HTTP_ENDPOINT attempt's payload, headers and run token (queen/endpoint_calls.py)."""
        checkpoint = None
        if attempt > 0:
            signals = await self.tools.store.run_signals.get(self.run.request_id)
            if signals is not None and signals.get("checkpoint") is not None and signals.get("checkpoint_at"):
                checkpoint = (str(signals["checkpoint"]), signals["checkpoint_at"])
        fields = endpoint_fields(request_id=self.run.request_id, job_type=self.run.job_type, task=task,
                                 attempt=attempt, params=self.run.params, timeout_secs=request.timeout_secs,
                                 token_key=self.tools.store.box.derived_key(RUN_TOKEN_PURPOSE),
                                 previous_error=self._previous_errors.get(row["id"], ""), checkpoint=checkpoint)
        request.headers, request.body, request.fallback_url = fields["headers"], fields["body"], fields["fallback_url"]

    async def cancel_current(self) -> None:
        """Stop every attempt of this request on an ant (the task, or a composite's children)."""
        await self.tools.dispatch.cancel_fan_out(self.run.request_id)
        for te_id, (_, ant_id) in list(self.in_flight.items()):
            await self.tools.dispatch.control(ant_id, {"action": "CANCEL", "task_execution_id": te_id})

    # --- approvals ------------------------------------------------------------------------------

    async def _manual(self, task: TaskDefinition) -> tuple[Outcome, dict[str, Any]]:
        contexts = {"ManualApprovalRequired": True, "ManualApprovalRequestedAt": utcnow().isoformat(),
                    "AwaitingApprovalFor": task.task_type}
        row = await self._new_row(task, "MANUAL_APPROVAL_REQUIRED", exit_code=ExitCode.AWAITING_APPROVAL,
                                  contexts=contexts)
        self.tools.logs.system(self.run.request_id, row["id"], task.task_type,
                                f"waiting for approval of {task.task_type}")
        return Outcome("MANUAL_APPROVAL_REQUIRED", ExitCode.AWAITING_APPROVAL), row
