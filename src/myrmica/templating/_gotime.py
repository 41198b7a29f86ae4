"""Go ``time.Time.Format`` emulation: reference-time layouts such as ``2006-01-02T15:04:05Z07:00``."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from myrmica.templating._goerrors import TemplateRuntimeError

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

_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})")
_FIXED_ZONE_NAME = re.compile(r"UTC[+-]\d{2}:\d{2}(:\d{2}(\.\d+)?)?")

GO_TIME_STRING_LAYOUT = "2006-01-02 15:04:05.999999999 -0700 MST"


class GoTime:
    """A point in time with nanosecond precision and a zone name ("" for an unnamed fixed offset)."""

    __slots__ = ("moment", "nanos", "zone")

    def __init__(self, moment: dt.datetime, nanos: int, zone: str) -> None:
        self.moment = moment
        self.nanos = nanos
        self.zone = zone


def to_go_time(value: Any) -> GoTime:
    """A datetime, date or RFC 3339 string as a :class:`GoTime` (naive datetimes are UTC)."""
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        name = moment.tzname() or ""
        if _FIXED_ZONE_NAME.fullmatch(name):
            name = ""
        return GoTime(moment, value.microsecond * 1000, name)
    if isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
        return GoTime(moment, 0, "UTC")
    if isinstance(value, str):
        match = _RFC3339.fullmatch(value)
        if match is None:
            raise TemplateRuntimeError(f"cannot parse {value!r} as an RFC 3339 time")
        year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
        fraction, zone = match.group(7) or "", match.group(8)
        nanos = int(fraction.ljust(9, "0")) if fraction else 0
        if zone in ("Z", "z"):
            tz, name = dt.UTC, "UTC"
        else:
            sign = -1 if zone[0] == "-" else 1
            offset = dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])) * sign
            tz, name = dt.timezone(offset), ""
        try:
            moment = dt.datetime(year, month, day, hour, minute, second, nanos // 1000, tzinfo=tz)
        except ValueError as exc:
            raise TemplateRuntimeError(f"cannot parse {value!r} as an RFC 3339 time: {exc}") from None
        return GoTime(moment, nanos, name)
    raise TemplateRuntimeError(f"expected a time or an RFC 3339 string, got {type(value).__name__}")


def _starts_lower(text: str) -> bool:
    return bool(text) and "a" <= text[0] <= "z"


_TZ_LAYOUTS = ("070000", "07:00:00", "0700", "07:00", "07")
_ZERO_CODES = {"1": "01", "2": "02", "3": "03", "4": "04", "5": "05", "6": "06"}


def _match_std(layout: str, i: int) -> str | None:
    """The layout element starting at ``layout[i]``, if any (mirrors Go's ``nextStdChunk``)."""
    rest = layout[i:]
    ch = rest[0]
    if ch == "J" and rest.startswith("Jan"):
        if rest.startswith("January"):
            return "January"
        return None if _starts_lower(rest[3:]) else "Jan"
    if ch == "M":
        if rest.startswith("Mon"):
            if rest.startswith("Monday"):
                return "Monday"
            return None if _starts_lower(rest[3:]) else "Mon"
        return "MST" if rest.startswith("MST") else None
    if ch == "0":
        if rest[1:2] in _ZERO_CODES:
            return _ZERO_CODES[rest[1:2]]
        return "002" if rest.startswith("002") else None
    if ch == "1":
        return "15" if rest.startswith("15") else "1"
    if ch == "2":
        return "2006" if rest.startswith("2006") else "2"
    if ch == "_":
        if rest.startswith("_2") and not rest.startswith("_2006"):
            return "_2"
        return "__2" if rest.startswith("__2") else None
    if ch in "345":
        return ch
    if ch == "P" and rest.startswith("PM"):
        return "PM"
    if ch == "p" and rest.startswith("pm"):
        return "pm"
    if ch in "-Z":
        for tail in _TZ_LAYOUTS:
            if rest.startswith(ch + tail):
                return ch + tail
        return None
    if ch in ".," and rest[1:2] in ("0", "9"):
        run = len(rest[1:]) - len(rest[1:].lstrip(rest[1]))
        after = rest[1 + run : 2 + run]
        if not after.isdigit():
            return rest[: 1 + run]
    return None


def _zone_offset(t: GoTime, element: str) -> str:
    offset = t.moment.utcoffset() or dt.timedelta(0)
    seconds = int(offset.total_seconds())
    if seconds == 0 and element.startswith("Z"):
        return "Z"
    sign = "-" if seconds < 0 else "+"
    seconds = abs(seconds)
    hours, minutes, secs = seconds // 3600, seconds // 60 % 60, seconds % 60
    spec = element[1:]
    colon = ":" if ":" in spec else ""
    out = f"{sign}{hours:02d}"
    if spec != "07":
        out += f"{colon}{minutes:02d}"
    if spec in ("070000", "07:00:00"):
        out += f"{colon}{secs:02d}"
    return out


def _format_element(t: GoTime, element: str) -> str:
    m = t.moment
    hour12 = m.hour % 12 or 12
    simple = {
        "January": _MONTHS[m.month - 1],
        "Jan": _MONTHS[m.month - 1][:3],
        "Monday": _DAYS[m.weekday()],
        "Mon": _DAYS[m.weekday()][:3],
        "01": f"{m.month:02d}",
        "1": str(m.month),
        "02": f"{m.day:02d}",
        "2": str(m.day),
        "_2": f"{m.day:>2d}",
        "002": f"{m.timetuple().tm_yday:03d}",
        "__2": f"{m.timetuple().tm_yday:>3d}",
        "2006": f"{m.year:04d}",
        "06": f"{m.year % 100:02d}",
        "15": f"{m.hour:02d}",
        "03": f"{hour12:02d}",
        "3": str(hour12),
        "04": f"{m.minute:02d}",
        "4": str(m.minute),
        "05": f"{m.second:02d}",
        "5": str(m.second),
        "PM": "PM" if m.hour >= 12 else "AM",
        "pm": "pm" if m.hour >= 12 else "am",
    }
    if element in simple:
        return simple[element]
    if element == "MST":
        return t.zone or _zone_offset(t, "-0700")
    if element[0] in "-Z":
        return _zone_offset(t, element)
    # fractional seconds: ".000" keeps the digits, ".999" trims trailing zeros
    separator, digits = element[0], len(element) - 1
    fraction = f"{t.nanos:09d}"[:digits]
    if element[1] == "9":
        fraction = fraction.rstrip("0")
        return separator + fraction if fraction else ""
    return separator + fraction


def format_go_time(value: Any, layout: str) -> str:
    """``time.Time.Format(layout)`` for a datetime, date or RFC 3339 string."""
    t = value if isinstance(value, GoTime) else to_go_time(value)
    out: list[str] = []
    i = 0
    while i < len(layout):
        element = _match_std(layout, i)
        if element is None:
            out.append(layout[i])
            i += 1
            continue
        out.append(_format_element(t, element))
        i += len(element)
    return "".join(out)
