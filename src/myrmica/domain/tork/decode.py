"""Strict decoding of a Tork job body (spec/tork.md §0.2, §0.3), with the texts of Tork's Go decoders.

Tork reads YAML with yaml.v3 and ``KnownFields(true)``, JSON with encoding/json and
``DisallowUnknownFields()``: any key its input structs (:mod:`.schema`) lack is a 400. The result is
plain data in Tork's own shape (camelCase keys, only the keys given, null values left out, as Go
leaves zero values): strings, ints, bools, lists and dicts, ready for :mod:`.validate` and for
``templating.torktask``.

YAML follows yaml.v3: every scalar goes into a string field as its source text (``limit: 2`` in
``inputs`` is ``"2"``, ``cpus: .5`` is ``".5"``); every type error and unknown key is collected and
reported together (``yaml: unmarshal errors:\\n  line 3: field foo not found in type input.Job``);
only the first document is read. JSON follows encoding/json: strings must be strings, keys match
case-insensitively when no key matches exactly, the first error is reported
(``json: unknown field "foo"``, ``json: cannot unmarshal number into Go struct field Job.name of
type string``), and anything after the first value is ignored.

Bodies are read within the limits of ``domain.documents`` (depth, aliases and their expansion,
int64, finite numbers, valid Unicode): past one, the 400 says which (``yaml: more than 100 YAML
aliases``). Departure: malformed YAML or JSON gets Tork's prefix (``yaml: line N: …``, ``invalid character …``)
with PyYAML's and Python's wording of the problem, which can differ from Go's.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from myrmica.domain.documents import DocumentError, check_value, compose_yaml
from myrmica.domain.errors import DomainError
from myrmica.domain.tork.schema import STRUCTS, Field

JOB_CONTENT_TYPES = ("application/json", "text/yaml", "application/x-yaml")
SCHEDULED_JOB_CONTENT_TYPES = ("application/json", "text/yaml")

_TAG = "tag:yaml.org,2002:"


class BadInput(DomainError):
    """A body Tork refuses with 400 and this exact message."""

    status = 400


def body_format(content_type: str | None, accepted: tuple[str, ...] = JOB_CONTENT_TYPES) -> str:
    """``json`` or ``yaml`` for a Content-Type header, compared exactly as Tork does (no parameters)."""
    if not content_type:
        raise BadInput("missing content type")
    if content_type not in accepted:
        raise BadInput(f"unknown content type: {content_type}")
    return "json" if content_type == "application/json" else "yaml"


def decode(body: str | bytes, fmt: str, struct: str = "Job") -> dict[str, Any]:
    """The body read strictly into ``struct`` (a name of :data:`schema.STRUCTS`); BadInput if it cannot be."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    if fmt == "json":
        return _Json().top(text, struct)
    return _Yaml().top(text, struct)


# --- YAML (yaml.v3) -----------------------------------------------------------------------------

def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG):] if tag.startswith(_TAG) else tag


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _TAG + "null"


class _Yaml:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def top(self, text: str, struct: str) -> dict[str, Any]:
        try:
            node = compose_yaml(text)
        except DocumentError as exc:
            raise BadInput(f"yaml: {exc.reason}") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise BadInput(f"yaml: {where}{problem}") from None
        if node is None:
            raise BadInput("EOF")
        value = self.struct(node, struct) if not _is_null(node) else {}
        if self.errors:
            raise BadInput("yaml: unmarshal errors:\n  " + "\n  ".join(self.errors))
        return value if isinstance(value, dict) else {}

    def type_error(self, node: Node, out: str) -> None:
        tag = _short_tag(node.tag)
        value = ""
        if isinstance(node, ScalarNode):
            value = f" `{node.value[:7]}...`" if len(node.value) > 10 else f" `{node.value}`"
        self.errors.append(f"line {node.start_mark.line + 1}: cannot unmarshal {tag}{value} into {out}")

    def value(self, node: Node, field: Field) -> Any:
        go_type = field.go_type
        if go_type.startswith("[]"):
            if not isinstance(node, SequenceNode):
                self.type_error(node, go_type)
                return None
            item = Field(field.go_name, go_type[2:])
            out = [self.value(child, item) if not _is_null(child) else _zero(item) for child in node.value]
            return out
        if go_type == "map[string]string":
            if not isinstance(node, MappingNode):
                self.type_error(node, go_type)
                return None
            mapping: dict[str, Any] = {}
            for key, child in node.value:
                if not isinstance(key, ScalarNode):
                    self.type_error(key, "string")
                    continue
                if _is_null(child):
                    mapping[key.value] = ""
                elif isinstance(child, ScalarNode):
                    mapping[key.value] = child.value
                else:
                    self.type_error(child, "string")
            return mapping
        struct = field.struct
        if struct is not None:
            return self.struct(node, struct)
        return self.scalar(node, go_type)

    def scalar(self, node: Node, go_type: str) -> Any:
        if not isinstance(node, ScalarNode):
            self.type_error(node, go_type)
            return None
        if go_type == "string":
            return node.value
        tag = node.tag[len(_TAG):] if node.tag.startswith(_TAG) else ""
        if go_type == "int":
            number = _yaml_number(node.value, tag)
            if number is None:
                self.type_error(node, go_type)
            return number
        if go_type == "bool":
            if tag == "bool":
                return node.value.lower() in ("true", "yes", "on", "y")
            self.type_error(node, go_type)
            return None
        raise AssertionError(go_type)

    def struct(self, node: Node, struct: str) -> dict[str, Any] | None:
        if not isinstance(node, MappingNode):
            self.type_error(node, f"input.{struct}")
            return None
        fields = STRUCTS[struct]
        out: dict[str, Any] = {}
        for key, child in _merged(node):
            name = key.value if isinstance(key, ScalarNode) else ""
            field = fields.get(name)
            if field is None:
                self.errors.append(f"line {key.start_mark.line + 1}: field {name} not found in type input.{struct}")
                continue
            if _is_null(child):
                continue
            value = self.value(child, field)
            if value is not None:
                out[name] = value
        return out


