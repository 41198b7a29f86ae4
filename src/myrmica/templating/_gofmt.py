"""Go ``fmt`` emulation for Python values: ``%v`` printing, ``Sprint``, ``Sprintln`` and ``Sprintf``.

Values are the template's data model: None (Go nil), bool, int, float (float64), str,
list/tuple (``[]interface {}``), mappings (``map[string]interface {}``) and datetimes (``time.Time``).
Output is bounded: every formatter writes into a :class:`Budget` that raises once it is exceeded,
and nesting deeper than :data:`MAX_DEPTH` is refused, so shared or self-referencing structures
cannot blow up memory or the stack.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from myrmica.templating._goerrors import TemplateRuntimeError
from myrmica.templating._golexer import go_quote, go_quote_rune
from myrmica.templating._gotime import GO_TIME_STRING_LAYOUT, format_go_time

MAX_DEPTH = 100
_TOO_LARGE = 1_000_000  # fmt refuses widths and precisions above this, like Go


class Meter:
    """The step and output budget of one template execution, shared by the evaluator and fmt."""

    def __init__(self, max_steps: int, max_output: int) -> None:
        self.steps = 0
        self.max_steps = max_steps
        self.max_output = max_output

    def step(self, count: int = 1) -> None:
        self.steps += count
        if self.steps > self.max_steps:
            raise TemplateRuntimeError(f"template exceeded the limit of {self.max_steps} evaluation steps")


DEFAULT_MAX_OUTPUT = 1_000_000

#: The meter of the execution in progress (None outside executions).
METER: contextvars.ContextVar[Meter | None] = contextvars.ContextVar("gotemplate_meter", default=None)


def current_meter() -> Meter:
    """The running execution's meter, or an unbounded-steps one when called outside an execution."""
    meter = METER.get()
    return meter if meter is not None else Meter(10**12, DEFAULT_MAX_OUTPUT)


class Budget:
    """A bounded string builder; every value printed into it costs one step of the current meter."""

    def __init__(self, limit: int | None = None) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.meter = current_meter()
        self.limit = self.meter.max_output if limit is None else limit

    def write(self, text: str) -> None:
        self.size += len(text)
        if self.size > self.limit:
            raise TemplateRuntimeError(f"formatted value exceeds the output limit of {self.limit} characters")
        self.parts.append(text)

    def getvalue(self) -> str:
        return "".join(self.parts)


# ---------------------------------------------------------------- type names and ordering


def is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)


def type_name(value: Any) -> str:
    """The Go type a value stands for, as fmt's ``%T`` prints it."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if is_list(value):
        return "[]interface {}"
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if isinstance(value, dt.datetime | dt.date):
        return "time.Time"
    return type(value).__name__


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, int | float):
        return (2, value)
    if isinstance(value, str):
        return (3, value)
    return (4, repr(value))


def sorted_keys(mapping: Mapping[Any, Any]) -> list[Any]:
    """Map keys in the order Go's fmt and ``range`` use (numbers numerically, strings bytewise)."""
    return sorted(mapping.keys(), key=_sort_key)


# ---------------------------------------------------------------- floats


