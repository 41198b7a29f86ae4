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
import re
from collections.abc import Callable, Mapping
from typing import Any

import re2

from myrmica.templating import _exprtime
from myrmica.templating._exprargs import (
    Function,
    Runtime,
    arity,
    charge_strings,
    want_list,
    want_number,
    want_str,
)
from myrmica.templating._exprerrors import ExprError
from myrmica.templating._exprlists import LIST_FUNCTIONS
from myrmica.templating._exprvalues import (
    MAX_DEPTH,
    STEP_UNIT,
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

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_RE2_OPTIONS.max_mem = 8 << 20
#: Go's unicode.IsSpace (strings.TrimSpace); Python's str.strip() would also take \x1c-\x1f
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
_GO_INT = re.compile(r"[+-]?[0-9]+")
_GO_FLOAT = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)", re.IGNORECASE)


# ---------------------------------------------------------------- strings


def _len(rt: Runtime, args: list[Any]) -> int:
    arity("len", args, 1)
    value = args[0]
    if isinstance(value, str) or is_list(value) or isinstance(value, Mapping):
        return len(value)
    raise ExprError(f"invalid argument for len (type {type_name(value)})")


def _upper(rt: Runtime, args: list[Any]) -> str:
    arity("upper", args, 1)
    return rt.meter.string(want_str("upper", args[0]).upper())


def _lower(rt: Runtime, args: list[Any]) -> str:
    arity("lower", args, 1)
    return rt.meter.string(want_str("lower", args[0]).lower())


def _trim(rt: Runtime, args: list[Any]) -> str:
    arity("trim", args, 1, 2)
    text = want_str("trim", args[0])
    return text.strip(_GO_SPACE) if len(args) == 1 else text.strip(want_str("trim", args[1]))


def _trim_prefix(rt: Runtime, args: list[Any]) -> str:
    arity("trimPrefix", args, 1, 2)
    return want_str("trimPrefix", args[0]).removeprefix(" " if len(args) == 1 else want_str("trimPrefix", args[1]))


def _trim_suffix(rt: Runtime, args: list[Any]) -> str:
    arity("trimSuffix", args, 1, 2)
    return want_str("trimSuffix", args[0]).removesuffix(" " if len(args) == 1 else want_str("trimSuffix", args[1]))


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
        arity(name, args, 2, 3)
        limit = -1 if len(args) == 2 else to_int(args[2], name)
        text, sep = want_str(name, args[0]), want_str(name, args[1])
        if sep == "" or after:
            rt.meter.check_items(len(text) + 1)
        return charge_strings(rt, name, _go_split(text, sep, limit, after))

    return split


def _replace(rt: Runtime, args: list[Any]) -> str:
    arity("replace", args, 3, 4)
    text, old, new = (want_str("replace", a) for a in args[:3])
    count = -1 if len(args) == 3 else to_int(args[3], "replace")
    occurrences = len(text) + 1 if old == "" else text.count(old)
    if count >= 0:
        occurrences = min(occurrences, count)
    rt.meter.check_length(len(text) + occurrences * (len(new) - len(old)))
    return rt.meter.string(text.replace(old, new, count))


def _repeat(rt: Runtime, args: list[Any]) -> str:
    arity("repeat", args, 2)
    text, count = want_str("repeat", args[0]), to_int(args[1], "repeat")
    if count < 0:
        raise ExprError("invalid argument for repeat (expected positive integer)")
    rt.meter.check_length(len(text) * count)
    return rt.meter.string(text * count)


def _join(rt: Runtime, args: list[Any]) -> str:
    arity("join", args, 1, 2)
    items = want_list("join", args[0])
    glue = "" if len(args) == 1 else want_str("join", args[1])
    for item in items:
        if not isinstance(item, str):
            raise ExprError(f"invalid argument for join (element of type {type_name(item)})")
    rt.meter.check_length(sum(len(i) for i in items) + len(glue) * max(len(items) - 1, 0))
    return rt.meter.string(glue.join(items))


def _twocharge_strings(name: str, op: Callable[[str, str], Any]) -> Function:
    def func(rt: Runtime, args: list[Any]) -> Any:
        arity(name, args, 2)
        rt.meter.step(len(want_str(name, args[0])) // STEP_UNIT)
        return op(args[0], want_str(name, args[1]))

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
    arity("fromJSON", args, 1)
    text = want_str("fromJSON", args[0])
    rt.meter.step(len(text) // STEP_UNIT)
    try:
        return json.loads(text, parse_int=_json_number, parse_float=_json_number, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        reason = exc.msg.split(":")[0]  # the text after a colon may quote the input
        raise ExprError(f"fromJSON: invalid JSON: {reason} at offset {exc.pos}") from None
    except (ValueError, RecursionError):
        raise ExprError("fromJSON: invalid JSON (a number out of range or nesting too deep)") from None


def _to_json(rt: Runtime, args: list[Any]) -> str:
    arity("toJSON", args, 1)
    return to_json(args[0], rt.meter)


def _to_base64(rt: Runtime, args: list[Any]) -> str:
    arity("toBase64", args, 1)
    data = want_str("toBase64", args[0]).encode("utf-8", "surrogatepass")
    rt.meter.check_length((len(data) + 2) // 3 * 4)
    return rt.meter.string(base64.b64encode(data).decode("ascii"))


def _from_base64(rt: Runtime, args: list[Any]) -> str:
    arity("fromBase64", args, 1)
    text = want_str("fromBase64", args[0]).replace("\r", "").replace("\n", "")
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ExprError("fromBase64: illegal base64 data") from None
    return rt.meter.string(data.decode("utf-8", "replace"))


def _int(rt: Runtime, args: list[Any]) -> int:
    arity("int", args, 1)
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
    arity("float", args, 1)
    value = args[0]
    if isinstance(value, str):
        if not _GO_FLOAT.fullmatch(value):
            raise ExprError("invalid operation: float(string): not a number")
        return float(value)
    if is_number(value):
        return float(value)
    raise ExprError(f"invalid argument for float (type {type_name(value)})")


def _string(rt: Runtime, args: list[Any]) -> str:
    arity("string", args, 1)
    return printable(args[0], rt.meter)


def _type(rt: Runtime, args: list[Any]) -> str:
    arity("type", args, 1)
    return kind_name(args[0])


# ---------------------------------------------------------------- numbers


def _abs(rt: Runtime, args: list[Any]) -> int | float:
    arity("abs", args, 1)
    value = want_number("abs", args[0])
    return wrap(abs(int(value))) if is_int(value) else abs(value)


def _rounder(name: str, op: Callable[[float], float]) -> Function:
    def func(rt: Runtime, args: list[Any]) -> float:
        arity(name, args, 1)
        value = float(want_number(name, args[0]))
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
    **LIST_FUNCTIONS,
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
    "indexOf": _twocharge_strings("indexOf", lambda s, sub: s.find(sub)),
    "lastIndexOf": _twocharge_strings("lastIndexOf", lambda s, sub: s.rfind(sub)),
    "hasPrefix": _twocharge_strings("hasPrefix", lambda s, p: s.startswith(p)),
    "hasSuffix": _twocharge_strings("hasSuffix", lambda s, p: s.endswith(p)),
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
    "now": lambda rt, args: _exprtime.now(args),
    "date": lambda rt, args: _exprtime.date(args),
    "duration": lambda rt, args: _exprtime.duration(args),
    # Tork's own (internal/eval): added to the environment of every expression
    "randomInt": _random_int,
    "sequence": _sequence,
}
