"""What differs by a definition's dialect when the queen runs a composite: the list a fan-out runs over
and what each child sees of its item.

* Formicary (Go templates): ``fan_out.source`` names a variable, param or output (a list, or a JSON
  array as text); ``fan_out.items`` is a template that must render a JSON array. A child sees its item
  as ``<item_var>`` and its place as ``<item_var>_index`` (an integer), in its template and its
  variables (so a SHELL item has them as environment variables).
* Tork (expr-lang): ``fan_out.items`` is ``each.list``, an expression evaluated against the job's
  context (``inputs``, ``secrets``, ``tasks``, ``job``); a child sees ``<var> = {index: "<i>", value:
  item}`` (the index a string, as Tork has it) in its expressions only — Tork tasks get no variables
  besides their ``env``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ulid import ULID

from myrmica.domain.composite import item_task
from myrmica.domain.definition_model import TaskDefinition
from myrmica.domain.documents import load_json
from myrmica.domain.errors import ValidationError
from myrmica.domain.states import ErrorCode
from myrmica.queen.context import RunContext
from myrmica.queen.ports import ChildWork, RunnerView
from myrmica.queen.render import RenderError, render_text
from myrmica.templating.expr import ExprError, each_context, evaluate, render, tork_context

FORMICARY = "formicary"
TORK = "tork"
NOT_A_LIST = "each.list does not evaluate to a list"  # Tork's words


class ItemsError(Exception):
    """A fan-out's list could not be had: the fan-out fails with this error code and message."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


def dialect_of(run: RunContext) -> str:
    return str(run.definition.get("dialect") or FORMICARY)


def tork_env(run: RunContext) -> dict[str, Any]:
    """Tork's job context for a run: its inputs (the request's params), secrets (its secret params),
    the results earlier tasks stored under their ``var`` (the execution's string outputs) and
    ``job`` (id and name; a child job has none, as in Tork)."""
    request = run.request
    secret_names = set(request.get("secret_params") or ())
    inputs = {k: v for k, v in (request.get("params") or {}).items() if k not in secret_names}
    secrets = {k: run.params.get(k, "") for k in secret_names}
    tasks = {k: v for k, v in run.contexts.items() if isinstance(v, str)}
    settings = run.definition.get("dialect_settings") or {}
    job_settings = settings.get("job") if isinstance(settings, Mapping) else None
    name = str(job_settings.get("name", "")) if isinstance(job_settings, Mapping) else ""
    job = None if request.get("parent_id") else {"id": ULID.from_str(run.request_id).hex, "name": name}
    return tork_context(inputs=inputs, secrets=secrets, tasks=tasks, job=job)


def fan_out_items(runner: RunnerView, task: TaskDefinition, functions: Mapping[str, Callable[..., Any]]
                  ) -> list[Any]:
    """The items of a fan-out, evaluated now (once: they are stored with its children)."""
    assert task.fan_out is not None
    run = runner.run
    fan = task.fan_out
    if dialect_of(run) == TORK:
        try:
            value = evaluate(fan.items, tork_env(run), rng=None)
        except ExprError as exc:
            raise ItemsError(ErrorCode.ERR_TEMPLATE, run.hide_secrets(str(exc))) from exc
        if not isinstance(value, list | tuple):
            raise ItemsError(ErrorCode.ERR_VALIDATION, NOT_A_LIST)
        return list(value)
    if fan.items:
        try:
            text = render_text(fan.items, runner.data_for(task, 0, for_template=True), functions)
        except RenderError as exc:
            raise ItemsError(ErrorCode.ERR_TEMPLATE, f"template error: {run.hide_secrets(str(exc))}") from exc
        return _as_list(text, "fan_out.items")
    source = fan.source
    for layer in (run.contexts, run.params, run.configs, run.spec.job_variables):
        if source in layer:
            return _as_list(layer[source], f"fan_out source {source!r}")
    raise ItemsError(ErrorCode.ERR_VALIDATION, f"fan_out source {source!r} is not a variable, param or output of "
                                               f"this job")


def _as_list(value: Any, what: str) -> list[Any]:
    if isinstance(value, str):
        try:
            value = load_json(value, root=what)
        except ValidationError as exc:
            raise ItemsError(ErrorCode.ERR_VALIDATION, f"{what} is not a JSON array: {exc.message}") from exc
    if not isinstance(value, list):
        raise ItemsError(ErrorCode.ERR_VALIDATION, f"{what} is not a list")
    return value


def item_work(run: RunContext, task: TaskDefinition, index: int, value: Any, inherited: ChildWork | None
              ) -> ChildWork:
    """What item ``index`` (= ``value``) of the fan-out ``task`` runs, and sees (``inherited``: what the
    fan-out itself was given, when it is a composite's child: an outer item stays visible)."""
    assert task.fan_out is not None
    var = task.fan_out.item_var or "item"
    data = dict(inherited.template_data) if inherited is not None else {}
    variables = dict(inherited.variables) if inherited is not None else {}
    if dialect_of(run) == TORK:
        return ChildWork(item_task(task), template_data=each_context(data, index, value, var), variables=variables)
    seen = {var: value, f"{var}_index": index}
    if task.fan_out.task is not None:
        return ChildWork(task.fan_out.task, template_data={**data, **seen}, variables={**variables, **seen})
    # Formicary: the task itself once per item, rendered as the task it is, then without its fan_out.
    return ChildWork(task, template_data={**data, **seen}, variables={**variables, **seen}, derive=item_task,
                     absorb=False)


def render_values(runner: RunnerView, task: TaskDefinition, values: Mapping[str, Any],
                  functions: Mapping[str, Callable[..., Any]], seen: Mapping[str, Any]) -> dict[str, Any]:
    """A child job's params (or secret params) as the parent's template language renders them now
    (``seen``: what a composite's child sees besides the job, its item)."""
    run = runner.run
    out: dict[str, Any] = {}
    if dialect_of(run) == TORK:
        env = {**tork_env(run), **seen}
        for name, value in values.items():
            try:
                out[name] = render(value, env) if isinstance(value, str) else value
            except ExprError as exc:
                raise RenderError(f"{name}: {run.hide_secrets(str(exc))}") from exc
        return out
    data = {**runner.data_for(task, 0, for_template=True), **seen}
    for name, value in values.items():
        out[name] = render_text(value, data, functions) if isinstance(value, str) else value
    return out
