"""Reading request bodies with a size limit, so an oversize body is refused before it is buffered."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from myrmica.api.context import context_of
from myrmica.api.errors import ApiError


async def read_body(request: Request, limit: int | None = None) -> bytes:
    limit = limit or context_of(request).settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"the body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_text(request: Request) -> str:
    raw = await read_body(request)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "the body is not UTF-8 text", field="body") from exc


async def read_json_object(request: Request) -> dict[str, Any]:
    text = await read_text(request)
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"malformed JSON at line {exc.lineno}: {exc.msg}", field="body") from exc
    if not isinstance(value, dict):
        raise ApiError(400, "the body must be a JSON object", field="body")
    return value
