"""The functions an expression may call: expr-lang's builtins (without predicates) and Tork's two.

Each takes the :class:`Runtime` of the evaluation and the evaluated arguments, validates them
(raising :class:`ExprError` naming the function and the types, never the values) and charges the
meter for what it builds. Predicate builtins (``filter``, ``map``, …) live in the evaluator.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import re2

from myrmica.templating import _exprtime
from myrmica.templating._exprerrors import ExprError
from myrmica.templating._exprvalues import (
    MAX_DEPTH,
    STEP_UNIT,
    ExprMeter,
    equal,
    fetch,
    is_int,
    is_list,
    is_number,
    kind_name,
    printable,
    to_int,
    to_json,
    type_name,
    wrap,
)
from myrmica.templating._gofmt import sorted_keys

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_RE2_OPTIONS.max_mem = 8 << 20
#: Go's unicode.IsSpace (strings.TrimSpace); Python's str.strip() would also take \x1c-\x1f
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
_GO_INT = re.compile(r"[+-]?[0-9]+")
_GO_FLOAT = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)", re.IGNORECASE)


@dataclass
class Runtime:
    meter: ExprMeter
    rng: random.Random
    regexes: dict[str, Any]


Function = Callable[[Runtime, list[Any]], Any]


# ---------------------------------------------------------------- argument helpers


def _arity(name: str, args: list[Any], low: int, high: int | None = None) -> None:
    high = low if high is None else high
    if low <= len(args) <= high:
        return
    want = str(low) if low == high else f"{low} or {high}" if high == low + 1 else f"{low} to {high}"
    raise ExprError(f"invalid number of arguments for {name} (expected {want}, got {len(args)})")


def _str(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    raise ExprError(f"invalid argument for {name} (type {type_name(value)})")


def _list(name: str, value: Any) -> list[Any] | tuple[Any, ...]:
    if is_list(value):
        return value  # type: ignore[no-any-return]
    raise ExprError(f"invalid argument for {name} (type {type_name(value)})")


def _map(name: str, value: Any) -> Mapping[Any, Any]:
    if isinstance(value, Mapping):
        return value
    raise ExprError(f"invalid argument for {name} (type {type_name(value)})")


def _number(name: str, value: Any) -> int | float:
    if is_number(value):
        return value  # type: ignore[no-any-return]
    raise ExprError(f"invalid argument for {name} (type {type_name(value)})")


def _strings(rt: Runtime, name: str, parts: list[str]) -> list[str]:
    rt.meter.check_items(len(parts))
    rt.meter.step(sum(len(p) for p in parts) // STEP_UNIT)
    return parts


# ---------------------------------------------------------------- strings


def _len(rt: Runtime, args: list[Any]) -> int:
    _arity("len", args, 1)
    value = args[0]
    if isinstance(value, str) or is_list(value) or isinstance(value, Mapping):
        return len(value)
    raise ExprError(f"invalid argument for len (type {type_name(value)})")


def _upper(rt: Runtime, args: list[Any]) -> str:
    _arity("upper", args, 1)
    return rt.meter.string(_str("upper", args[0]).upper())


def _lower(rt: Runtime, args: list[Any]) -> str:
    _arity("lower", args, 1)
    return rt.meter.string(_str("lower", args[0]).lower())


def _trim(rt: Runtime, args: list[Any]) -> str:
    _arity("trim", args, 1, 2)
    text = _str("trim", args[0])
    return text.strip(_GO_SPACE) if len(args) == 1 else text.strip(_str("trim", args[1]))


def _trim_prefix(rt: Runtime, args: list[Any]) -> str:
    _arity("trimPrefix", args, 1, 2)
    return _str("trimPrefix", args[0]).removeprefix(" " if len(args) == 1 else _str("trimPrefix", args[1]))


def _trim_suffix(rt: Runtime, args: list[Any]) -> str:
    _arity("trimSuffix", args, 1, 2)
    return _str("trimSuffix", args[0]).removesuffix(" " if len(args) == 1 else _str("trimSuffix", args[1]))


def _go_split(text: str, sep: str, limit: int, after: bool) -> list[str]:
    """Go's ``strings.SplitN``/``SplitAfterN`` (limit < 0: all; 0: none)."""
    if limit == 0:
        return []
    if sep == "":
        chars = list(text)
        if 0 < limit < len(chars):
            return chars[: limit - 1] + ["".join(chars[limit - 1 :])]
        return chars
    parts = text.split(sep) if limit < 0 else text.split(sep, limit - 1)
    if after:
        parts = [part + sep for part in parts[:-1]] + parts[-1:]
    return parts


