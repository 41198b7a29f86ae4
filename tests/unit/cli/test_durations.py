"""How the CLI writes durations: milliseconds under a second, and the attempts a task or request took."""

from __future__ import annotations

import pytest

from myrmica.cli.requests import _duration, seconds_text


@pytest.mark.parametrize(("seconds", "text"), [
    (0.0, "0ms"), (0.34, "340ms"), (0.9994, "999ms"), (0.9996, "1.0s"), (20.14, "20.1s"), (185, "3m05s"),
    (3723, "1h02m03s"),
])
def test_seconds_are_written_for_people(seconds: float, text: str) -> None:
    assert seconds_text(seconds) == text


def test_a_duration_shows_its_attempts_after_the_first() -> None:
    start, end = "2026-12-02T17:40:22+00:00", "2026-12-02T17:40:42.1+00:00"
    assert _duration(start, end) == "20.1s"
    assert _duration(start, end, 0) == "20.1s"
    assert _duration(start, end, 1) == "20.1s ×2"
    assert _duration(start, "2026-12-02T17:40:22.34+00:00", "2") == "340ms ×3"
    assert _duration(None, end, 3) == ""
