"""Drawing DOT graphs with Graphviz's ``dot`` program (Debian package ``graphviz``)."""

from __future__ import annotations

import asyncio
import contextlib

from myrmica.api.errors import ApiError

FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
DRAW_SECONDS = 30.0
MISSING = ("Graphviz is not installed on the server, so it cannot draw graphs (the `dot` program{where} is "
           "missing; on Debian: apt-get install graphviz). The graph's DOT text is at /dot")


async def draw(dot_source: str, fmt: str, program: str = "dot") -> bytes:
    """The graph drawn as ``fmt`` (png or svg); 503 when Graphviz is missing or stuck, 422 when it refuses."""
    try:
        process = await asyncio.create_subprocess_exec(
            program, f"-T{fmt}", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
    except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
        where = "" if program == "dot" else f" at {program}"
        raise ApiError(503, MISSING.format(where=where)) from exc
    try:
        out, err = await asyncio.wait_for(process.communicate(dot_source.encode()), timeout=DRAW_SECONDS)
    except TimeoutError as exc:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise ApiError(503, f"Graphviz did not draw the graph within {DRAW_SECONDS:g}s") from exc
    if process.returncode != 0:
        raise ApiError(422, f"Graphviz could not draw the graph: {err.decode(errors='replace')[:200]}")
    return out
