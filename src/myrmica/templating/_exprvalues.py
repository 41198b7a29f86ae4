"""Values and operators of the expression engine: Go-like ints, equality, ordering, member access, JSON.

The data model is the one Tork's Go code hands to expr-lang: nil (None), bool, int (64-bit,
wrapping on overflow like Go's ``int``), float (float64), str, lists and mappings. Tork's context
maps (``inputs``, ``secrets``, ``tasks``, ``job``) are ``map[string]string`` in Go, where a missing
key reads as ``""``; :class:`StrMap` marks them. Everything here charges the running
:class:`ExprMeter`, and no message quotes a runtime value.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from myrmica.templating._exprerrors import ExprError
from myrmica.templating._exprtime import Duration, is_time, time_add, time_json, time_less, time_sub
from myrmica.templating._goerrors import TemplateRuntimeError
from myrmica.templating._gofmt import METER, Meter, format_value
from myrmica.templating._gofmt import type_name as go_type_name

MAX_DEPTH = 100  # nesting of data compared, encoded or flattened
STEP_UNIT = 64  # characters a step pays for
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class Limits:
    max_source: int = 100_000  # characters of a template or an expression
    max_depth: int = 64  # nesting of an expression (parser recursion and tree height)
    max_steps: int = 1_000_000  # nodes evaluated, items visited or built, 64-character runs produced
    max_string: int = 1_000_000  # characters of any string built, and of a rendered template
    max_items: int = 100_000  # items of any list or map built


class ExprMeter(Meter):
    """The step budget of one evaluation; also the meter ``_gofmt`` charges while printing."""

    def __init__(self, limits: Limits) -> None:
        super().__init__(limits.max_steps, limits.max_string)
        self.limits = limits

    def step(self, count: int = 1) -> None:
        self.steps += count
        if self.steps > self.max_steps:
            raise ExprError(f"expression exceeded the limit of {self.max_steps} evaluation steps")

    def check_length(self, length: int, what: str = "string") -> None:
        if length > self.limits.max_string:
            raise ExprError(f"{what} would exceed the limit of {self.limits.max_string} characters")

    def check_items(self, count: int, what: str = "list") -> None:
        if count > self.limits.max_items:
            raise ExprError(f"{what} would exceed the limit of {self.limits.max_items} items")
        self.step(count)

    def string(self, text: str) -> str:
        self.check_length(len(text))
        self.step(len(text) // STEP_UNIT)
        return text


class StrMap(Mapping[str, str]):
    """A read-only Go ``map[string]string``: a missing key reads as ``""`` (Tork's context maps)."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data = {str(k): "" if v is None else str(v) for k, v in (data or {}).items()}

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"StrMap({sorted(self._data)})"  # names only: values may be secrets


class Struct(Mapping[str, Any]):
    """A Go struct seen through expr: fields by Go name; an unknown field is an error, not nil."""

    __slots__ = ("_data", "type_name")

    def __init__(self, type_name: str, fields: Mapping[str, Any]) -> None:
        self.type_name = type_name
        self._data = dict(fields)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Struct({self.type_name}, {sorted(self._data)})"


# ---------------------------------------------------------------- types


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)


def type_name(value: Any) -> str:
    """The Go type name expr-lang's messages use."""
    if isinstance(value, StrMap):
        return "map[string]string"
    if isinstance(value, Struct):
        return value.type_name
    if isinstance(value, Duration):
        return "time.Duration"
    return go_type_name(value)


def kind_name(value: Any) -> str:
    """expr-lang's ``type()``: nil, bool, int, float, string, array, map (or a struct's name)."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if is_list(value):
        return "array"
    if is_time(value):
        return "time.Time"
    if isinstance(value, Duration):
        return "time.Duration"
    if isinstance(value, Struct):
        return value.type_name
    if isinstance(value, Mapping):
        return "map"
    return "unknown"


def wrap(value: int) -> int:
    """Go's 64-bit ``int`` overflow."""
    if _INT_MIN <= value <= _INT_MAX:
        return value
    return ((value - _INT_MIN) % 2**64) + _INT_MIN


