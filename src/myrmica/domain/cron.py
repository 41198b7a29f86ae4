"""Cron expressions: :func:`parse_cron` and :func:`next_fire`, over croniter.

Accepted forms (fields separated by blanks):

* 5 fields — ``min hour dom mon dow`` (classic cron; fires at second 0).
* 6 fields — ``sec min hour dom mon dow``. **Decision:** seconds first, as Formicary's documentation
  describes and as Quartz users expect, so ``0 0 * * * *`` is *hourly*. (Formicary's parser,
  gorhill/cronexpr, reads a 6-field expression as ``min hour dom mon dow year``, which makes that
  string daily at midnight — spec §10.3. We follow the documentation, not that quirk.)
* 7 fields — ``sec min hour dom mon dow year`` (Formicary's/Quartz form, e.g. ``0 0/30 * * * * *``
  = every 30 minutes). The year field is ``*``/``?``, a year, a range ``2025-2027``, a list
  ``2025,2027`` or a stepped form ``2025/2``/``2025-2031/3``; fire times in other years are skipped,
  and once no allowed year is left :func:`next_fire` returns None.
* Macros: ``@yearly``/``@annually``, ``@monthly``, ``@weekly``, ``@daily``/``@midnight``,
  ``@hourly``, and ``@every <duration>`` (Go-style, e.g. ``@every 5m``: a fixed interval counted
  from the ``after`` time given to :func:`next_fire`).

Within fields: ``?`` means ``*``; ``a/b`` (Quartz "from a, every b") is read as ``a-<max>/b``;
everything else (lists, ranges, ``*/n``, month and weekday names, ``L``, ``#``) is croniter's syntax.
Day of week is 0–6 with Sunday = 0 (7 is also Sunday), as in classic cron — not Quartz's 1–7.
When both day of month and day of week are restricted, either may match (classic cron).

All times are UTC. :func:`next_fire` returns an aware UTC datetime strictly after ``after`` (a naive
``after`` is taken to be UTC), or None when the expression has no future fire time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import CroniterBadDateError, CroniterError, croniter

from myrmica.domain.durations import parse_duration

MIN_YEAR = 1970
MAX_YEAR = 2099

_MACROS = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}
# The upper bound of each field of the seconds-first 6-field form, for rewriting ``a/b``.
_FIELD_MAX = (59, 59, 23, 31, 12, 6)
_FIELD_NAMES = ("second", "minute", "hour", "day of month", "month", "day of week", "year")


@dataclass(frozen=True)
class CronSchedule:
    """A parsed cron expression.

    ``fields`` is the seconds-first 6-field expression given to croniter (empty for ``@every``),
    ``years`` the allowed years (None = any), ``interval`` the ``@every`` period in seconds.
    """

    expression: str
    fields: str = ""
    years: frozenset[int] | None = None
    interval: float | None = None


def _rewrite_field(part: str, index: int) -> str:
    out: list[str] = []
    for item in part.split(","):
        if item == "?":
            item = "*"
        if "/" in item:
            base, _, step = item.partition("/")
            if base == "?":
                base = "*"
            if base and base != "*" and "-" not in base:
                base = f"{base}-{_FIELD_MAX[index]}"
            item = f"{base}/{step}"
        out.append(item)
    return ",".join(out)


def _year_value(text: str, expr: str) -> int:
    if not text.isdigit():
        raise ValueError(f"invalid year {text!r} in cron expression {expr!r}")
    year = int(text)
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"year {year} in cron expression {expr!r} is outside {MIN_YEAR}-{MAX_YEAR}")
    return year


def _parse_years(field: str, expr: str) -> frozenset[int] | None:
    if field in ("*", "?"):
        return None
    years: set[int] = set()
    for item in field.split(","):
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"invalid year step {item!r} in cron expression {expr!r}")
            step = int(step_text)
        if base in ("*", "?"):
            start, end = MIN_YEAR, MAX_YEAR
        elif "-" in base:
            low, _, high = base.partition("-")
            start, end = _year_value(low, expr), _year_value(high, expr)
            if start > end:
                raise ValueError(f"invalid year range {base!r} in cron expression {expr!r}")
        else:
            start = _year_value(base, expr)
            end = MAX_YEAR if slash else start
        years.update(range(start, end + 1, step))
    return frozenset(years)


def parse_cron(expr: str) -> CronSchedule:
    """Parse a cron expression (see the module docstring); ValueError with a clear message if bad."""
    if not isinstance(expr, str) or not expr.strip():
        raise ValueError("a cron expression must be a non-empty string")
    text = " ".join(expr.split())
    lowered = text.lower()
    if lowered.startswith("@every"):
        period = text[len("@every"):].strip()
        if not period:
            raise ValueError(f"cron expression {expr!r}: @every needs a duration, e.g. '@every 5m'")
        try:
            seconds = parse_duration(period)
        except ValueError as exc:
            raise ValueError(f"cron expression {expr!r}: {exc}") from None
        if seconds <= 0:
            raise ValueError(f"cron expression {expr!r}: the @every interval must be positive")
        return CronSchedule(expression=text, interval=seconds)
    if lowered.startswith("@"):
        if lowered not in _MACROS:
            raise ValueError(
                f"unknown cron macro {text!r}; use one of {', '.join(sorted(_MACROS))} or '@every <duration>'"
            )
        return CronSchedule(expression=text, fields=_MACROS[lowered])
    parts = text.split(" ")
    if len(parts) == 5:
        parts = ["0", *parts]
    if len(parts) not in (6, 7):
        raise ValueError(
            f"cron expression {expr!r} has {len(parts)} fields; expected 5 (min hour dom mon dow), "
            "6 (sec min hour dom mon dow) or 7 (sec min hour dom mon dow year)"
        )
    years = _parse_years(parts[6], expr) if len(parts) == 7 else None
    fields = " ".join(_rewrite_field(part, index) for index, part in enumerate(parts[:6]))
    if not croniter.is_valid(fields, second_at_beginning=True):
        raise ValueError(f"invalid cron expression {expr!r}: {_explain(parts[:6])}")
    return CronSchedule(expression=text, fields=fields, years=years)


def _explain(parts: list[str]) -> str:
    """Name the first field croniter rejects, for the error message."""
    for index, part in enumerate(parts):
        probe = ["*"] * 6
        probe[index] = _rewrite_field(part, index)
        if not croniter.is_valid(" ".join(probe), second_at_beginning=True):
            return f"bad {_FIELD_NAMES[index]} field {part!r}"
    return "the fields do not combine into a valid schedule"


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def next_fire(expr_or_schedule: str | CronSchedule, after: datetime) -> datetime | None:
    """The first fire time strictly after ``after`` (UTC-aware), or None if there is none."""
    given = expr_or_schedule
    schedule = given if isinstance(given, CronSchedule) else parse_cron(given)
    start = _as_utc(after)
    if schedule.interval is not None:
        return start + timedelta(seconds=schedule.interval)
    years = schedule.years
    if years is not None:
        years = frozenset(year for year in years if year >= start.year)
        if not years:
            return None
    # A bounded number of jumps: each either returns or moves to a later allowed year.
    for _ in range(MAX_YEAR - MIN_YEAR + 2):
        try:
            fire = croniter(schedule.fields, start, second_at_beginning=True).get_next(datetime)
        except (CroniterBadDateError, CroniterError, OverflowError):
            return None
        fire = _as_utc(fire)
        if fire.year > MAX_YEAR:
            return None
        if years is None or fire.year in years:
            return fire
        later = [year for year in years if year > fire.year]
        if not later:
            return None
        # Restart just before 1 January of the next allowed year.
        start = datetime(min(later), 1, 1, tzinfo=UTC) - timedelta(microseconds=1)
    return None
