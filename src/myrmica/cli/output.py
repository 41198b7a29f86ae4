"""Printing results: rich tables for people, JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

console = Console()
err_console = Console(stderr=True)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


class Key(str):
    """A column header whose cells are never cut: job types, states. The other columns give way first,
    folding their cells onto more lines when the terminal is narrow; only when they cannot make room
    does a key column fold too (whole, on two lines, never with an ellipsis)."""


class Id(Key):
    """A key column that never folds either: ids are copied from the screen."""


class Words(str):
    """A column header whose cells fold only between words, never inside one: a date and its time go on
    two lines rather than ``2026-12-0`` / ``3``. Its longest word is its least width; when the table
    cannot give it that, key columns fold first."""


GAP = 2  # between two columns of a ``new_table``: the separator and the collapsed padding
WORD = 12  # a word this long or shorter stays whole in a folding column, when the table can afford it
NARROWEST = 4  # the least a folding column gets before key columns fold as well


def new_table(title: str, columns: Sequence[str]) -> Table:
    """A borderless table (more fits in 80 columns); fill it, then print it with ``print_fitted``."""
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


def _widest(column: Column) -> int:
    return max(_width(c) for c in [column.header, *column.cells])


def key_width(table: Table) -> int:
    """What the unfolding columns and the gaps between all columns take, whatever the terminal's width."""
    return sum(_widest(c) for c in table.columns if c.no_wrap) + GAP * (len(table.columns) - 1)


def _wanted(table: Table) -> list[int]:
    """The folding columns' minimum widths that keep their short words whole."""
    return [min(WORD, max(_longest_word(c) for c in [column.header, *column.cells]))
            for column in table.columns if not column.no_wrap]


def room(table: Table) -> int:
    """The console's columns left to the table's folding columns."""
    return console.width - key_width(table)


def _fill(floor: list[int], natural: list[int], space: int) -> list[int]:
    """Widths from ``floor`` up towards ``natural``, the narrowest first, within ``space`` in all."""
    level = 0
    while level < max(natural, default=0) and \
            sum(max(f, min(n, level + 1)) for f, n in zip(floor, natural, strict=True)) <= space:
        level += 1
    return [max(f, min(n, level)) for f, n in zip(floor, natural, strict=True)]


def fit(table: Table) -> Table:
    """Unfolding columns get the width of their widest cell, so that no squeeze of the table cuts them.
    The others share the room left: each keeps its words whole as far as the room allows (the columns
    with the longest words fold first), and what is left goes to the widest."""
    others = [column for column in table.columns if not column.no_wrap]
    whole = [isinstance(column.header, Words) for column in others]
    least = [w if word else min(NARROWEST, w) for w, word in zip(_wanted(table), whole, strict=True)]
    released = room(table) < sum(least)
    if released:  # last resort: key columns (not ids) fold too, but get the room before the others
        for column in table.columns:
            if column.no_wrap and not isinstance(column.header, Id):
                column.no_wrap, column.overflow = False, "fold"
    for column in table.columns:
        if column.no_wrap:
            column.min_width = _widest(column)
    others = [column for column in table.columns if not column.no_wrap]
    natural = [_widest(column) for column in others]
    space = room(table)
    if sum(natural) <= space:
        return table
    keys = [isinstance(column.header, Key) for column in others]
    whole = [isinstance(column.header, Words) for column in others]
    wanted = [min(NARROWEST, n) if key else w for w, n, key in zip(_wanted(table), natural, keys, strict=True)]
    kept = sum(w for w, word in zip(wanted, whole, strict=True) if word)  # Words columns are never squeezed
    cap = max(wanted, default=0)
    while cap > 1 and kept + sum(min(w, cap) for w, word in zip(wanted, whole, strict=True) if not word) > space:
        cap -= 1
    floor = [w if word else min(w, cap, n) for w, n, word in zip(wanted, natural, whole, strict=True)]
    if released:
        # The released key columns first grow as far as the room allows, then the others.
        key_floor = [f for f, key in zip(floor, keys, strict=True) if key]
        key_natural = [n for n, key in zip(natural, keys, strict=True) if key]
        grown = iter(_fill(key_floor, key_natural, space - sum(f for f, key in zip(floor, keys, strict=True)
                                                                if not key)))
        floor = [next(grown) if key else f for f, key in zip(floor, keys, strict=True)]
    for column, width in zip(others, _fill(floor, natural, space), strict=True):
        column.width = max(1, width)
    return table


def print_fitted(table: Table) -> None:
    console.print(fit(table))


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = new_table(title, columns)
    for row in rows:
        table.add_row(*[cell if isinstance(cell, Text) else Text("" if cell is None else str(cell)) for cell in row])
    print_fitted(table)
