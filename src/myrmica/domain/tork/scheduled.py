"""A ``POST /scheduled-jobs`` body as a core definition run by the core's cron (spec/tork.md §2.1, §3).

A scheduled job is one core definition of its own (its job type is unique: ``tork-scheduled-<name>-
<suffix>``, so two scheduled jobs never share one), whose ``cron_trigger`` is the 5-field cron. The
core's cron keeps its next request waiting as PENDING with a ``user_key`` naming the fire time, so
when several queens share a database one request is made per tick (the unique key lets one insert
win). Each request is an instance: a Tork job whose ``schedule.id`` is the scheduled job's id (the
definition's). ACTIVE/PAUSED is the definition enabled/disabled. The dialect settings keep the Tork
job (``job``, without ``schedule``), its cron (``schedule``) and the params every instance gets
(``request``: the inputs, and the secrets as secret params).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from myrmica.domain.tork.decode import SCHEDULED_JOB_CONTENT_TYPES, body_format, decode
from myrmica.domain.tork.intake import check_each_lists, unsupported
from myrmica.domain.tork.translate import CoreJob, _slug, to_core
from myrmica.domain.tork.validate import PermissionCheck, validate_scheduled_job

PREFIX = "tork-scheduled-"


def read_scheduled_job(body: str | bytes, content_type: str | None, *, unique: str, supported: Collection[str] = (),
                       permission_exists: PermissionCheck | None = None, images: str | None = None) -> CoreJob:
    """Content type, strict decode, validation, translation, refusal of what the engine lacks — in
    Tork's order; ``unique`` (e.g. a new id) makes the job type this scheduled job's own."""
    fmt = body_format(content_type, SCHEDULED_JOB_CONTENT_TYPES)
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    scheduled = decode(text, fmt, struct="ScheduledJob")
    validate_scheduled_job(scheduled, permission_exists=permission_exists)
    cron = str(scheduled["schedule"]["cron"]).strip()
    job = {key: value for key, value in scheduled.items() if key != "schedule"}
    check_each_lists(job)
    core = to_core(job, text, image_runtime=images)
    refusal = unsupported(core, supported)
    if refusal is not None:
        raise refusal
    job_type = f"{PREFIX}{_slug(str(job.get('name', '')))[:60]}-{unique.lower()[-12:]}"
    document: dict[str, Any] = {**core.document, "job_type": job_type, "cron_trigger": cron}
    settings: dict[str, Any] = {**core.settings, "schedule": {"cron": cron},
                                "request": {"params": core.params, "secret_params": core.secret_params}}
    return CoreJob(document=document, params=core.params, secret_params=core.secret_params, settings=settings,
                   needs=core.needs)


def is_scheduled(settings: Any) -> bool:
    return isinstance(settings, dict) and isinstance(settings.get("schedule"), dict)
