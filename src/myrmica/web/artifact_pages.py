"""The artifacts: every one the viewer may see, and a download of one (as ``/api/artifacts/{id}/download``)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request, Response

from myrmica.web.pages import PAGE_SIZE, page_number
from myrmica.web.queries import Queries
from myrmica.web.render import SECURITY_HEADERS, page
from myrmica.web.routing import router, who

routes = router()


@routes.get("/artifacts")
async def artifacts(request: Request) -> Response:
    viewer = await who(request)
    listing = await Queries.of(request).artifacts(viewer.principal, page_number(request), PAGE_SIZE)
    return page(request, "artifacts.html", viewer, title="Artifacts", listing=listing, page_query="")


@routes.get("/artifacts/{artifact_id}/download")
async def download(artifact_id: str, request: Request) -> Response:
    """The bytes as an attachment, never shown inline (an artifact's HTML must not run as this site's page)."""
    viewer = await who(request)
    found, data = await Queries.of(request).artifact_content(viewer.principal, artifact_id)
    return Response(data, media_type="application/octet-stream", headers={
        **SECURITY_HEADERS, "Content-Disposition": attachment(str(found["name"] or found["id"])),
        "ETag": f'"{found["sha256"]}"'})


def attachment(name: str) -> str:
    """``Content-Disposition`` for a download named ``name`` (any text: an ASCII fallback, and UTF-8)."""
    plain = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in name) or "artifact"
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"
