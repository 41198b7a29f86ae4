"""A job's health over a window (spec/strait.md §8): counts, success rate, durations and the 70/30 score."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from myrmica.domain.strait.errors import bad

WINDOWS = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30)}
COUNTED = ("completed", "failed", "timed_out", "crashed", "system_failed", "canceled", "expired")


def window(value: str | None) -> tuple[str, timedelta]:
    name = value or "7d"
    if name not in WINDOWS:
        raise bad("invalid window: must be 1h, 1d, 7d, or 30d", "window")
    return name, WINDOWS[name]


def _percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values (0 when empty)."""
    if not values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(values)))
    return values[min(rank, len(values)) - 1]


def health(runs: list[tuple[str, float | None]]) -> dict[str, Any]:
    """``runs``: (Strait status, duration in seconds or None) of the runs created in the window."""
    counted = [(status, duration) for status, duration in runs if status in COUNTED]
    by = {status: sum(1 for s, _ in counted if s == status) for status in COUNTED}
    total = len(counted)
    durations = sorted(d for _, d in counted if d is not None and d >= 0)
    avg = sum(durations) / len(durations) if durations else 0.0
    p95, p99 = _percentile(durations, 0.95), _percentile(durations, 0.99)
    success = by["completed"] / total * 100 if total else 0.0
    if total == 0:
        score = -1.0
    else:
        stability = 0.0
        if avg > 0:
            stability = 30.0
            if p95 > 2 * avg:
                stability -= min((p95 / avg - 2) * 15, 30.0)
            stability = max(0.0, stability)
        score = min(100.0, 0.7 * success + stability)
    return {"total_runs": total, "completed_runs": by["completed"], "failed_runs": by["failed"],
            "timed_out_runs": by["timed_out"], "crashed_runs": by["crashed"] + by["system_failed"],
            "canceled_runs": by["canceled"], "expired_runs": by["expired"], "success_rate": round(success, 4),
            "avg_duration_secs": round(avg, 6), "p95_duration_secs": round(p95, 6),
            "p99_duration_secs": round(p99, 6), "health_score": round(score, 4)}