def format_float_shortest(value: float, upper: bool = False) -> str:
    """``strconv.FormatFloat(v, 'g', -1, 64)``: shortest round-trip digits, %e when exp < -4 || exp >= 6."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    neg = "-" if sign else ""
    if digits == "0":
        return neg + "0"
    point = len(digits) + exponent  # position of the decimal point within the digits
    exp = point - 1
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{neg}{mantissa}{'E' if upper else 'e'}{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{neg}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{neg}{digits}{'0' * (point - len(digits))}"
    return f"{neg}{digits[:point]}.{digits[point:]}"


# ---------------------------------------------------------------- verbs


@dataclass(frozen=True, slots=True)
class Spec:
    """The flags, width and precision of one ``%`` directive."""

    plus: bool = False
    minus: bool = False
    sharp: bool = False
    space: bool = False
    zero: bool = False
    width: int | None = None
    prec: int | None = None
    plus_v: bool = False
    sharp_v: bool = False


PLAIN = Spec()


def _pad(out: Budget, text: str, spec: Spec, zero_ok: bool = True) -> None:
    if spec.width is None or spec.width <= len(text):
        out.write(text)
        return
    fill = spec.width - len(text)
    if spec.minus:
        out.write(text)
        out.write(" " * fill)
    else:
        out.write(("0" if spec.zero and zero_ok else " ") * fill)
        out.write(text)


def _bad_verb(out: Budget, value: Any, verb: str, spec: Spec, depth: int) -> None:
    out.write(f"%!{verb}(")
    if value is None:
        out.write("<nil>")
    else:
        out.write(type_name(value) + "=")
        print_value(out, value, "v", spec, depth)
    out.write(")")


def _fmt_int(out: Budget, value: int, verb: str, spec: Spec) -> None:
    if verb == "c":
        _pad(out, chr(value) if 0 <= value <= 0x10FFFF else "\ufffd", spec, zero_ok=False)
        return
    if verb == "q":
        _pad(out, go_quote_rune(value), spec, zero_ok=False)
        return
    if verb == "U":
        text = f"U+{value:04X}" if value >= 0 else f"U+{value & 0xFFFFFFFFFFFFFFFF:04X}"
        if spec.sharp and 0 <= value <= 0x10FFFF and chr(value).isprintable():
            text += f" '{chr(value)}'"
        _pad(out, text, spec, zero_ok=False)
        return
    base = {"v": 10, "d": 10, "b": 2, "o": 8, "O": 8, "x": 16, "X": 16}[verb]
    negative = value < 0
    digits = {2: "b", 8: "o", 10: "d", 16: "x"}[base]
    body = format(abs(value), digits)
    if verb == "X":
        body = body.upper()
    has_sign = negative or spec.plus or spec.space
    if spec.prec is not None:
        if spec.prec == 0 and value == 0:
            _pad(out, "", replace(spec, zero=False))
            return
        body = body.rjust(spec.prec, "0")
    elif spec.zero and spec.width is not None and not spec.minus:
        body = body.rjust(spec.width - (1 if has_sign else 0), "0")
    prefix = ""
    if verb == "O":
        prefix = "0o"
    elif spec.sharp:
        if base == 2:
            prefix = "0b"
        elif base == 8 and not body.startswith("0"):
            prefix = "0"
        elif base == 16:
            prefix = "0X" if verb == "X" else "0x"
    sign = "-" if negative else "+" if spec.plus else " " if spec.space else ""
    _pad(out, sign + prefix + body, spec, zero_ok=False)


def _fmt_float(out: Budget, value: float, verb: str, spec: Spec) -> None:
    if verb == "v" or (verb in "gG" and spec.prec is None):
        body = format_float_shortest(abs(value), upper=verb == "G")
    elif math.isnan(value) or math.isinf(value):
        body = format_float_shortest(abs(value))
    else:
        prec = 6 if spec.prec is None else spec.prec
        body = format(abs(value), f".{prec}{verb}")
    if math.isnan(value):
        sign = "+" if spec.plus else " " if spec.space else ""
        _pad(out, sign + "NaN", spec, zero_ok=False)
        return
    body = body.lstrip("+")
    sign = "-" if math.copysign(1.0, value) < 0 else "+"
    if math.isinf(value):
        if sign == "+" and spec.space and not spec.plus:
            sign = " "
        _pad(out, sign + "Inf", spec, zero_ok=False)
        return
    if spec.space and sign == "+" and not spec.plus:
        sign = " "
    if spec.plus or sign != "+":
        text = sign + body
        if spec.zero and not spec.minus and spec.width is not None and spec.width > len(text):
            out.write(sign + "0" * (spec.width - len(text)) + body)
            return
        _pad(out, text, spec)
        return
    _pad(out, body, spec)


def _fmt_str(out: Budget, value: str, verb: str, spec: Spec) -> None:
    if verb == "q" or (verb == "v" and spec.sharp_v):
        if spec.sharp and "`" not in value and all(c == "\t" or c.isprintable() for c in value):
            text = "`" + value + "`"
        else:
            text = go_quote(value, ascii_only=spec.plus)
        _pad(out, text, spec, zero_ok=False)
        return
    if verb in "xX":
        data = value.encode("utf-8")
        if spec.prec is not None:
            data = data[: spec.prec]
        pieces = [format(b, "02x" if verb == "x" else "02X") for b in data]
        prefix = ("0X" if verb == "X" else "0x") if spec.sharp else ""
        text = " ".join(prefix + p for p in pieces) if spec.space else prefix + "".join(pieces)
        _pad(out, text, spec, zero_ok=False)
        return
    if spec.prec is not None:
        value = value[: spec.prec]
    _pad(out, value, spec, zero_ok=False)


def print_value(out: Budget, value: Any, verb: str, spec: Spec, depth: int = 0) -> None:
    """Write ``value`` as Go's ``fmt`` prints an ``interface{}`` operand under ``verb``."""
    out.meter.step()
    if depth > MAX_DEPTH:
        raise TemplateRuntimeError(f"value nested deeper than {MAX_DEPTH} levels cannot be printed")
    if verb == "T":
        _pad(out, type_name(value), spec, zero_ok=False)
    elif value is None:
        if verb == "v" or depth > 0:
            _pad(out, "<nil>", spec, zero_ok=False)
        else:
            _bad_verb(out, value, verb, spec, depth)
    elif isinstance(value, bool):
        if verb in "tv":
            _pad(out, "true" if value else "false", spec, zero_ok=False)
        else:
            _bad_verb(out, value, verb, spec, depth)
    elif isinstance(value, int):
        if verb in "vdboOxXcqU":
            _fmt_int(out, value, verb, spec)
        else:
            _bad_verb(out, value, verb, spec, depth)
    elif isinstance(value, float):
        if verb in "veEfFgG":
            _fmt_float(out, value, verb, spec)
        else:
            _bad_verb(out, value, verb, spec, depth)
    elif isinstance(value, str):
        if verb in "vsqxX":
            _fmt_str(out, value, verb, spec)
        else:
            _bad_verb(out, value, verb, spec, depth)
    elif is_list(value):
        _print_list(out, value, verb, spec, depth)
    elif isinstance(value, Mapping):
        _print_map(out, value, verb, spec, depth)
    elif isinstance(value, dt.datetime | dt.date):
        if verb in "vs":
            _pad(out, format_go_time(value, GO_TIME_STRING_LAYOUT), spec, zero_ok=False)
        else:
            _bad_verb(out, value, verb, spec, depth)
    elif verb in "vs":
        _pad(out, str(value), spec, zero_ok=False)
    else:
        _bad_verb(out, value, verb, spec, depth)


