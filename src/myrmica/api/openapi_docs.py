"""Describing routes that read their input by hand in the OpenAPI document.

The busiest routes read their query parameters and bodies themselves (``request.query_params``,
:mod:`myrmica.api.body`): FastAPI's own parsing costs a submit several percent. So their inputs are
declared here, for the document only (``openapi_extra``), from the same pydantic models that describe
them to readers and to the fuzz test; nothing here runs while a request is served.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from myrmica.api.prefix_routes import flat

_BODY_MODELS: dict[str, type[BaseModel]] = {}
COMPONENTS = "#/components/schemas/{model}"


def _ref(model: type[BaseModel]) -> dict[str, str]:
    _BODY_MODELS[model.__name__] = model
    return {"$ref": COMPONENTS.format(model=model.__name__)}


def body(model: type[BaseModel], *media_types: str, required: bool = True) -> dict[str, Any]:
    content = {media: {"schema": _ref(model)} for media in (media_types or ("application/json",))}
    return {"requestBody": {"required": required, "content": content}}


def form_or_json(model: type[BaseModel]) -> dict[str, Any]:
    """Formicary's clients send form fields; JSON works too."""
    return body(model, "application/x-www-form-urlencoded", "application/json")


def _param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def q_int(name: str, description: str = "", *, minimum: int = 0, maximum: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": minimum}
    if maximum is not None:
        schema["maximum"] = maximum
    return _param(name, schema, description)


def q_str(name: str, description: str = "") -> dict[str, Any]:
    return _param(name, {"type": "string"}, description)


def q_bool(name: str, description: str = "") -> dict[str, Any]:
    return _param(name, {"type": "boolean"}, description)


PAGING = (q_int("page", "0-based", maximum=1_000_000), q_int("page_size", minimum=1, maximum=1000))


def extra(*parts: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` of a route: query parameters (each from ``q_*``) and at most one body."""
    out: dict[str, Any] = {}
    params = [part for part in parts if "in" in part]
    if params:
        out["parameters"] = params
    for part in parts:
        if "requestBody" in part:
            out["requestBody"] = part["requestBody"]
    return out


def install_openapi(app: FastAPI) -> None:
    """The document FastAPI builds, plus the schemas of the bodies declared with :func:`body`."""

    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=flat(app.routes))
        if _BODY_MODELS:
            _, defs = models_json_schema([(model, "validation") for model in _BODY_MODELS.values()],
                                         ref_template=COMPONENTS)
            known = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in defs.get("$defs", {}).items():
                known.setdefault(name, definition)
        app.openapi_schema = schema
        return schema

    app.openapi = build  # type: ignore[method-assign]