def to_int(value: Any, what: str) -> int:
    """expr's ``runtime.ToInt``: any number, floats truncated."""
    if is_int(value):
        return int(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return _INT_MIN
        return wrap(int(value))
    raise ExprError(f"invalid argument for {what} (type {type_name(value)})")


def mismatched(op: str, left: Any, right: Any) -> ExprError:
    return ExprError(f"invalid operation: {op} (mismatched types {type_name(left)} and {type_name(right)})")


# ---------------------------------------------------------------- equality and ordering


def equal(left: Any, right: Any, depth: int = 0) -> bool:
    if depth > MAX_DEPTH:
        raise ExprError(f"values nested deeper than {MAX_DEPTH} levels cannot be compared")
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if is_number(left) and is_number(right):
        return bool(left == right)
    if isinstance(left, str) or isinstance(right, str):
        return isinstance(left, str) and isinstance(right, str) and left == right
    if is_list(left) and is_list(right):
        return len(left) == len(right) and all(equal(a, b, depth + 1) for a, b in zip(left, right, strict=True))
    if is_time(left) or isinstance(left, Duration):
        return time_less(left, right) is False and time_less(right, left) is False
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        if len(left) != len(right):
            return False
        return all(key in right and equal(left[key], right[key], depth + 1) for key in left)
    return False


def less(op: str, left: Any, right: Any) -> bool:
    """``left < right`` for numbers or strings (``op`` names the operator for the error)."""
    if is_number(left) and is_number(right):
        return bool(left < right)
    if isinstance(left, str) and isinstance(right, str):
        return left < right
    result = time_less(left, right)
    if result is NotImplemented:
        raise mismatched(op, left, right)
    return bool(result)


def compare(op: str, left: Any, right: Any) -> bool:
    if op == "<":
        return less(op, left, right)
    if op == ">":
        return less(op, right, left)
    if op == "<=":
        return not less(op, right, left) and _ordered(left, right)
    return not less(op, left, right) and _ordered(left, right)  # >=


def _ordered(left: Any, right: Any) -> bool:
    """False when a NaN is involved (then neither <= nor >= holds)."""
    return not any(isinstance(v, float) and math.isnan(v) for v in (left, right))


# ---------------------------------------------------------------- arithmetic


def add(left: Any, right: Any, meter: ExprMeter) -> Any:
    if is_int(left) and is_int(right):
        return wrap(left + right)
    if is_number(left) and is_number(right):
        return float(left) + float(right)
    if isinstance(left, str) and isinstance(right, str):
        meter.check_length(len(left) + len(right))
        return meter.string(left + right)
    result = time_add(left, right)
    if result is NotImplemented:
        raise mismatched("+", left, right)
    return result


def arith(op: str, left: Any, right: Any) -> Any:
    """``-``, ``*``, ``/``, ``%``, ``**`` with Go's int/float64 rules (``/`` and ``**`` give floats)."""
    if not (is_number(left) and is_number(right)):
        result = time_sub(left, right) if op == "-" else NotImplemented
        if result is NotImplemented:
            raise mismatched(op, left, right)
        return result
    if op == "-":
        return wrap(left - right) if is_int(left) and is_int(right) else float(left) - float(right)
    if op == "*":
        return wrap(left * right) if is_int(left) and is_int(right) else float(left) * float(right)
    if op == "/":
        return divide(float(left), float(right))
    if op == "%":
        if not (is_int(left) and is_int(right)):
            raise mismatched(op, left, right)
        if right == 0:
            raise ExprError("integer divide by zero")
        remainder = abs(left) % abs(right)
        return wrap(-remainder if left < 0 else remainder)
    return power(float(left), float(right))


def divide(left: float, right: float) -> float:
    if right != 0:
        return left / right
    if left == 0 or math.isnan(left):
        return math.nan
    return math.copysign(math.inf, left) * math.copysign(1.0, right)


def power(base: float, exponent: float) -> float:
    try:
        return math.pow(base, exponent)
    except OverflowError:
        return math.inf if base > 0 or exponent % 2 == 0 else -math.inf
    except ValueError:
        if base == 0 and exponent < 0:
            return math.inf
        return math.nan


def negate(value: Any) -> Any:
    if is_int(value):
        return wrap(-value)
    if isinstance(value, float):
        return -value
    raise ExprError(f"invalid operation: - (mismatched type {type_name(value)})")


# ---------------------------------------------------------------- member access


def fetch(container: Any, key: Any, name: str | None = None) -> Any:
    """``container.name`` / ``container[key]``; ``name`` is the source's property name, if any."""
    if isinstance(container, Mapping):
        try:
            return container[key]
        except KeyError:
            if isinstance(container, StrMap):
                return ""
            if isinstance(container, Struct):
                raise ExprError(f"type {container.type_name} has no field {name or 'of that name'}") from None
            return None
        except TypeError:
            raise ExprError(f"cannot use {type_name(key)} as a key of {type_name(container)}") from None
    if is_list(container) or isinstance(container, str):
        if not is_number(key):
            raise ExprError(f"cannot fetch {name or type_name(key)} from {type_name(container)}")
        index = to_int(key, "index")
        length = len(container)
        if index < 0:
            index += length
        if not 0 <= index < length:
            raise ExprError(f"index out of range (array length is {length})")  # the index may be data
        return container[index]
    what = name if name is not None else f"a {type_name(key)} key"
    raise ExprError(f"cannot fetch {what} from {type_name(container)}")


def slice_value(container: Any, start: Any, stop: Any) -> Any:
    if not (is_list(container) or isinstance(container, str)):
        raise ExprError(f"cannot slice {type_name(container)}")
    length = len(container)
    low = 0 if start is None else to_int(start, "slice")
    high = length if stop is None else to_int(stop, "slice")
    if low < 0:
        low = max(length + low, 0)
    if high < 0:
        high = max(length + high, 0)
    high = min(high, length)
    low = min(low, high)
    part = container[low:high]
    return list(part) if isinstance(part, tuple) else part


def contains(container: Any, item: Any) -> bool:
    """The ``in`` operator: an item of a list (by expr equality) or a key of a map."""
    if container is None:
        return False
    if is_list(container):
        return any(equal(item, element) for element in container)
    if isinstance(container, Mapping):
        try:
            return item in container
        except TypeError:
            return False
    raise ExprError(f"operator in not defined on {type_name(container)}")


# ---------------------------------------------------------------- printing and JSON


def printable(value: Any, meter: ExprMeter) -> str:
    """Go's ``fmt.Sprintf("%v", value)``, bounded by the meter."""
    if isinstance(value, str):
        return value
    token = METER.set(meter)
    try:
        return format_value(value, meter.limits.max_string)
    except TemplateRuntimeError as exc:
        raise ExprError(exc.message) from None
    finally:
        METER.reset(token)


_JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_JSON_HTML = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _json_string(text: str) -> str:
    out = ['"']
    for char in text:
        if char in _JSON_ESCAPES:
            out.append(_JSON_ESCAPES[char])
        elif char in _JSON_HTML:
            out.append(_JSON_HTML[char])
        elif char < " ":
            out.append(f"\\u{ord(char):04x}")
        elif "\ud800" <= char <= "\udfff":
            out.append("\ufffd")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def json_float(value: float) -> str:
    """``encoding/json``'s float64: shortest digits, %f unless tiny or huge, ``e-7`` not ``e-07``."""
    if math.isnan(value) or math.isinf(value):
        raise ExprError("json: unsupported value: " + ("NaN" if math.isnan(value) else "+Inf" if value > 0 else "-Inf"))
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    number = Decimal(repr(value)).normalize()
    if 1e-6 <= abs(value) < 1e21:
        return format(number, "f")
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    exp = exponent + len(text) - 1
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}".replace("e-0", "e-")


