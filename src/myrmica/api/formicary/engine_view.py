"""What the routes about workers (``/api/ants``, ``/api/executors``) see of the engine: its live view of
the ants and a way to send one a control message. Job operations go through the job service instead."""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import Request

from myrmica.api.context import context_of


class AntsView(Protocol):
    def snapshot(self) -> list[dict[str, Any]]: ...
    def get(self, ant_id: str) -> object | None: ...


class AntControl(Protocol):
    async def control(self, ant_id: str, message: dict[str, Any]) -> None: ...


class EngineView(Protocol):
    @property
    def ants(self) -> AntsView: ...
    @property
    def dispatch(self) -> AntControl: ...


def engine_of(request: Request) -> EngineView:
    engine: EngineView = context_of(request).services["engine"]
    return engine
