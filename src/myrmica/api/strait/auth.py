"""Who calls a Strait route, and for which project.

Strait's API keys are Myrmica's bearer tokens. A project is a Myrmica organisation: a token issued to a
user of an organisation is that project's key (scoped to it: another project's id is 403, its jobs
404). A token of a user without an organisation acts for that user's own project (its id). The admin's
token may name any project (``project_id`` in the query or body, or ``X-Project-Id``); without one it
acts for the admin's own. A key issued with scopes (``domain/strait/scopes.py``) is refused a route
whose scope it lacks: 403 ``insufficient_scope``.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from myrmica.api.auth import current_principal
from myrmica.api.body import read_text
from myrmica.api.context import context_of
from myrmica.domain.documents import load_json
from myrmica.domain.errors import ValidationError
from myrmica.domain.principal import Principal
from myrmica.domain.strait.errors import StraitError, bad
from myrmica.domain.strait.scopes import needed_scope
from myrmica.service.strait import StraitJobs
from myrmica.service.strait_runs import StraitRuns

MAX_PROJECT = 64


async def strait_principal(request: Request, project_id: str | None = None) -> Principal:
    principal = await current_principal(request)
    if principal.scopes is not None:
        scope = needed_scope(request.method, request.url.path)
        if scope not in principal.scopes:
            raise StraitError(f"the API key lacks the {scope} scope", field="scope", status=403,
                              code="insufficient_scope")
    wanted = project_id or request.headers.get("x-project-id") or request.query_params.get("project_id") or ""
    if not wanted or wanted == principal.owner_key:
        return principal
    if len(wanted) > MAX_PROJECT or any(ord(c) < 33 for c in wanted):
        raise bad("invalid project_id", "project_id")
    if not principal.admin:
        raise StraitError("the API key does not belong to this project", field="project_id", status=403)
    return Principal(user_id=principal.user_id, username=principal.username, organization_id=wanted,
                     scopes=principal.scopes)


def strait_of(request: Request) -> tuple[StraitJobs, StraitRuns]:
    jobs, runs = context_of(request).services["strait"]
    return jobs, runs


async def read_json(request: Request, *, empty: Any = None) -> Any:
    """The body as JSON through the bounded reader; 400 "invalid request body" when it is not JSON."""
    text = await read_text(request)
    if not text.strip():
        return empty
    try:
        return load_json(text)
    except ValidationError as exc:
        raise bad(f"invalid request body: {exc.message}", exc.field or "body") from None


def endpoint_rules(request: Request) -> dict[str, Any]:
    """The endpoint URL rules of the settings (private targets allowed, the allow-list)."""
    settings = context_of(request).settings
    return {"allow_private": settings.http_allow_private,
            "allowed_hosts": frozenset(h.strip().lower() for h in settings.http_allowed_hosts if h.strip())}
