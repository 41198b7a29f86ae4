from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from myrmica.domain.variables import builtin_variables, task_variables, template_data

LAYERS: dict[str, dict[str, Any]] = {
    "org_configs": {"a": "org", "b": "org", "c": "org", "d": "org", "e": "org", "f": "org", "g": "org",
                    "h": "org"},
    "user_configs": {"b": "user", "c": "user", "d": "user", "e": "user", "f": "user", "g": "user",
                     "h": "user"},
    "job_variables": {"c": "jobvar", "d": "jobvar", "e": "jobvar", "f": "jobvar", "g": "jobvar",
                      "h": "jobvar"},
    "job_configs": {"d": "jobcfg", "e": "jobcfg", "f": "jobcfg", "g": "jobcfg", "h": "jobcfg"},
    "builtins": {"e": "builtin", "f": "builtin", "g": "builtin", "h": "builtin"},
    "task_variables": {"f": "task", "g": "task", "h": "task"},
    "params": {"g": "param", "h": "param"},
    "contexts": {"h": "context"},
}


def test_task_variables_order() -> None:
    assert task_variables(**LAYERS) == {
        "a": "org", "b": "user", "c": "jobvar", "d": "jobcfg", "e": "builtin", "f": "task", "g": "param",
        "h": "context",
    }


def test_template_data_puts_task_variables_last() -> None:
    assert template_data(**LAYERS) == {
        "a": "org", "b": "user", "c": "jobvar", "d": "jobcfg", "e": "builtin", "f": "task", "g": "task",
        "h": "task",
    }


def test_missing_layers() -> None:
    empty: dict[str, Any] = dict.fromkeys(LAYERS)
    assert task_variables(**empty) == {}
    assert template_data(**{**empty, "params": {"x": 1}}) == {"x": 1}


def test_inputs_are_not_mutated() -> None:
    layers = {k: dict(v) for k, v in LAYERS.items()}
    task_variables(**layers)
    template_data(**layers)
    assert layers == LAYERS


def test_builtins() -> None:
    values = builtin_variables(request_id="42", job_type="build", user_id="u1", org_id="o1", job_retry=2,
                               task_retry=1, task_type="compile", elapsed_secs=12.7,
                               now=datetime(2024, 3, 5, 23, 30, 5, tzinfo=UTC))
    assert values == {
        "UserID": "u1", "OrganizationID": "o1", "JobID": "42", "JobType": "build", "JobRetry": 2,
        "JobElapsedSecs": 12, "TaskType": "compile", "TaskRetry": 1, "DateYear": 2024, "DateMonth": 3,
        "DateDay": 5, "YearDay": 65, "FullDate": "2024-03-05",
        "EpochSecs": int(datetime(2024, 3, 5, 23, 30, 5, tzinfo=UTC).timestamp()),
    }


def test_builtins_use_utc() -> None:
    tokyo = timezone(timedelta(hours=9))
    values = builtin_variables(request_id="1", job_type="j", user_id="", org_id="", job_retry=0, task_retry=0,
                               task_type="t", elapsed_secs=0, now=datetime(2024, 1, 1, 5, 0, tzinfo=tokyo))
    assert (values["FullDate"], values["DateYear"], values["YearDay"]) == ("2023-12-31", 2023, 365)
