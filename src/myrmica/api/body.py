"""Reading request bodies with a size limit, so an oversize body is refused before it is buffered."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from fastapi import Request

from myrmica.api.context import context_of
from myrmica.api.errors import ApiError
from myrmica.domain.documents import check_value, load_json
from myrmica.domain.errors import ValidationError


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
    """The body as a JSON object, read through the bounded loader (depth, numbers, Unicode)."""
    text = await read_text(request)
    if not text.strip():
        return {}
    try:
        value = load_json(text)
    except ValidationError as exc:
        raise ApiError(400, exc.message, field=exc.field) from exc
    if not isinstance(value, dict):
        raise ApiError(400, "the body must be a JSON object", field="body")
    return value


async def read_fields(request: Request) -> dict[str, Any]:
    """Formicary's clients post form fields (``a=1&b=2``); JSON objects work too. Either way the values
    go through the same limits as any JSON body."""
    raw = (await read_text(request)).strip()
    if not raw:
        return {}
    if raw.startswith("{") or "json" in request.headers.get("content-type", ""):
        try:
            value = load_json(raw)
        except ValidationError as exc:
            raise ApiError(400, exc.message, field=exc.field) from exc
        if not isinstance(value, dict):
            raise ApiError(400, "the body must be a JSON object", field="body")
        return value
    try:
        fields = {k: v[0] for k, v in parse_qs(raw, max_num_fields=100).items()}
        check_value(fields)
    except ValueError as exc:
        raise ApiError(400, f"malformed form body: {exc}", field="body") from exc
    except ValidationError as exc:
        raise ApiError(400, exc.message, field=exc.field) from exc
    return fields
