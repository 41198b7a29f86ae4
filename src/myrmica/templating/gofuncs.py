"""The default function table: Go ``text/template`` builtins plus the Formicary/Sprig helpers.

Every function validates its own arguments and raises :class:`TemplateRuntimeError` for a bad
call; none of them reach Python attributes or call methods on template data. Functions that
produce text honour the limits of the running execution (see :func:`_gofmt.current_meter`).
"""

from __future__ import annotations

import html as html_lib
import random
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from myrmica.templating._goerrors import TemplateRuntimeError
from myrmica.templating._gofmt import (
    current_meter,
    format_value,
    is_list,
    sprint,
    sprintf,
    sprintln,
    type_name,
)
from myrmica.templating._gotime import format_go_time

ITERATE_MAX = 100_000

_random = random.Random()


# ---------------------------------------------------------------- helpers


def is_true(value: Any) -> bool:
    """Go's truth: false, 0, nil and empty strings, lists and maps are false; everything else is true."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | bytes | list | tuple | Mapping):
        return len(value) > 0
    return True


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _want_str(func: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    raise TemplateRuntimeError(f"{func}: wrong type for value; expected string; got {type_name(value)}")


def _want_int(func: str, value: Any) -> int:
    if _is_int(value):
        return int(value)
    raise TemplateRuntimeError(f"{func}: wrong type for value; expected int; got {type_name(value)}")


def _eval_args(args: Sequence[Any]) -> str:
    """Go's ``evalArgs``: a lone string as is, otherwise ``fmt.Sprint`` with nil shown as <no value>."""
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint(["<no value>" if a is None else a for a in args])


# ---------------------------------------------------------------- Go builtins: logic and comparison


def go_and(first: Any, *rest: Any) -> Any:
    """The first falsy argument, or the last (the evaluator short-circuits before calling this)."""
    for value in (first, *rest):
        if not is_true(value):
            return value
    return (first, *rest)[-1]


def go_or(first: Any, *rest: Any) -> Any:
    """The first truthy argument, or the last (the evaluator short-circuits before calling this)."""
    for value in (first, *rest):
        if is_true(value):
            return value
    return (first, *rest)[-1]


def go_not(value: Any) -> bool:
    return not is_true(value)


def _basic_kind(value: Any) -> str | None:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"  # ints and floats compare numerically (Go would refuse to mix them)
    if isinstance(value, str):
        return "string"
    return None


def _equal(a: Any, b: Any) -> bool:
    ka, kb = _basic_kind(a), _basic_kind(b)
    if ka == "nil" or kb == "nil":
        return a is None and b is None
    if ka is None and kb is None:
        if is_list(a) or is_list(b) or isinstance(a, Mapping) or isinstance(b, Mapping):
            raise TemplateRuntimeError(f"non-comparable type {type_name(a)}")
        if type(a) is not type(b):
            raise TemplateRuntimeError("incompatible types for comparison")
        return bool(a == b)
    if ka != kb:
        raise TemplateRuntimeError("incompatible types for comparison")
    return bool(a == b)


def go_eq(first: Any, *others: Any) -> bool:
    """``eq a b c`` is ``a == b || a == c``."""
    if not others:
        raise TemplateRuntimeError("missing argument for comparison")
    return any(_equal(first, other) for other in others)


def go_ne(a: Any, b: Any) -> bool:
    return not _equal(a, b)


def go_lt(a: Any, b: Any) -> bool:
    ka, kb = _basic_kind(a), _basic_kind(b)
    if ka not in ("number", "string") or kb not in ("number", "string"):
        raise TemplateRuntimeError("invalid type for comparison")
    if ka != kb:
        raise TemplateRuntimeError("incompatible types for comparison")
    return bool(a < b)


def go_le(a: Any, b: Any) -> bool:
    return go_lt(a, b) or _equal(a, b)


def go_gt(a: Any, b: Any) -> bool:
    return not go_le(a, b)


def go_ge(a: Any, b: Any) -> bool:
    return not go_lt(a, b)


# ---------------------------------------------------------------- Go builtins: data


def go_len(item: Any) -> int:
    if isinstance(item, str | list | tuple | Mapping):
        return len(item)
    if item is None:
        raise TemplateRuntimeError("len of nil pointer")
    raise TemplateRuntimeError(f"len of type {type_name(item)}")


def _index_arg(index: Any, cap: int) -> int:
    if index is None:
        raise TemplateRuntimeError("cannot index slice/array with nil")
    if not _is_int(index):
        raise TemplateRuntimeError(f"cannot index slice/array with type {type_name(index)}")
    if index < 0 or index > cap:
        raise TemplateRuntimeError(f"index out of range: {index}")
    return int(index)


