"""``/api/artifacts``: what tasks kept, caches and uploads (spec §5, seed 000): list (the Page envelope),
upload (the raw body), get, download (by id or SHA-256), the making task's log, delete."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response

from myrmica.api.auth import current_principal
from myrmica.api.context import context_of
from myrmica.api.errors import ApiError
from myrmica.api.formicary.schemas import ArtifactOut, ArtifactPage, Done, answers
from myrmica.api.formicary.serializers import iso
from myrmica.api.openapi_docs import extra, q_int, q_str
from myrmica.api.pagination import envelope, page_of
from myrmica.domain.principal import Principal
from myrmica.service.artifacts import FILTERS, Artifacts, TooLarge, artifact_filters

router = APIRouter(prefix="/api/artifacts", tags=["artifacts"])

UPLOAD_FIELDS = ("name", "group")  # query parameters of an upload that are not metadata


def artifacts_of(request: Request) -> Artifacts:
    service: Artifacts = context_of(request).services["artifacts"]
    return service


def artifact_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "bucket": row["bucket"], "name": row["name"], "group": row["group"], "kind": row["kind"],
        "sha256": row["sha256"], "etag": row["etag"], "content_type": row["content_type"],
        "content_length": row["content_length"], "metadata": row["metadata"] or {}, "tags": row["tags"] or {},
        "user_id": row["user_id"], "organization_id": row["organization_id"],
        "job_request_id": row["job_request_id"], "job_execution_id": row["job_execution_id"],
        "task_execution_id": row["task_execution_id"], "task_type": row["task_type"],
        "artifact_order": row["artifact_order"], "permissions": row["permissions"],
        "expires_at": iso(row["expires_at"]), "url": f"/api/artifacts/{row['id']}/download",
        "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"]),
    }


def _disposition(name: str) -> str:
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name) or "artifact"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.get("", responses=answers(ArtifactPage),
            openapi_extra=extra(q_int("page"), q_int("page_size"), q_str("order"), *(q_str(f) for f in FILTERS)))
async def list_artifacts(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    page = page_of(request)
    filters = artifact_filters(list(request.query_params.multi_items()))
    rows, total = await artifacts_of(request).search(principal, filters, page=page.page, page_size=page.size)
    return envelope([artifact_json(row) for row in rows], total, page)


@router.post("", responses=answers(ArtifactOut),
             openapi_extra={**extra(q_str("name"), q_str("group")), "requestBody": {
                 "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def upload_artifact(request: Request, principal: Principal = Depends(current_principal)) -> Any:
    """The body is the artifact (kind ``USER_UPLOADED``); other query parameters become its metadata."""
    service = artifacts_of(request)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > service.max_upload_bytes:
        raise TooLarge(f"an upload is at most {service.max_upload_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > service.max_upload_bytes:
            raise TooLarge(f"an upload is at most {service.max_upload_bytes} bytes")
        chunks.append(chunk)
    query = request.query_params
    metadata = {k: v[:500] for k, v in query.items() if k not in UPLOAD_FIELDS}
    if len(metadata) > 50:
        raise ApiError(400, "at most 50 metadata parameters")
    if "group" in query:
        metadata["group"] = query["group"]
    content_type = request.headers.get("content-type") or "application/octet-stream"
    row = await service.upload(principal, b"".join(chunks), name=query.get("name", ""),
                               content_type=content_type.split(";")[0].strip()[:200] or "application/octet-stream",
                               metadata=metadata)
    return artifact_json(row)


@router.get("/{artifact_id}", responses=answers(ArtifactOut))
async def get_artifact(artifact_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    return artifact_json(await artifacts_of(request).get(principal, artifact_id))


@router.get("/{artifact_id}/download", responses=answers(media="application/octet-stream"))
async def download_artifact(artifact_id: str, request: Request,
                            principal: Principal = Depends(current_principal)) -> Response:
    """By id or SHA-256, as an attachment."""
    row, data = await artifacts_of(request).content(principal, artifact_id)
    return Response(data, media_type=row["content_type"] or "application/octet-stream",
                    headers={"Content-Disposition": _disposition(str(row["name"] or row["id"])),
                             "ETag": f'"{row["sha256"]}"'})


@router.get("/{artifact_id}/download/raw", responses=answers(media="application/octet-stream"))
async def download_raw(artifact_id: str, request: Request,
                       principal: Principal = Depends(current_principal)) -> Response:
    """The bytes inline (no attachment header)."""
    row, data = await artifacts_of(request).content(principal, artifact_id)
    return Response(data, media_type=row["content_type"] or "application/octet-stream")


@router.get("/{artifact_id}/logs", responses=answers(media="text/plain"))
async def artifact_logs(artifact_id: str, request: Request,
                        principal: Principal = Depends(current_principal)) -> Response:
    """The console log of the task that made the artifact."""
    row, text = await artifacts_of(request).logs(principal, artifact_id)
    return Response(text, media_type="text/plain; charset=utf-8",
                    headers={"Content-Disposition": _disposition(f"{row['task_type'] or 'task'}_console.txt")})


@router.delete("/{artifact_id}", responses=answers(Done))
async def delete_artifact(artifact_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Any:
    await artifacts_of(request).delete(principal, artifact_id)
    return {"id": artifact_id, "deleted": True}
