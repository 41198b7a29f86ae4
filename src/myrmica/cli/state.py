"""Options shared by every client command, carried in the typer context."""

from __future__ import annotations

from dataclasses import dataclass

import typer

from myrmica.cli.client import ApiClient, resolve_connection


@dataclass
class CliState:
    url: str | None
    token: str | None
    json: bool
    _client: ApiClient | None = None

    def client(self) -> ApiClient:
        if self._client is None:
            self._client = ApiClient(resolve_connection(self.url, self.token))
        return self._client


def _state(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    state = root.obj
    assert isinstance(state, CliState)
    return state


def client_of(ctx: typer.Context) -> ApiClient:
    return _state(ctx).client()


def json_wanted(ctx: typer.Context) -> bool:
    return _state(ctx).json
