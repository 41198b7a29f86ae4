"""A Go-templated YAML (or JSON) document rendered so that values stay data.

Formicary renders a definition's whole text before parsing it, so that ``{{if}}`` and ``{{range}}``
can add tasks and keys. Done naively, a param's value becomes YAML source too: a newline and
``- echo injected`` adds a script line, ``\\n  method: HTTP_GET`` changes a task's method. Here the
template runs as before, but each action's printed text is replaced by a placeholder; the text is
parsed, and only then are the placeholders replaced by the printed values, inside the scalars
(strings, keys) where the template put them. The structure comes from the template alone.

A scalar that is plain (unquoted) in the template takes the type YAML would give its final text when
that is a number, a boolean or null, so ``retry: {{.Retries}}`` is still a number; anything else
stays a string (a value can never become a list or a mapping).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from myrmica.domain.documents import check_nodes, check_value
from myrmica.domain.errors import ValidationError
from myrmica.templating.gotemplate import Template

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR = "tag:yaml.org,2002:str"
_TYPED = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null"}
_RESOLVER = yaml.resolver.Resolver()


class RenderedYamlError(Exception):
    """The rendered text is not valid YAML; the message shows actions (``{{.X}}``), never values."""


def render_yaml(source: str, data: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]] | None = None,
                *, prefix: str = "") -> Any:
    """``prefix`` + the rendered ``source``, parsed; template errors propagate (TemplateError)."""
    nonce = secrets.token_hex(6)
    values: list[str] = []
    actions: list[str] = []

    def defer(text: str, action: str) -> str:
        values.append(text)
        actions.append(action)
        return f"myrmica{nonce}v{len(values) - 1}x"

    text = Template.parse(source, functions=functions).execute(data, defer=defer)
    text = prefix + "\n".join(line for line in text.splitlines() if line.strip())  # lines left by actions
    placeholder = re.compile(f"myrmica{nonce}v(\\d+)x")
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if "*" in text:  # aliases: bounded as at upload (a {{range}} can repeat them)
            check_nodes(node)
        if values:
            _substitute(node, placeholder, values)
        document = loader.construct_document(node)
        check_value(document)
        return document
    except yaml.YAMLError as exc:
        shown = placeholder.sub(lambda m: actions[int(m.group(1))], str(exc))
        raise RenderedYamlError(shown) from None
    except ValidationError as exc:
        raise RenderedYamlError(exc.message) from None
    except (ValueError, OverflowError):  # a value that YAML types but Python cannot hold (an int of 5000 digits)
        raise RenderedYamlError("a value cannot be read as the type YAML gives it (a number too long?)") from None
    finally:
        loader.dispose()


def _substitute(root: Node, placeholder: re.Pattern[str], values: list[str]) -> None:
    seen: set[int] = set()
    stack: list[Node] = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, ScalarNode):
            if "myrmica" not in node.value:
                continue
            text = placeholder.sub(lambda m: values[int(m.group(1))], node.value)
            if text == node.value:
                continue
            if not node.style and node.tag == _STR:  # plain: None (PyYAML) or "" (libyaml)
                tag = _RESOLVER.resolve(ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
                if tag in _TYPED:
                    node.tag = tag
            node.value = text
        elif isinstance(node, MappingNode):
            for key, value in node.value:
                stack += (key, value)
        elif isinstance(node, SequenceNode):
            stack += node.value
