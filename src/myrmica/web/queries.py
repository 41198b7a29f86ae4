"""Every read and write the dashboard makes, in one place.

Each function calls the job service (``myrmica.service``) as the native route of the same name does,
with the caller's principal, and shapes the answer with the native API's serializers, so a user sees
in the dashboard exactly what the API shows them.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from myrmica.api.context import AppContext, context_of
from myrmica.api.errors import ApiError
from myrmica.api.formicary.ants import ant_json
from myrmica.api.formicary.artifacts import artifact_json
from myrmica.api.formicary.engine_view import EngineView
from myrmica.api.formicary.logs import HEARTBEAT_SECONDS, MAX_LINES
from myrmica.api.formicary.requests import new_request
from myrmica.api.formicary.serializers import approval_json, definition_json, log_line_json, request_json
from myrmica.api.graphviz import draw
from myrmica.clock import utcnow
from myrmica.domain.definition_model import JobDefinitionSpec
from myrmica.domain.definitions import parse_definition
from myrmica.domain.errors import NotFoundError
from myrmica.domain.principal import Principal
from myrmica.domain.records import (
    DefinitionFilter,
    DefinitionRecord,
    FollowEvent,
    LogLine,
    PageRequest,
    RequestEnded,
    RequestFilter,
)
from myrmica.domain.states import states_for_filter
from myrmica.service.artifacts import Artifacts
from myrmica.service.jobs import JobService

SEARCH_PAGE = 1000  # a search reads the definitions in the API's largest pages,
SEARCH_PAGES = 10  # … at most this many (the first 10,000 definitions, by job type)
_SVG_CACHE_SIZE = 256
_DIALECT_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Graph:
    """A graph drawn as SVG, or why it could not be."""

    svg: str | None
    problem: str | None = None


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    total: int
    page: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


class Queries:
    """The dashboard's view of the engine, for one HTTP request."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    @classmethod
    def of(cls, request: Request) -> Queries:
        return cls(context_of(request))

    @property
    def jobs(self) -> JobService:
        jobs: JobService = self.ctx.services["jobs"]
        return jobs

    @property
    def engine(self) -> EngineView:
        """The engine's live view of the ants (the job service has no operation for them)."""
        engine: EngineView = self.ctx.services["engine"]
        return engine

    # --- definitions ----------------------------------------------------------------------------

    async def definitions(self, principal: Principal, search: str, page: int, size: int) -> Page:
        """The active definitions the caller may see (``GET /api/jobs/definitions``); ``search`` keeps
        those whose job type, description or tags hold it (case-insensitive)."""
        definitions = self.jobs.definitions
        if not search:
            listed = await definitions.search(principal, DefinitionFilter(), PageRequest(page, size))
            return Page([definition_json(r, with_tasks=False) for r in listed.items], listed.total, page, size)
        needle = search.casefold()
        found: list[DefinitionRecord] = []
        for number in range(SEARCH_PAGES):
            listed = await definitions.search(principal, DefinitionFilter(), PageRequest(number, SEARCH_PAGE))
            found.extend(r for r in listed.items
                         if needle in f"{r.job_type}\n{r.description}\n{','.join(r.tags)}".casefold())
            if (number + 1) * SEARCH_PAGE >= listed.total:
                break
        chosen = found[page * size:(page + 1) * size]
        return Page([definition_json(r, with_tasks=False) for r in chosen], len(found), page, size)

    async def definition(self, principal: Principal, id_or_type: str, version: int | None) -> dict[str, Any]:
        """One definition with its tasks, its raw source and its spec (``GET /api/jobs/definitions/{id}``)."""
        record = await self.jobs.definitions.get(principal, id_or_type, version=version)
        return {**definition_json(record), "raw_source": record.raw_source, "raw_format": record.raw_format,
                "owner_key": record.owner_key,
                "required_params": list(JobDefinitionSpec.model_validate(record.spec).required_params)}

    async def versions(self, principal: Principal, job_type: str) -> list[dict[str, Any]]:
        return [definition_json(r, with_tasks=False) for r in await self.jobs.definitions.versions(principal, job_type)]

    async def definition_graph(self, principal: Principal, id_or_type: str, version: int | None) -> Graph:
        return await self._svg(await self.jobs.definitions.dot(principal, id_or_type, version=version))

    async def upload(self, principal: Principal, source: str, content_type: str) -> tuple[dict[str, Any], bool,
                                                                                        list[str]]:
        """``POST /api/jobs/definitions``: the saved definition, whether it is a new version, and warnings."""
        saved = await self.jobs.definitions.upsert(principal, parse_definition(source, content_type))
        return definition_json(saved.definition), saved.created, list(saved.warnings)

    async def set_disabled(self, principal: Principal, id_or_type: str, disabled: bool) -> dict[str, Any]:
        """``POST /api/jobs/definitions/{id}/disable`` and ``/enable``."""
        return definition_json(await self.jobs.definitions.set_disabled(principal, id_or_type, disabled))

    # --- requests -------------------------------------------------------------------------------

    async def submit(self, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/jobs/requests``."""
        return request_json((await self.jobs.submit(principal, new_request(body))).request)

    async def requests(self, principal: Principal, states: list[str], search: str, job_type: str, page: int,
                       size: int) -> Page:
        """``GET /api/jobs/requests?job_state=…&q=…``, each row with its definition's dialect."""
        wanted = frozenset(s for state in states for s in states_for_filter(state))
        flt = RequestFilter(job_type=job_type or None, states=wanted, q=search or None)
        listed = await self.jobs.search(principal, flt, PageRequest(page, size))
        dialects = await self._dialects({r.job_definition_id for r in listed.items})
        return Page([{**request_json(r), "dialect": dialects.get(r.job_definition_id, "")} for r in listed.items],
                    listed.total, page, size)

    async def request(self, principal: Principal, request_id: str) -> dict[str, Any]:
        """``GET /api/jobs/requests/{id}``: the request with its execution and tasks; with its definition's
        dialect and task types."""
        record = await self.jobs.get(principal, request_id)
        found = request_json(record, with_execution=True)
        found["dialect"], found["task_types"] = "", []
        # As the request's graph route reads it (the request itself was authorised above).
        with contextlib.suppress(NotFoundError):
            definition = await self.jobs.definitions.get(self.ctx.admin, record.job_definition_id)
            found["dialect"] = definition.dialect
            spec = JobDefinitionSpec.model_validate(definition.spec)
            found["task_types"] = [task.task_type for task in spec.tasks]
        return found

    async def request_graph(self, principal: Principal, request_id: str) -> Graph:
        """``GET /api/jobs/requests/{id}/dot``, drawn: the graph coloured by each task's state."""
        return await self._svg(await self.jobs.request_dot(principal, request_id))

    async def cancel(self, principal: Principal, request_id: str) -> dict[str, Any]:
        return request_json(await self.jobs.cancel(principal, request_id))

    async def pause(self, principal: Principal, request_id: str) -> dict[str, Any]:
        return request_json(await self.jobs.pause(principal, request_id))

    async def restart(self, principal: Principal, request_id: str) -> dict[str, Any]:
        return request_json(await self.jobs.restart(principal, request_id))

    async def vote(self, principal: Principal, request_id: str, task_type: str, decision: str,
                   comments: str) -> dict[str, Any]:
        """``POST /api/jobs/requests/{id}/tasks/{task}/vote``."""
        return approval_json(await self.jobs.vote(principal, request_id, task_type, decision, comments))

    async def follow_logs(self, principal: Principal, request_id: str, *, task_type: str | None = None,
                          after_id: int = 0) -> AsyncIterator[dict[str, Any]]:
        """The request's log lines after ``after_id``, then each new one as it is written, then one
        ``{"end": state}`` when the request is over (``GET …/logs?follow=true``), and ``{}`` after a
        quiet while (a keep-alive). Raises 404 for a request the caller may not see before it yields."""
        events = await self.jobs.follow(principal, request_id, task_type=task_type, after_id=after_id,
                                        quiet_seconds=HEARTBEAT_SECONDS)
        return self._follow(events)

    async def log_lines(self, principal: Principal, request_id: str) -> list[dict[str, Any]]:
        """``GET …/logs``: every line so far (one page of the API's largest)."""
        page = await self.jobs.logs(principal, request_id, limit=MAX_LINES)
        return [log_line_json(line) for line in page.lines]

    @staticmethod
    async def _follow(events: AsyncIterator[FollowEvent]) -> AsyncIterator[dict[str, Any]]:
        async for event in events:
            if isinstance(event, LogLine):
                yield log_line_json(event)
            elif isinstance(event, RequestEnded):
                yield {"end": event.job_state}
            else:
                yield {}  # a keep-alive

    # --- artifacts ------------------------------------------------------------------------------

    @property
    def artifact_service(self) -> Artifacts:
        service: Artifacts = self.ctx.services["artifacts"]
        return service

    async def artifacts(self, principal: Principal, page: int, size: int, *, request_id: str | None = None) -> Page:
        """``GET /api/artifacts`` (newest first; all, or one request's), without the expired."""
        filters = {"job_request_id": request_id} if request_id else {}
        rows, total = await self.artifact_service.search(principal, filters, page=page, page_size=size)
        now = utcnow()
        return Page([artifact_json(row) for row in rows if row["expires_at"] > now], total, page, size)

    async def artifact_content(self, principal: Principal, artifact_id: str) -> tuple[dict[str, Any], bytes]:
        """``GET /api/artifacts/{id}/download``: the artifact (one the caller may see) and its bytes."""
        row, data = await self.artifact_service.content(principal, artifact_id)
        return artifact_json(row), data

    # --- ants -----------------------------------------------------------------------------------

    def ants(self, principal: Principal) -> list[dict[str, Any]]:
        """``GET /api/ants`` (the admin's only: 403 for others)."""
        if not principal.admin:
            raise ApiError(403, "only an admin may look at ants")
        return sorted((ant_json(row) for row in self.engine.ants.snapshot()), key=lambda row: str(row["ant_id"]))

    # --- helpers --------------------------------------------------------------------------------

    async def _dialects(self, definition_ids: set[str]) -> dict[str, str]:
        """The dialect each definition version was written in. A definition version never changes its
        dialect, so each is read once per process."""
        missing = [i for i in definition_ids if i not in _dialect_cache]
        for definition_id in missing:
            # As the request's graph route reads it: the request was already authorised.
            with contextlib.suppress(NotFoundError):  # a deleted definition: no label
                definition = await self.jobs.definitions.get(self.ctx.admin, definition_id)
                if len(_dialect_cache) >= _DIALECT_CACHE_SIZE:
                    _dialect_cache.clear()
                _dialect_cache[definition_id] = definition.dialect
        return {i: _dialect_cache.get(i, "") for i in definition_ids}

    async def _svg(self, dot_source: str) -> Graph:
        program = self.ctx.settings.graphviz_dot
        key = (program, dot_source)
        cached = _svg_cache.get(key)
        if cached is not None:
            _svg_cache.move_to_end(key)
            return Graph(cached)
        try:
            drawn = await draw(dot_source, "svg", program)
        except ApiError as exc:
            return Graph(None, exc.message)
        svg = drawn.decode("utf-8", errors="replace")
        svg = svg[svg.find("<svg"):] if "<svg" in svg else svg  # no XML prolog or DOCTYPE inside HTML
        _svg_cache[key] = svg
        if len(_svg_cache) > _SVG_CACHE_SIZE:
            _svg_cache.popitem(last=False)
        return Graph(svg)


_dialect_cache: dict[str, str] = {}
_svg_cache: OrderedDict[tuple[str, str], str] = OrderedDict()
