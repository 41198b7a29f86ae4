"""Reading a job definition from its source text (YAML or JSON) into a validated spec.

Templates may appear anywhere in the text, so the static structure is taken the way Formicary
takes it: every line holding a template action is dropped before parsing. Definitions marked
``dynamic_template_tasks`` (or using ``{{ range``) are rendered once, at upload, with their job
variables, because their task list itself is generated.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pydantic

from myrmica.domain.cron import next_fire
from myrmica.domain.definition_keys import check_keys
from myrmica.domain.definition_model import JobDefinitionSpec
from myrmica.domain.documents import load_json, load_yaml
from myrmica.domain.errors import ValidationError
from myrmica.domain.graph import validate_graph
from myrmica.domain.task_env import check_mapping
from myrmica.domain.trigger_config import validate_triggers
from myrmica.templating.gotemplate import Template, TemplateError, has_template

# Functions that need the engine at run time; at upload they only need to exist (for parsing)
# and give neutral answers (for dynamic rendering).
UPLOAD_FUNCTIONS: Mapping[str, Callable[..., Any]] = {
    "CountByJobTypeAndState": lambda *args: 0,
    "SubmitJob": lambda *args: "",
    "SubmitJobsFromJSON": lambda *args: "",
}

_DYNAMIC_RANGE = re.compile(r"\{\{-?\s*range\b")
_DYNAMIC_FLAG = re.compile(r"^\s*dynamic_template_tasks\s*:\s*true\s*$", re.MULTILINE | re.IGNORECASE)


@dataclass(frozen=True)
class ParsedDefinition:
    spec: JobDefinitionSpec
    raw: str
    format: str  # "yaml" or "json"
    digest: str  # of the raw text: an identical re-post is recognised by it
    warnings: tuple[str, ...] = ()  # known keys Myrmica keeps but does not act on yet


def detect_format(source: str, content_type: str | None) -> str:
    kind = (content_type or "").lower()
    if "yaml" in kind or "yml" in kind:
        return "yaml"
    if "json" in kind:
        return "json"
    return "json" if source.lstrip().startswith("{") else "yaml"


def strip_template_lines(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if "{{" not in line)


_EXPR_TEMPLATES = re.compile(r"""\btemplates["']?\s*:\s*["']?expr\b""")


def _load(text: str, fmt: str) -> Any:
    return load_json(text) if fmt == "json" else load_yaml(text)


def check_template_syntax(source: str) -> Template | None:
    if not has_template(source):
        return None
    try:
        return Template.parse(source, functions=UPLOAD_FUNCTIONS)
    except TemplateError as exc:
        raise ValidationError(f"template error: {exc}", field="template") from exc


def _expr_document(source: str, fmt: str) -> dict[str, Any] | None:
    """The document of a definition with ``templates: expr``, whose ``{{ }}`` are expr-lang templates
    rendered per field at run time (never Go templates over the text); None for any other definition."""
    if not _EXPR_TEMPLATES.search(source):
        return None
    try:
        document = _load(source, fmt)
    except ValidationError:
        return None
    return document if isinstance(document, dict) and document.get("templates") == "expr" else None


def _is_dynamic(source: str) -> bool:
    return bool(_DYNAMIC_FLAG.search(source) or _DYNAMIC_RANGE.search(source))


def to_spec(document: Any) -> JobDefinitionSpec:
    if not isinstance(document, dict):
        raise ValidationError("a job definition must be a mapping with job_type and tasks", field="body")
    if not document.get("tasks"):
        raise ValidationError("a job definition needs at least one task", field="tasks")
    if isinstance(document.get("tasks"), list) and len(document["tasks"]) > 100:
        raise ValidationError(f"a job definition may have at most 100 tasks, not {len(document['tasks'])}",
                              field="tasks")
    try:
        spec = JobDefinitionSpec.model_validate(document)
    except pydantic.ValidationError as exc:
        raise _translate(exc, document) from exc
    check_variable_names(spec)
    return spec


def check_variable_names(spec: JobDefinitionSpec) -> None:
    """No variable that reaches a task's environment may change how its programs load (domain/task_env.py)."""
    check_mapping(spec.job_variables, "job_variables")
    for task in spec.tasks:
        check_mapping(task.variables, "variables", task=task.task_type)
        check_mapping(task.environment, "environment", task=task.task_type)


def _translate(exc: pydantic.ValidationError, document: dict[str, Any]) -> ValidationError:
    error = exc.errors()[0]
    loc = list(error["loc"])
    task: str | None = None
    if len(loc) >= 2 and loc[0] == "tasks" and isinstance(loc[1], int):
        tasks = document.get("tasks") or []
        raw_task = tasks[loc[1]] if loc[1] < len(tasks) else None
        task = str(raw_task.get("task_type")) if isinstance(raw_task, dict) and raw_task.get("task_type") \
            else f"tasks[{loc[1]}]"
        loc = loc[2:]
    field = ".".join(str(part) for part in loc) or "body"
    message = error["msg"]
    if error["type"] == "enum" and field == "method":
        message = f"unknown method {error.get('input')!r}"
    where = f"task {task!r}: " if task else ""
    return ValidationError(f"{where}{field}: {message}", field=field, task=task)


MAX_DESCRIPTION = 500


def parse_definition(source: str, content_type: str | None = None) -> ParsedDefinition:
    if not source.strip():
        raise ValidationError("the job definition is empty", field="body")
    fmt = detect_format(source, content_type)
    expr_document = _expr_document(source, fmt)
    template = None if expr_document is not None else check_template_syntax(source)
    static_doc = expr_document if expr_document is not None else _load(strip_template_lines(source), fmt)
    if template is not None and _is_dynamic(source):
        variables = static_doc.get("job_variables") if isinstance(static_doc, dict) else None
        data: dict[str, Any] = dict(variables) if isinstance(variables, dict) else {}
        try:
            rendered = template.execute(data)
        except TemplateError as exc:
            raise ValidationError(f"template error: {exc}", field="template") from exc
        document = _load(rendered, fmt)
        if isinstance(document, dict):
            document["dynamic_template_tasks"] = True
    else:
        document = static_doc
    warnings = check_keys(document)
    spec = to_spec(document)
    if len(spec.description) > MAX_DESCRIPTION:  # Formicary's limit (spec §2.4); a dialect's own jobs have none
        raise ValidationError(f"description: at most {MAX_DESCRIPTION} characters, not {len(spec.description)}",
                              field="description")
    validate_graph(spec)
    validate_triggers(static_doc.get("triggers") if isinstance(static_doc, dict) else None)
    if spec.cron_trigger:
        try:
            if next_fire(spec.cron_trigger, datetime.now(UTC)) is None:
                raise ValidationError(f"cron_trigger {spec.cron_trigger!r} never fires again", field="cron_trigger")
        except ValueError as exc:
            raise ValidationError(f"cron_trigger: {exc}", field="cron_trigger") from exc
    digest = hashlib.sha256(source.encode()).hexdigest()
    return ParsedDefinition(spec=spec, raw=source, format=fmt, digest=digest, warnings=tuple(warnings))


def parsed_document(document: Mapping[str, Any]) -> ParsedDefinition:
    """A definition given as a document (a dialect's translation, a child job defined inline): stored
    as its JSON text, keys sorted, so the same document always has the same digest."""
    raw = json.dumps(document, sort_keys=True)
    spec = to_spec(dict(document))
    validate_graph(spec)
    return ParsedDefinition(spec=spec, raw=raw, format="json", digest=hashlib.sha256(raw.encode()).hexdigest())
