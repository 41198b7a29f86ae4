"""Strait's completion webhook as data (spec/strait.md §7): who gets it and what it says.

A run of a Strait job whose configuration has a ``webhook_url`` owes one POST when it ends (any end
but a user's cancel — the original sends only for its worker's three outcomes): body ``{run_id,
job_id, project_id, status, attempt, result?, error?, timestamp}``, signed per attempt with the job's
``webhook_secret`` (``X-Strait-Signature: v1=…``, domain/webhooks.py), 3 attempts 5 s and 25 s apart,
retried on no answer and 5xx only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from myrmica.domain.strait.statuses import run_status
from myrmica.domain.webhooks import STRAIT_POLICY_ARGS, STRAIT_V1, RetryPolicy, WebhookCall

EVENT = "run.completed"
NO_NOTICE = frozenset({"canceled"})
JOB_TYPE_PREFIX = "strait-"


def wanted_notice(dialect_settings: Mapping[str, Any] | None, job_type: str, owner_key: str
                  ) -> dict[str, Any] | None:
    """What to keep with a new run of this definition for its end notice (None: it owes none)."""
    settings = dict(dialect_settings or {})
    job = settings.get("job") or {}
    url = str(job.get("webhook_url") or "") if isinstance(job, dict) else ""
    if not url:
        return None
    meta = settings.get("meta") or {}
    return {"url": url, "secret_sealed": str(meta.get("webhook_secret_sealed") or "") if isinstance(meta, dict) else "",
            "job_id": job_type.removeprefix(JOB_TYPE_PREFIX), "project_id": owner_key}


def completion_call(notice: Mapping[str, Any], request: Mapping[str, Any], *, secret: str, attempt: int,
                    result: Any, now: datetime) -> WebhookCall | None:
    """The POST a run's end owes (None: this end owes none)."""
    status = run_status(str(request["job_state"]), str(request.get("error_code") or ""), scheduled_at=None, now=now)
    if status in NO_NOTICE:
        return None
    body: dict[str, Any] = {"run_id": request["id"], "job_id": notice["job_id"], "project_id": notice["project_id"],
                            "status": status, "attempt": attempt}
    if result is not None and status == "completed":
        body["result"] = result
    if request.get("error_message") and status != "completed":
        body["error"] = request["error_message"]
    body["timestamp"] = now.isoformat().replace("+00:00", "Z")
    return WebhookCall(url=str(notice["url"]), body=json.dumps(body, separators=(",", ":"), default=str),
                       headers={"Content-Type": "application/json", "X-Run-ID": str(request["id"]),
                                "X-Job-ID": str(notice["job_id"])},
                       policy=RetryPolicy(**STRAIT_POLICY_ARGS), source=str(request["id"]), event=EVENT,
                       signature=STRAIT_V1 if secret else "", signing_secret=secret)


def dedup_key(request_id: str) -> str:
    return f"strait-end:{request_id}"
