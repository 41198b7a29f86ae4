"""expr-lang's date functions: ``now()``, ``duration(text)``, ``date(text[, layout[, zone]])``.

Times are aware datetimes (printed like Go's ``time.Time``); durations are :class:`Duration`
(nanoseconds, printed like Go's ``time.Duration``: ``1h30m0s``, ``1.5s``, ``250ms``). ``date``
parses Go reference layouts (``2006-01-02T15:04:05Z07:00``) with the element table of
``_gotime``; without a layout it tries expr-lang's list. Departures: methods (``.Year()``) and
``timezone()`` are not supported, times keep microseconds (Go: nanoseconds), a layout without a
year gives year 1 (Go: year 0), and ``now()`` is in UTC. Messages never quote the parsed text.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from myrmica.templating._exprerrors import ExprError
from myrmica.templating._gotime import _match_std

_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}
_DURATION_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?(ns|us|µs|μs|ms|s|m|h)")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DEFAULT_LAYOUTS = (
    "2006-01-02",
    "15:04:05",
    "2006-01-02 15:04:05",
    "2006-01-02T15:04:05Z07:00",  # RFC3339
    "02 Jan 06 15:04 MST",  # RFC822
    "Monday, 02-Jan-06 15:04:05 MST",  # RFC850
    "Mon, 02 Jan 2006 15:04:05 MST",  # RFC1123
)


@dataclass(frozen=True, slots=True, order=True)
class Duration:
    """Go's ``time.Duration``: a signed 64-bit count of nanoseconds."""

    nanos: int

    def __str__(self) -> str:
        return format_duration(self.nanos)


def is_time(value: Any) -> bool:
    return isinstance(value, dt.datetime)


def aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def wrap_duration(nanos: int) -> Duration:
    if not _INT_MIN <= nanos <= _INT_MAX:
        raise ExprError("duration out of range")
    return Duration(nanos)


def _fraction(value: int, precision: int) -> tuple[str, int]:
    """Go's ``fmtFrac``: the fraction of value / 10**precision without trailing zeros, and the rest."""
    digits = ""
    printed = False
    for _ in range(precision):
        digit = value % 10
        printed = printed or digit != 0
        if printed:
            digits = str(digit) + digits
        value //= 10
    return ("." + digits if printed else ""), value


def format_duration(nanos: int) -> str:
    """``time.Duration.String()``."""
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    u = abs(nanos)
    if u < 10**9:
        if u < 1_000:
            unit, precision = "ns", 0
        elif u < 1_000_000:
            unit, precision = "µs", 3
        else:
            unit, precision = "ms", 6
        fraction, whole = _fraction(u, precision)
        return f"{sign}{whole}{fraction}{unit}"
    fraction, seconds = _fraction(u, 9)
    text = f"{seconds % 60}{fraction}s"
    minutes = seconds // 60
    if minutes:
        text = f"{minutes % 60}m{text}"
        hours = minutes // 60
        if hours:
            text = f"{hours}h{text}"
    return sign + text


