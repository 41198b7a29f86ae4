"""Signing in and out, the job definitions and the ants."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from myrmica.api.context import context_of
from myrmica.api.errors import ApiError
from myrmica.api.pagination import int_param
from myrmica.domain.errors import DomainError, NotFoundError
from myrmica.web.queries import Queries
from myrmica.web.render import fragment, fragment_html, page
from myrmica.web.routing import one, read_form, router, who
from myrmica.web.session import Viewer, safe_next, sign_in, sign_in_with_password, sign_out

routes = router()

PAGE_SIZE = 50
DEFINITION_NOTICES = {"created": "Saved a new version.", "unchanged": "Unchanged: this version already has that text.",
                      "enabled": "Enabled: it takes requests again.",
                      "disabled": "Disabled: new requests are refused until it is enabled."}


def page_number(request: Request) -> int:
    """The page asked for, counted from 1 in the dashboard's links (0-based in the queries)."""
    return int_param(request, "page", default=1, minimum=1, maximum=1_000_000) - 1


def page_query(params: dict[str, Any]) -> str:
    """The listing's other query parameters, for the pager's links."""
    query = urlencode([(k, v) for k, values in params.items() for v in (values if isinstance(values, list)
                                                                       else [values]) if v], doseq=False)
    return f"{query}&" if query else ""


# --- signing in ---------------------------------------------------------------------------------

@routes.get("/")
async def home(request: Request) -> Response:
    await who(request)
    return RedirectResponse("/requests", status_code=303)


@routes.get("/login")
async def login_form(request: Request) -> Response:
    if not context_of(request).settings.auth_enabled:
        return RedirectResponse("/", status_code=303)
    return page(request, "login.html", None, title="Sign in", next=safe_next(request.query_params.get("next")))


@routes.post("/login")
async def login(request: Request) -> Response:
    fields = await read_form(request)
    target = safe_next(one(fields, "next"))
    response = RedirectResponse(target, status_code=303)
    method = one(fields, "method") or ("token" if "token" in fields else "password")
    if method == "token":
        if await sign_in(request, response, one(fields, "token")) is None:
            return page(request, "login.html", None, status=401, title="Sign in", next=target, method="token",
                        problem="That token is not valid: it is unknown, expired or revoked.")
        return response
    username = one(fields, "username")
    if await sign_in_with_password(request, response, username, one(fields, "password")) is None:
        return page(request, "login.html", None, status=401, title="Sign in", next=target, username=username[:200],
                    problem="Wrong username or password.")
    return response


@routes.post("/logout")
async def logout(request: Request) -> Response:
    await read_form(request)
    response = RedirectResponse("/login", status_code=303)
    await sign_out(request, response)
    return response


# --- definitions --------------------------------------------------------------------------------

async def _definitions_page(request: Request, viewer: Viewer, *, status: int = 200, **extra: Any) -> Response:
    search = request.query_params.get("q", "").strip()[:200]
    listing = await Queries.of(request).definitions(viewer.principal, search, page_number(request), PAGE_SIZE)
    return page(request, "definitions.html", viewer, status=status, title="Definitions", listing=listing,
                search=search, page_query=page_query({"q": search}), **extra)


@routes.get("/definitions")
async def definitions(request: Request) -> Response:
    viewer = await who(request)
    return await _definitions_page(request, viewer)


@routes.post("/definitions")
async def upload(request: Request) -> Response:
    viewer = await who(request)
    fields = await read_form(request)
    source = one(fields, "source")
    try:
        saved, created, warnings = await Queries.of(request).upload(viewer.principal, source, "")
    except DomainError as exc:
        return await _definitions_page(request, viewer, status=exc.status, problem=_problem(exc), source=source)
    target = f"/definitions/{quote(saved['job_type'], safe='')}"
    if warnings:
        return await _definition_page(request, viewer, saved["job_type"], None, status=201 if created else 200,
                                      notice=DEFINITION_NOTICES["created" if created else "unchanged"],
                                      warnings=warnings)
    return RedirectResponse(f"{target}?notice={'created' if created else 'unchanged'}", status_code=303)