def _print_list(out: Budget, value: Sequence[Any], verb: str, spec: Spec, depth: int) -> None:
    if spec.sharp_v:
        out.write("[]interface {}{")
        separator = ", "
    else:
        out.write("[")
        separator = " "
    for index, item in enumerate(value):
        if index:
            out.write(separator)
        print_value(out, item, verb, spec, depth + 1)
    out.write("}" if spec.sharp_v else "]")


def _print_map(out: Budget, value: Mapping[Any, Any], verb: str, spec: Spec, depth: int) -> None:
    if spec.sharp_v:
        out.write("map[string]interface {}{")
        separator = ", "
    else:
        out.write("map[")
        separator = " "
    for index, key in enumerate(sorted_keys(value)):
        if index:
            out.write(separator)
        print_value(out, key, verb, spec, depth + 1)
        out.write(":")
        print_value(out, value[key], verb, spec, depth + 1)
    out.write("}" if spec.sharp_v else "]")


# ---------------------------------------------------------------- entry points


def format_value(value: Any, limit: int | None = None) -> str:
    """``fmt.Sprint(value)`` for one operand."""
    out = Budget(limit)
    print_value(out, value, "v", PLAIN)
    return out.getvalue()


def sprint(args: Sequence[Any], limit: int | None = None) -> str:
    """``fmt.Sprint``: a space between operands when neither side is a string."""
    out = Budget(limit)
    previous_string = False
    for index, arg in enumerate(args):
        is_string = isinstance(arg, str)
        if index and not is_string and not previous_string:
            out.write(" ")
        print_value(out, arg, "v", PLAIN)
        previous_string = is_string
    return out.getvalue()


