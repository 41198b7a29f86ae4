"""Reading a JSON body's fields for the account and catalog services: each a clear 422 naming the field.

Go decodes JSON keys case-insensitively, so Formicary's docs post ``{"Name": …, "Secret": true}``:
keys are matched without regard to case here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from myrmica.domain.errors import ValidationError
from myrmica.domain.numbers import has_control, strict_int

MISSING = object()


class Body:
    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = {str(k).lower(): v for k, v in raw.items()}

    def has(self, name: str) -> bool:
        return name.lower() in self._raw

    def get(self, name: str, default: Any = None) -> Any:
        return self._raw.get(name.lower(), default)

    def text(self, name: str, *, max_length: int = 200, required: bool = False, default: str = "",
             multiline: bool = False) -> str:
        value = self._raw.get(name.lower(), MISSING)
        if value is MISSING or value is None or value == "":
            if required:
                raise ValidationError(f"{name} is required", field=name)
            return default
        if not isinstance(value, str):
            raise ValidationError(f"{name} must be a string", field=name)
        if len(value) > max_length:
            raise ValidationError(f"{name} has at most {max_length} characters", field=name)
        if not multiline and has_control(value):
            raise ValidationError(f"{name} may not hold control characters", field=name)
        return value

    def integer(self, name: str, *, default: int = 0, minimum: int = 0, maximum: int = 2**53,
                required: bool = False) -> int:
        value = self._raw.get(name.lower(), MISSING)
        if value is MISSING or value is None:
            if required:
                raise ValidationError(f"{name} is required", field=name)
            return default
        return strict_int(value, name, minimum=minimum, maximum=maximum)

    def optional_integer(self, name: str, *, minimum: int = -(2**31), maximum: int = 2**31 - 1) -> int | None:
        value = self._raw.get(name.lower(), MISSING)
        if value is MISSING or value is None or value == "":
            return None
        return strict_int(value, name, minimum=minimum, maximum=maximum)

    def boolean(self, name: str, *, default: bool = False) -> bool:
        value = self._raw.get(name.lower(), MISSING)
        if value is MISSING or value is None:
            return default
        if not isinstance(value, bool):
            raise ValidationError(f"{name} must be true or false", field=name)
        return value

    def strings(self, name: str, *, max_items: int = 100, max_length: int = 100) -> list[str]:
        value = self._raw.get(name.lower(), MISSING)
        if value is MISSING or value is None:
            return []
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or len(value) > max_items:
            raise ValidationError(f"{name} must be a list of at most {max_items} strings", field=name)
        for item in value:
            if not isinstance(item, str) or len(item) > max_length or has_control(item):
                raise ValidationError(f"{name} must hold strings of at most {max_length} characters", field=name)
        return list(value)

    def mapping(self, name: str) -> dict[str, Any] | None:
        value = self._raw.get(name.lower(), MISSING)
        if value is MISSING or value is None:
            return None
        if not isinstance(value, dict):
            raise ValidationError(f"{name} must be an object", field=name)
        return value


def config_value(body: Body) -> tuple[str, Any, bool]:
    """A config's ``name``, ``value`` (any JSON value) and ``secret`` flag."""
    name = body.text("name", required=True)
    if not body.has("value") or body.get("value") is None:
        raise ValidationError("value is required", field="value")
    value = body.get("value")
    if isinstance(value, str) and len(value) > 64 * 1024:
        raise ValidationError("value has at most 65536 characters", field="value")
    return name.strip(), value, body.boolean("secret")
