"""Rendering one task just before it runs: the definition's text through the Go template engine.

Definitions without template actions use their stored, parsed spec as is (the fast path). A
definition's text is rendered with its values put in after parsing (``templating.yaml_render``): a
param is data, never YAML source, so it cannot add script lines or change a task's method.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import pydantic

from myrmica.domain.composite import find_task
from myrmica.domain.definition_keys import unknown_task_key
from myrmica.domain.definition_model import JobDefinitionSpec, TaskDefinition
from myrmica.domain.definitions import UPLOAD_FUNCTIONS
from myrmica.domain.fragments import job_field_line, task_fragments
from myrmica.templating import expr
from myrmica.templating.expr import has_expression
from myrmica.templating.gotemplate import Template, TemplateError, has_template
from myrmica.templating.yaml_render import RenderedYamlError, render_yaml


class RenderError(Exception):
    """A task's template failed at run time; the task fails with this message."""


def _expr(text: Any, env: Mapping[str, Any], rng: random.Random | None) -> Any:
    if not isinstance(text, str) or not has_expression(text):
        return text
    try:
        return expr.render(text, env, rng=rng)
    except expr.ExprError as exc:
        raise RenderError(str(exc)) from exc


def render_expr_task(stored: TaskDefinition, env: Mapping[str, Any], rng: random.Random | None = None
                     ) -> TaskDefinition:
    """A task of an ``expr`` definition as it runs: its environment values, ``result_var``, ``run_if``
    and ``queue`` (then one more tag) rendered with expr-lang against ``env`` (:func:`expr_env`);
    nothing else, never a script."""
    updates: dict[str, Any] = {}
    if stored.environment:
        updates["environment"] = {name: _expr(value, env, rng) for name, value in stored.environment.items()}
    for field in ("result_var", "run_if"):
        value = getattr(stored, field)
        if value:
            updates[field] = _expr(value, env, rng)
    if stored.queue:
        tag = str(_expr(stored.queue, env, rng)).strip().lower()
        updates["queue"] = ""
        if tag and tag != "default" and tag not in stored.tags:
            updates["tags"] = [*stored.tags, tag]
    return stored.model_copy(update=updates) if updates else stored


def render_expr_text(text: str, env: Mapping[str, Any], rng: random.Random | None = None) -> str:
    """A job-level expr template (``output``) rendered against ``env``."""
    return str(_expr(text, env, rng))


def expr_env(*, params: Mapping[str, Any], secret_names: Iterable[str], results: Mapping[str, Any],
             job: Mapping[str, Any] | None) -> dict[str, Any]:
    """What an expr template sees: ``inputs`` (the request's params), ``secrets`` (its secret params),
    ``tasks`` (the results kept so far, by ``result_var``) and ``job`` (``id``, ``name``; None for a child job)."""
    hidden = set(secret_names)
    return expr.tork_context(inputs={k: v for k, v in params.items() if k not in hidden},
                             secrets={k: v for k, v in params.items() if k in hidden}, tasks=results, job=job)


def render_text(text: str, data: Mapping[str, Any],
                functions: Mapping[str, Callable[..., Any]] | None = None) -> str:
    if not has_template(text):
        return text
    try:
        return Template.parse(text, functions={**UPLOAD_FUNCTIONS, **(functions or {})}).execute(data)
    except TemplateError as exc:
        raise RenderError(str(exc)) from exc


def _render_document(text: str, data: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]] | None,
                     prefix: str = "") -> Any:
    try:
        return render_yaml(text, data, {**UPLOAD_FUNCTIONS, **(functions or {})}, prefix=prefix)
    except TemplateError as exc:
        raise RenderError(str(exc)) from exc
    except RenderedYamlError as exc:
        raise RenderError(f"the rendered definition is not valid YAML: {exc}") from exc


def render_task(raw_source: str, raw_format: str, spec: JobDefinitionSpec, task_type: str,
                data: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]] | None = None
                ) -> TaskDefinition:
    stored = find_task(spec, task_type)
    if stored is None:
        raise RenderError(f"task {task_type!r} is not in the definition")
    if not has_template(raw_source):
        return stored
    fragments = None if spec.dynamic_template_tasks or raw_format != "yaml" else task_fragments(raw_source)
    if fragments is not None and task_type in fragments:
        document = _render_document(fragments[task_type], data, functions, prefix="tasks:\n")
    else:
        document = _render_document(raw_source, data, functions)
    tasks = document.get("tasks") if isinstance(document, dict) else None
    for raw_task in _raw_tasks(tasks):
        if str(raw_task.get("task_type")) == task_type:
            unknown = unknown_task_key(raw_task)
            if unknown is not None:  # a key a template produced, which the upload could not see
                raise RenderError(f"{unknown.message} (after rendering)")
            try:
                return TaskDefinition.model_validate(raw_task)
            except pydantic.ValidationError as exc:
                first = exc.errors()[0]
                field = ".".join(str(p) for p in first["loc"])
                raise RenderError(f"task {task_type!r} after rendering: {field}: {first['msg']}") from exc
    raise RenderError(f"task {task_type!r} disappeared when its definition was rendered")


def _raw_tasks(tasks: Any) -> Iterator[dict[str, Any]]:
    """The task mappings of a rendered document, children (of parallel groups, fan-outs) after their parent."""
    for raw_task in tasks if isinstance(tasks, list) else []:
        if isinstance(raw_task, dict):
            yield raw_task
            yield from _raw_tasks(raw_task.get("parallel"))
            fan_out = raw_task.get("fan_out")
            if isinstance(fan_out, dict) and isinstance(fan_out.get("task"), dict):
                yield from _raw_tasks([fan_out["task"]])


def render_job_field(raw_source: str, field: str, data: Mapping[str, Any],
                     functions: Mapping[str, Callable[..., Any]] | None = None) -> str:
    """A job-level key (``skip_if``) as it reads once the whole definition is rendered."""
    if not has_template(raw_source):
        return ""
    line = job_field_line(raw_source, field)
    document = _render_document(line if line is not None else raw_source, data, functions)
    value = document.get(field) if isinstance(document, dict) else None
    return "" if value is None else str(value)
