"""Finding the ``{{ … }}`` blocks of a Tork template in linear time.

Tork finds them with the Go regexp ``{{\\s*(.+?)\\s*}}`` (``\\s`` is ``[\\t\\n\\f\\r ]`` in Go,
``.`` is anything but a newline). Go's regexp is linear; a backtracking engine (Python's ``re``)
is quadratic on a long line of unclosed ``{{``. This scanner gives exactly the leftmost-first
matches of that pattern (a property test compares it with ``re``) in one pass over the text.

Why it is exact: from a ``{{`` ending at ``p`` the engine tries the leading blanks longest first,
so the expression starts at ``q = p + w`` for ``w`` from the longest blank run down to 0; for each
``q`` the lazy ``.+?`` takes the shortest ``text[q:r]`` (no newline in it) after which the next
non-blank character begins ``}}`` — blanks are never ``}``, so the trailing ``\\s*`` can only
succeed by eating all blanks up to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

_BLANKS = frozenset("\t\n\f\r ")


@dataclass(frozen=True, slots=True)
class Block:
    start: int  # of the opening {{
    end: int  # after the closing }}
    expr_start: int
    expr_end: int


class _Scanner:
    """Cached ``str.find`` look-ups; every query moves forward, so one block search is O(n) overall."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.close_from, self.close_at = self.n + 1, -1  # first "}}" at or after close_from
        self.line_from, self.line_at = -1, -1  # first "\n" at or after line_from (n if none)
        self.run_of, self.run_start = -1, -1  # blanks before run_of start at run_start

    def close(self, start: int) -> int:
        if not (self.close_from <= start and (self.close_at < 0 or start <= self.close_at)):
            self.close_from, self.close_at = start, self.text.find("}}", start)
        return self.close_at

    def newline(self, start: int) -> int:
        if not (self.line_from <= start <= self.line_at):
            found = self.text.find("\n", start)
            self.line_from, self.line_at = start, self.n if found < 0 else found
        return self.line_at

    def blanks_before(self, index: int, floor: int) -> int:
        """The start of the run of blanks that ends at ``index``, but not below ``floor``."""
        if self.run_of != index:
            start = index
            while start > 0 and self.text[start - 1] in _BLANKS:
                start -= 1
            self.run_of, self.run_start = index, start
        return max(self.run_start, floor)


def find_blocks(text: str) -> Iterator[Block]:
    """The non-overlapping blocks of ``text``, left to right (Go's ``FindAllStringSubmatchIndex``)."""
    position = text.find("{{")
    if position < 0:
        return
    scan = _Scanner(text)
    n = len(text)
    while position >= 0:
        p = position + 2
        solid = p
        while solid < n and text[solid] in _BLANKS:
            solid += 1
        block = None
        line_end = scan.newline(solid) if solid < n else n
        for q in range(solid, p - 1, -1):  # the leading blanks, longest first
            if q < solid and text[q] == "\n":
                line_end = q
                continue
            if q >= n:
                continue
            if q == solid:
                close = scan.close(q + 1)
            else:  # text[q + 1 : solid] is blanks: the first "}}" from q + 1 is at solid or after it
                close = solid if text.startswith("}}", solid) else scan.close(solid + 1)
            if close < 0:
                if q == solid and text.startswith("}}", solid):
                    continue  # only an expression starting in the blanks can close at ``solid``
                return  # no "}}" from here on: no block here, nor at any later "{{"
            end = scan.blanks_before(close, q + 1)  # the shortest expression text[q:end]
            if end <= line_end:
                block = Block(position, close + 2, q, end)
                break
        if block is None:
            position = text.find("{{", position + 1)
        else:
            yield block
            position = text.find("{{", block.end)
