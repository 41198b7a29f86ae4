"""``myrmica submit``, ``myrmica requests …``, ``myrmica logs`` and ``myrmica ants``: run jobs and watch them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
import typer
from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from myrmica.cli.client import ApiClient, ClientError
from myrmica.cli.output import (
    Id,
    Key,
    Words,
    console,
    err_console,
    fit,
    new_table,
    print_fitted,
    print_json,
    room,
)
from myrmica.cli.state import client_of, json_wanted

app = typer.Typer(help="List, inspect and steer job requests: cancel, restart, pause, trigger, approve, reject.",
                  no_args_is_help=True)

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")
EXIT_CODES = {"COMPLETED": 0, "FAILED": 1, "CANCELLED": 2}
EXIT_TIMEOUT = 3
POLL_SECONDS = 0.3
RequestId = Annotated[str, typer.Argument(metavar="ID", help="The request id.")]
STATE_STYLES = {"COMPLETED": "green", "FAILED": "red", "CANCELLED": "yellow", "EXECUTING": "cyan",
                "PAUSED": "magenta", "MANUAL_APPROVAL_REQUIRED": "magenta", "BLOCKED": "magenta"}


# ---------------------------------------------------------------------------------------------- helpers


def _say(message: str | Text) -> None:
    """One line for people, never wrapped (so scripts reading it get whole lines)."""
    console.print(message, soft_wrap=True, highlight=False)


def _state_text(state: str | None) -> Text:
    return Text(state or "", style=STATE_STYLES.get(state or "", ""))


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def seconds_text(seconds: float) -> str:
    """340ms, 20.1s, 3m05s, 1h02m03s."""
    if round(seconds * 1000) < 1000:
        return f"{round(seconds * 1000)}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _duration(started_at: str | None, ended_at: str | None, retried: Any = 0) -> str:
    """From start to end (or now), with ``×N`` when it took N attempts (``retried`` is N - 1)."""
    started = _time(started_at)
    if started is None:
        return ""
    ended = _time(ended_at) or datetime.now(UTC)
    text = seconds_text(max(0.0, (ended - started).total_seconds()))
    attempts = 1 + (int(retried) if str(retried or "0").isdigit() else 0)
    return f"{text} ×{attempts}" if attempts > 1 else text


def _when(value: str | None) -> str:
    """A timestamp to the second, in UTC, for tables."""
    moment = _time(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment is not None else ""


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _pairs(values: list[str] | None, option: str) -> list[tuple[str, str]]:
    pairs = []
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint=option)
        pairs.append((name.strip(), value))
    return pairs


def _tasks(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's task executions, iteration items flattened after their parent as ``task[i]``."""
    execution = body.get("execution") or {}
    rows: list[dict[str, Any]] = []
    for task in execution.get("tasks") or []:
        rows.append(task)
        for item in task.get("items") or []:
            rows.append({**item, "task_type": f"{task['task_type']}[{item.get('item_index', '')}]"})
    return rows


def _tasks_table(body: dict[str, Any], *, title: str = "Tasks", errors: bool = False) -> Table:
    errors = errors and any(task.get("error_code") or task.get("error_message") for task in _tasks(body))
    table = new_table(title, [Key("task"), Key("state"), "exit", "ant", "duration"] + (["error"] if errors else []))
    for task in _tasks(body):
        row: list[str | Text] = [task["task_type"], _state_text(task.get("task_state")), _cell(task.get("exit_code")),
                                 _cell(task.get("ant_id")),
                                 _duration(task.get("started_at"), task.get("ended_at"), task.get("retried"))]
        if errors:
            error = " ".join(p for p in (task.get("error_code") or "", task.get("error_message") or "") if p)
            row.append(Text(error, style="red"))
        table.add_row(*[Text(cell) if isinstance(cell, str) else cell for cell in row])
    return table


WAITING_STATES = ("PENDING", "READY", "BLOCKED")


def waiting_reason(body: dict[str, Any]) -> str:
    """Why a request that has not started is still waiting (no fitting ant, a concurrency limit, …), or ""."""
    return (body.get("error_message") or "") if body.get("job_state") in WAITING_STATES else ""


def _header(body: dict[str, Any]) -> Text:
    text = Text.assemble("request ", (body["id"], "bold"), f"  {body['job_type']} v{body['job_version']}  ",
                         _state_text(body["job_state"]))
    if body.get("current_task") and body["job_state"] not in TERMINAL:
        text.append(f"  at {body['current_task']}")
    return text


def _waiting_line(body: dict[str, Any]) -> Text | None:
    reason = waiting_reason(body)
    return Text.assemble("waiting: ", (reason, "yellow")) if reason else None


def _outcome(body: dict[str, Any]) -> Text:
    text = Text.assemble("request ", body["id"], " ", _state_text(body["job_state"]))
    if body["job_state"] != "COMPLETED":
        reason = " ".join(p for p in (body.get("error_code") or "", body.get("error_message") or "") if p)
        if reason:
            text.append(f": {reason}", style="red")
    return text


# ---------------------------------------------------------------------------------------------- submit


def _fetch(client: ApiClient, request_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.json("GET", f"/api/jobs/requests/{request_id}")
    return body


def _changes(body: dict[str, Any], seen: dict[str, str]) -> Iterator[str]:
    """Lines for what changed since the last poll: each task's state, then the request's (until it ends)."""
    for task in _tasks(body):
        state = task.get("task_state") or ""
        key = task.get("id") or task["task_type"]
        if seen.get(key) == state:
            continue
        seen[key] = state
        details = []
        if state in TERMINAL and task.get("exit_code") not in (None, ""):
            details.append(f"exit {task['exit_code']}")
        if task.get("ant_id"):
            details.append(f"ant {task['ant_id']}")
        if task.get("ended_at"):
            details.append(_duration(task.get("started_at"), task.get("ended_at")))
        if state == "FAILED" and task.get("error_message"):
            details.append(task["error_message"])
        yield f"task {task['task_type']} {state}" + (f" ({', '.join(details)})" if details else "")
    if seen.get("") != body["job_state"]:
        seen[""] = body["job_state"]
        if body["job_state"] not in TERMINAL:
            yield f"request {body['id']} {body['job_state']}"
    reason = waiting_reason(body)
    if seen.get("\0waiting", "") != reason:
        seen["\0waiting"] = reason
        if reason:
            yield f"request {body['id']} waiting: {reason}"


def _wait(client: ApiClient, created: dict[str, Any], timeout: float | None, *,
          quiet: bool) -> tuple[dict[str, Any], bool]:
    """Poll until the request is terminal; the last body and whether it got there before the timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    request_id = created["id"]
    body = _fetch(client, request_id)

    def done() -> bool:
        return body["job_state"] in TERMINAL

    def expired() -> bool:
        return deadline is not None and time.monotonic() >= deadline

    def pause() -> None:
        left = POLL_SECONDS if deadline is None else max(0.0, min(POLL_SECONDS, deadline - time.monotonic()))
        time.sleep(left)

    if quiet:
        while not done() and not expired():
            pause()
            body = _fetch(client, request_id)
    elif console.is_terminal:
        def view() -> RenderableType:
            waiting = _waiting_line(body)
            tasks = [fit(_tasks_table(body))] if _tasks(body) else []
            return Group(_header(body), *([waiting] if waiting else []), *tasks)

        with Live(view(), console=console, refresh_per_second=8) as live:
            while not done() and not expired():
                pause()
                body = _fetch(client, request_id)
                live.update(view())
    else:
        seen: dict[str, str] = {"": created["job_state"]}
        for line in _changes(body, seen):
            print(line, flush=True)
        while not done() and not expired():
            pause()
            body = _fetch(client, request_id)
            for line in _changes(body, seen):
                print(line, flush=True)
    return body, done()


def submit(ctx: typer.Context,
           job_type: Annotated[str, typer.Argument(help="The job type to run.")],
           param: Annotated[list[str] | None, typer.Option(
               "-p", "--param", metavar="NAME=VALUE", help="A parameter, as a string (repeatable).")] = None,
           param_json: Annotated[list[str] | None, typer.Option(
               "--param-json", metavar="NAME=JSON", help="A parameter given as JSON: 3, true, [1,2], {…} "
                                                         "(repeatable).")] = None,
           secret: Annotated[list[str] | None, typer.Option(
               "--secret", metavar="NAME=VALUE", help="A secret parameter: stored encrypted, shown as **** "
                                                      "(repeatable).")] = None,
           priority: Annotated[int | None, typer.Option(help="Job priority; higher runs first.")] = None,
           scheduled_at: Annotated[str | None, typer.Option(
               help="Run no earlier than this RFC 3339 time, e.g. 2030-01-02T15:04:05Z.")] = None,
           user_key: Annotated[str | None, typer.Option(
               help="A key of yours: submitting the same key again returns the existing request.")] = None,
           wait: Annotated[bool, typer.Option(
               "--wait", help="Watch the request until it ends; exit 0 COMPLETED, 1 FAILED, 2 CANCELLED, "
                              "3 on --timeout.")] = False,
           timeout: Annotated[float | None, typer.Option(
               help="With --wait: give up after this many seconds (exit 3; the request keeps running).",
               min=0)] = None) -> None:
    """Submit a job request; with --wait, watch its tasks until it ends."""
    params: dict[str, Any] = dict(_pairs(param, "--param"))
    for name, text in _pairs(param_json, "--param-json"):
        try:
            params[name] = json.loads(text)
        except ValueError as exc:
            raise typer.BadParameter(f"{name}: not JSON: {text!r}", param_hint="--param-json") from exc
    body: dict[str, Any] = {"job_type": job_type, "params": params}
    secrets = dict(_pairs(secret, "--secret"))
    if secrets:
        body["secret_params"] = secrets
    if priority is not None:
        body["job_priority"] = priority
    if scheduled_at:
        body["scheduled_at"] = scheduled_at
    if user_key:
        body["user_key"] = user_key
    client = client_of(ctx)
    as_json = json_wanted(ctx)
    response = client.request("POST", "/api/jobs/requests", json=body)
    created: dict[str, Any] = response.json()
    if as_json and not wait:
        print_json(created)
        return
    if not as_json:
        verb = "submitted request" if response.status_code == 201 else "existing request for this user key:"
        _say(Text.assemble(f"{verb} ", (created["id"], "bold"), " (", _state_text(created["job_state"]), ")"))
    if not wait:
        return
    try:
        final, finished = _wait(client, created, timeout, quiet=as_json)
    except KeyboardInterrupt:
        err_console.print(f"stopped watching; request {created['id']} goes on "
                          f"(`myrmica requests cancel {created['id']}` stops it)")
        raise typer.Exit(130) from None
    if as_json:
        print_json(final)
    if not finished:
        waiting = waiting_reason(final)
        err_console.print(Text.assemble(("timed out", "yellow"), f" after {timeout:g}s: request {final['id']} is "
                                        f"{final['job_state']}" + (f" (waiting: {waiting})" if waiting else "")
                                        + " and goes on"), highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_TIMEOUT)
    if not as_json:
        _say(_outcome(final))
    raise typer.Exit(EXIT_CODES[final["job_state"]])


# ---------------------------------------------------------------------------------------------- requests …


@app.command("list")
def list_(ctx: typer.Context,
          job_type: Annotated[str | None, typer.Option(help="Only this job type.")] = None,
          state: Annotated[str | None, typer.Option(
              help="Only this state (PENDING, EXECUTING, COMPLETED, FAILED, …) or group (RUNNING, WAITING, DONE); "
                   "comma-separated for several.")] = None,
          page: Annotated[int, typer.Option(help="Page number, from 1.", min=1)] = 1,
          page_size: Annotated[int, typer.Option(help="Requests per page.", min=1)] = 100) -> None:
    """List job requests, newest first, with why each waiting one waits and why each failed one failed."""
    params: dict[str, str | int] = {"page": page - 1, "page_size": page_size}  # the API counts pages from 0
    if job_type:
        params["job_type"] = job_type
    if state:
        params["job_state"] = state
    body = client_of(ctx).json("GET", "/api/jobs/requests", params=params)
    if json_wanted(ctx):
        print_json(body)
        return
    title = f"Job requests ({body['TotalRecords']}, page {int(body['Page']) + 1} of {max(1, body['TotalPages'])})"
    reasons = {r["id"]: _reason(r) for r in body["Records"] if _reason(r).plain}
    table = _requests_table(title, body["Records"], reasons)
    if reasons and room(table) < REASON_ROOM:
        # Too narrow for a readable reason column: each reason goes on its own line below the table.
        print_fitted(_requests_table(title, body["Records"], {}))
        below = Table.grid(padding=(0, 2))
        below.add_column(no_wrap=True)
        below.add_column(overflow="fold")
        for request_id, reason in reasons.items():
            below.add_row(request_id, reason)
        console.print(below)
        return
    print_fitted(table)


REASON_ROOM = 10 + 8 + 24  # created (folded), duration, and a reason column worth reading


def _reason(request: dict[str, Any]) -> Text:
    waiting = waiting_reason(request)
    if waiting:
        return Text.assemble("waiting: ", (waiting, "yellow"))
    return Text(request.get("error_code") or "", style="red")


def _requests_table(title: str, records: list[dict[str, Any]], reasons: dict[str, Text]) -> Table:
    table = new_table(title, [Id("id"), Key("job type"), Key("state"), Words("created"),
                                      Words("duration")]
                      + (["reason"] if reasons else []))
    for r in records:
        started = r.get("started_at")
        table.add_row(r["id"], Text(f"{r['job_type']} v{r['job_version']}"), _state_text(r["job_state"]),
                      Text(_when(r["created_at"])),
                      Text(_duration(started, r.get("ended_at"), r.get("retried")) if started else ""),
                      *([reasons.get(r["id"], Text(""))] if reasons else []))
    return table


@app.command("show")
def show(ctx: typer.Context, request_id: RequestId) -> None:
    """Show one request and its tasks."""
    body = _fetch(client_of(ctx), request_id)
    if json_wanted(ctx):
        print_json(body)
        return
    _say(_header(body))
    facts = [("priority", body["job_priority"]), ("scheduled", _when(body["scheduled_at"])),
             ("started", _when(body.get("started_at"))), ("ended", _when(body.get("ended_at"))),
             ("duration", _duration(body.get("started_at"), body.get("ended_at"))),
             ("user key", body.get("user_key")), ("retried", body.get("retried") or None),
             ("params", ", ".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}"
                                  for k, v in sorted((body.get("params") or {}).items())))]
    if body["job_state"] == "PAUSED":
        facts.insert(1, ("resumes at", f" {_when(body['scheduled_at'])} UTC (by itself; `requests restart` runs it "
                                       f"now)"))
    for name, value in facts:
        if value not in (None, ""):
            _say(f"  {name + ':':<11}{value}")
    if body["job_state"] != "COMPLETED" and (body.get("error_code") or body.get("error_message")):
        _say(Text(f"  {'error:':<11}{body.get('error_code') or ''} {body.get('error_message') or ''}".rstrip(),
                  style="red"))
    if _tasks(body):
        print_fitted(_tasks_table(body, errors=True))


def _act(ctx: typer.Context, path: str, verb: str, *, params: dict[str, str] | None = None,
         json_body: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = client_of(ctx).json("POST", path, params=params, json=json_body)
    if json_wanted(ctx):
        print_json(body)
    elif "job_state" in body:
        _say(Text.assemble(f"{verb} ", (body["id"], "bold"), " (", _state_text(body["job_state"]), ")"))
    return body


@app.command("cancel")
def cancel(ctx: typer.Context, request_id: RequestId) -> None:
    """Cancel a request that has not ended (and the child requests it started)."""
    _act(ctx, f"/api/jobs/requests/{request_id}/cancel", "cancelled")


@app.command("restart")
def restart(ctx: typer.Context, request_id: RequestId,
            hard: Annotated[bool, typer.Option("--hard", help="Start over from the first task, on the latest "
                                                              "definition.")] = False,
            version: Annotated[str | None, typer.Option(help="Run this version of the definition.")] = None) -> None:
    """Run a FAILED, CANCELLED or PAUSED request again now, reusing the tasks it completed (--hard: none).

    A PAUSED request needs no restart: it resumes by itself once the job's pause_time has passed.
    """
    params = {"hard": "true"} if hard else {}
    if version:
        params["version"] = version
    _act(ctx, f"/api/jobs/requests/{request_id}/restart", "restarted", params=params)


@app.command("pause")
def pause(ctx: typer.Context, request_id: RequestId) -> None:
    """Pause an EXECUTING request: its running task stops, and the request resumes by itself after the job's
    pause_time (30-39 s when unset), running that task again and skipping the tasks it completed.

    `requests show` says when it resumes; `requests restart` runs it again at once; `requests cancel` ends it.
    Each pause adds one to the request's `retried` (the template's JobRetry).
    """
    _act(ctx, f"/api/jobs/requests/{request_id}/pause", "paused")


@app.command("trigger")
def trigger(ctx: typer.Context, request_id: RequestId) -> None:
    """Run a PENDING (scheduled) request now."""
    _act(ctx, f"/api/jobs/requests/{request_id}/trigger", "triggered")


def _vote(ctx: typer.Context, request_id: str, task: str, decision: str, comments: str) -> None:
    body = _act(ctx, f"/api/jobs/requests/{request_id}/tasks/{task}/vote", "",
                json_body={"decision": decision, "comments": comments})
    if json_wanted(ctx):
        return
    outcome = body.get("decision", decision)
    if outcome == "PENDING":
        _say(f"{decision.lower()} {task} of {request_id}: {body.get('approvals_received', 0)} of "
             f"{body.get('min_approvals_required', 1)} approvals so far")
    else:
        _say(Text.assemble(f"{task} of {request_id}: ", _state_text("COMPLETED" if outcome == "APPROVED" else "FAILED"),
                           f" ({outcome})"))


@app.command("approve")
def approve(ctx: typer.Context, request_id: RequestId,
            task: Annotated[str, typer.Argument(help="The task awaiting approval.")],
            comments: Annotated[str, typer.Option(help="Why (optional).")] = "") -> None:
    """Approve a MANUAL task that awaits approval."""
    _vote(ctx, request_id, task, "APPROVED", comments)


@app.command("reject")
def reject(ctx: typer.Context, request_id: RequestId,
           task: Annotated[str, typer.Argument(help="The task awaiting approval.")],
           comments: Annotated[str, typer.Option(help="Why (required).")]) -> None:
    """Reject a MANUAL task that awaits approval."""
    _vote(ctx, request_id, task, "REJECTED", comments)


# ---------------------------------------------------------------------------------------------- logs, ants


def _print_line(line: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(line), flush=True)
    elif line.get("stream") == "marker":  # between two runs of the request (paused, resumed, restarted …)
        if console.is_terminal:
            console.print(Text(f"── {line['line']} ──", style="bold magenta"), soft_wrap=True, highlight=False)
        else:
            print(f"── {line['line']} ──", flush=True)
    elif console.is_terminal:
        style = {"stderr": "red", "system": "yellow"}.get(line.get("stream") or "", "")
        console.print(Text.assemble((f"[{line['task_type']}] ", "dim"), (line["line"], style)),
                      soft_wrap=True, highlight=False)
    else:
        print(f"[{line['task_type']}] {line['line']}", flush=True)


def sse_events(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(event, data) for each message of a text/event-stream given line by line."""
    event = "message"
    data: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r")
        if line == "":
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    if data:
        yield event, "\n".join(data)


