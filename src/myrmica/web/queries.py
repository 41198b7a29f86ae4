"""Every read and write the dashboard makes, in one place.

Each function calls what the native route of the same name calls today (the same store queries and
engine operations, with the caller's principal), so a user sees in the dashboard exactly what the API
shows them. When the routes move onto the service layer (``myrmica.service``), this module is the only
one of the dashboard to switch over.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from myrmica.api.context import AppContext, context_of
from myrmica.api.errors import ApiError
from myrmica.api.formicary.ants import ant_json
from myrmica.api.formicary.logs import HEARTBEAT_SECONDS, MAX_LINES, TERMINAL, line_json
from myrmica.api.formicary.requests import _request_dot, full_request
from myrmica.api.formicary.serializers import definition_json, request_json
from myrmica.api.graphviz import draw
from myrmica.domain.definition_model import JobDefinitionSpec
from myrmica.domain.definitions import parse_definition
from myrmica.domain.dot import definition_dot
from myrmica.domain.errors import NotFoundError
from myrmica.domain.plugins import check_plugin_name
from myrmica.domain.principal import Principal
from myrmica.domain.states import states_for_filter
from myrmica.store.definitions import DefinitionFilter
from myrmica.store.requests import RequestFilter

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
    def engine(self) -> Any:
        """The engine, as the native routes reach it today (typed loosely: only the composition root
        imports ``queen/engine.py``; the job service will take its place here)."""
        return self.ctx.services["engine"]

    # --- definitions ----------------------------------------------------------------------------

    async def definitions(self, principal: Principal, search: str, page: int, size: int) -> Page:
        """The active definitions the caller may see (``GET /api/jobs/definitions``); ``search`` keeps
        those whose job type, description or tags hold it (case-insensitive)."""
        store = self.ctx.store.definitions
        if not search:
            rows, total = await store.search(principal, DefinitionFilter(), page=page, page_size=size)
            return Page([definition_json(row, with_tasks=False) for row in rows], total, page, size)
        needle = search.casefold()
        found: list[dict[str, Any]] = []
        for number in range(SEARCH_PAGES):
            rows, total = await store.search(principal, DefinitionFilter(), page=number, page_size=SEARCH_PAGE)
            found.extend(row for row in rows
                         if needle in f"{row['job_type']}\n{row['description']}\n{row['tags']}".casefold())
            if (number + 1) * SEARCH_PAGE >= total:
                break
        chosen = found[page * size:(page + 1) * size]
        return Page([definition_json(row, with_tasks=False) for row in chosen], len(found), page, size)

    async def definition(self, principal: Principal, id_or_type: str, version: int | None) -> dict[str, Any]:
        """One definition with its tasks, its raw source and its spec (``GET /api/jobs/definitions/{id}``)."""
        row = await self.ctx.store.definitions.get(principal, id_or_type, version=version)
        return {**definition_json(row), "raw_source": row["raw_source"], "raw_format": row["raw_format"],
                "owner_key": row["owner_key"],
                "required_params": list(JobDefinitionSpec.model_validate(row["spec"]).required_params)}

    async def versions(self, principal: Principal, job_type: str) -> list[dict[str, Any]]:
        rows = await self.ctx.store.definitions.versions(principal, job_type)
        return [definition_json(row, with_tasks=False) for row in rows]

    async def definition_graph(self, principal: Principal, id_or_type: str, version: int | None) -> Graph:
        row = await self.ctx.store.definitions.get(principal, id_or_type, version=version)
        return await self._svg(definition_dot(JobDefinitionSpec.model_validate(row["spec"])))

    async def upload(self, principal: Principal, source: str, content_type: str) -> tuple[dict[str, Any], bool,
                                                                                        list[str]]:
        """``POST /api/jobs/definitions``: the saved definition, whether it is a new version, and warnings."""
        ctx = self.ctx
        parsed = parse_definition(source, content_type)
        if parsed.spec.public_plugin:
            org_id = principal.organization_id
            check_plugin_name(parsed.spec.job_type, await ctx.store.accounts.org_bundle(org_id) if org_id else None)
        saved = await ctx.store.definitions.save(principal, parsed)
        if saved.created:
            ctx.metrics.definitions_saved.inc()
            await ctx.store.audit.record("JOB_DEFINITION_UPDATED", principal, target_id=saved.definition["id"],
                                         job_type=parsed.spec.job_type,
                                         message=f"version {saved.definition['version']}")
            for hook in ctx.services.get("definition_saved_hooks", []):
                await hook(saved.definition)
        return definition_json(saved.definition), saved.created, list(parsed.warnings)

    async def set_disabled(self, principal: Principal, id_or_type: str, disabled: bool) -> dict[str, Any]:
        """``POST /api/jobs/definitions/{id}/disable`` and ``/enable``."""
        row = await self.ctx.store.definitions.set_disabled(principal, id_or_type, disabled)
        for hook in self.ctx.services.get("definition_changed_hooks", []):
            await hook(row)
        return definition_json(row)

    # --- requests -------------------------------------------------------------------------------

    async def submit(self, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/jobs/requests``."""
        row, _ = await self.engine.operations.submit(principal, body)
        return request_json(row)

    async def requests(self, principal: Principal, states: list[str], search: str, job_type: str, page: int,
                       size: int) -> Page:
        """``GET /api/jobs/requests?job_state=…&q=…``, each row with its definition's dialect."""
        wanted = frozenset(s for state in states for s in states_for_filter(state))
        flt = RequestFilter(job_type=job_type or None, states=wanted, q=search or None)
        rows, total = await self.engine.store.requests.search(principal, flt, page=page, page_size=size)
        dialects = await self._dialects({row["job_definition_id"] for row in rows})
        return Page([{**request_json(row), "dialect": dialects.get(row["job_definition_id"], "")} for row in rows],
                    total, page, size)

    async def request(self, principal: Principal, request_id: str) -> dict[str, Any]:
        """``GET /api/jobs/requests/{id}``: the request with its execution and tasks; with its definition's
        dialect and task types."""
        engine = self.engine
        row = await engine.store.requests.get(request_id, principal)
        found = await full_request(engine, row)
        found["dialect"], found["task_types"] = "", []
        # As the request's graph route reads it (the request itself was authorised above).
        with contextlib.suppress(NotFoundError):
            definition = await engine.store.definitions.get(self.ctx.admin, row["job_definition_id"])
            found["dialect"] = str(definition.get("dialect") or "")
            spec = JobDefinitionSpec.model_validate(definition["spec"])
            found["task_types"] = [task.task_type for task in spec.tasks]
        return found

    async def request_graph(self, principal: Principal, request_id: str) -> Graph:
        """``GET /api/jobs/requests/{id}/dot``, drawn: the graph coloured by each task's state."""
        return await self._svg(await _request_dot(self.engine, principal, request_id))

    async def cancel(self, principal: Principal, request_id: str) -> dict[str, Any]:
        engine = self.engine
        row = await engine.operations.cancel(principal, request_id)
        await engine.store.audit.record("JOB_REQUEST_CANCELLED", principal, target_id=request_id,
                                        job_type=row["job_type"])
        return request_json(row)

    async def pause(self, principal: Principal, request_id: str) -> dict[str, Any]:
        engine = self.engine
        row = await engine.operations.pause(principal, request_id)
        await engine.store.audit.record("JOB_REQUEST_PAUSED", principal, target_id=request_id,
                                        job_type=row["job_type"])
        return request_json(row)

    async def restart(self, principal: Principal, request_id: str) -> dict[str, Any]:
        return request_json(await self.engine.operations.restart(principal, request_id, hard=False, version=""))

    async def vote(self, principal: Principal, request_id: str, task_type: str, decision: str,
                   comments: str) -> dict[str, Any]:
        """``POST /api/jobs/requests/{id}/tasks/{task}/vote``."""
        status: dict[str, Any] = await self.engine.operations.vote(principal, request_id, task_type, decision,
                                                                   comments)
        return status

    async def follow_logs(self, principal: Principal, request_id: str, *, task_type: str | None = None,
                          after_id: int = 0) -> AsyncIterator[dict[str, Any]]:
        """The request's log lines after ``after_id``, then each new one as it is written, then one
        ``{"end": state}`` when the request is over (``GET …/logs?follow=true``). Raises 404 for a
        request the caller may not see before it yields anything."""
        engine = self.engine
        await engine.store.requests.get(request_id, principal)
        return self._follow(engine, request_id, task_type, after_id)

    async def log_lines(self, principal: Principal, request_id: str) -> list[dict[str, Any]]:
        """``GET …/logs``: every line so far (one page of the API's largest)."""
        engine = self.engine
        await engine.store.requests.get(request_id, principal)
        await engine.logs.flush()
        return [line_json(row) for row in await engine.store.logs.read(request_id, after_id=0, limit=MAX_LINES)]

    @staticmethod
    async def _follow(engine: Any, request_id: str, task_type: str | None,
                      after_id: int) -> AsyncIterator[dict[str, Any]]:
        last = after_id
        event = engine.logs.follow(request_id)
        try:
            while True:
                event.clear()
                rows = await engine.store.logs.read(request_id, task_type=task_type, after_id=last)
                for row in rows:
                    last = row["id"]
                    yield line_json(row)
                if rows:
                    continue
                state = (await engine.store.requests.get(request_id))["job_state"]
                if state in TERMINAL:
                    await engine.logs.flush()
                    for row in await engine.store.logs.read(request_id, task_type=task_type, after_id=last):
                        last = row["id"]
                        yield line_json(row)
                    yield {"end": state}
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout=HEARTBEAT_SECONDS)
                if not event.is_set():
                    yield {}  # a keep-alive
        finally:
            engine.logs.unfollow(request_id, event)

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
                row = await self.ctx.store.definitions.get(self.ctx.admin, definition_id)
                if len(_dialect_cache) >= _DIALECT_CACHE_SIZE:
                    _dialect_cache.clear()
                _dialect_cache[definition_id] = str(row.get("dialect") or "")
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
