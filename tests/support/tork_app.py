"""A live server with this branch's Tork routers mounted at /tork, answering errors in Tork's shape —
until the dialect's own router (tork-routes) is on main and mounts them itself."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import uvicorn
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from myrmica.api.app import create_app
from myrmica.api.errors import ApiError
from myrmica.api.tork import nodes, queues, scheduled, users
from myrmica.api.tork.access import BasicAuthError
from myrmica.api.tork.errors import error_response
from myrmica.config import Settings
from myrmica.serve import build_runtime
from tests.support.live import LiveServer


class TorkShapedRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                return JSONResponse({"message": exc.message}, status_code=exc.status)
            except BasicAuthError as exc:
                return JSONResponse({"message": exc.message}, status_code=401, headers=exc.headers)
            except Exception as exc:
                status, body = error_response(exc)
                return JSONResponse(body, status_code=status)

        return run


@contextmanager
def tork_server(settings: Settings) -> Iterator[LiveServer]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = replace(settings, host="127.0.0.1", port=port)
    app = create_app(build_runtime(settings))
    parent = APIRouter(prefix="/tork", route_class=TorkShapedRoute)
    for router in (scheduled.router, users.router, nodes.router, queues.router):
        for route in router.routes:
            assert isinstance(route, APIRoute)
            parent.add_api_route(route.path, route.endpoint, methods=sorted(route.methods or ()))
    app.router.routes[:0] = parent.routes
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
