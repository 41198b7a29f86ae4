"""Parsed definitions, cached, and the engine-backed functions templates may call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from myrmica.domain.definition_model import JobDefinitionSpec
from myrmica.queen.context import RunContext

MAX_CACHED = 2000


class SpecCache:
    def __init__(self) -> None:
        self._specs: dict[str, JobDefinitionSpec] = {}

    def spec_of(self, definition: dict[str, Any]) -> JobDefinitionSpec:
        """The parsed spec of a definition version; versions never change, so it is cached by id."""
        spec = self._specs.get(definition["id"])
        if spec is None:
            if len(self._specs) > MAX_CACHED:
                self._specs.clear()
            spec = self._specs[definition["id"]] = JobDefinitionSpec.model_validate(definition["spec"])
        return spec

    @staticmethod
    def template_functions(run: RunContext) -> dict[str, Callable[..., Any]]:
        def count_by_type_and_state(job_type: str, states: str = "", *more: str) -> int:
            return int(run.counts.get(f"{job_type}|{states}", 0))

        return {"CountByJobTypeAndState": count_by_type_and_state}
