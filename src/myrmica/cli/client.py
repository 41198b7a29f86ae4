"""The HTTP client the CLI uses: URL and token from flags, environment or the saved credentials."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import httpx

from myrmica.security.private_files import credentials_path

DEFAULT_URL = "http://127.0.0.1:7777"


class ClientError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Connection:
    url: str
    token: str


def resolve_connection(url: str | None, token: str | None) -> Connection:
    saved: dict[str, Any] = {}
    path = credentials_path()
    if path.exists():
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            saved = {}
    return Connection(
        url=(url or os.environ.get("MYRMICA_URL") or saved.get("url") or DEFAULT_URL).rstrip("/"),
        token=token or os.environ.get("MYRMICA_TOKEN") or saved.get("token") or "",
    )


class ApiClient:
    def __init__(self, connection: Connection, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {connection.token}"} if connection.token else {}
        self._http = httpx.Client(base_url=connection.url, headers=headers, timeout=timeout)
        self.url = connection.url

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.ConnectError as exc:
            raise ClientError(0, f"cannot reach the server at {self.url}: is `myrmica server` running?") from exc
        except httpx.HTTPError as exc:
            raise ClientError(0, f"request to {self.url} failed: {exc}") from exc
        if response.status_code >= 400:
            try:
                message = response.json().get("error") or response.text
            except ValueError:
                message = response.text
            raise ClientError(response.status_code, f"{response.status_code}: {message}")
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    def stream(self, path: str, **kwargs: Any) -> Any:
        return self._http.stream("GET", path, timeout=None, **kwargs)
