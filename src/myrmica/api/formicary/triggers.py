"""``POST /api/triggers/{job_type}/{trigger_name}``: a job's webhook trigger (spec §2.8). No API token:
the trigger's own ``auth`` (an HMAC signature, a bearer token or an API key header) when it has one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from myrmica.api.context import context_of
from myrmica.api.formicary.schemas import answers
from myrmica.domain.errors import DomainError, NotFoundError
from myrmica.service.triggers import MAX_BODY_BYTES, AuthenticationFailed, BodyTooLarge, WebhookTriggers

router = APIRouter(prefix="/api/triggers", tags=["triggers"])


@router.post("/{job_type}/{trigger_name}", status_code=202,
             responses={**answers(), 202: {"description": "{request_id} (empty: filtered, rate-limited or a "
                                                          "duplicate; then filtered: true)"}})
async def fire_trigger(job_type: str, trigger_name: str, request: Request) -> Any:
    triggers: WebhookTriggers = context_of(request).services["triggers"]
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return JSONResponse({"error": f"a trigger's body is at most {MAX_BODY_BYTES} bytes"}, status_code=413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return JSONResponse({"error": f"a trigger's body is at most {MAX_BODY_BYTES} bytes"}, status_code=413)
        chunks.append(chunk)
    try:
        fired = await triggers.fire(job_type, trigger_name, b"".join(chunks), dict(request.headers),
                                    dict(request.query_params))
    except AuthenticationFailed:
        return JSONResponse({"error": "authentication failed"}, status_code=401)
    except NotFoundError as exc:
        return JSONResponse({"error": exc.message}, status_code=404)
    except BodyTooLarge as exc:
        return JSONResponse({"error": exc.message}, status_code=413)
    except DomainError as exc:
        return JSONResponse({"error": exc.message}, status_code=exc.status if 400 <= exc.status < 500 else 400)
    body: dict[str, Any] = {"request_id": fired.request_id}
    if fired.filtered:
        body["filtered"] = True
    return JSONResponse(body, status_code=202)