def go_index(item: Any, *indexes: Any) -> Any:
    """``index x 1 2`` is ``x[1][2]``; a missing map key gives nil."""
    if item is None:
        raise TemplateRuntimeError("index of untyped nil")
    for index in indexes:
        if item is None:
            raise TemplateRuntimeError("index of nil pointer")
        if isinstance(item, str | list | tuple):
            position = _index_arg(index, len(item))
            if position == len(item):
                raise TemplateRuntimeError(f"index out of range: {position}")
            item = ord(item[position]) if isinstance(item, str) else item[position]
        elif isinstance(item, Mapping):
            try:
                item = item.get(index)
            except TypeError:
                raise TemplateRuntimeError(f"value of type {type_name(index)} cannot be a map key") from None
        else:
            raise TemplateRuntimeError(f"can't index item of type {type_name(item)}")
    return item


def go_slice(item: Any, *indexes: Any) -> Any:
    """``slice x 1 2`` is ``x[1:2]``; works on lists and strings."""
    if item is None:
        raise TemplateRuntimeError("slice of untyped nil")
    if len(indexes) > 3:
        raise TemplateRuntimeError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise TemplateRuntimeError("cannot 3-index slice a string")
    elif not isinstance(item, list | tuple):
        raise TemplateRuntimeError(f"can't slice item of type {type_name(item)}")
    bounds = [0, len(item), len(item)]
    for position, index in enumerate(indexes):
        bounds[position] = _index_arg(index, len(item))
    if bounds[0] > bounds[1]:
        raise TemplateRuntimeError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    if len(indexes) == 3 and bounds[1] > bounds[2]:
        raise TemplateRuntimeError(f"invalid slice index: {bounds[1]} > {bounds[2]}")
    result = item[bounds[0] : bounds[1]]
    return list(result) if isinstance(result, tuple) else result


# ---------------------------------------------------------------- Go builtins: text


def go_print(*args: Any) -> str:
    return sprint(args)


def go_println(*args: Any) -> str:
    return sprintln(args)


def go_printf(fmt: Any, *args: Any) -> str:
    return sprintf(_want_str("printf", fmt), args)


_HTML_ESCAPES = str.maketrans({"<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&#39;", '"': "&#34;", "\0": "\ufffd"})


def go_html(*args: Any) -> str:
    """``html``: Go's HTMLEscapeString of the arguments' text."""
    return _eval_args(args).translate(_HTML_ESCAPES)


_JS_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "<": "\\u003C",
    ">": "\\u003E",
    "&": "\\u0026",
    "=": "\\u003D",
}


def go_js(*args: Any) -> str:
    """``js``: Go's JSEscapeString of the arguments' text."""
    out: list[str] = []
    for ch in _eval_args(args):
        if ch in _JS_ESCAPES:
            out.append(_JS_ESCAPES[ch])
        elif ch < " " or (ord(ch) >= 0x80 and not ch.isprintable()):
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def go_urlquery(*args: Any) -> str:
    """``urlquery``: Go's url.QueryEscape of the arguments' text."""
    return urllib.parse.quote_plus(_eval_args(args), safe="")


# ---------------------------------------------------------------- Formicary / Sprig helpers


def fn_dict(*values: Any) -> dict[str, Any]:
    """``Dict "k1" v1 "k2" v2``: a map from key/value pairs."""
    if len(values) % 2:
        raise TemplateRuntimeError("invalid dict call")
    result: dict[str, Any] = {}
    for key, value in zip(values[::2], values[1::2], strict=True):
        if not isinstance(key, str):
            raise TemplateRuntimeError("dict keys must be strings")
        result[key] = value
    return result


def fn_iterate(count: Any) -> list[int]:
    """``Iterate n``: the list 0..n-1 (at most ITERATE_MAX items)."""
    n = _want_int("Iterate", count)
    if n < 0:
        raise TemplateRuntimeError(f"Iterate: count must not be negative, got {n}")
    if n > ITERATE_MAX:
        raise TemplateRuntimeError(f"Iterate: count {n} exceeds the limit of {ITERATE_MAX}")
    return list(range(n))


def fn_add(a: Any, b: Any) -> int:
    return _want_int("Add", a) + _want_int("Add", b)


def fn_default(default: Any, *given: Any) -> Any:
    """Sprig ``default``: ``given`` unless it is empty (nil, false, 0, ""...), else ``default``."""
    if not given or not is_true(given[0]):
        return default
    return given[0]


def fn_trim_prefix(prefix: Any, text: Any) -> str:
    p, s = _want_str("trimPrefix", prefix), _want_str("trimPrefix", text)
    return s.removeprefix(p)