def _problem(exc: DomainError) -> str:
    where = exc.field or exc.task
    return f"{exc.message} ({where})" if where and where not in exc.message else exc.message


async def _definition_page(request: Request, viewer: Viewer, job_type: str, version: int | None, *,
                           status: int = 200, **extra: Any) -> Response:
    queries = Queries.of(request)
    found = await queries.definition(viewer.principal, job_type, version)
    try:
        versions = await queries.versions(viewer.principal, found["job_type"])
    except NotFoundError:  # another tenant's public plugin: its versions are its owner's
        versions = [found]
    graph = await queries.definition_graph(viewer.principal, found["id"], None)
    notice = DEFINITION_NOTICES.get(request.query_params.get("notice", ""))
    return page(request, "definition.html", viewer, status=status, title=found["job_type"], d=found,
                versions=versions, graph=graph, **{"notice": notice, **extra})


@routes.get("/definitions/{job_type}")
async def definition(job_type: str, request: Request) -> Response:
    viewer = await who(request)
    version = int_param(request, "version", default=0, minimum=1) or None
    return await _definition_page(request, viewer, job_type, version)


@routes.post("/definitions/{job_type}/enable")
async def enable(job_type: str, request: Request) -> Response:
    return await _set_disabled(request, job_type, False)


@routes.post("/definitions/{job_type}/disable")
async def disable(job_type: str, request: Request) -> Response:
    return await _set_disabled(request, job_type, True)


async def _set_disabled(request: Request, job_type: str, disabled: bool) -> Response:
    viewer = await who(request)
    await read_form(request)
    row = await Queries.of(request).set_disabled(viewer.principal, job_type, disabled)
    target = f"/definitions/{quote(row['job_type'], safe='')}?notice={'disabled' if disabled else 'enabled'}"
    return RedirectResponse(target, status_code=303)


def submit_body(job_type: str, fields: dict[str, list[str]]) -> dict[str, Any]:
    """The form as a ``POST /api/jobs/requests`` body: ``param:NAME`` fields, then ``NAME=value`` lines."""
    params: dict[str, Any] = {}
    for name, values in fields.items():
        if name.startswith("param:") and values and values[0] != "":  # an empty field is a param not given
            params[name.removeprefix("param:")] = values[0]
    for number, line in enumerate(one(fields, "params").splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise ApiError(422, f"params line {number} is not NAME=value", field="params")
        params[name.strip()] = value
    priority_text = one(fields, "job_priority", "0").strip() or "0"
    digits = priority_text.removeprefix("-")
    if not digits.isascii() or not digits.isdigit() or len(digits) > 10:
        raise ApiError(422, "priority must be a whole number", field="job_priority")
    return {"job_type": job_type, "params": params, "job_priority": int(priority_text)}


@routes.post("/definitions/{job_type}/submit")
async def submit(job_type: str, request: Request) -> Response:
    viewer = await who(request)
    fields = await read_form(request)
    form = {name: values[0] for name, values in fields.items() if values and name != "csrf"}
    try:
        created = await Queries.of(request).submit(viewer.principal, submit_body(job_type, fields))
    except ApiError as exc:
        return await _definition_page(request, viewer, job_type, None, status=exc.status, problem=exc.message,
                                      form=form)
    except DomainError as exc:
        if isinstance(exc, NotFoundError) and exc.field is None:
            raise
        return await _definition_page(request, viewer, job_type, None, status=exc.status, problem=_problem(exc),
                                      form=form)
    return RedirectResponse(f"/requests/{created['id']}?notice=submitted", status_code=303)


# --- ants ---------------------------------------------------------------------------------------

@routes.get("/ants")
async def ants(request: Request) -> Response:
    viewer = await who(request)
    live, _ = fragment_html(request, "ants_live.html", ants=Queries.of(request).ants(viewer.principal))
    return page(request, "ants.html", viewer, title="Ants", live=live)


@routes.get("/ants/live")
async def ants_live(request: Request) -> Response:
    viewer = await who(request)
    return fragment(request, "ants_live.html", seen=request.query_params.get("seen"),
                    ants=Queries.of(request).ants(viewer.principal))