def parse_duration(text: str) -> Duration:
    """``time.ParseDuration``: ``[-+]?([0-9]*(\\.[0-9]*)?(ns|us|µs|ms|s|m|h))+`` or ``0``."""
    body = text[1:] if text[:1] in ("+", "-") else text
    negative = text[:1] == "-"
    if body == "0":
        return Duration(0)
    if not body:
        raise ExprError("time: invalid duration")
    total = 0
    position = 0
    while position < len(body):
        match = _DURATION_PART.match(body, position)
        if match is None or (not match.group(1) and not match.group(2)):
            missing_unit = match is None and body[position:].replace(".", "", 1).isdigit()
            raise ExprError("time: missing unit in duration" if missing_unit else "time: invalid duration")
        whole, fraction, unit = match.group(1) or "0", match.group(2) or "", match.group(3)
        scale = _UNITS[unit]
        total += int(whole) * scale + (int(fraction) * scale // 10 ** len(fraction) if fraction else 0)
        if total > 2**63:
            raise ExprError("time: invalid duration")
        position = match.end()
    return wrap_duration(-total if negative else total)


def _element_pattern(element: str, next_element: str | None) -> str:
    numbers = {
        "2006": r"(?P<year>[0-9]{4})",
        "06": r"(?P<year2>[0-9]{2})",
        "01": r"(?P<month>[0-9]{2})",
        "1": r"(?P<month>[0-9]{1,2})",
        "02": r"(?P<day>[0-9]{2})",
        "2": r"(?P<day>[0-9]{1,2})",
        "_2": r" ?(?P<day>[0-9]{1,2})",
        "002": r"(?P<yday>[0-9]{3})",
        "__2": r" {0,2}(?P<yday>[0-9]{1,3})",
        "15": r"(?P<hour>[0-9]{1,2})",
        "03": r"(?P<hour12>[0-9]{2})",
        "3": r"(?P<hour12>[0-9]{1,2})",
        "04": r"(?P<minute>[0-9]{2})",
        "4": r"(?P<minute>[0-9]{1,2})",
        "05": r"(?P<second>[0-9]{2})",
        "5": r"(?P<second>[0-9]{1,2})",
        "PM": r"(?P<ampm>AM|PM)",
        "pm": r"(?P<ampm>am|pm)",
        "January": "(?P<monthname>" + "|".join(_MONTHS) + ")",
        "Jan": "(?P<monthabbr>" + "|".join(m[:3] for m in _MONTHS) + ")",
        "Monday": "(?:" + "|".join(_DAYS) + ")",
        "Mon": "(?:" + "|".join(d[:3] for d in _DAYS) + ")",
        "MST": r"(?P<zonename>[A-Z]{3,5}|UTC[+-][0-9]{1,2})",
    }
    if element in numbers:
        pattern = numbers[element]
        if element in ("05", "5") and (next_element is None or next_element[0] not in ".,"):
            pattern += r"(?:[.,](?P<fraction>[0-9]+))?"  # Go accepts a fraction after seconds
        return pattern
    if element[0] in "-Z":
        spec = element[1:]
        colon = ":" if ":" in spec else ""
        parts = r"(?P<zsign>[+-])(?P<zh>[0-9]{2})"
        if spec != "07":
            parts += colon + r"(?P<zm>[0-9]{2})"
        if spec in ("070000", "07:00:00"):
            parts += colon + r"(?P<zs>[0-9]{2})"
        return f"(?:(?P<zulu>Z)|{parts})" if element[0] == "Z" else parts
    digits = len(element) - 1  # .000 / .999: a fraction of seconds
    count = f"{{{digits}}}" if element[1] == "0" else "+"
    return "(?:" + re.escape(element[0]) + f"(?P<fraction>[0-9]{count}))" + ("?" if element[1] == "9" else "")


@lru_cache(maxsize=256)
def _layout_regex(layout: str) -> re.Pattern[str]:
    elements: list[str | None] = []
    chunks: list[str] = []
    i = 0
    while i < len(layout):
        element = _match_std(layout, i)
        elements.append(element)
        chunks.append(layout[i] if element is None else element)
        i += 1 if element is None else len(element)
    out = []
    for index, (element, chunk) in enumerate(zip(elements, chunks, strict=True)):
        following = next((e for e in elements[index + 1 :] if e is not None), None)
        out.append(re.escape(chunk) if element is None else _element_pattern(element, following))
    try:
        return re.compile("".join(out))
    except re.error:  # an element twice: Go accepts it, we do not
        raise ExprError("date: unsupported layout") from None


def parse_date(text: str, layout: str, zone: dt.tzinfo) -> dt.datetime:
    """``time.ParseInLocation(layout, text, zone)``."""
    if len(layout) > 256 or len(text) > 256:
        raise ExprError("date: value or layout too long")
    match = _layout_regex(layout).fullmatch(text)
    if match is None:
        raise ExprError("date: the value does not match the layout")
    g = match.groupdict()
    year = int(g["year"]) if g.get("year") else 0
    if g.get("year2"):
        short = int(g["year2"])
        year = short + (1900 if short >= 69 else 2000)
    month = 1
    if g.get("month"):
        month = int(g["month"])
    elif g.get("monthname"):
        month = _MONTHS.index(g["monthname"]) + 1
    elif g.get("monthabbr"):
        month = [m[:3] for m in _MONTHS].index(g["monthabbr"]) + 1
    day = int(g["day"]) if g.get("day") else 1
    hour = int(g["hour"]) if g.get("hour") else 0
    if g.get("hour12"):
        hour = int(g["hour12"])
        if hour > 12:
            raise ExprError("date: hour out of range")
        if g.get("ampm") in ("PM", "pm") and hour < 12:
            hour += 12
        elif g.get("ampm") in ("AM", "am") and hour == 12:
            hour = 0
    minute = int(g["minute"]) if g.get("minute") else 0
    second = int(g["second"]) if g.get("second") else 0
    micros = int((g.get("fraction") or "0")[:6].ljust(6, "0"))
    tz = zone
    if g.get("zulu"):
        tz = dt.UTC
    elif g.get("zsign"):
        offset = dt.timedelta(hours=int(g["zh"]), minutes=int(g.get("zm") or 0), seconds=int(g.get("zs") or 0))
        tz = dt.timezone(-offset if g["zsign"] == "-" else offset)
    elif g.get("zonename"):
        name = g["zonename"]
        tz = dt.UTC if name == "UTC" else dt.timezone(dt.timedelta(0), name)
    try:  # Go's year 0 (a layout without a year) cannot be a Python datetime: year 1 stands for it
        moment = dt.datetime(max(year, 1), month, day, hour, minute, second, micros, tzinfo=tz)
        if g.get("yday") and not g.get("month") and not g.get("day"):
            moment += dt.timedelta(days=int(g["yday"]) - 1)
    except (ValueError, OverflowError):
        raise ExprError("date: day, month or time out of range") from None
    return moment


def load_zone(name: str) -> dt.tzinfo:
    if name in ("", "UTC"):
        return dt.UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ExprError("unknown time zone") from None


def date(args: list[Any]) -> dt.datetime:
    if not 1 <= len(args) <= 3 or not all(isinstance(a, str) for a in args):
        raise ExprError("invalid arguments for date (want a string, and optionally a layout and a time zone)")
    zone = load_zone(args[2]) if len(args) == 3 else dt.UTC
    if len(args) >= 2:
        return parse_date(args[0], args[1], zone)
    for layout in DEFAULT_LAYOUTS:
        try:
            return parse_date(args[0], layout, zone)
        except ExprError:
            continue
    raise ExprError("invalid date")


def duration(args: list[Any]) -> Duration:
    if len(args) != 1 or not isinstance(args[0], str):
        raise ExprError("invalid argument for duration (want a string)")
    if len(args[0]) > 256:
        raise ExprError("time: invalid duration")
    return parse_duration(args[0])


def now(args: list[Any]) -> dt.datetime:
    if args:
        raise ExprError(f"invalid number of arguments (expected 0, got {len(args)})")
    return dt.datetime.now(dt.UTC)


# ---------------------------------------------------------------- operators


def _delta(value: Duration) -> dt.timedelta:
    return dt.timedelta(microseconds=value.nanos // 1000)


def time_add(left: Any, right: Any) -> Any:
    """``+`` on times and durations, or NotImplemented."""
    if is_time(left) and isinstance(right, Duration):
        try:
            return aware(left) + _delta(right)
        except OverflowError:
            raise ExprError("time out of range") from None
    if isinstance(left, Duration) and isinstance(right, Duration):
        return wrap_duration(left.nanos + right.nanos)
    return NotImplemented


def time_sub(left: Any, right: Any) -> Any:
    if is_time(left) and is_time(right):
        delta = aware(left) - aware(right)
        nanos = (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000
        return Duration(max(min(nanos, _INT_MAX), _INT_MIN))  # Go's Sub saturates
    if is_time(left) and isinstance(right, Duration):
        try:
            return aware(left) - _delta(right)
        except OverflowError:
            raise ExprError("time out of range") from None
    if isinstance(left, Duration) and isinstance(right, Duration):
        return wrap_duration(left.nanos - right.nanos)
    return NotImplemented


def time_less(left: Any, right: Any) -> Any:
    if is_time(left) and is_time(right):
        return aware(left) < aware(right)
    if isinstance(left, Duration) and isinstance(right, Duration):
        return left.nanos < right.nanos
    return NotImplemented


def time_json(value: Any) -> str | None:
    """How ``encoding/json`` writes a time (RFC 3339 with nanoseconds) or a duration (an integer)."""
    if is_time(value):
        moment = aware(value)
        text = moment.strftime("%Y-%m-%dT%H:%M:%S")
        if moment.microsecond:
            text += f".{moment.microsecond:06d}".rstrip("0")
        offset = moment.utcoffset() or dt.timedelta(0)
        if offset == dt.timedelta(0):
            return f'"{text}Z"'
        minutes = int(offset.total_seconds()) // 60
        sign = "-" if minutes < 0 else "+"
        return f'"{text}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"'
    if isinstance(value, Duration):
        return str(value.nanos)
    return None
