"""The one way user-supplied YAML and JSON are read: bounded, so bad input is a ValidationError, never
a crash, a hang or a 500.

Limits, checked before anything else sees the document:

- nesting at most :data:`MAX_DEPTH` levels (a deeper document is refused while it is being read,
  before Python's recursion limit could be reached);
- YAML aliases: at most :data:`MAX_ALIASES`, and the document as a tree (every alias expanded) at most
  :data:`MAX_NODES` nodes, so a "billion laughs" of a few hundred bytes is refused in microseconds
  instead of being walked 9⁹ times by whatever reads it next; an alias inside its own anchor (a cycle)
  is refused too;
- numbers: integers within int64, floats finite (no NaN/Infinity, no YAML ``.inf``), no number of
  more than 4300 digits (which Python itself refuses to convert);
- strings and keys: valid Unicode (no lone surrogates such as ``"\\ud800"``) without NUL characters,
  which no database column can hold.

An error names the path of the offending value (``params.a.b``) as its field.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, SequenceNode

from myrmica.domain.errors import ValidationError
from myrmica.domain.numbers import INT64_MAX, INT64_MIN

MAX_DEPTH = 64
_READ_DEPTH = 2 * MAX_DEPTH  # while reading (no path known yet); past the reader, MAX_DEPTH names the path
MAX_ALIASES = 100
MAX_NODES = 100_000
_MAX_INT_DIGITS = 19  # int64 has at most 19 digits: longer text is refused before int() reads it


class DocumentError(ValidationError):
    """A document breaks one of the limits; ``path`` grows as the error leaves nested values."""

    def __init__(self, reason: str, path: tuple[str | int, ...] = (), *, root: str = "body") -> None:
        self.reason = reason
        self.path = path
        self.root = root
        field = dotted(root, path) or "body"
        super().__init__(f"{field}: {reason}", field=field)


def dotted(root: str, path: tuple[str | int, ...]) -> str:
    out = root
    for part in path:
        out = f"{out}[{part}]" if isinstance(part, int) else (f"{out}.{part}" if out else str(part))
    return out


class _Refused:
    """Stands, while a document is read, for a value the reader could not take; the check that
    follows refuses it with its path."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


# --- values -------------------------------------------------------------------------------------


def _check_text(text: str) -> str | None:
    if text.isascii():
        return "contains a NUL character" if "\x00" in text else None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (it holds a lone surrogate such as \\ud800)"
    return "contains a NUL character" if "\x00" in text else None


def _plain(item: Any) -> bool:
    """The common leaves, passed without a call: ASCII text, int64 integers, booleans, null."""
    kind = type(item)
    if kind is str:
        return item.isascii() and "\x00" not in item
    if kind is int:
        return INT64_MIN <= item <= INT64_MAX  # type: ignore[no-any-return]
    return kind is bool or item is None


def _check(value: Any, depth: int) -> None:
    if isinstance(value, dict | list):
        if depth >= MAX_DEPTH:
            raise DocumentError(f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, dict):
            for key in value:
                if not _plain(key):
                    reason = _check_text(key) if isinstance(key, str) else None
                    if reason:  # (the key itself is not shown: it may not even be printable)
                        raise DocumentError(f"a key {reason}")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if _plain(item):
                continue
            try:
                _check(item, depth + 1)
            except DocumentError as exc:
                raise DocumentError(exc.reason, (key if isinstance(key, int | str) else str(key), *exc.path)) \
                    from None
    elif isinstance(value, str):
        reason = _check_text(value)
        if reason:
            raise DocumentError(reason)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise DocumentError("the integer is out of range (a 64-bit integer is at most 9223372036854775807)")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise DocumentError(f"must be a finite number, not {value}")
    elif isinstance(value, _Refused):
        raise DocumentError(value.reason)


def check_value(value: Any, root: str = "") -> None:
    """Refuse a decoded value that breaks the limits (for values built by code, not read from text)."""
    try:
        _check(value, 0)
    except DocumentError as exc:
        raise DocumentError(exc.reason, exc.path, root=root) from None


# --- JSON ---------------------------------------------------------------------------------------


def _too_long(text: str) -> _Refused:
    digits = len(text.lstrip("+-"))
    return _Refused(f"the integer {text[:24]}… has {digits} digits; a 64-bit integer has at most 19")


def _json_int(text: str) -> int | _Refused:
    return int(text) if len(text) <= _MAX_INT_DIGITS + 1 else _too_long(text)


def _json_constant(name: str) -> _Refused:
    return _Refused(f"{name} is not a number JSON allows")


# Built once (json.loads with hooks builds a decoder a call). Integers are read by Python itself, and
# its range checked after; only a text Python refuses (over 4300 digits) is read again, with a hook
# that marks the number so that the check names where it is.
_DECODER = json.JSONDecoder(parse_constant=_json_constant)
_MARKING_DECODER = json.JSONDecoder(parse_int=_json_int, parse_constant=_json_constant)


def _could_be_deep(text: str) -> bool:
    return text.count("{") + text.count("[") > _READ_DEPTH


def load_json(text: str, *, root: str = "") -> Any:
    """``json.loads`` within the limits. A ``JSONDecodeError`` becomes a ValidationError naming the line."""
    if _could_be_deep(text):
        _refuse_deep_brackets(text, root)
    try:
        try:
            value = _DECODER.decode(text)
        except ValueError as exc:
            if isinstance(exc, json.JSONDecodeError):
                raise
            value = _MARKING_DECODER.decode(text)
    except DocumentError as exc:
        raise DocumentError(exc.reason, root=root) from None
    except json.JSONDecodeError as exc:
        raise ValidationError(f"malformed JSON at line {exc.lineno}: {exc.msg}", field=root or "body") from exc
    except (ValueError, RecursionError) as exc:  # anything else the decoder refuses
        raise ValidationError(f"unreadable JSON: {exc}"[:200], field=root or "body") from exc
    check_value(value, root)
    return value


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_YAML_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\']|\'\')*\'')
_BRACKETS = re.compile(r"[\[\]{}]")