def _splitter(name: str, after: bool) -> Function:
    def split(rt: Runtime, args: list[Any]) -> list[str]:
        _arity(name, args, 2, 3)
        limit = -1 if len(args) == 2 else to_int(args[2], name)
        text, sep = _str(name, args[0]), _str(name, args[1])
        if sep == "" or after:
            rt.meter.check_items(len(text) + 1)
        return _strings(rt, name, _go_split(text, sep, limit, after))

    return split


def _replace(rt: Runtime, args: list[Any]) -> str:
    _arity("replace", args, 3, 4)
    text, old, new = (_str("replace", a) for a in args[:3])
    count = -1 if len(args) == 3 else to_int(args[3], "replace")
    occurrences = len(text) + 1 if old == "" else text.count(old)
    if count >= 0:
        occurrences = min(occurrences, count)
    rt.meter.check_length(len(text) + occurrences * (len(new) - len(old)))
    return rt.meter.string(text.replace(old, new, count))


def _repeat(rt: Runtime, args: list[Any]) -> str:
    _arity("repeat", args, 2)
    text, count = _str("repeat", args[0]), to_int(args[1], "repeat")
    if count < 0:
        raise ExprError("invalid argument for repeat (expected positive integer)")
    rt.meter.check_length(len(text) * count)
    return rt.meter.string(text * count)


def _join(rt: Runtime, args: list[Any]) -> str:
    _arity("join", args, 1, 2)
    items = _list("join", args[0])
    glue = "" if len(args) == 1 else _str("join", args[1])
    for item in items:
        if not isinstance(item, str):
            raise ExprError(f"invalid argument for join (element of type {type_name(item)})")
    rt.meter.check_length(sum(len(i) for i in items) + len(glue) * max(len(items) - 1, 0))
    return rt.meter.string(glue.join(items))