def fn_trim_suffix(suffix: Any, text: Any) -> str:
    p, s = _want_str("trimSuffix", suffix), _want_str("trimSuffix", text)
    return s.removesuffix(p)


def fn_has_prefix(prefix: Any, text: Any) -> bool:
    """Sprig order: ``hasPrefix "cat" "catch"`` (so ``{{ .X | hasPrefix "cat" }}`` works)."""
    return _want_str("hasPrefix", text).startswith(_want_str("hasPrefix", prefix))


def fn_has_suffix(suffix: Any, text: Any) -> bool:
    """Sprig order: ``hasSuffix "ch" "catch"``."""
    return _want_str("hasSuffix", text).endswith(_want_str("hasSuffix", suffix))


def fn_lower(text: Any) -> str:
    return _want_str("lower", text).lower()


def fn_upper(text: Any) -> str:
    return _want_str("upper", text).upper()


def fn_contains(substr: Any, text: Any) -> bool:
    """Sprig order: ``contains "cat" "catch"``."""
    return _want_str("contains", substr) in _want_str("contains", text)


def fn_replace(old: Any, new: Any, text: Any) -> str:
    """Sprig order: ``replace "old" "new" "the old text"`` (all occurrences)."""
    s, o, n = _want_str("replace", text), _want_str("replace", old), _want_str("replace", new)
    if o and len(n) > len(o) and s.count(o) * (len(n) - len(o)) + len(s) > current_meter().max_output:
        raise TemplateRuntimeError("replace: result exceeds the output limit")
    if not o and (len(s) + 1) * len(n) + len(s) > current_meter().max_output:
        raise TemplateRuntimeError("replace: result exceeds the output limit")
    return s.replace(o, n)


def fn_unescape(text: Any) -> str:
    """``Unescape``: HTML entities back to characters (``&lt;`` becomes ``<``)."""
    return html_lib.unescape(_want_str("Unescape", text))


def fn_random(low: Any, high: Any) -> int:
    """``Random min max``: a random int in [min, max)."""
    lo, hi = _want_int("Random", low), _want_int("Random", high)
    if hi <= lo:
        raise TemplateRuntimeError(f"Random: max ({hi}) must be greater than min ({lo})")
    return _random.randrange(lo, hi)


def fn_markdown_link(text: Any) -> str:
    s = text if isinstance(text, str) else format_value(text)
    return f"[{s}]({s})"


def fn_format_time(moment: Any, layout: Any) -> str:
    """``formatTime t "2006-01-02"``: a datetime/date or RFC 3339 string in a Go layout."""
    return format_go_time(moment, _want_str("formatTime", layout))


def fn_atoi(text: Any) -> int:
    if _is_int(text):
        return int(text)
    s = _want_str("atoi", text)
    body = s[1:] if s[:1] in "+-" else s
    if not body.isascii() or not body.isdigit():
        raise TemplateRuntimeError(f'atoi: parsing "{s}": invalid syntax')
    return int(s)


def fn_atof(text: Any) -> float:
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)
    s = _want_str("atof", text)
    if s != s.strip() or "_" in s:
        raise TemplateRuntimeError(f'atof: parsing "{s}": invalid syntax')
    try:
        return float(s)
    except ValueError:
        raise TemplateRuntimeError(f'atof: parsing "{s}": invalid syntax') from None


_TABLE: dict[str, Callable[..., Any]] = {
    # Go text/template builtins (``call`` is deliberately absent)
    "and": go_and,
    "or": go_or,
    "not": go_not,
    "len": go_len,
    "index": go_index,
    "slice": go_slice,
    "print": go_print,
    "printf": go_printf,
    "println": go_println,
    "html": go_html,
    "js": go_js,
    "urlquery": go_urlquery,
    "eq": go_eq,
    "ne": go_ne,
    "lt": go_lt,
    "le": go_le,
    "gt": go_gt,
    "ge": go_ge,
    # Formicary / Sprig helpers
    "Dict": fn_dict,
    "Iterate": fn_iterate,
    "Add": fn_add,
    "default": fn_default,
    "trimPrefix": fn_trim_prefix,
    "trimSuffix": fn_trim_suffix,
    "hasPrefix": fn_has_prefix,
    "hasSuffix": fn_has_suffix,
    "lower": fn_lower,
    "upper": fn_upper,
    "contains": fn_contains,
    "replace": fn_replace,
    "Unescape": fn_unescape,
    "Random": fn_random,
    "MarkdownLink": fn_markdown_link,
    "formatTime": fn_format_time,
    "FormatTime": fn_format_time,
    "atoi": fn_atoi,
    "atof": fn_atof,
}

DEFAULT_FUNCTIONS: Mapping[str, Callable[..., Any]] = MappingProxyType(_TABLE)