def _refuse_deep_brackets(text: str, root: str, strings: re.Pattern[str] = _STRINGS) -> None:
    """Refuse brackets (outside strings) nested past the reading limit before the reader sees them:
    JSON's decoder recurses, and PyYAML's scanner takes time quadratic in the depth of flow collections."""
    depth = 0
    for match in _BRACKETS.finditer(strings.sub("", text)):
        depth += 1 if match.group() in "[{" else -1
        if depth > _READ_DEPTH:
            raise DocumentError(f"nested more than {MAX_DEPTH} levels deep", root=root)


# --- YAML ---------------------------------------------------------------------------------------


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader that counts aliases and nesting while it composes the node graph."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise DocumentError(f"more than {MAX_ALIASES} YAML aliases")
        self._depth += 1
        if self._depth > _READ_DEPTH:
            raise DocumentError(f"nested more than {MAX_DEPTH} levels deep")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_bounded_int(self, node: Node) -> int | _Refused:
        text = str(node.value).replace("_", "")
        if len(text) > _MAX_INT_DIGITS + 3:  # (a sign and a 0x/0o/0b prefix)
            return _too_long(text)
        value: int = self.construct_yaml_int(node)  # type: ignore[arg-type]
        return value


BoundedLoader.add_constructor("tag:yaml.org,2002:int", BoundedLoader.construct_bounded_int)


def _expanded(node: Node, sizes: dict[int, tuple[int, int]], open_nodes: set[int], level: int = 1
              ) -> tuple[int, int]:
    """(node count, depth) of ``node`` with every alias expanded, each distinct node measured once."""
    if level > MAX_DEPTH:
        raise DocumentError(f"nested more than {MAX_DEPTH} levels deep (through YAML aliases)")
    key = id(node)
    known = sizes.get(key)
    if known is not None:
        return known
    if key in open_nodes:
        raise DocumentError("a YAML alias refers to a node that contains it (a cycle)")
    count, depth = 1, 1
    if isinstance(node, SequenceNode | MappingNode):
        open_nodes.add(key)
        children = node.value if isinstance(node, SequenceNode) else [part for pair in node.value for part in pair]
        for child in children:
            child_count, child_depth = _expanded(child, sizes, open_nodes, level + 1)
            count += child_count
            depth = max(depth, child_depth + 1)
            if count > MAX_NODES:
                raise DocumentError(f"the document expands to more than {MAX_NODES} values (YAML aliases)")
            if depth > MAX_DEPTH:
                raise DocumentError(f"nested more than {MAX_DEPTH} levels deep (through YAML aliases)")
        open_nodes.discard(key)
    sizes[key] = (count, depth)
    return count, depth


def check_nodes(node: Node) -> None:
    """Refuse a composed YAML node graph whose aliases expand too far or loop (for loaders of other code)."""
    _expanded(node, {}, set())


def load_yaml(text: str, *, root: str = "") -> Any:
    """``yaml.safe_load`` within the limits; a YAML syntax error becomes a ValidationError naming the line."""
    if _could_be_deep(text):
        _refuse_deep_brackets(text, root, _YAML_STRINGS)
    loader = BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if loader._aliases:
            _expanded(node, {}, set())
        value = loader.construct_document(node)
    except DocumentError as exc:
        raise DocumentError(exc.reason, root=root) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValidationError(f"malformed YAML{where}: {problem}", field=root or "body") from exc
    except (ValueError, TypeError, OverflowError) as exc:  # a constructor's refusal (int of 5000 digits, a bad date)
        raise ValidationError(f"unreadable YAML value: {exc}"[:200], field=root or "body") from exc
    finally:
        loader.dispose()
    check_value(value, root)
    return value


_C_LOADER: type[Any] | None = getattr(yaml, "CSafeLoader", None)
_MAX_SIMPLE_INDENT = 120


def _simple(text: str) -> bool:
    """A document libyaml's composer (C) can read within the limits without our checks: no anchor, so no
    alias, and block nesting shallow enough that its recursion stays small (brackets were checked)."""
    if "&" in text:
        return False
    return max((len(line) - len(line.lstrip(" -")) for line in text.splitlines()), default=0) <= _MAX_SIMPLE_INDENT


def compose_yaml(text: str, *, root: str = "") -> Node | None:
    """The node graph of the first YAML document (later ones are not read), within the same limits as
    :func:`load_yaml`, for readers that need line numbers and scalars' source text (the Tork dialect's
    yaml.v3-style decoder). A syntax error is left to the caller (``yaml.YAMLError``)."""
    if _could_be_deep(text):
        _refuse_deep_brackets(text, root, _YAML_STRINGS)
    if _C_LOADER is not None and _simple(text):
        fast = _C_LOADER(text)
        try:
            composed: Node | None = fast.get_node() if fast.check_node() else None
            if composed is not None:
                _expanded(composed, {}, set())  # the depth limit, as the reader below has it
            return composed
        except DocumentError as exc:
            raise DocumentError(exc.reason, root=root) from None
        except yaml.YAMLError:
            pass  # the pure-Python reader below says what is wrong, in its words
        finally:
            fast.dispose()
    loader = BoundedLoader(text)
    try:
        node: Node | None = loader.get_node() if loader.check_node() else None
        if node is not None and loader._aliases:
            _expanded(node, {}, set())
        return node
    except DocumentError as exc:
        raise DocumentError(exc.reason, root=root) from None
    finally:
        loader.dispose()
