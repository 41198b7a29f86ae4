"""Variables a task sees, merged in the precedence order of spec §1.9 (later wins).

Order for the values shipped to the ant (environment variables, HTTP bodies) — :func:`task_variables`:

1. org configs → 2. user configs → 3. job definition variables (``job_variables``), then job configs
→ 4. built-ins (:func:`builtin_variables`) → 5. the task's ``variables`` → 6. request params
→ 7. the job execution's context (outputs of earlier tasks).

For rendering the task's own template — :func:`template_data` — the task's ``variables`` are
layered last instead, so inside templates they beat params and contexts (§1.9 subtlety (a)).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

Layer = Mapping[str, Any] | None


def _merge(*layers: Layer) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for layer in layers:
        if layer:
            merged.update(layer)
    return merged


def task_variables(
    *,
    org_configs: Layer,
    user_configs: Layer,
    job_variables: Layer,
    job_configs: Layer,
    builtins: Layer,
    task_variables: Layer,
    params: Layer,
    contexts: Layer,
) -> dict[str, Any]:
    """The variables shipped to the ant: params and contexts beat the task's own variables."""
    return _merge(org_configs, user_configs, job_variables, job_configs, builtins, task_variables, params,
                  contexts)


def template_data(
    *,
    org_configs: Layer,
    user_configs: Layer,
    job_variables: Layer,
    job_configs: Layer,
    builtins: Layer,
    task_variables: Layer,
    params: Layer,
    contexts: Layer,
) -> dict[str, Any]:
    """The data a task's template is rendered with: the task's own variables win."""
    return _merge(org_configs, user_configs, job_variables, job_configs, builtins, params, contexts,
                  task_variables)


def builtin_variables(
    *,
    request_id: str,
    job_type: str,
    user_id: str,
    org_id: str,
    job_retry: int,
    task_retry: int,
    task_type: str,
    elapsed_secs: float,
    now: datetime,
) -> dict[str, Any]:
    """The built-in variables of a task: ids, retry counters, elapsed time and date helpers (UTC)."""
    moment = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    return {
        "UserID": user_id,
        "OrganizationID": org_id,
        "JobID": request_id,
        "JobType": job_type,
        "JobRetry": job_retry,
        "JobElapsedSecs": int(elapsed_secs),
        "TaskType": task_type,
        "TaskRetry": task_retry,
        "DateYear": moment.year,
        "DateMonth": moment.month,
        "DateDay": moment.day,
        "YearDay": moment.timetuple().tm_yday,
        "FullDate": moment.strftime("%Y-%m-%d"),
        "EpochSecs": int(moment.timestamp()),
    }
