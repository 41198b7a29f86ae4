"""Live logs (spec/fastlane.md §5): a websocket per job (its last execution) or per execution, and an
HTML page that shows one.

The websocket: an unknown job or execution closes at once; no execution yet, or one still enqueued or
pulling, closes with the reason ``retry``; an ended execution sends ``EXIT CODE: <n>\\n``, its stdout,
``\\n-=-\\n`` and its stderr, then closes with ``done``; a running one sends every line its container
prints (stdout and stderr, as they come; bounded like its log, whose cut is said when it happens)
until it ends, then ``EXIT CODE: <n>\\n`` (and the engine's reason for a timeout or a stop), and
closes with ``done`` (Fastlane sent no exit code there; the lines are not sent a second time). (Fastlane's server
said ``wsdone``/``wsretry`` while its page and docs said ``done``/``retry``: here both say the
latter.) The page reconnects 5 s after a ``retry``. The websocket takes the API's bearer token in its
``Authorization`` header (a browser sends none: the page works when auth is off).
"""

from __future__ import annotations

import html
from typing import Any, cast

from fastapi import Request, Response, WebSocket
from fastapi.responses import HTMLResponse
from starlette.websockets import WebSocketDisconnect

from myrmica.api.auth import current_principal
from myrmica.api.errors import ApiError
from myrmica.api.fastlane import views
from myrmica.api.fastlane.errors import FastlaneError
from myrmica.api.fastlane.router import Routes, variants
from myrmica.api.jobs import jobs_of
from myrmica.domain.errors import NotFoundError
from myrmica.domain.principal import Principal
from myrmica.domain.records import LogLine, RequestEnded, RequestRecord
from myrmica.service.jobs import JobService

routes = Routes()
DONE, RETRY = "done", "retry"
POLICY_VIOLATION = 1008

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Fastlane {title}</title>
<style>body{{background:#111;color:#ddd;font-family:monospace}}pre{{white-space:pre-wrap}}</style></head>
<body><h3>{title}</h3><pre id="log"></pre>
<script>
const log = document.getElementById("log");
function connect() {{
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(scheme + "//" + location.host + "{path}");
  log.textContent = "";
  socket.onmessage = (event) => {{ log.textContent += event.data; }};
  socket.onclose = (event) => {{ if (event.reason !== "done") setTimeout(connect, 5000); }};
}}
connect();
</script></body></html>
"""


async def _target(socket: WebSocket) -> RequestRecord | None:
    """The execution the socket follows (None: none yet); FastlaneError when the job or execution is unknown."""
    request = cast(Request, socket)  # the same headers, app and path params as an HTTP request
    principal = await current_principal(request)
    jobs = jobs_of(request)
    task_id, job_id = socket.path_params["task_id"], socket.path_params["job_id"]
    definition = await views.find_job(jobs, principal, task_id, job_id, "stream")
    execution_id = socket.path_params.get("execution_id")
    if execution_id is None:
        records, _ = await views.executions(jobs, principal, definition, limit=1)
        return records[0] if records else None
    try:
        record = await jobs.get(principal, execution_id)
    except NotFoundError:
        raise FastlaneError(404, "not found", "stream") from None
    if record.job_type != definition.job_type:
        raise FastlaneError(404, "not found", "stream")
    return record


async def follow(socket: WebSocket) -> None:
    await socket.accept()
    try:
        record = await _target(socket)
    except (FastlaneError, ApiError):
        await socket.close(code=POLICY_VIOLATION, reason="not found")
        return
    request = cast(Request, socket)
    jobs, principal = jobs_of(request), await current_principal(request)
    try:
        if record is None or views.status(record) in ("enqueued", "pulling"):
            await socket.close(reason=RETRY)
            return
        if views.status(record) == "running":
            await _live(socket, jobs, principal, record)
        else:
            await socket.send_text(f"EXIT CODE: {views.exit_code(record)}\n")
            for index, part in enumerate(("stdout", "stderr")):
                if index:
                    await socket.send_text("\n-=-\n")
                async for chunk in views.whole(jobs, principal, record, part):
                    await socket.send_text(chunk)
        await socket.close(reason=DONE)
    except WebSocketDisconnect:
        return


async def _live(socket: WebSocket, jobs: JobService, principal: Principal, record: RequestRecord) -> None:
    """A running container's lines as they are stored (bounded like its log: the line that says the log
    was cut comes as soon as it is), then ``EXIT CODE: <n>`` and the engine's reason, if any."""
    async for event in await jobs.follow(principal, record.id):
        if isinstance(event, LogLine) and (event.stream in ("stdout", "stderr") or
                                           (event.stream == "system" and event.line.startswith(views.TRUNCATED))):
            await socket.send_text(f"{event.line}\n")
        elif isinstance(event, RequestEnded):
            break
    ended = await jobs.get(principal, record.id)
    reason = views.reason(ended)
    await socket.send_text(f"EXIT CODE: {views.exit_code(ended)}\n" + (f"{reason}\n" if reason else ""))


async def page(request: Request) -> Response:
    path = request.url.path.rstrip("/").rsplit("/", 1)[0] + "/ws/"
    params: dict[str, Any] = request.path_params
    title = html.escape(f"{params['task_id']} / {params['job_id']}"
                        + (f" / {params['execution_id']}" if "execution_id" in params else ""))
    return HTMLResponse(PAGE.format(title=title, path=html.escape(path)))


for _path in ("/tasks/{task_id}/jobs/{job_id}", "/tasks/{task_id}/jobs/{job_id}/executions/{execution_id}"):
    for _form in variants(f"{_path}/ws/"):
        routes.router.add_api_websocket_route(_form, follow)
    routes.route(f"{_path}/stream/", ["GET"])(page)
