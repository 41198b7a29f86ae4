"""expr-lang's date functions in Tork expressions; expected outputs are Go's time printing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from myrmica.templating.expr import ExprError, evaluate, render


def rd(template: str) -> str:
    return render(template, {})


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        ("0", "0s"),
        ("1h30m", "1h30m0s"),
        ("90s", "1m30s"),
        ("1.5s", "1.5s"),
        ("250ms", "250ms"),
        ("1.5ms", "1.5ms"),
        ("1us", "1µs"),
        ("1µs", "1µs"),
        ("42ns", "42ns"),
        ("-2m", "-2m0s"),
        ("+3h", "3h0m0s"),
        ("2h45m30.5s", "2h45m30.5s"),
        (".5h", "30m0s"),
    ],
)
def test_durations_print_like_go(text: str, printed: str) -> None:
    assert rd(f"{{{{ duration('{text}') }}}}") == printed


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "time: invalid duration"), ("1", "time: missing unit in duration"), ("1x", "time: invalid duration")],
)
def test_bad_durations(text: str, message: str) -> None:
    with pytest.raises(ExprError, match=message):
        evaluate(f"duration('{text}')", {})


@pytest.mark.parametrize(
    ("expression", "printed"),
    [
        ("date('2023-08-14')", "2023-08-14 00:00:00 +0000 UTC"),
        ("date('2023-08-14 10:11:12')", "2023-08-14 10:11:12 +0000 UTC"),
        ("date('2023-08-14T00:00:00Z')", "2023-08-14 00:00:00 +0000 UTC"),
        ("date('2023-08-14T10:11:12.5+02:00')", "2023-08-14 10:11:12.5 +0200 +0200"),
        ("date('Mon, 02 Jan 2006 15:04:05 MST')", "2006-01-02 15:04:05 +0000 MST"),
        ("date('02 Jan 06 15:04 UTC')", "2006-01-02 15:04:00 +0000 UTC"),
        ("date('2023-08-14 00:00:00', '2006-01-02 15:04:05', 'Europe/Zurich')", "2023-08-14 00:00:00 +0200 CEST"),
        ("date('14/08/2023 3:04PM', '02/01/2006 3:04PM')", "2023-08-14 15:04:00 +0000 UTC"),
        ("date('August 14, 2023', 'January 2, 2006')", "2023-08-14 00:00:00 +0000 UTC"),
        ("date('2024-01-02') - date('2024-01-01')", "24h0m0s"),
        ("date('2024-01-01') - duration('1h')", "2023-12-31 23:00:00 +0000 UTC"),
        ("date('2024-01-01') + duration('36h')", "2024-01-02 12:00:00 +0000 UTC"),
        ("duration('1h') + duration('30m')", "1h30m0s"),
        ("duration('1h') - duration('90m')", "-30m0s"),
        ("[duration('90s'), date('2024-01-01')]", "[1m30s 2024-01-01 00:00:00 +0000 UTC]"),
        (
            "toJSON([date('2023-08-14T10:11:12.25Z'), duration('1s')])",
            '[\n  "2023-08-14T10:11:12.25Z",\n  1000000000\n]',
        ),
    ],
)
def test_dates(expression: str, printed: str) -> None:
    assert rd("{{ " + expression + " }}") == printed


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("date('2024-01-02') > date('2024-01-01')", True),
        ("date('2024-01-01T01:00:00+01:00') == date('2024-01-01')", True),
        ("duration('1h') == duration('60m')", True),
        ("duration('1h') < duration('61m')", True),
        ("now() > date('2024-01-01')", True),
        ("now() - now() <= duration('1s')", True),
        ("type(now())", "time.Time"),
        ("type(duration('1s'))", "time.Duration"),
    ],
)
def test_date_comparisons_and_types(expression: str, expected: Any) -> None:
    assert evaluate(expression, {}) == expected


def test_times_from_the_environment() -> None:
    env = {"at": dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)}
    assert render("{{ at + duration('1m') }}", env) == "2024-05-06 07:09:09 +0000 UTC"


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("date('nope')", "invalid date"),
        ("date('2023-13-01')", "invalid date"),
        ("date('2023-02-30', '2006-01-02')", "out of range"),
        ("date('x', '2006')", "the value does not match the layout"),
        ("date('2023', '2006', 'Nowhere/Zone')", "unknown time zone"),
        ("date(1)", "invalid arguments for date"),
        ("now(1)", "expected 0, got 1"),
        ("now() + 1", "invalid operation: + (mismatched types time.Time and int)"),
        ("duration('1h') * 2", "invalid operation: * (mismatched types time.Duration and int)"),
        ("now() < 1", "invalid operation: < (mismatched types time.Time and int)"),
        ("now().Year()", "method calls are not supported (Year)"),
        ("timezone('UTC')", "function timezone is not supported"),
        ("duration('9999999999h')", "time: invalid duration"),
    ],
)
def test_date_errors(expression: str, message: str) -> None:
    with pytest.raises(
        ExprError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*").replace("+", r"\+")
    ):
        evaluate(expression, {})


def test_date_errors_do_not_quote_the_value() -> None:
    for expression in ("date(x)", "date(x, '2006-01-02')", "duration(x)", "date('2020', '2006', x)"):
        with pytest.raises(ExprError) as info:
            evaluate(expression, {"x": "Zq9-secret"})
        assert "Zq9" not in str(info.value)