def _two_strings(name: str, op: Callable[[str, str], Any]) -> Function:
    def func(rt: Runtime, args: list[Any]) -> Any:
        _arity(name, args, 2)
        rt.meter.step(len(_str(name, args[0])) // STEP_UNIT)
        return op(args[0], _str(name, args[1]))

    return func


# ---------------------------------------------------------------- JSON, base64, conversions


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _json_number(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError("number out of range")
    return value


def _from_json(rt: Runtime, args: list[Any]) -> Any:
    _arity("fromJSON", args, 1)
    text = _str("fromJSON", args[0])
    rt.meter.step(len(text) // STEP_UNIT)
    try:
        return json.loads(text, parse_int=_json_number, parse_float=_json_number, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        reason = exc.msg.split(":")[0]  # the text after a colon may quote the input
        raise ExprError(f"fromJSON: invalid JSON: {reason} at offset {exc.pos}") from None
    except (ValueError, RecursionError):
        raise ExprError("fromJSON: invalid JSON (a number out of range or nesting too deep)") from None


def _to_json(rt: Runtime, args: list[Any]) -> str:
    _arity("toJSON", args, 1)
    return to_json(args[0], rt.meter)


def _to_base64(rt: Runtime, args: list[Any]) -> str:
    _arity("toBase64", args, 1)
    data = _str("toBase64", args[0]).encode("utf-8", "surrogatepass")
    rt.meter.check_length((len(data) + 2) // 3 * 4)
    return rt.meter.string(base64.b64encode(data).decode("ascii"))


def _from_base64(rt: Runtime, args: list[Any]) -> str:
    _arity("fromBase64", args, 1)
    text = _str("fromBase64", args[0]).replace("\r", "").replace("\n", "")
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ExprError("fromBase64: illegal base64 data") from None
    return rt.meter.string(data.decode("utf-8", "replace"))


def _int(rt: Runtime, args: list[Any]) -> int:
    _arity("int", args, 1)
    value = args[0]
    if isinstance(value, str):
        if not _GO_INT.fullmatch(value):
            raise ExprError("invalid operation: int(string): not an integer")
        number = int(value)
        if wrap(number) != number:
            raise ExprError("invalid operation: int(string): value out of range")
        return number
    if is_number(value):
        return to_int(value, "int")
    raise ExprError(f"invalid argument for int (type {type_name(value)})")


def _float(rt: Runtime, args: list[Any]) -> float:
    _arity("float", args, 1)
    value = args[0]
    if isinstance(value, str):
        if not _GO_FLOAT.fullmatch(value):
            raise ExprError("invalid operation: float(string): not a number")
        return float(value)
    if is_number(value):
        return float(value)
    raise ExprError(f"invalid argument for float (type {type_name(value)})")


def _string(rt: Runtime, args: list[Any]) -> str:
    _arity("string", args, 1)
    return printable(args[0], rt.meter)


def _type(rt: Runtime, args: list[Any]) -> str:
    _arity("type", args, 1)
    return kind_name(args[0])


# ---------------------------------------------------------------- numbers


def _abs(rt: Runtime, args: list[Any]) -> int | float:
    _arity("abs", args, 1)
    value = _number("abs", args[0])
    return wrap(abs(int(value))) if is_int(value) else abs(value)


def _rounder(name: str, op: Callable[[float], float]) -> Function:
    def func(rt: Runtime, args: list[Any]) -> float:
        _arity(name, args, 1)
        value = float(_number(name, args[0]))
        if math.isnan(value) or math.isinf(value):
            return value
        return op(value)

    return func


def _go_round(value: float) -> float:
    """Go's ``math.Round``: half away from zero."""
    whole = float(math.trunc(value))
    if abs(value - whole) >= 0.5:
        whole += math.copysign(1.0, value)
    return whole if whole != 0 else math.copysign(0.0, value)


def _flat_numbers(name: str, values: list[Any], depth: int = 0) -> list[int | float]:
    if depth > MAX_DEPTH:
        raise ExprError(f"invalid argument for {name} (nested too deeply)")
    out: list[int | float] = []
    for value in values:
        if is_list(value):
            out.extend(_flat_numbers(name, list(value), depth + 1))
        elif is_number(value):
            out.append(value)
        else:
            raise ExprError(f"invalid argument for {name} (type {type_name(value)})")
    return out


def _min_max(name: str, pick_left: Callable[[Any, Any], bool]) -> Function:
    def func(rt: Runtime, args: list[Any]) -> Any:
        if not args:
            raise ExprError(f"not enough arguments to call {name}")
        if len(args) == 1 and not is_list(args[0]) and not is_number(args[0]):
            return args[0]
        numbers = _flat_numbers(name, args)
        rt.meter.step(len(numbers))
        best: Any = None
        for number in numbers:
            if best is None or pick_left(number, best):
                best = number
        return best

    return func


def _mean(rt: Runtime, args: list[Any]) -> float:
    numbers = _flat_numbers("mean", args)
    rt.meter.step(len(numbers))
    return math.fsum(numbers) / len(numbers) if numbers else 0.0


def _median(rt: Runtime, args: list[Any]) -> float:
    numbers = sorted(float(n) for n in _flat_numbers("median", args))
    rt.meter.step(len(numbers))
    if not numbers:
        return 0.0
    middle = len(numbers) // 2
    return numbers[middle] if len(numbers) % 2 else (numbers[middle - 1] + numbers[middle]) / 2


# ---------------------------------------------------------------- collections


def _first(rt: Runtime, args: list[Any]) -> Any:
    _arity("first", args, 1)
    return args[0][0] if is_list(args[0]) and args[0] else None


def _last(rt: Runtime, args: list[Any]) -> Any:
    _arity("last", args, 1)
    return args[0][-1] if is_list(args[0]) and args[0] else None


def _get(rt: Runtime, args: list[Any]) -> Any:
    _arity("get", args, 2)
    try:
        return fetch(args[0], args[1])
    except ExprError:
        return None


def _take(rt: Runtime, args: list[Any]) -> Any:
    _arity("take", args, 2)
    items = _list("take", args[0])
    if not is_int(args[1]):
        raise ExprError(f"cannot take {type_name(args[1])} elements")
    count = max(args[1], 0)
    rt.meter.step(min(count, len(items)))
    return list(items[:count])


def _keys(rt: Runtime, args: list[Any]) -> list[Any]:
    _arity("keys", args, 1)
    mapping = _map("keys", args[0])
    rt.meter.check_items(len(mapping))
    return _sorted_keys(mapping)


def _sorted_keys(mapping: Mapping[Any, Any]) -> list[Any]:
    return sorted_keys(mapping)


def _values(rt: Runtime, args: list[Any]) -> list[Any]:
    _arity("values", args, 1)
    mapping = _map("values", args[0])
    rt.meter.check_items(len(mapping))
    return [mapping[key] for key in _sorted_keys(mapping)]


def _to_pairs(rt: Runtime, args: list[Any]) -> list[Any]:
    _arity("toPairs", args, 1)
    mapping = _map("toPairs", args[0])
    rt.meter.check_items(len(mapping))
    return [[key, mapping[key]] for key in _sorted_keys(mapping)]


def _from_pairs(rt: Runtime, args: list[Any]) -> dict[Any, Any]:
    _arity("fromPairs", args, 1)
    pairs = _list("fromPairs", args[0])
    rt.meter.check_items(len(pairs), "map")
    out: dict[Any, Any] = {}
    for pair in pairs:
        if not is_list(pair) or len(pair) != 2:
            raise ExprError("invalid pair for fromPairs (want a list of two items)")
        try:
            out[pair[0]] = pair[1]
        except TypeError:
            raise ExprError(f"cannot use {type_name(pair[0])} as a map key") from None
    return out


def _reverse(rt: Runtime, args: list[Any]) -> list[Any]:
    _arity("reverse", args, 1)
    items = _list("reverse", args[0])
    rt.meter.step(len(items))
    return list(reversed(items))


def _uniq(rt: Runtime, args: list[Any]) -> list[Any]:
    _arity("uniq", args, 1)
    out: list[Any] = []
    for item in _list("uniq", args[0]):
        rt.meter.step(len(out) + 1)
        if not any(equal(item, seen) for seen in out):
            out.append(item)
    return out


def _flatten(rt: Runtime, args: list[Any]) -> list[Any]:
    _arity("flatten", args, 1)
    out: list[Any] = []

    def walk(items: Any, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise ExprError(f"cannot flatten a list nested deeper than {MAX_DEPTH} levels")
        for item in items:
            if is_list(item):
                walk(item, depth + 1)
            else:
                rt.meter.check_items(len(out) + 1)
                out.append(item)

    walk(_list("flatten", args[0]), 0)
    return out


def _concat(rt: Runtime, args: list[Any]) -> list[Any]:
    if not args:
        raise ExprError("invalid number of arguments for concat (expected at least 1, got 0)")
    lists = [_list("concat", a) for a in args]
    rt.meter.check_items(sum(len(items) for items in lists))
    return [item for items in lists for item in items]


def sort_items(name: str, items: list[Any], keys: list[Any], descending: bool) -> list[Any]:
    """Sort ``items`` by ``keys`` (all numbers or all strings), stable like Go's sort.Stable."""
    if keys and not (all(is_number(k) for k in keys) or all(isinstance(k, str) for k in keys)):
        raise ExprError(f"{name}: cannot compare values of different types")
    order = sorted(range(len(items)), key=lambda i: keys[i], reverse=descending)
    return [items[i] for i in order]


def sort_order(name: str, value: Any) -> bool:
    if value not in ("asc", "desc"):
        raise ExprError(f"invalid order for {name}, expected asc or desc")
    return bool(value == "desc")


def _sort(rt: Runtime, args: list[Any]) -> list[Any]:
    _arity("sort", args, 1, 2)
    items = list(_list("sort", args[0]))
    descending = sort_order("sort", args[1]) if len(args) == 2 else False
    rt.meter.step(len(items))
    return sort_items("sort", items, items, descending)


def _bits(name: str, op: Callable[[int, int], int]) -> Function:
    def func(rt: Runtime, args: list[Any]) -> int:
        _arity(name, args, 2)
        left, right = args
        if not (is_int(left) and is_int(right)):
            raise ExprError(f"invalid argument for {name} (want int, int)")
        if name.startswith("bitsh") or name == "bitushr":
            if right < 0:
                raise ExprError("invalid operation: negative shift count (type int)")
            right = min(right, 64)
        return wrap(op(left, right))

    return func


def _bitnot(rt: Runtime, args: list[Any]) -> int:
    _arity("bitnot", args, 1)
    if not is_int(args[0]):
        raise ExprError(f"invalid argument for bitnot (type {type_name(args[0])})")
    return ~int(args[0])


# ---------------------------------------------------------------- regexps


def regex_matches(rt: Runtime, text: Any, pattern: Any) -> bool:
    """The ``matches`` operator with RE2 (Go's regexp syntax, linear time)."""
    if not (isinstance(text, str) and isinstance(pattern, str)):
        raise ExprError(f"invalid operation: matches (mismatched types {type_name(text)} and {type_name(pattern)})")
    compiled = rt.regexes.get(pattern)
    if compiled is None:
        rt.meter.check_length(len(pattern), "regular expression")
        try:
            compiled = re2.compile(pattern, options=_RE2_OPTIONS)
        except re2.error:
            raise ExprError("invalid regular expression for matches") from None
        rt.regexes[pattern] = compiled
    rt.meter.step(len(text) // STEP_UNIT + 1)
    return compiled.search(text) is not None


# ---------------------------------------------------------------- Tork's functions


def _random_int(rt: Runtime, args: list[Any]) -> int:
    if len(args) == 0:
        return rt.rng.randrange(2**63)
    if len(args) > 1:  # sic: Tork's message names trim
        raise ExprError(f"invalid number of arguments for trim (expected 0 or 1, got {len(args)})")
    bound = args[0]
    if bound is None:
        raise ExprError("not expecting nil argument")
    if not is_int(bound):
        raise ExprError(f"invalid arg type {type_name(bound)}")
    if bound <= 0:
        raise ExprError("invalid argument to Intn")
    return rt.rng.randrange(bound)


def _sequence(rt: Runtime, args: list[Any]) -> list[int]:
    if len(args) != 2:
        raise ExprError(f"invalid number of arguments for sequence (expected 2, got {len(args)})")
    for arg in args:
        if not is_int(arg):
            raise ExprError(f"cannot use {type_name(arg)} as argument (type int) to call sequence")
    start, stop = args
    if start >= stop:
        return []
    rt.meter.check_items(stop - start, "sequence")
    return list(range(start, stop))


FUNCTIONS: dict[str, Function] = {
    "len": _len,
    "upper": _upper,
    "lower": _lower,
    "trim": _trim,
    "trimPrefix": _trim_prefix,
    "trimSuffix": _trim_suffix,
    "split": _splitter("split", after=False),
    "splitAfter": _splitter("splitAfter", after=True),
    "replace": _replace,
    "repeat": _repeat,
    "join": _join,
    "indexOf": _two_strings("indexOf", lambda s, sub: s.find(sub)),
    "lastIndexOf": _two_strings("lastIndexOf", lambda s, sub: s.rfind(sub)),
    "hasPrefix": _two_strings("hasPrefix", lambda s, p: s.startswith(p)),
    "hasSuffix": _two_strings("hasSuffix", lambda s, p: s.endswith(p)),
    "toJSON": _to_json,
    "fromJSON": _from_json,
    "toBase64": _to_base64,
    "fromBase64": _from_base64,
    "int": _int,
    "float": _float,
    "string": _string,
    "type": _type,
    "abs": _abs,
    "ceil": _rounder("ceil", lambda v: float(math.ceil(v))),
    "floor": _rounder("floor", lambda v: float(math.floor(v))),
    "round": _rounder("round", _go_round),
    "max": _min_max("max", lambda a, b: bool(a > b)),
    "min": _min_max("min", lambda a, b: bool(a < b)),
    "mean": _mean,
    "median": _median,
    "first": _first,
    "last": _last,
    "get": _get,
    "take": _take,
    "keys": _keys,
    "values": _values,
    "toPairs": _to_pairs,
    "fromPairs": _from_pairs,
    "reverse": _reverse,
    "uniq": _uniq,
    "flatten": _flatten,
    "concat": _concat,
    "sort": _sort,
    "bitand": _bits("bitand", lambda a, b: a & b),
    "bitor": _bits("bitor", lambda a, b: a | b),
    "bitxor": _bits("bitxor", lambda a, b: a ^ b),
    "bitnand": _bits("bitnand", lambda a, b: a & ~b),
    "bitshl": _bits("bitshl", lambda a, b: a << b),
    "bitshr": _bits("bitshr", lambda a, b: a >> b),
    "bitushr": _bits("bitushr", lambda a, b: (a % 2**64) >> b),
    "bitnot": _bitnot,
    "now": lambda rt, args: _exprtime.now(args),
    "date": lambda rt, args: _exprtime.date(args),
    "duration": lambda rt, args: _exprtime.duration(args),
    # Tork's own (internal/eval): added to the environment of every expression
    "randomInt": _random_int,
    "sequence": _sequence,
}
