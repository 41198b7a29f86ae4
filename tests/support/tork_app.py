"""A live server in this test process (uvicorn in a thread) with the whole app: the Tork dialect at /tork."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import uvicorn

from myrmica.api.app import create_app
from myrmica.config import Settings
from myrmica.serve import build_runtime
from tests.support.live import LiveServer


@contextmanager
def tork_server(settings: Settings) -> Iterator[LiveServer]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = replace(settings, host="127.0.0.1", port=port)
    app = create_app(build_runtime(settings))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", settings.admin_token, settings, app)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