def to_json(value: Any, meter: ExprMeter) -> str:
    """``json.MarshalIndent(value, "", "  ")`` as expr-lang's ``toJSON`` calls it."""
    out: list[str] = []
    size = 0

    def write(text: str) -> None:
        nonlocal size
        size += len(text)
        meter.check_length(size, "toJSON result")
        out.append(text)

    def encode(item: Any, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise ExprError(f"toJSON: value nested deeper than {MAX_DEPTH} levels")
        meter.step()
        if item is None:
            write("null")
        elif isinstance(item, bool):
            write("true" if item else "false")
        elif is_int(item):
            write(str(item))
        elif isinstance(item, float):
            write(json_float(item))
        elif isinstance(item, str):
            write(_json_string(item))
        elif time_json(item) is not None:
            write(str(time_json(item)))
        elif is_list(item) or isinstance(item, Mapping):
            is_map = isinstance(item, Mapping)
            if not item:
                write("{}" if is_map else "[]")
                return
            inner = "\n" + "  " * (depth + 1)
            write("{" if is_map else "[")
            if is_map:
                if not all(isinstance(key, str) for key in item):
                    raise ExprError(f"json: unsupported type: {type_name(item)}")
                entries: list[tuple[str | None, Any]] = [(key, item[key]) for key in sorted(item)]
            else:
                entries = [(None, element) for element in item]
            for index, (key, element) in enumerate(entries):
                write(("," if index else "") + inner)
                if key is not None:
                    write(_json_string(key) + ": ")
                encode(element, depth + 1)
            write("\n" + "  " * depth + ("}" if is_map else "]"))
        else:
            raise ExprError(f"json: unsupported type: {type_name(item)}")

    encode(value, 0)
    return meter.string("".join(out))