def _merged(node: MappingNode) -> list[tuple[Node, Node]]:
    """The mapping's pairs with ``<<`` merge keys expanded (yaml.v3 honours them)."""
    pairs: list[tuple[Node, Node]] = []
    for key, child in node.value:
        if key.tag == _TAG + "merge":
            sources = child.value if isinstance(child, SequenceNode) else [child]
            for source in sources:
                if isinstance(source, MappingNode):
                    pairs.extend(pair for pair in _merged(source) if pair[0].value not in {k.value for k, _ in pairs})
            continue
        pairs = [pair for pair in pairs if pair[0].value != key.value] + [(key, child)]
    return pairs


def _yaml_number(text: str, tag: str) -> int | None:
    if tag == "int":
        try:
            return int(text.replace("_", ""), 0)
        except ValueError:
            try:
                return int(text.replace("_", ""))
            except ValueError:
                return None
    if tag == "float":
        try:
            number = float(text.replace("_", ""))
        except ValueError:
            return None
        return int(number) if number.is_integer() else None
    return None


def _zero(field: Field) -> Any:
    if field.struct is not None:
        return {}
    return {"string": "", "int": 0, "bool": False}.get(field.go_type)


# --- JSON (encoding/json) -----------------------------------------------------------------------

_JSON_KINDS = {str: "string", bool: "bool", int: "number", float: "number", list: "array", dict: "object"}
_JSON_CONTEXT = {
    "Expecting value": "looking for beginning of value",
    "Expecting property name enclosed in double quotes": "looking for beginning of object key string",
    "Expecting ':' delimiter": "after object key",
    "Expecting ',' delimiter": "after object key:value pair",
}


def _quote_char(char: str) -> str:
    if char == "'":
        return "'\\''"
    if char == '"':
        return "'\"'"
    return f"'{char}'"


_JSON_DECODER = json.JSONDecoder()


class _Json:
    def __init__(self) -> None:
        self.first: str | None = None

    def top(self, text: str, struct: str) -> dict[str, Any]:
        stripped = text.lstrip()
        if not stripped:
            raise BadInput("EOF")
        try:
            document, _ = _JSON_DECODER.raw_decode(stripped)
            check_value(document)
        except DocumentError as exc:
            raise BadInput(f"json: {exc.reason}") from None
        except json.JSONDecodeError as exc:
            if exc.pos >= len(stripped) or exc.msg.startswith("Unterminated"):
                raise BadInput("unexpected EOF") from None
            context = _JSON_CONTEXT.get(exc.msg, "looking for beginning of value")
            raise BadInput(f"invalid character {_quote_char(stripped[exc.pos])} {context}") from None
        if document is None:
            return {}
        if not isinstance(document, dict):
            raise BadInput(f"json: cannot unmarshal {_JSON_KINDS[type(document)]} into Go value of type input.{struct}")
        value = self.struct(document, struct, [])
        if self.first is not None:
            raise BadInput(self.first)
        return value

    def fail(self, message: str) -> None:
        if self.first is None:
            self.first = message

    def type_error(self, value: Any, go_type: str, struct: str, path: list[str]) -> None:
        kind = _JSON_KINDS[type(value)]
        if kind == "number" and go_type == "int":
            kind = f"number {value}"
        self.fail(f"json: cannot unmarshal {kind} into Go struct field {struct}.{'.'.join(path)} of type {go_type}")

    def value(self, value: Any, field: Field, struct: str, path: list[str]) -> Any:
        go_type = field.go_type
        if go_type.startswith("[]"):
            if not isinstance(value, list):
                self.type_error(value, go_type, struct, path)
                return None
            item = Field(field.go_name, go_type[2:])
            return [self.value(child, item, struct, path) if child is not None else _zero(item) for child in value]
        if go_type == "map[string]string":
            if not isinstance(value, dict):
                self.type_error(value, go_type, struct, path)
                return None
            mapping: dict[str, Any] = {}
            for key, child in value.items():
                if child is None:
                    mapping[key] = ""
                elif isinstance(child, str):
                    mapping[key] = child
                else:
                    self.type_error(child, "string", struct, path)
            return mapping
        nested = field.struct
        if nested is not None:
            if not isinstance(value, dict):
                self.type_error(value, go_type.removeprefix("*"), struct, path)
                return None
            return self.struct(value, nested, path)
        if go_type == "string" and isinstance(value, str):
            return value
        if go_type == "bool" and isinstance(value, bool):
            return value
        if go_type == "int" and isinstance(value, int) and not isinstance(value, bool):
            return value
        self.type_error(value, go_type, struct, path)
        return None

    def struct(self, document: dict[str, Any], struct: str, path: list[str]) -> dict[str, Any]:
        fields = STRUCTS[struct]
        folded = {key.lower(): key for key in reversed(list(fields))}
        out: dict[str, Any] = {}
        for key, child in document.items():
            name = key if key in fields else folded.get(key.lower())
            if name is None:
                self.fail(f"json: unknown field {json.dumps(key)}")
                continue
            if child is None:
                continue
            value = self.value(child, fields[name], struct, [*path, name])
            if value is not None:
                out[name] = value
        return out
