"""A tiny JSON HTTP server on 127.0.0.1 standing in for jsonplaceholder.typicode.com in HTTP_* tasks."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Seen:
    method: str
    path: str
    body: bytes
    headers: dict[str, str]
    status: int = 0  # what it was answered


@dataclass
class HttpStub:
    url: str
    seen: list[Seen] = field(default_factory=list)

    def calls(self) -> list[tuple[str, str]]:
        return [(s.method, s.path) for s in self.seen]


@contextmanager
def http_stub(statuses: list[int] | None = None, *, hang: frozenset[str] = frozenset()) -> Iterator[HttpStub]:
    """Answers GET/PUT/DELETE with 200 and POST with 201, always a small JSON object; records each call.

    With ``statuses``, the calls are answered with those statuses in turn (429, 503, …), then as usual.
    A call to a path in ``hang`` is recorded and never answered (until the stub closes): a timeout."""
    stub = HttpStub(url="")
    lock = threading.Lock()
    script = list(statuses or [])
    released = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path in hang:
                with lock:
                    stub.seen.append(Seen(self.command, self.path, body, dict(self.headers.items()), 0))
                released.wait(30)
                return
            with lock:
                if script:
                    status = script.pop(0)
                stub.seen.append(Seen(self.command, self.path, body, dict(self.headers.items()), status))
            payload = json.dumps({"id": 1, "title": "stub", "method": self.command}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._answer(200)

        def do_POST(self) -> None:  # noqa: N802
            self._answer(201)

        def do_PUT(self) -> None:  # noqa: N802
            self._answer(200)

        def do_DELETE(self) -> None:  # noqa: N802
            self._answer(200)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        released.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
