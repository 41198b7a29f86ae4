"""Printing results: rich tables for people, JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

console = Console()
err_console = Console(stderr=True)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


class Key(str):
    """A column header whose cells are never cut or wrapped: ids, job types, states. The other
    columns give way, folding their cells onto more lines, when the terminal is narrow."""


GAP = 2  # between two columns of a ``new_table``: the separator and the collapsed padding
WORD = 12  # a word this long or shorter stays whole in a folding column, when the table can afford it


def new_table(title: str, columns: Sequence[str]) -> Table:
    """A borderless table (more fits in 80 columns); fill it, then print ``fit(table)``."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  collapse_padding=True)
    for header in columns:
        if isinstance(header, Key):
            table.add_column(header, no_wrap=True)
        else:
            table.add_column(header, overflow="fold")
    return table


def _width(cell: object) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(str(cell))


def _longest_word(cell: object) -> int:
    return max((cell_len(word) for word in (cell.plain if isinstance(cell, Text) else str(cell)).split()), default=0)


def key_width(table: Table) -> int:
    """What the key columns and the gaps between all columns take, whatever the terminal's width."""
    keys = sum(max(_width(c) for c in [column.header, *column.cells]) for column in table.columns if column.no_wrap)
    return keys + GAP * (len(table.columns) - 1)


def _wanted(table: Table) -> list[int]:
    """The folding columns' minimum widths that keep their short words whole."""
    return [min(WORD, max(_longest_word(c) for c in [column.header, *column.cells]))
            for column in table.columns if not column.no_wrap]


def room(table: Table) -> int:
    """The console's columns left to the table's folding columns."""
    return console.width - key_width(table)


def fit(table: Table, *, whole_words: bool = False) -> Table:
    """Key columns get the width of their widest cell, so that no squeeze of the table cuts them. The
    others keep their words whole as far as the console has room (all of them with ``whole_words``):
    when it has too little, the columns with the longest words fold first."""
    for column in table.columns:
        if column.no_wrap:
            column.min_width = max(_width(c) for c in [column.header, *column.cells])
    others = [column for column in table.columns if not column.no_wrap]
    wanted = _wanted(table)
    cap = max(wanted, default=0)
    if not whole_words:
        while cap > 1 and sum(min(w, cap) for w in wanted) > room(table):
            cap -= 1
    for column, minimum in zip(others, wanted, strict=True):
        column.min_width = min(minimum, cap)
    return table


def print_fitted(table: Table) -> None:
    """Print a ``new_table``. One that cannot fit the console even with its folding columns squeezed
    is printed whole, past the console's width (a terminal wraps its lines), rather than cut at the edge."""
    wanted = _wanted(table)
    if room(table) >= sum(min(4, w) for w in wanted):
        console.print(fit(table))
    else:
        console.print(fit(table, whole_words=True), width=key_width(table) + sum(wanted), crop=False)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = new_table(title, columns)
    for row in rows:
        table.add_row(*[cell if isinstance(cell, Text) else Text("" if cell is None else str(cell)) for cell in row])
    print_fitted(table)
