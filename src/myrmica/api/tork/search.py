"""Tork's ``q`` on ``GET /jobs`` as a core filter (spec/tork.md §3).

Tokens are split on white space. ``tag:X`` and ``tags:A,B`` name tags, any of which a job must
have. A token that is a job state's name (``running``, ``COMPLETED``, in any case) keeps jobs in
that state. Every other word must appear, in any case, in the job's name or description.
Departure: Tork (PostgreSQL) matches words with English stemming (``jobs`` finds ``job``); here a
word matches as a case-insensitive substring, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from myrmica.api.tork.states import JOB_STATES, core_states_of
from myrmica.domain.records import RequestFilter
from myrmica.domain.tork.translate import DIALECT

MAX_TOKENS = 50


def job_filter(q: str) -> RequestFilter:
    words: list[str] = []
    tags: list[str] = []
    states: frozenset[str] | None = None
    for token in q.split()[:MAX_TOKENS]:
        if token.startswith("tag:"):
            tags.append(token[len("tag:"):])
        elif token.startswith("tags:"):
            tags += [tag for tag in token[len("tags:"):].split(",") if tag]
        elif token.upper() in JOB_STATES and token.upper() != "RESTART":
            wanted = core_states_of(token.upper())
            states = wanted if states is None else states & wanted
        else:
            words.append(token)
    if states is not None and not states:
        states = frozenset({"-"})  # two different states: nothing matches
    return RequestFilter(dialect=DIALECT, words=tuple(words), labels_any=tuple(tags),
                         states=states or frozenset())
