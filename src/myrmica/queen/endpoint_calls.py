"""What the queen adds to an HTTP_ENDPOINT task's request: the payload, the run's headers, its token.

Headers (spec/strait.md §5): ``X-Run-ID`` (the request id), ``X-Job-ID`` (the endpoint's ``job_id``,
else the job type), ``X-Attempt`` (1-based), ``X-Run-Token`` (a run token valid for the attempt's
timeout plus a minute, security/run_tokens.py) and, on a retry, ``X-Previous-Error`` (the last
attempt's error, secrets hidden, one line, at most 1000 characters) and, when the run stored an SDK
checkpoint of at most 64 KiB, ``X-Last-Checkpoint`` (its JSON) and ``X-Checkpoint-At``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from myrmica.clock import utcnow
from myrmica.domain.definition_model import TaskDefinition
from myrmica.security.run_tokens import issue_run_token

TOKEN_GRACE = timedelta(seconds=60)
MAX_CHECKPOINT_BYTES = 64 * 1024
MAX_PREVIOUS_ERROR = 1000


def payload_body(params: dict[str, Any], name: str) -> str:
    """The request param ``name`` as the JSON body (a string param is sent as it is; none: empty)."""
    value = params.get(name)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def endpoint_fields(*, request_id: str, job_type: str, task: TaskDefinition, attempt: int, params: dict[str, Any],
                    timeout_secs: float, token_key: bytes, previous_error: str = "",
                    checkpoint: tuple[str, datetime] | None = None, now: datetime | None = None
                    ) -> dict[str, Any]:
    """``headers``, ``body`` and ``fallback_url`` of the attempt (0-based ``attempt``)."""
    spec = task.endpoint
    moment = now or utcnow()
    headers: dict[str, Any] = {str(k): v for k, v in task.headers.items()}
    headers.update({
        "X-Run-ID": request_id,
        "X-Job-ID": (spec.job_id if spec is not None and spec.job_id else job_type),
        "X-Attempt": str(attempt + 1),
        "X-Run-Token": issue_run_token(token_key, request_id, now=moment,
                                       expires_at=moment + timedelta(seconds=timeout_secs) + TOKEN_GRACE),
    })
    if attempt > 0 and previous_error:
        one_line = " ".join(previous_error.split())[:MAX_PREVIOUS_ERROR]
        headers["X-Previous-Error"] = one_line.encode("ascii", "replace").decode()
    if attempt > 0 and checkpoint is not None and len(checkpoint[0].encode()) <= MAX_CHECKPOINT_BYTES:
        headers["X-Last-Checkpoint"] = checkpoint[0]
        headers["X-Checkpoint-At"] = checkpoint[1].isoformat().replace("+00:00", "Z")
    name = spec.payload_param if spec is not None else "payload"
    return {"headers": headers, "body": payload_body(params, name),
            "fallback_url": spec.fallback_url if spec is not None else ""}
