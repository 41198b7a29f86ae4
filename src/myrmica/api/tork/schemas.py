"""Tork's bodies as pydantic models, for the OpenAPI document only (spec/tork.md §2, §3).

Routes read their bodies by hand (Tork's strict decoders, :mod:`myrmica.domain.tork.decode`) and
build their answers as dicts (:mod:`.shapes`); these models describe both. A job body may be sent
as JSON or YAML, so its request body lists both content types with the same schema.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from myrmica.api.openapi_docs import body


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Message(_Open):
    message: str = Field(description="what is wrong, in Tork's words")


class Status(_Open):
    status: str = Field(description='"OK"')


class Health(_Open):
    status: str = Field(description='"UP" or "DOWN"')
    version: str


# --- what POST /jobs accepts -----------------------------------------------------------------------


class Retry(_Strict):
    limit: int = Field(ge=1, le=10)


class Limits(_Strict):
    cpus: str = ""
    memory: str = ""


class AuxTask(_Strict):
    name: str
    description: str = ""
    run: str = ""
    env: dict[str, str] = Field(default_factory=dict)
    files: dict[str, str] = Field(default_factory=dict)
    timeout: str = ""


class EachSpec(_Strict):
    list: str = Field(description="an expression giving a list")
    task: TaskIn
    var: str = ""
    concurrency: int = Field(default=0, ge=0, le=99999)


class ParallelSpec(_Strict):
    tasks: list[TaskIn] = Field(min_length=1)


class SubJobSpec(_Strict):
    name: str
    description: str = ""
    tasks: list[TaskIn] = Field(min_length=1)
    inputs: dict[str, str] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(default_factory=dict)
    output: str = ""
    detached: bool = False


class TaskIn(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    run: str = Field(default="", description="a bash script (never templated)")
    image: str = Field(default="", description="ignored: tasks run on the shell runtime")
    env: dict[str, str] = Field(default_factory=dict, description="values may hold {{ expressions }}")
    files: dict[str, str] = Field(default_factory=dict)
    var: str = Field(default="", max_length=64)
    if_: str = Field(default="", alias="if")
    timeout: str = Field(default="", description="a Go duration: 300ms, 5s, 1h")
    retry: Retry | None = None
    pre: list[AuxTask] = Field(default_factory=list)
    post: list[AuxTask] = Field(default_factory=list)
    parallel: ParallelSpec | None = None
    each: EachSpec | None = None
    subjob: SubJobSpec | None = None
    tags: list[str] = Field(default_factory=list)
    priority: int = Field(default=0, ge=0, le=9)


class Defaults(_Strict):
    retry: Retry | None = None
    limits: Limits | None = None
    timeout: str = ""
    queue: str = ""
    priority: int = Field(default=0, ge=0, le=9)


class Wait(_Strict):
    timeout: str = Field(description="a Go duration; the answer comes when the job ends, or 408")


class AutoDelete(_Strict):
    after: str


class JobIn(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    tasks: list[TaskIn] = Field(min_length=1)
    inputs: dict[str, str] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(default_factory=dict)
    output: str = ""
    defaults: Defaults | None = None
    autoDelete: AutoDelete | None = None
    wait: Wait | None = None


JOB_BODY = body(JobIn, "application/json", "text/yaml", "application/x-yaml")


# --- answers ---------------------------------------------------------------------------------------


class JobSummary(_Open):
    id: str = Field(description="32 lowercase hex digits")
    name: str = ""
    state: str = Field(description="PENDING, SCHEDULED, RUNNING, COMPLETED, FAILED or CANCELLED")
    position: int
    taskCount: int = 0
    createdAt: str | None = None


class Task(_Open):
    id: str
    jobId: str
    position: int
    name: str = ""
    state: str


class Job(JobSummary):
    tasks: list[dict[str, Any]] | None
    execution: list[Task] | None


class JobPage(_Open):
    items: list[JobSummary]
    number: int
    size: int = Field(description="how many items came back")
    totalPages: int
    totalItems: int


class TaskLogPart(_Open):
    id: str
    number: int
    taskId: str
    contents: str
    createdAt: str


class LogPage(_Open):
    items: list[TaskLogPart]
    number: int
    size: int
    totalPages: int
    totalItems: int


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Message, "description": "bad input"},
    404: {"model": Message, "description": "not found"},
}


def answers(model: Any = None, status: int = 200) -> dict[int | str, dict[str, Any]]:
    out = dict(ERRORS)
    if model is not None:
        out[status] = {"model": model, "description": "OK"}
    return out


def query(name: str, description: str = "", kind: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": kind}, "description": description}


PAGING = (query("page", "from 1 (default 1)", "integer"), query("size", "items per page", "integer"))
