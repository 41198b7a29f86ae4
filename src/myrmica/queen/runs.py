"""Preparing a claimed request to run: its variables, secrets and execution (new, resumed or restarted)."""

from __future__ import annotations

import re
from typing import Any

from myrmica.clock import utcnow
from myrmica.domain.composite import descendants
from myrmica.domain.definition_model import JobDefinitionSpec
from myrmica.domain.error_codes import ErrorRule
from myrmica.domain.retry import full_restart
from myrmica.domain.states import ExitCode
from myrmica.ids import new_id
from myrmica.queen.context import RunContext
from myrmica.queen.ports import LogWriter
from myrmica.store.store import Store

DECIDED = {ExitCode.APPROVED, ExitCode.REJECTED}
COUNT_CALL = re.compile(r'CountByJobTypeAndState\s+"([^"]+)"\s+"([^"]*)"')


class RunFactory:
    def __init__(self, store: Store, logs: LogWriter, queen_id: str) -> None:
        self._store = store
        self._logs = logs
        self._queen_id = queen_id

    def secret_params(self, request: dict[str, Any]) -> dict[str, Any]:
        box = self._store.box
        return {name: box.decrypt(value) for name, value in (request.get("secret_params") or {}).items()}

    async def prepare(self, request: dict[str, Any], definition: dict[str, Any],
                      spec: JobDefinitionSpec) -> RunContext:
        run = await self.inputs(request, definition, spec)
        await self._execution(run)
        self._logs.set_secrets(request["id"], run.secrets)
        return run

    async def inputs(self, request: dict[str, Any], definition: dict[str, Any],
                     spec: JobDefinitionSpec) -> RunContext:
        """A run's variables, secrets and counts, with no execution chosen and nothing written.

        Enough to render a job-level key (``skip_if``) before the request is claimed."""
        store = self._store
        # The definition owner's configs: a public plugin run by another tenant uses its owner's settings.
        configs, secrets = await store.job_configs.plaintext(definition["owner_key"], definition["job_type"])
        # Spec §1.9 (system → org → job → request): the system's configs and the owner organisation's.
        system_configs, system_secrets = await store.catalogs.scoped_configs("system", "")
        org_configs: dict[str, Any] = {}
        if definition.get("organization_id"):
            org_configs, org_secrets = await store.catalogs.scoped_configs("org", definition["organization_id"])
            system_secrets |= org_secrets
        secrets = secrets | system_secrets
        rules = [ErrorRule.from_row(row) for row in await store.catalogs.error_codes.all({})]
        hidden = self.secret_params(request)
        params = {**(request.get("params") or {}), **hidden}
        secret_values = sorted({str(v) for v in hidden.values() if str(v)} | secrets, key=len, reverse=True)
        run = RunContext(request=request, definition=definition, spec=spec, execution_id="", contexts={},
                         params=params, secrets=secret_values, configs=configs, started=utcnow(),
                         job_retry=int(request.get("retried") or 0), system_configs=system_configs,
                         org_configs=org_configs, error_rules=rules)
        run.counts = await self._counts(request["owner_key"], definition["raw_source"])
        return run

    async def _execution(self, run: RunContext) -> None:
        """The execution the run continues (a non-terminal one it had) or a new one."""
        store, request, definition, now = self._store, run.request, run.definition, run.started
        execution = None
        if request.get("job_execution_id"):
            execution = await store.requests.execution(request["job_execution_id"])
        if execution is not None and execution["job_state"] not in ("COMPLETED", "FAILED", "CANCELLED"):
            run.execution_id = execution["id"]
            run.contexts = dict((execution.get("contexts") or {}).get("contexts", {}))
            rows = await store.requests.task_executions([execution["id"]])
            run.task_order = max((r["task_order"] for r in rows), default=0)
            dropped: list[dict[str, Any]] = []
            # The walk's own tasks; a composite's children are its business (it finds them on its row).
            for row in (r for r in rows if r["parent_task_id"] is None):
                if row["task_state"] == "COMPLETED" or row["exit_code"] in DECIDED:
                    run.reused[row["task_type"]] = row
                elif row["task_state"] in ("EXECUTING", "READY"):
                    run.lost[row["task_type"]] = row
                elif row["task_state"] in ("PAUSED", "MANUAL_APPROVAL_REQUIRED", "FAILED", "CANCELLED"):
                    dropped.append(row)  # it runs again: with new children, when it has any
            dropped += descendants(rows, {row["id"] for row in dropped})
            await store.requests.delete_task_executions([row["id"] for row in dropped])
        else:
            run.execution_id = new_id()
            run.new_execution = {
                "id": run.execution_id, "job_request_id": request["id"], "job_type": request["job_type"],
                "job_version": request.get("job_version") or str(definition["version"]), "job_state": "READY",
                "organization_id": request.get("organization_id"), "user_id": request.get("user_id"),
                "current_task": "", "exit_code": "", "exit_message": "", "error_code": "", "error_message": "",
                "contexts": {"contexts": {}}, "cpu_secs": 0.0, "started_at": now, "ended_at": None,
                "updated_at": now,
            }

    async def _counts(self, owner_key: str, source: str) -> dict[str, int]:
        """``CountByJobTypeAndState "type" "STATE,…"`` calls in the definition, counted when the request starts."""
        counts: dict[str, int] = {}
        for job_type, states in COUNT_CALL.findall(source):
            names = [s.strip().upper() for s in states.split(",") if s.strip()]
            counts[f"{job_type}|{states}"] = await self._store.requests.count_by_type_and_states(
                owner_key, job_type, names)
        return counts

    async def begin(self, run: RunContext) -> bool:
        """READY → EXECUTING; a restart copies the previous execution's completed tasks (soft restart)."""
        store = self._store
        request = run.request
        new_execution = run.new_execution
        ok = await store.requests.begin_execution(request["id"], None if new_execution else {"id": run.execution_id},
                                                  new_execution, self._queen_id)
        if not ok:
            return False
        last = request.get("last_job_execution_id")
        if new_execution is not None and last:
            hard = full_restart(bool(request.get("hard_restart")), run.spec.hard_reset_after_retries,
                                int(request.get("retried") or 0))
            if not hard:
                await self._reuse_previous(run, last)
        return True

    async def _reuse_previous(self, run: RunContext, last_execution_id: str) -> None:
        store = self._store
        now = utcnow()
        previous = await store.requests.task_executions([last_execution_id])
        copies: list[dict[str, Any]] = []
        for row in previous:
            if row["task_state"] != "COMPLETED" or row["parent_task_id"] is not None:
                continue
            copy = {**row, "id": new_id(), "job_execution_id": run.execution_id, "updated_at": now,
                    "contexts": {**(row.get("contexts") or {}),
                                 "ReusedPreviousResultFromTaskExecution": row["id"]}}
            copies.append(copy)
            run.reused[row["task_type"]] = copy
            # A composite's children come along, so the new run shows what the reused one did.
            new_ids = {row["id"]: copy["id"]}
            for child in descendants(previous, {row["id"]}):
                new_ids[child["id"]] = new_id()
                copies.append({**child, "id": new_ids[child["id"]], "parent_task_id": new_ids[child["parent_task_id"]],
                               "job_execution_id": run.execution_id, "updated_at": now})
        await store.requests.insert_task_executions(copies)
        old = await store.requests.execution(last_execution_id)
        if old is not None:
            run.contexts.update((old.get("contexts") or {}).get("contexts", {}))
