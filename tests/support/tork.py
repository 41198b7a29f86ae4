"""Helpers for Tork dialect tests: post a job (YAML or JSON) to /tork/jobs and poll it by Tork state, or submit one
through the job service as the route does."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import httpx

from myrmica.api.tork.shapes import redact_secrets
from myrmica.domain.principal import Principal
from myrmica.domain.records import NewRequest, Submitted
from myrmica.domain.tork.intake import read_job
from myrmica.domain.tork.translate import DIALECT, parsed_definition
from myrmica.service.jobs import JobService
from tests.support.jobs import POLL_SECONDS, Timeout

YAML = {"Content-Type": "text/yaml"}
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")


def post_job(api: httpx.Client, body: str, *, prefix: str = "/tork", content_type: str = "text/yaml"
             ) -> dict[str, Any]:
    response = api.post(f"{prefix}/jobs", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 200, response.text
    summary: dict[str, Any] = response.json()
    return summary


def get_job(api: httpx.Client, job_id: str, *, prefix: str = "/tork") -> dict[str, Any]:
    response = api.get(f"{prefix}/jobs/{job_id}")
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


def wait_job(api: httpx.Client, job_id: str, states: str | Iterable[str] = TERMINAL, *, timeout: float = 30.0,
             prefix: str = "/tork") -> dict[str, Any]:
    """Poll ``GET /jobs/{id}`` until its state is one of ``states``; a different end fails at once."""
    wanted = {states} if isinstance(states, str) else set(states)
    deadline = time.monotonic() + timeout
    while True:
        job = get_job(api, job_id, prefix=prefix)
        if job["state"] in wanted:
            return job
        if job["state"] in TERMINAL:
            raise AssertionError(f"job {job_id} ended {job['state']}, not {sorted(wanted)}: {job.get('execution')}")
        if time.monotonic() > deadline:
            raise Timeout(f"job {job_id} is still {job['state']} after {timeout:g}s, not {sorted(wanted)}")
        time.sleep(POLL_SECONDS)


def run_job(api: httpx.Client, body: str, **kw: Any) -> dict[str, Any]:
    return wait_job(api, post_job(api, body)["id"], **kw)


async def submit_tork(jobs: JobService, principal: Principal, source: str, *,
                      content_type: str = "text/yaml") -> Submitted:
    core = read_job(source, content_type)
    # as the route stores it: the Tork job without its secrets' values (they go to the secret params)
    settings = {**core.settings, "job": redact_secrets(dict(core.settings["job"]), core.secret_params),
                "webhooks": core.settings["job"].get("webhooks")}  # as submitted: api/tork/webhooks.py
    return await jobs.submit_job(principal, parsed_definition(core), dialect=DIALECT, dialect_settings=settings,
                                 request=NewRequest(job_type=DIALECT, params=core.params,
                                                    secret_params=core.secret_params))
