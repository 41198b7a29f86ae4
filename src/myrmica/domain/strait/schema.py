"""A job's ``payload_schema`` (JSON Schema, jsonschema-rs): checked when the job is saved, applied to each
trigger's payload. Only references inside the schema (``#…``) are allowed: a schema never makes the
server fetch a URL."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jsonschema_rs

from myrmica.domain.strait.errors import bad
from myrmica.domain.strait.validate_refs import remote_ref


def check_schema(schema: Any) -> None:
    where = remote_ref(schema)
    if where is not None:
        raise bad(f"payload_schema: only local references (#...) are allowed, not {where!r}", "payload_schema")
    try:
        jsonschema_rs.meta.validate(schema)
        jsonschema_rs.validator_for(schema)
    except (jsonschema_rs.ValidationError, ValueError, jsonschema_rs.ReferencingError) as exc:
        first = str(exc).split("\n", 1)[0]
        raise bad(f"payload_schema is not a valid JSON Schema: {first}", "payload_schema") from None


@lru_cache(maxsize=256)
def _validator(text: str) -> Any:
    import json

    return jsonschema_rs.validator_for(json.loads(text))


def check_payload(schema: Any, schema_text: str, payload: Any, where: str = "payload") -> None:
    """400 "payload validation failed: …" when ``payload`` does not match."""
    if schema is None:
        return
    validator = _validator(schema_text)
    for error in validator.iter_errors(payload):
        path = "/".join(str(p) for p in getattr(error, "instance_path", []) or [])
        at = f" at /{path}" if path else ""
        raise bad(f"payload validation failed: {error.message}{at}", where)
