"""``/api/jobs/definitions``: upload, read, version, disable, export and draw job definitions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from myrmica.api.auth import current_principal
from myrmica.api.body import read_fields, read_text
from myrmica.api.context import context_of
from myrmica.api.errors import ApiError
from myrmica.api.formicary.schemas import ConcurrencyBody, DefinitionOut, DefinitionPage, Done, answers
from myrmica.api.formicary.serializers import definition_json
from myrmica.api.graphviz import FORMATS, draw
from myrmica.api.jobs import jobs_of
from myrmica.api.openapi_docs import PAGING, body, extra, form_or_json, q_bool, q_int, q_str
from myrmica.api.pagination import bool_param, envelope, int_param, page_of
from myrmica.domain.definition_model import JobDefinitionSpec
from myrmica.domain.definitions import parse_definition
from myrmica.domain.errors import ValidationError
from myrmica.domain.numbers import INT32_MAX, strict_int
from myrmica.domain.principal import Principal
from myrmica.domain.records import DefinitionFilter, PageRequest

router = APIRouter(prefix="/api/jobs/definitions", tags=["job definitions"])
plugins_router = APIRouter(prefix="/api", tags=["job definitions"])
VERSION = extra(q_int("version", "a version number (default: the active one)", minimum=1, maximum=2**31 - 1))


def _version(request: Request) -> int | None:
    if request.query_params.get("version") in (None, ""):
        return None
    return int_param(request, "version", default=0, minimum=1)


async def _list(request: Request, principal: Principal, *, plugins_only: bool = False) -> dict[str, Any]:
    page = page_of(request)
    tags = [t.strip().lower() for t in request.query_params.get("tags", "").split(",") if t.strip()]
    flt = DefinitionFilter(
        job_type=request.query_params.get("job_type") or None,
        platform=request.query_params.get("platform") or None,
        disabled=bool_param(request, "disabled"),
        public_plugin=True if plugins_only else bool_param(request, "public_plugin"),
        tags=tags,
    )
    found = await jobs_of(request).definitions.search(principal, flt, PageRequest(page.page, page.size))
    return envelope([definition_json(record) for record in found.items], found.total, page)


@router.get("", responses=answers(DefinitionPage), openapi_extra=extra(
    *PAGING, q_str("job_type"), q_str("platform"),
    q_bool("disabled"), q_bool("public_plugin"), q_str("tags", "comma-separated")))
async def list_definitions(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return await _list(request, principal)


@plugins_router.get("/jobs/plugins", responses=answers(DefinitionPage), openapi_extra=extra(
    *PAGING, q_str("job_type"), q_str("platform"),
    q_bool("disabled"), q_bool("public_plugin"), q_str("tags", "comma-separated")))
async def list_plugins(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return await _list(request, principal, plugins_only=True)


@router.post("", responses=answers(DefinitionOut, 201), openapi_extra=extra(
    body(JobDefinitionSpec, "application/yaml", "application/json")))
async def upload_definition(request: Request, principal: Principal = Depends(current_principal)) -> Response:
    source = await read_text(request)
    parsed = parse_definition(source, request.headers.get("content-type"))
    saved = await jobs_of(request).definitions.upsert(principal, parsed)
    # Known keys Myrmica keeps but does not act on yet (Formicary's `resources`, `notify`, …).
    body = {**definition_json(saved.definition), "warnings": list(saved.warnings)}
    return JSONResponse(body, status_code=201 if saved.created else 200)


@router.get("/type/{job_type}/versions", responses=answers(list[DefinitionOut]))
async def definition_versions(job_type: str, request: Request,
                              principal: Principal = Depends(current_principal)) -> Any:
    records = await jobs_of(request).definitions.versions(principal, job_type)
    return [definition_json(record, with_tasks=False) for record in records]


@router.get("/{job_type}/yaml", responses=answers(media="application/yaml"), openapi_extra=VERSION)
async def definition_yaml(job_type: str, request: Request,
                          principal: Principal = Depends(current_principal)) -> Response:
    record = await jobs_of(request).definitions.get(principal, job_type, version=_version(request))
    media = "application/yaml" if record.raw_format == "yaml" else "application/json"
    return PlainTextResponse(record.raw_source, media_type=media)


async def _dot(request: Request, principal: Principal, definition_id: str) -> str:
    return await jobs_of(request).definitions.dot(principal, definition_id, version=_version(request))


@router.get("/{definition_id}/dot", responses=answers(media="text/vnd.graphviz"), openapi_extra=VERSION)
async def definition_dot_text(definition_id: str, request: Request,
                              principal: Principal = Depends(current_principal)) -> Response:
    return PlainTextResponse(await _dot(request, principal, definition_id), media_type="text/vnd.graphviz")


@router.get("/{definition_id}/dot.png", responses=answers(media="image/png"), openapi_extra=VERSION)
async def definition_dot_png(definition_id: str, request: Request,
                             principal: Principal = Depends(current_principal)) -> Response:
    return await _drawn(request, principal, definition_id, "png")


@router.get("/{definition_id}/dot.svg", responses=answers(media="image/svg+xml"), openapi_extra=VERSION)
async def definition_dot_svg(definition_id: str, request: Request,
                             principal: Principal = Depends(current_principal)) -> Response:
    return await _drawn(request, principal, definition_id, "svg")


async def _drawn(request: Request, principal: Principal, definition_id: str, fmt: str) -> Response:
    program = context_of(request).settings.graphviz_dot
    return Response(await draw(await _dot(request, principal, definition_id), fmt, program),
                    media_type=FORMATS[fmt])


@router.get("/{definition_id}", responses=answers(DefinitionOut), openapi_extra=VERSION)
async def get_definition(definition_id: str, request: Request,
                         principal: Principal = Depends(current_principal)) -> Any:
    return definition_json(await jobs_of(request).definitions.get(principal, definition_id, version=_version(request)))


@router.delete("/{definition_id}", responses=answers(Done))
async def delete_definition(definition_id: str, request: Request,
                            principal: Principal = Depends(current_principal)) -> Any:
    record = await jobs_of(request).definitions.delete(principal, definition_id)
    return {"id": record.id, "job_type": record.job_type, "deleted": True}


@router.post("/{definition_id}/disable", responses=answers(DefinitionOut))
async def disable_definition(definition_id: str, request: Request,
                             principal: Principal = Depends(current_principal)) -> Any:
    return definition_json(await jobs_of(request).definitions.set_disabled(principal, definition_id, True))


@router.post("/{definition_id}/enable", responses=answers(DefinitionOut))
async def enable_definition(definition_id: str, request: Request,
                            principal: Principal = Depends(current_principal)) -> Any:
    return definition_json(await jobs_of(request).definitions.set_disabled(principal, definition_id, False))


@router.put("/{definition_id}/concurrency", responses=answers(DefinitionOut),
            openapi_extra=extra(form_or_json(ConcurrencyBody)))
async def set_concurrency(definition_id: str, request: Request,
                          principal: Principal = Depends(current_principal)) -> Any:
    """Formicary sends a form field ``concurrency``; JSON ``{"concurrency": n}`` works too."""
    value = (await read_fields(request)).get("concurrency")
    if value is None:
        value = request.query_params.get("concurrency")
    try:
        concurrency = strict_int(value, "concurrency", minimum=1, maximum=INT32_MAX)
    except ValidationError as exc:
        raise ApiError(400, exc.message, field="concurrency") from exc
    return definition_json(await jobs_of(request).definitions.set_concurrency(principal, definition_id, concurrency))
