"""What the routes need, built once at start and reached through ``request.app.state``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import Request

from myrmica.config import Settings
from myrmica.domain.principal import Principal
from myrmica.metrics import Metrics
from myrmica.store.store import Store


@dataclass
class AppContext:
    settings: Settings
    store: Store
    metrics: Metrics
    admin: Principal
    started_at: datetime
    services: dict[str, Any] = field(default_factory=dict)  # engine parts added by later layers


def context_of(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx
