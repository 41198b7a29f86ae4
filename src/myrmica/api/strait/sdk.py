"""Strait's SDK routes (spec/strait.md §5): a run's own code calling back with its run token.

``/sdk/v1/runs/{run_id}/…`` with ``Authorization: Bearer <run token>`` (the ``X-Run-Token`` the run was
sent, or the trigger's ``run_token``): ``POST heartbeat`` → ``{"status": "ok"}``; ``POST complete``
``{result}``; ``POST fail`` ``{error}`` (required); ``GET payload``; ``POST log`` ``{message, level}``;
``POST progress`` ``{progress}`` (any JSON); ``POST checkpoint`` ``{data}`` (any JSON, ≤ 256 KiB; the
next attempt gets it as ``X-Last-Checkpoint``). A bad or expired token is 401, another run's 403, an
unknown run 404, a run that does not execute 409; errors in Strait's envelope. Each is a call of the
run-callbacks service (service/run_callbacks.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from myrmica.api.context import context_of
from myrmica.api.strait.auth import read_json
from myrmica.api.strait.router import strait_router
from myrmica.domain.strait.errors import bad
from myrmica.service.run_callbacks import RunCallbacks

router = strait_router()
OK = {"status": "ok"}
BASE = "/sdk/v1/runs/{run_id}"


def _callbacks(request: Request) -> RunCallbacks:
    callbacks: RunCallbacks = context_of(request).services["runs"]
    return callbacks


def _token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def _object(request: Request, *known: str) -> dict[str, Any]:
    body = await read_json(request, empty={})
    if not isinstance(body, dict):
        raise bad("invalid request body: expected a JSON object", "body")
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise bad(f"invalid request body: unknown field {unknown[0]!r}", unknown[0])
    return body


@router.post(BASE + "/heartbeat", summary="Report that the run is alive")
async def heartbeat(run_id: str, request: Request) -> JSONResponse:
    await _callbacks(request).heartbeat(run_id, _token(request))
    return JSONResponse(OK)


@router.post(BASE + "/complete", summary="End the run as completed with a result")
async def complete(run_id: str, request: Request) -> JSONResponse:
    body = await _object(request, "result")
    await _callbacks(request).complete(run_id, _token(request), body.get("result"))
    return JSONResponse(OK)


@router.post(BASE + "/fail", summary="End the run as failed")
async def fail(run_id: str, request: Request) -> JSONResponse:
    body = await _object(request, "error")
    error = body.get("error")
    if not isinstance(error, str) or not error.strip():
        raise bad("error is required", "error")
    await _callbacks(request).fail(run_id, _token(request), error)
    return JSONResponse(OK)


@router.get(BASE + "/payload", summary="The run's payload")
async def payload(run_id: str, request: Request) -> JSONResponse:
    return JSONResponse({"payload": await _callbacks(request).payload(run_id, _token(request))})


@router.post(BASE + "/log", summary="Add a line to the run's log")
async def log_line(run_id: str, request: Request) -> JSONResponse:
    body = await _object(request, "message", "level", "fields")
    message, level = body.get("message"), body.get("level", "info")
    if not isinstance(message, str) or not message:
        raise bad("message is required", "message")
    if not isinstance(level, str):
        raise bad("level must be a string", "level")
    await _callbacks(request).log(run_id, _token(request), message, level)
    return JSONResponse(OK)


@router.post(BASE + "/progress", summary="Report the run's progress")
async def progress(run_id: str, request: Request) -> JSONResponse:
    body = await _object(request, "progress", "message")
    if "progress" not in body:
        raise bad("progress is required", "progress")
    await _callbacks(request).progress(run_id, _token(request), body)
    return JSONResponse(OK)


@router.post(BASE + "/checkpoint", summary="Keep a checkpoint for the next attempt")
async def checkpoint(run_id: str, request: Request) -> JSONResponse:
    body = await _object(request, "data")
    if "data" not in body:
        raise bad("data is required", "data")
    await _callbacks(request).checkpoint(run_id, _token(request), body["data"])
    return JSONResponse(OK)
