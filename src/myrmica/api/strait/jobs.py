"""``/v1/jobs``: create (one or a batch), list (tag filter, cursor), read, update, delete, clone,
enable/disable in batches, trigger and bulk trigger (spec/strait.md §6, §9).

Bodies are decoded strictly (an unknown field is a 400 naming it) and checked whole before anything is
stored (``domain/strait``); a job is then one call of the Strait service, which keeps it as a core
definition.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from myrmica.api.strait.auth import endpoint_rules, read_json, strait_of, strait_principal
from myrmica.api.strait.router import strait_router
from myrmica.api.strait.views import answer
from myrmica.domain.numbers import is_decimal
from myrmica.domain.strait.errors import StraitError, bad
from myrmica.domain.strait.trigger import idempotency_key, read_bulk, read_trigger
from myrmica.domain.strait.validate import clone_body, create_job, update_job
from myrmica.service.strait import MAX_BATCH
from myrmica.service.strait_runs import Triggered

router = strait_router()


def _limit(value: str | None) -> int:
    if value is None or value == "":
        return 50
    if not is_decimal(value) or len(value) > 6:
        raise bad("limit must be a positive integer", "limit")
    return max(1, min(int(value), 200))


@router.get("/jobs")
async def list_jobs(request: Request) -> Response:
    principal = await strait_principal(request)
    query = request.query_params
    jobs, _ = strait_of(request)
    found, cursor = await jobs.list_jobs(principal, tag_key=query.get("tag_key", ""), tag_value=query.get("tag_value"),
                                    cursor=query.get("cursor", ""), limit=_limit(query.get("limit")))
    headers = {"X-Next-Cursor": cursor} if cursor else None
    if query.get("envelope") == "true":  # the code's shape
        return answer({"data": [j.view() for j in found], "next_cursor": cursor or None, "has_more": bool(cursor)})
    return answer([j.view() for j in found], headers=headers)


async def _create_one(request: Request, body: Any) -> Any:
    project, config = create_job(body, **endpoint_rules(request))
    principal = await strait_principal(request, project or None)
    jobs, _ = strait_of(request)
    return await jobs.create(principal, config)


@router.post("/jobs", status_code=201)
async def create(request: Request) -> Response:
    await strait_principal(request)  # the key and its scope before the body
    job = await _create_one(request, await read_json(request))
    return answer(job.view(), 201)


@router.post("/jobs/batch", status_code=201)
async def batch_create(request: Request) -> Response:
    """The seed's array body (the code's ``{"jobs": [...]}`` too): 201 with the created jobs; each failed
    item is in ``errors`` (``X-Strait-Shape: code`` answers ``{created, errors}``); 400 when none was."""
    await strait_principal(request)  # the key and its scope before the body
    body = await read_json(request)
    items = body.get("jobs") if isinstance(body, dict) and set(body) == {"jobs"} else body
    if not isinstance(items, list) or not items:
        raise bad("invalid request body: expected a non-empty array of jobs", "jobs")
    if len(items) > MAX_BATCH:
        raise bad(f"at most {MAX_BATCH} jobs per batch", "jobs")
    created, errors = [], []
    for index, item in enumerate(items):
        try:
            created.append((await _create_one(request, item)).view())
        except StraitError as exc:
            errors.append({"index": index, "message": exc.message, "field": exc.field})
    if not created:
        raise StraitError(f"no job was created: item {errors[0]['index']}: {errors[0]['message']}",
                          field=f"[{errors[0]['index']}].{errors[0]['field'] or ''}".rstrip("."), status=400)
    if isinstance(body, dict):
        return answer({"created": created, "errors": errors}, 201)
    return answer(created, 201, headers={"X-Batch-Errors": str(len(errors))})


async def _batch_toggle(request: Request, enabled: bool) -> Response:
    principal = await strait_principal(request)
    body = await read_json(request)
    if not isinstance(body, dict) or len(body) != 1 or not set(body) <= {"ids", "job_ids"}:
        raise bad("invalid request body: expected {\"job_ids\": [...]}", "job_ids")
    ids = next(iter(body.values()))
    if not isinstance(ids, list) or not ids or len(ids) > MAX_BATCH or not all(isinstance(i, str) for i in ids):
        raise bad(f"job_ids must hold 1 to {MAX_BATCH} ids", "job_ids")
    jobs, _ = strait_of(request)
    return answer({"updated": await jobs.set_enabled(principal, list(dict.fromkeys(ids)), enabled)})


@router.post("/jobs/batch-enable")
async def batch_enable(request: Request) -> Response:
    return await _batch_toggle(request, True)


@router.post("/jobs/batch-disable")
async def batch_disable(request: Request) -> Response:
    return await _batch_toggle(request, False)


@router.get("/jobs/{job_id}")
async def get_job(request: Request, job_id: str) -> Response:
    principal = await strait_principal(request)
    jobs, _ = strait_of(request)
    return answer((await jobs.get(principal, job_id)).view())


@router.patch("/jobs/{job_id}")
async def update(request: Request, job_id: str) -> Response:
    principal = await strait_principal(request)
    jobs, _ = strait_of(request)
    job = await jobs.get(principal, job_id, fresh=True)
    body = await read_json(request, empty={})
    config = update_job(body, {**job.config, "project_id": job.project_id}, **endpoint_rules(request))
    if "webhook_secret" not in body:
        config["webhook_secret"] = ""
    updated = await jobs.update(principal, job, config, secret_given="webhook_secret" in body)
    return answer(updated.view())


@router.delete("/jobs/{job_id}", status_code=204)
async def delete(request: Request, job_id: str) -> Response:
    principal = await strait_principal(request)
    jobs, _ = strait_of(request)
    await jobs.delete(principal, await jobs.get(principal, job_id, fresh=True))
    return Response(status_code=204)


@router.post("/jobs/{job_id}/clone", status_code=201)
async def clone(request: Request, job_id: str) -> Response:
    principal = await strait_principal(request)
    jobs, _ = strait_of(request)
    job = await jobs.get(principal, job_id)
    name, slug = clone_body(await read_json(request, empty={}))
    return answer((await jobs.clone(principal, job, name, slug)).view(), 201)


@router.post("/jobs/{job_id}/trigger", status_code=201)
async def trigger(request: Request, job_id: str) -> Response:
    principal = await strait_principal(request)
    jobs, runs = strait_of(request)
    job = await jobs.get(principal, job_id)
    if not job.config["enabled"] or job.definition.disabled:
        raise bad("job is disabled", "enabled")
    body = read_trigger(await read_json(request, empty={}))
    key = idempotency_key(request.headers, body.idempotency_key)
    outcome = await runs.trigger(principal, job, body, key)
    if not isinstance(outcome, Triggered):
        return answer(outcome, 200)
    return answer(outcome.body(), 201)


@router.post("/jobs/{job_id}/trigger/bulk", status_code=201)
async def bulk_trigger(request: Request, job_id: str) -> Response:
    principal = await strait_principal(request)
    jobs, runs = strait_of(request)
    job = await jobs.get(principal, job_id)
    if not job.config["enabled"] or job.definition.disabled:
        raise bad("job is disabled", "enabled")
    items = read_bulk(await read_json(request, empty={}))
    return answer(await runs.bulk(principal, job, items), 201)
