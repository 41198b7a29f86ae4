"""The dashboard's pure helpers: where a login may send you, the submit form's params, times and durations."""

from __future__ import annotations

import pytest

from myrmica.api.errors import ApiError
from myrmica.web.pages import page_query, submit_body
from myrmica.web.render import clock, inline_svg, seconds_text, state_class, took, when
from myrmica.web.session import safe_next


@pytest.mark.parametrize(("given", "expected"), [
    ("/requests?state=FAILED", "/requests?state=FAILED"), ("/", "/"), (None, "/"), ("", "/"),
    ("//evil.example/", "/"), ("https://evil.example/", "/"), ("/\\evil.example", "/"), ("requests", "/"),
    ("/a\r\nSet-Cookie: x=1", "/"),
])
def test_safe_next_keeps_only_local_paths(given: str | None, expected: str) -> None:
    assert safe_next(given) == expected


def test_submit_body_reads_fields_then_lines() -> None:
    body = submit_body("hello", {"param:Name": ["world"], "param:Empty": [""], "params": ["A=1\n\nB = x=y\r\n"],
                                 "job_priority": ["-3"], "csrf": ["t"]})
    assert body == {"job_type": "hello", "params": {"Name": "world", "A": "1", "B": " x=y"}, "job_priority": -3}
    assert submit_body("x", {})["job_priority"] == 0


@pytest.mark.parametrize(("fields", "field"), [
    ({"params": ["ok=1\nnot a pair"]}, "params"), ({"params": ["=value"]}, "params"),
    ({"job_priority": ["1.5"]}, "job_priority"), ({"job_priority": ["١"]}, "job_priority"),
    ({"job_priority": ["99999999999"]}, "job_priority"),
])
def test_submit_body_refuses_what_it_cannot_read(fields: dict[str, list[str]], field: str) -> None:
    with pytest.raises(ApiError) as caught:
        submit_body("x", fields)
    assert caught.value.status == 422 and caught.value.extra["field"] == field


def test_page_query_keeps_the_other_filters() -> None:
    query = page_query({"state": ["PENDING", "FAILED"], "q": "a b", "job_type": ""})
    assert query == "state=PENDING&state=FAILED&q=a+b&"
    assert page_query({"q": ""}) == ""


def test_times_and_durations() -> None:
    assert when("2026-12-03T07:35:02.123456Z") == "2026-12-03 07:35:02 UTC"
    assert when("2026-12-03T08:35:02+01:00") == "2026-12-03 07:35:02 UTC"
    assert when(None) == "" and when("not a time") == ""
    assert clock("2026-12-03T07:35:02Z") == "07:35:02"
    assert [seconds_text(s) for s in (0.34, 1.25, 65, 3725)] == ["340ms", "1.2s", "1m 05s", "1h 02m"]
    assert took("2026-12-03T07:35:00Z", "2026-12-03T07:35:02.5Z") == "2.5s"
    assert took("2026-12-03T07:35:00Z", None) == "" and took(None, None) == ""


def test_state_class_and_the_graph_label() -> None:
    assert state_class("MANUAL_APPROVAL_REQUIRED") == "state-manual-approval-required"
    assert state_class(None) == "state-none"
    svg = str(inline_svg('<svg width="8pt"><g/></svg>', 'graph of "x" <y>'))
    assert svg.startswith('<svg role="img" aria-label="graph of &#34;x&#34; &lt;y&gt;" focusable="false" width=')
