"""A lean keep-alive HTTP/1.1 client for load generation: the benchmark should spend its CPU on the
server under test, not on a full-featured client library."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit


class LeanConnection:
    def __init__(self, url: str, token: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.token = token
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
                      content_type: str = "application/json") -> tuple[int, Any]:
        """One request; ``raw`` is sent as it is (with ``content_type``), else ``body`` as JSON."""
        if self._writer is None:
            await self._connect()
        assert self._reader is not None and self._writer is not None
        payload = raw if raw is not None else b"" if body is None else json.dumps(body).encode()
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {self.token}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n\r\n")
        self._writer.write(head.encode() + payload)
        status_line = await self._reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self._reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value.strip())
        data = await self._reader.readexactly(length) if length else b""
        return status, json.loads(data) if data else None

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
