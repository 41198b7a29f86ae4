"""Secret values masked in text: every occurrence of a secret, and of each line of a multi-line one.

A multi-line secret (a private key, a JSON credentials file) never reaches a log whole: output is read
line by line. So each of its lines of at least ``MIN_LINE_CHARS`` characters (surrounding blanks
stripped) is masked wherever it appears, as is the whole value; shorter lines (``}``, a blank line)
would mask common text and tell little.
"""

from __future__ import annotations

from collections.abc import Iterable

MASK = "[****]"
MIN_LINE_CHARS = 4


def secret_terms(secrets: Iterable[str]) -> list[str]:
    """What to mask for ``secrets``: each value, and the lines of multi-line ones; longest first."""
    terms: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        terms.add(secret)
        if "\n" in secret or "\r" in secret:
            for line in secret.splitlines():
                line = line.strip()
                if len(line) >= MIN_LINE_CHARS:
                    terms.add(line)
    return sorted(terms, key=lambda term: (-len(term), term))


def mask_terms(text: str, terms: Iterable[str]) -> str:
    """``text`` with every term replaced (the terms of :func:`secret_terms`, longest first)."""
    for term in terms:
        if term in text:
            text = text.replace(term, MASK)
    return text


def mask(text: str, secrets: Iterable[str]) -> str:
    return mask_terms(text, secret_terms(secrets)) if secrets else text


def safe_cut(data: bytes, cut: int, terms: Iterable[bytes]) -> int:
    """A split point ≤ ``cut`` that cuts no occurrence of a term in two, so that each piece can be
    masked alone. ``data`` must hold at least ``len(term) - 1`` bytes past ``cut`` for the longest term
    (or end there). An occurrence that starts at 0 (a term longer than ``cut``) moves the cut to its end."""
    terms = [term for term in terms if len(term) > 1]
    while True:
        start = cut
        for term in terms:
            # Any occurrence that starts in the term's length before the cut runs across it.
            found = data.find(term, max(0, cut - len(term) + 1), cut + len(term) - 1)
            if found != -1 and found < start:
                start = found
        if start == cut:
            return cut
        if start == 0:  # a term longer than the piece: the piece ends where the term does
            return max(len(term) for term in terms if data.startswith(term))
        cut = start
