"""Delays between task and job retries, and the full-restart rule (spec §1.8).

The delay before a retry is chosen in this order:

1. ``retry_backoff_policy`` when its ``min`` is > 0, with jpillora/backoff's semantics
   (``ForAttempt``): ``max`` defaults to 10 s and ``factor`` to 2 when they are 0; if
   ``min >= max`` the delay is ``max``; otherwise ``min * factor ** attempt``, and with ``jitter`` a
   uniformly random value between ``min`` and that, all clamped to ``[min, max]``;
2. else ``delay_between_retries`` when > 0;
3. else a random 1–2 s for a task, 5–14 s for a job.

``attempt`` counts the retries already made: 0 before the first retry, 1 before the second, …
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from myrmica.domain.definition_model import BackoffPolicy, JobDefinitionSpec, TaskDefinition

DEFAULT_BACKOFF_MAX = 10.0
DEFAULT_BACKOFF_FACTOR = 2.0
TASK_DEFAULT_DELAY = (1.0, 2.0)
JOB_DEFAULT_DELAY = (5.0, 14.0)


def backoff_delay(policy: BackoffPolicy, attempt: int, rng: random.Random) -> float:
    """jpillora/backoff ``ForAttempt`` for a policy whose ``min`` is > 0."""
    low = policy.min
    high = policy.max if policy.max > 0 else DEFAULT_BACKOFF_MAX
    if low >= high:
        return high
    factor = policy.factor if policy.factor > 0 else DEFAULT_BACKOFF_FACTOR
    try:
        delay = low * factor ** max(attempt, 0)
    except OverflowError:
        return high
    if policy.jitter:
        delay = rng.random() * (delay - low) + low
    return min(max(delay, low), high)


def _delay(
    policy: BackoffPolicy | None, fixed: float, attempt: int, rng: random.Random, default: tuple[float, float]
) -> float:
    if policy is not None and policy.min > 0:
        return backoff_delay(policy, attempt, rng)
    if fixed > 0:
        return fixed
    return rng.uniform(*default)


def task_retry_delay(task: TaskDefinition, attempt: int, rng: random.Random) -> float:
    """Seconds to wait before retrying ``task`` (see the module docstring); an HTTP_ENDPOINT task's by its
    endpoint's ``retry_strategy``."""
    if task.endpoint is not None:
        return strategy_delay(task.endpoint.retry_strategy, attempt + 1, task.endpoint.retry_delays_secs, rng)
    return _delay(task.retry_backoff_policy, task.delay_between_retries, attempt, rng, TASK_DEFAULT_DELAY)


def job_retry_delay(spec: JobDefinitionSpec, attempt: int, rng: random.Random) -> float:
    """Seconds to wait before retrying the whole job (see the module docstring)."""
    return _delay(spec.retry_backoff_policy, spec.delay_between_retries, attempt, rng, JOB_DEFAULT_DELAY)


def full_restart(hard: bool, hard_reset_after_retries: int, retried: int) -> bool:
    """Whether a restart re-runs every task instead of reusing the previous COMPLETED ones.

    True for a hard restart, or when ``hard_reset_after_retries`` (N) is > 0 and
    ``retried % (N + 1) == 0`` (``retried`` being the request's count after this restart).
    """
    if hard:
        return True
    return hard_reset_after_retries > 0 and retried % (hard_reset_after_retries + 1) == 0


# --- Strait's retry strategies (spec/strait.md §8), for HTTP_ENDPOINT tasks -----------------------

RETRY_STRATEGIES = ("exponential", "linear", "fixed", "custom")
STRATEGY_BASE_SECS = 1.0
STRATEGY_FLOOR_SECS = 1.0
STRATEGY_CAP_SECS = 3600.0
STRATEGY_JITTER = 0.2


def strategy_base(strategy: str, retry: int, delays_secs: Sequence[float] = ()) -> float:
    """The delay before retry number ``retry`` (1-based) without jitter, before the floor and the cap:
    ``exponential`` 1, 2, 4, 8 … s; ``linear`` 1, 2, 3 … s; ``fixed`` 1 s; ``custom`` the list's entry
    (its last one once the retries outnumber it; an empty list means exponential)."""
    n = max(retry, 1)
    if strategy == "custom" and delays_secs:
        return float(delays_secs[min(n, len(delays_secs)) - 1])
    if strategy == "linear":
        return STRATEGY_BASE_SECS * n
    if strategy == "fixed":
        return STRATEGY_BASE_SECS
    if n > 64:  # 2**63 s is past any cap
        return STRATEGY_CAP_SECS
    return STRATEGY_BASE_SECS * 2.0 ** (n - 1)


def strategy_delay(strategy: str, retry: int, delays_secs: Sequence[float], rng: random.Random) -> float:
    """Seconds to wait before retry number ``retry`` (1-based): :func:`strategy_base` capped at 1 h, with a
    uniform ±20 % jitter, never below 1 s (nor above the cap)."""
    base = min(strategy_base(strategy, retry, delays_secs), STRATEGY_CAP_SECS)
    jittered = base * (1.0 + rng.uniform(-STRATEGY_JITTER, STRATEGY_JITTER))
    return min(max(jittered, STRATEGY_FLOOR_SECS), STRATEGY_CAP_SECS)


POISON_PILL_FROM = 3  # Strait's poison pill: from the third attempt on (1-based)


def poison_pill(attempt: int, error_class: str, previous_class: str) -> bool:
    """An endpoint attempt (1-based ``attempt``) that failed with the same error class as the attempt
    before it, from the third on, is not retried (spec/strait.md §5): the failure repeats itself."""
    return attempt >= POISON_PILL_FROM and bool(error_class) and error_class == previous_class


def poison_message(attempt: int, error_class: str, message: str) -> str:
    return (f"poison pill: attempts {attempt - 1} and {attempt} failed with the same error class "
            f"({error_class}); not retried: {message}")