def sprintln(args: Sequence[Any], limit: int | None = None) -> str:
    """``fmt.Sprintln``: operands separated by spaces, then a newline."""
    out = Budget(limit)
    for index, arg in enumerate(args):
        if index:
            out.write(" ")
        print_value(out, arg, "v", PLAIN)
    out.write("\n")
    return out.getvalue()


def _parse_num(text: str, i: int) -> tuple[int | None, int]:
    """Go's ``parsenum``: digits at ``i``; an absurdly large number swallows the rest of the format."""
    num, start = 0, i
    while i < len(text) and "0" <= text[i] <= "9":
        if num > _TOO_LARGE:
            return None, len(text)
        num = num * 10 + ord(text[i]) - 48
        i += 1
    return (num if i > start else None), i


def _int_arg(args: Sequence[Any], argnum: int) -> tuple[int | None, int]:
    if argnum >= len(args):
        return None, argnum
    value = args[argnum]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= _TOO_LARGE:
        return value, argnum + 1
    return None, argnum + 1


def sprintf(fmt: str, args: Sequence[Any], limit: int | None = None) -> str:
    """``fmt.Sprintf`` with Go's verbs, flags, ``*`` widths and ``%!`` error annotations."""
    out = Budget(limit)
    argnum, i, n = 0, 0, len(fmt)
    while i < n:
        j = fmt.find("%", i)
        if j < 0:
            out.write(fmt[i:])
            break
        if j > i:
            out.write(fmt[i:j])
        i = j + 1
        flags = {"plus": False, "minus": False, "sharp": False, "space": False, "zero": False}
        while i < n and fmt[i] in "#0+- ":
            c = fmt[i]
            if c == "0":
                flags["zero"] = not flags["minus"]
            elif c == "-":
                flags["minus"], flags["zero"] = True, False
            else:
                flags[{"#": "sharp", "+": "plus", " ": "space"}[c]] = True
            i += 1
        width: int | None
        if i < n and fmt[i] == "*":
            width, argnum = _int_arg(args, argnum)
            i += 1
            if width is None:
                out.write("%!(BADWIDTH)")
            elif width < 0:
                width, flags["minus"], flags["zero"] = -width, True, False
        else:
            width, i = _parse_num(fmt, i)
        prec: int | None = None
        if i < n and fmt[i] == ".":
            i += 1
            if i < n and fmt[i] == "*":
                prec, argnum = _int_arg(args, argnum)
                i += 1
                if prec is not None and prec < 0:
                    prec = None
                if prec is None:
                    out.write("%!(BADPREC)")
            else:
                prec, i = _parse_num(fmt, i)
                prec = prec or 0
        if i >= n:
            out.write("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            out.write("%")
            continue
        if argnum >= len(args):
            out.write(f"%!{verb}(MISSING)")
            continue
        arg = args[argnum]
        argnum += 1
        spec = Spec(width=width, prec=prec, **flags)
        if verb == "v":
            spec = replace(spec, sharp=False, plus=False, sharp_v=spec.sharp, plus_v=spec.plus)
        print_value(out, arg, verb, spec)
    if argnum < len(args):
        out.write("%!(EXTRA ")
        for index, arg in enumerate(args[argnum:]):
            if index:
                out.write(", ")
            if arg is None:
                out.write("<nil>")
            else:
                out.write(type_name(arg) + "=")
                print_value(out, arg, "v", PLAIN)
        out.write(")")
    return out.getvalue()
