"""References in a JSON Schema that would point outside it."""

from __future__ import annotations

from typing import Any

MAX_WALK = 100_000


def remote_ref(schema: Any) -> str | None:
    """The first ``$ref``/``$dynamicRef``/``$schema``-like reference that is not local (``#…``), else None."""
    stack = [schema]
    seen = 0
    while stack and seen < MAX_WALK:
        node = stack.pop()
        seen += 1
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("$ref", "$dynamicRef", "$recursiveRef") and isinstance(value, str) \
                        and not value.startswith("#"):
                    return value
                if key == "$id" and isinstance(value, str) and "://" in value:
                    return value
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return None
