"""Which fields of a Tork task are templated, and when: Tork's ``eval.EvaluateTask`` on plain data.

A task is given as Tork's JSON/YAML shape (camelCase keys, as ``POST /jobs`` accepts it) and
comes back as a new dict in which exactly these fields are rendered with :func:`expr.render`:
``name``, ``var``, ``image``, ``queue``, the values of ``env``, ``if``, every item of ``cmd``, the
same fields of each ``pre``/``post`` task and each ``parallel.tasks`` child, and of a ``subjob``
its ``name``, the values of ``inputs`` and ``secrets``, and each webhook's ``url`` and ``headers``
values. Everything else is copied untouched — above all ``run``, which Tork never templates, and
``each``, whose ``list`` is evaluated when the task is scheduled (:func:`each_list`) and whose
``task`` when each child is created.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from myrmica.templating.expr import ExprError, Limits, evaluate, render

_STRING_FIELDS = ("name", "var", "image", "queue")


def _copy(value: Any) -> Any:
    """A copy of JSON-like data (so the caller's definition is never changed)."""
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(item) for item in value]
    return value


class _Renderer:
    def __init__(self, context: Mapping[str, Any], limits: Limits, rng: random.Random | None) -> None:
        self.context = context
        self.limits = limits
        self.rng = rng

    def text(self, value: Any) -> Any:
        if not isinstance(value, str) or not value:
            return value
        return render(value, self.context, limits=self.limits, rng=self.rng)

    def values(self, mapping: Any) -> Any:
        if not isinstance(mapping, dict):
            return mapping
        return {key: self.text(item) for key, item in mapping.items()}

    def task(self, task: dict[str, Any]) -> dict[str, Any]:
        for field in _STRING_FIELDS:
            if field in task:
                task[field] = self.text(task[field])
        if "env" in task:
            task["env"] = self.values(task["env"])
        if "if" in task:
            task["if"] = self.text(task["if"])
        for field in ("pre", "post"):
            if isinstance(task.get(field), list):
                task[field] = [self.task(aux) if isinstance(aux, dict) else aux for aux in task[field]]
        parallel = task.get("parallel")
        if isinstance(parallel, dict) and isinstance(parallel.get("tasks"), list):
            parallel["tasks"] = [self.task(child) if isinstance(child, dict) else child for child in parallel["tasks"]]
        if isinstance(task.get("cmd"), list):
            task["cmd"] = [self.text(item) for item in task["cmd"]]
        subjob = task.get("subjob")
        if isinstance(subjob, dict):
            self.subjob(subjob)
        return task

    def subjob(self, subjob: dict[str, Any]) -> None:
        if "name" in subjob:
            subjob["name"] = self.text(subjob["name"])
        for field in ("inputs", "secrets"):
            if field in subjob:
                subjob[field] = self.values(subjob[field])
        webhooks = subjob.get("webhooks")
        if isinstance(webhooks, list):
            for hook in webhooks:
                if isinstance(hook, dict):
                    if "url" in hook:
                        hook["url"] = self.text(hook["url"])
                    if "headers" in hook:
                        hook["headers"] = self.values(hook["headers"])


def evaluate_task(
    task: Mapping[str, Any],
    context: Mapping[str, Any],
    *,
    limits: Limits = Limits(),
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """A copy of ``task`` with its templated fields rendered against ``context``.

    Raises :class:`ExprError` at the first failing field (Tork then fails the task and the job).
    """
    return _Renderer(context, limits, rng).task(_copy(task))


def each_list(
    expression: str,
    context: Mapping[str, Any],
    *,
    limits: Limits = Limits(),
    rng: random.Random | None = None,
) -> list[Any]:
    """The items an ``each`` task runs over: ``each.list`` evaluated, which must give a list."""
    value = evaluate(expression, context, limits=limits, rng=rng)
    if not isinstance(value, list | tuple):
        raise ExprError("each.list does not evaluate to a list")
    return list(value)
