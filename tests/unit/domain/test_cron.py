from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from myrmica.domain.cron import CronSchedule, next_fire, parse_cron

T0 = datetime(2024, 1, 1, 0, 0, 0, tzinfo=UTC)  # a Monday


def fires(expr: str, after: datetime = T0, count: int = 3) -> list[datetime]:
    schedule = parse_cron(expr)
    out: list[datetime] = []
    moment = after
    for _ in range(count):
        fire = next_fire(schedule, moment)
        assert fire is not None
        out.append(fire)
        moment = fire
    return out


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_five_fields() -> None:
    assert fires("*/15 * * * *") == [at(2024, 1, 1, 0, 15), at(2024, 1, 1, 0, 30), at(2024, 1, 1, 0, 45)]
    assert fires("30 2 * * *", count=2) == [at(2024, 1, 1, 2, 30), at(2024, 1, 2, 2, 30)]


def test_six_fields_are_seconds_first() -> None:
    assert fires("0 0 * * * *") == [at(2024, 1, 1, 1), at(2024, 1, 1, 2), at(2024, 1, 1, 3)]  # hourly
    assert fires("*/10 * * * * *") == [at(2024, 1, 1, 0, 0, 10), at(2024, 1, 1, 0, 0, 20),
                                        at(2024, 1, 1, 0, 0, 30)]
    assert fires("5 0 * * * *", count=2) == [at(2024, 1, 1, 0, 0, 5), at(2024, 1, 1, 1, 0, 5)]


def test_seven_fields_formicary_form() -> None:
    assert fires("0 0/30 * * * * *") == [at(2024, 1, 1, 0, 30), at(2024, 1, 1, 1), at(2024, 1, 1, 1, 30)]
    assert fires("0 0 12 * * * *", count=1) == [at(2024, 1, 1, 12)]


def test_quartz_step_starts_at_base() -> None:
    assert fires("0 5/20 * * * *") == [at(2024, 1, 1, 0, 5), at(2024, 1, 1, 0, 25), at(2024, 1, 1, 0, 45)]
    assert parse_cron("0 5/20 * * * *").fields == "0 5-59/20 * * * *"
    # Day of week 1/2: Monday, Wednesday, Friday.
    assert fires("0 0 12 * * 1/2") == [at(2024, 1, 1, 12), at(2024, 1, 3, 12), at(2024, 1, 5, 12)]


def test_question_mark_is_star() -> None:
    assert fires("0 0 12 ? * MON", count=2) == [at(2024, 1, 1, 12), at(2024, 1, 8, 12)]
    assert fires("0 0 12 1 * ?", count=2) == [at(2024, 1, 1, 12), at(2024, 2, 1, 12)]


def test_strictly_after() -> None:
    assert next_fire("0 * * * *", at(2024, 1, 1, 1)) == at(2024, 1, 1, 2)
    assert next_fire("0 * * * *", at(2024, 1, 1, 1, 0, 0) + timedelta(microseconds=5)) == at(2024, 1, 1, 2)


@pytest.mark.parametrize(
    ("macro", "expected"),
    [
        ("@hourly", at(2024, 1, 1, 1)),
        ("@daily", at(2024, 1, 2)),
        ("@midnight", at(2024, 1, 2)),
        ("@weekly", at(2024, 1, 7)),  # Sunday
        ("@monthly", at(2024, 2, 1)),
        ("@yearly", at(2025, 1, 1)),
        ("@annually", at(2025, 1, 1)),
        ("@HOURLY", at(2024, 1, 1, 1)),
    ],
)
def test_macros(macro: str, expected: datetime) -> None:
    assert next_fire(macro, T0) == expected


def test_every_is_a_fixed_interval_from_after() -> None:
    after = at(2024, 1, 1, 0, 7, 13)
    assert next_fire("@every 5m", after) == after + timedelta(minutes=5)
    assert next_fire("@every 1h30m", after) == after + timedelta(minutes=90)
    assert parse_cron("@every 90s").interval == 90.0


def test_year_restriction() -> None:
    assert next_fire("0 0 12 1 1 * 2026", T0) == at(2026, 1, 1, 12)
    assert next_fire("0 0 12 1 1 * *", T0) == at(2024, 1, 1, 12)
    assert next_fire("0 0 0 1 * * 2025-2026", at(2026, 12, 15)) is None
    assert fires("0 0 0 1 6 * 2025,2027", count=2) == [at(2025, 6, 1), at(2027, 6, 1)]
    assert fires("0 0 0 1 1 * 2024/3", after=at(2024, 6, 1), count=2) == [at(2027, 1, 1), at(2030, 1, 1)]


def test_no_future_fire_time() -> None:
    assert next_fire("0 0 0 1 1 * 2020", T0) is None  # year in the past
    assert next_fire("0 0 0 29 2 * 2025", T0) is None  # no 29 February in 2025
    assert next_fire("0 0 0 30 2 *", T0) is None  # never


def test_timezones() -> None:
    paris = timezone(timedelta(hours=1))
    fire = next_fire("0 * * * *", datetime(2024, 1, 1, 1, 30, tzinfo=paris))
    assert fire == at(2024, 1, 1, 1)
    assert fire is not None and fire.tzinfo == UTC
    naive = next_fire("0 * * * *", datetime(2024, 1, 1, 0, 30))
    assert naive == at(2024, 1, 1, 1)


def test_schedule_is_reusable() -> None:
    schedule = parse_cron("  0   0/30 * * * * *  ")
    assert isinstance(schedule, CronSchedule)
    assert schedule.expression == "0 0/30 * * * * *"
    assert next_fire(schedule, T0) == next_fire("0 0/30 * * * * *", T0)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("", "non-empty"),
        ("   ", "non-empty"),
        ("* * *", "3 fields"),
        ("* * * * * * * *", "8 fields"),
        ("61 * * * * *", "second"),
        ("0 60 * * * *", "minute"),
        ("0 0 25 * * *", "hour"),
        ("0 0 0 32 * *", "day of month"),
        ("0 0 0 1 13 *", "month"),
        ("0 0 0 * * 9", "day of week"),
        ("0 0 0 1 1 * 1800", "year 1800"),
        ("0 0 0 1 1 * 20x5", "invalid year"),
        ("0 0 0 1 1 * 2030-2025", "year range"),
        ("hello world foo bar baz", "invalid cron expression"),
        ("@fortnightly", "unknown cron macro"),
        ("@every", "needs a duration"),
        ("@every soon", "invalid duration"),
        ("@every 0s", "positive"),
    ],
)
def test_invalid(expr: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_cron(expr)
