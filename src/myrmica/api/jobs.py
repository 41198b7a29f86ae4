"""The job service, as every dialect's routes reach it."""

from __future__ import annotations

from fastapi import Request

from myrmica.api.context import context_of
from myrmica.service.jobs import JobService


def jobs_of(request: Request) -> JobService:
    jobs: JobService = context_of(request).services["jobs"]
    return jobs