def _follow(client: ApiClient, request_id: str, params: dict[str, str], as_json: bool) -> str:
    """Print lines as they come; the request's final state from the ``end`` event."""
    try:
        with client.stream(f"/api/jobs/requests/{request_id}/logs", params={**params, "follow": "true"}) as response:
            assert isinstance(response, httpx.Response)
            if response.status_code >= 400:
                response.read()
                try:
                    message = response.json().get("error") or response.text
                except ValueError:
                    message = response.text
                raise ClientError(response.status_code, f"{response.status_code}: {message}")
            for event, data in sse_events(response.iter_lines()):
                if event == "log":
                    _print_line(json.loads(data), as_json)
                elif event == "end":
                    state: str = json.loads(data).get("job_state", "")
                    return state
    except httpx.ConnectError as exc:
        raise ClientError(0, f"cannot reach the server at {client.url}: is `myrmica server` running?") from exc
    except httpx.HTTPError as exc:
        raise ClientError(0, f"log stream from {client.url} failed: {exc}") from exc
    raise ClientError(0, "the log stream ended before the request did")


def logs(ctx: typer.Context, request_id: RequestId,
         follow: Annotated[bool, typer.Option("-f", "--follow", help="Keep printing lines as they come until the "
                                                                     "request ends.")] = False,
         task: Annotated[str | None, typer.Option(help="Only this task's lines.")] = None) -> None:
    """Print what a request's tasks wrote, each line after its task's name (stderr in red); -f follows it live."""
    client = client_of(ctx)
    as_json = json_wanted(ctx)
    params = {"task_type": task} if task else {}
    if follow:
        _follow(client, request_id, params, as_json)
        return
    body = client.json("GET", f"/api/jobs/requests/{request_id}/logs", params=params)
    if as_json:
        print_json(body)
        return
    for line in body["lines"]:
        _print_line(line, False)


def ants(ctx: typer.Context) -> None:
    """List the workers (ants) the server knows, with their load (admin only)."""
    body = client_of(ctx).json("GET", "/api/ants")
    if json_wanted(ctx):
        print_json(body)
        return
    table = new_table(f"Ants ({body['TotalRecords']})", [Id("id"), "methods", "tags", "load", "alive", "host"])
    for ant in body["Records"]:
        table.add_row(ant["ant_id"], Text(", ".join(ant.get("methods") or [])), Text(", ".join(ant.get("tags") or [])),
                      f"{ant['current_load']}/{ant['max_capacity']}",
                      Text("yes", style="green") if ant.get("alive") else Text("no", style="red"),
                      Text(_cell(ant.get("host"))))
    print_fitted(table)
