"""The native API's request and response bodies as pydantic models, for the OpenAPI document.

Routes build their answers as dicts (:mod:`myrmica.api.formicary.serializers`) and read their bodies
by hand; these models describe those shapes (``responses=`` and :mod:`myrmica.api.openapi_docs`)
without validating each answer. Responses allow keys beyond the ones listed.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorBody(_Open):
    error: str = Field(description="what is wrong, in a sentence")
    field: str | None = Field(default=None, description="the field (or path, such as params.a[0]) at fault")
    task: str | None = Field(default=None, description="the task at fault, in a job definition")


# --- bodies -------------------------------------------------------------------------------------


class SubmitBody(BaseModel):
    job_type: str = Field(min_length=1, max_length=100)
    job_version: str | None = Field(default=None, description="a version number, a sem_version or an id")
    params: dict[str, Any] = Field(default_factory=dict)
    secret_params: dict[str, str] = Field(default_factory=dict, description="stored encrypted, never shown")
    job_priority: int = Field(default=0, ge=-(2**31), le=2**31 - 1)
    scheduled_at: str | None = Field(default=None, description="RFC 3339, e.g. 2030-01-02T15:04:05Z")
    user_key: str | None = Field(default=None, max_length=300, description="idempotency key")
    description: str = ""
    platform: str = Field(default="", max_length=100)
    job_group: str = Field(default="", max_length=100)


class ConcurrencyBody(BaseModel):
    concurrency: int = Field(ge=1, le=2**31 - 1)


class TokenBody(BaseModel):
    token: str = Field(min_length=1, max_length=200, description="the token's name")
    days: int = Field(default=90, ge=1, le=3650)


class PasswordBody(BaseModel):
    password: str = Field(min_length=8, max_length=1024, description="the new password (stored as argon2id)")


class ConfigBody(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    value: Any
    secret: bool = False


class VoteBody(BaseModel):
    decision: str = Field(description="APPROVE or REJECT")
    comments: str = ""


class ReviewBody(BaseModel):
    execution_id: str = ""
    task_type: str
    status: str = Field(description="APPROVED or REJECTED")
    comments: str = ""


# --- answers ------------------------------------------------------------------------------------


class JobRequestOut(_Open):
    id: str
    job_type: str
    job_state: str
    job_priority: int
    params: dict[str, Any]
    execution: dict[str, Any] | None = None


class DefinitionOut(_Open):
    id: str
    job_type: str
    version: int
    active: bool
    disabled: bool
    tasks: list[dict[str, Any]] = Field(default_factory=list)


class _Page(_Open):
    Page: int
    PageSize: int
    TotalPages: int
    TotalRecords: int


class ConfigPage(_Page):
    Records: list[ConfigOut]


class RequestPage(_Page):
    Records: list[JobRequestOut]


class DefinitionPage(_Page):
    Records: list[DefinitionOut]


class AntOut(_Open):
    ant_id: str
    methods: list[str]
    max_capacity: int
    current_load: int
    alive: bool


class AntPage(_Page):
    Records: list[AntOut]


class ExecutorOut(_Open):
    id: str
    ant_id: str
    job_request_id: str
    task_type: str


class ExecutorPage(_Page):
    Records: list[ExecutorOut]


class ArtifactOut(_Open):
    """Seed 000's Artifact."""

    id: str
    bucket: str
    name: str
    group: str
    kind: str = Field(description="TASK_ARTIFACTS, CACHE or USER_UPLOADED")
    sha256: str
    etag: str
    content_type: str
    content_length: int
    metadata: dict[str, Any]
    tags: dict[str, Any]
    user_id: str | None
    organization_id: str | None
    job_request_id: str | None
    job_execution_id: str | None
    task_execution_id: str | None
    task_type: str
    artifact_order: int
    permissions: int
    expires_at: str
    url: str
    created_at: str
    updated_at: str


class ArtifactPage(_Page):
    Records: list[ArtifactOut]


class LogLine(_Open):
    id: int
    task_type: str
    stream: str
    line: str


class LogsOut(_Open):
    job_request_id: str
    lines: list[LogLine]
    more: bool
    next_after_id: int


class TokenOut(_Open):
    id: str
    token_name: str
    expires_at: str | None
    revoked: bool = False


class TokenCreated(_Open):
    id: str
    token_name: str
    api_token: str = Field(description="shown once, never again")
    expires_at: str | None


class PasswordSet(_Open):
    id: str
    username: str
    has_password: bool = True


class ConfigOut(_Open):
    id: str
    name: str
    value: Any
    secret: bool = False


class WaitTime(_Open):
    job_request_id: str
    job_state: str
    queue_number: int
    estimated_wait: int


class JobStats(_Open):
    job_type: str
    succeeded: int
    failed: int


class Health(_Open):
    overall_status: dict[str, Any]
    dependent_service_statuses: list[dict[str, Any]]


class Done(_Open):
    """What a delete, revoke or terminate answers: the id and what happened to it."""

    id: str


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": reason}
    for code, reason in ((400, "bad input"), (401, "no valid token"), (403, "not allowed"), (404, "not found"),
                         (409, "in a state that does not allow it"), (413, "body too large"), (422, "invalid"))}


def answers(model: Any = None, status: int = 200, *, media: str | None = None) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route: its answer (a model, or text of ``media``) and the error shape."""
    out = dict(ERRORS)
    if model is not None:
        out[status] = {"model": model, "description": "OK"}
    elif media is not None:
        out[status] = {"description": "OK", "content": {media: {"schema": {"type": "string"}}}}
    return out
