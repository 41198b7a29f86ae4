"""CLI tables in a narrow terminal: ids, job types and states are never cut; the other columns fold."""

from __future__ import annotations

import pytest
from rich.text import Text

from myrmica.cli import output
from myrmica.cli.output import Id, Key, new_table, print_fitted
from myrmica.cli.requests import _requests_table

ID = "01M8VZSDB3SF1DT2HF7QK0GD5F"


def render(width: int, rows: list[tuple[str, ...]], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setattr(output.console, "width", width)
    table = new_table("Job requests", [Id("id"), Key("job type"), Key("state"), "created", "reason"])
    for row in rows:
        table.add_row(*[Text(cell) for cell in row])
    with output.console.capture() as captured:
        print_fitted(table)
    lines = captured.get().splitlines()
    assert all(len(line) <= width for line in lines), "\n".join(lines)
    assert "…" not in captured.get()
    return lines


def test_key_columns_stay_whole_and_the_others_fold(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = render(80, [(ID, "release v1", "MANUAL_APPROVAL_REQUIRED", "2026-12-02 18:20:38",
                         "waiting: no live ant can run SHELL with tags [builder]")], monkeypatch)
    row = next(line for line in lines if line.startswith(ID))
    assert "release v1" in row and "MANUAL_APPROVAL_REQUIRED" in row
    assert len(lines) > 4  # the reason folded onto more lines


def test_wide_terminals_keep_each_row_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = render(200, [(ID, "release v1", "COMPLETED", "2026-12-02 18:20:38", "")], monkeypatch)
    assert [line for line in lines if ID in line] == \
        [next(line for line in lines if "2026-12-02 18:20:38" in line and "COMPLETED" in line)]


def test_when_nothing_else_gives_way_key_columns_fold_whole_but_ids_never(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = render(80, [(ID, "build-test-deploy v1", "MANUAL_APPROVAL_REQUIRED", "2026-12-02 18:20:38", "x")],
                   monkeypatch)
    assert any(line.startswith(ID) for line in lines)
    text = "\n".join(lines)
    assert "MANUAL_APPROVA" in text and "2026-12-02" in text


@pytest.mark.parametrize("job_type", ["jjj", "hello", "build-test-deploy", "a-job-type-of-forty-characters-in-all-xx"])
@pytest.mark.parametrize("state", ["COMPLETED", "MANUAL_APPROVAL_REQUIRED"])
def test_requests_list_never_breaks_a_date_or_a_duration_inside_a_word(
        job_type: str, state: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``requests list`` at 80 columns: the created column keeps its date (and time) whole, folding at
    the space between them at most; the duration and its header stay whole too."""
    monkeypatch.setattr(output.console, "width", 80)
    record = {"id": ID, "job_type": job_type, "job_version": 12, "job_state": state, "retried": 3,
              "created_at": "2026-12-03T13:15:09Z", "started_at": "2026-12-03T13:15:09Z",
              "ended_at": "2026-12-03T14:19:12Z"}
    with output.console.capture() as captured:
        print_fitted(_requests_table("Job requests", [record], {}))
    text = captured.get()
    assert all(len(line) <= 80 for line in text.splitlines()), text
    words = text.split()
    for whole in ("2026-12-03", "13:15:09", "1h04m03s", "duration", "created", ID):
        assert whole in words, text
