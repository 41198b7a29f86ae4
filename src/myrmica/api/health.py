"""The server's dependency checks (database, broker), for every dialect's health route."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request

from myrmica.api.context import context_of

HealthCheck = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class CheckResult:
    name: str
    kind: str
    error: str | None  # None: healthy


async def dependency_checks(request: Request) -> list[CheckResult]:
    """Each dependency's check, run now: the database, then what the engine registered (the broker)."""
    ctx = context_of(request)
    checks: dict[str, tuple[str, HealthCheck]] = {"database": (ctx.store.db.name, ctx.store.ping),
                                                  **ctx.services.get("health_checks", {})}
    results = []
    for name, (kind, check) in checks.items():
        try:
            await check()
            results.append(CheckResult(name, kind, None))
        except Exception as exc:  # any failure of a dependency is a health answer, not a crash
            results.append(CheckResult(name, kind, f"{type(exc).__name__}: {exc}"[:300]))
    return results
