from __future__ import annotations

import random
from typing import Any

import pytest

from myrmica.domain.definition_model import JobDefinitionSpec, TaskDefinition
from myrmica.domain.retry import full_restart, job_retry_delay, task_retry_delay


def task(**fields: Any) -> TaskDefinition:
    return TaskDefinition.model_validate({"task_type": "t", **fields})


def job(**fields: Any) -> JobDefinitionSpec:
    return JobDefinitionSpec.model_validate({"job_type": "j", "tasks": [{"task_type": "t"}], **fields})


def test_backoff_without_jitter_doubles_up_to_max() -> None:
    t = task(retry_backoff_policy={"min": "1s", "max": "5s", "factor": 2})
    rng = random.Random(1)
    assert [task_retry_delay(t, attempt, rng) for attempt in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_backoff_defaults_max_10s_and_factor_2() -> None:
    t = task(retry_backoff_policy={"min": "3s", "factor": 0})
    rng = random.Random(1)
    assert [task_retry_delay(t, attempt, rng) for attempt in range(3)] == [3.0, 6.0, 10.0]


def test_backoff_min_not_below_max_gives_max() -> None:
    t = task(retry_backoff_policy={"min": "20s", "max": "5s"})
    assert task_retry_delay(t, 0, random.Random(1)) == 5.0


def test_backoff_jitter_between_min_and_computed() -> None:
    t = task(retry_backoff_policy={"min": "1s", "max": "100s", "factor": 3, "jitter": True})
    rng = random.Random(7)
    for attempt in range(4):
        for _ in range(50):
            delay = task_retry_delay(t, attempt, rng)
            assert 1.0 <= delay <= 3.0**attempt
    assert len({task_retry_delay(t, 3, rng) for _ in range(10)}) > 1


def test_backoff_huge_attempt_is_capped() -> None:
    t = task(retry_backoff_policy={"min": "1s", "max": "1m"})
    assert task_retry_delay(t, 10_000, random.Random(1)) == 60.0


def test_backoff_with_zero_min_is_ignored() -> None:
    t = task(retry_backoff_policy={"max": "5s"}, delay_between_retries="7s")
    assert task_retry_delay(t, 0, random.Random(1)) == 7.0


def test_fixed_delay() -> None:
    assert task_retry_delay(task(delay_between_retries="5s"), 3, random.Random(1)) == 5.0
    assert job_retry_delay(job(delay_between_retries="6s"), 0, random.Random(1)) == 6.0


def test_default_delays() -> None:
    rng = random.Random(3)
    task_delays = [task_retry_delay(task(), 0, rng) for _ in range(200)]
    assert all(1.0 <= d <= 2.0 for d in task_delays)
    job_delays = [job_retry_delay(job(), 0, rng) for _ in range(200)]
    assert all(5.0 <= d <= 14.0 for d in job_delays)
    assert max(job_delays) - min(job_delays) > 4


def test_job_backoff() -> None:
    spec = job(retry_backoff_policy={"min": "2s", "max": "1m", "factor": 1.5}, delay_between_retries="9s")
    assert job_retry_delay(spec, 2, random.Random(1)) == pytest.approx(4.5)


@pytest.mark.parametrize(
    ("hard", "n", "retried", "expected"),
    [
        (True, 0, 1, True),
        (False, 0, 1, False),
        (False, 0, 0, False),
        (False, 2, 1, False),
        (False, 2, 2, False),
        (False, 2, 3, True),
        (False, 2, 6, True),
        (False, 1, 2, True),
        (False, 1, 3, False),
    ],
)
def test_full_restart(hard: bool, n: int, retried: int, expected: bool) -> None:
    assert full_restart(hard, n, retried) is expected
