"""A trigger's ``rate_limit`` window (store/trigger_states.py ``hit``) on SQLite and PostgreSQL: a sliding
window — the oldest fire leaves it ``window`` seconds later — kept in ``trigger_states``, so two stores on
one database (two queens) count against the same window, even racing; a reset empties it."""

from __future__ import annotations

import asyncio

from myrmica.security.crypto import SecretBox
from myrmica.store.store import Store, open_store


async def test_the_window_slides_and_a_reset_empties_it(store: Store) -> None:
    def hit(now: float) -> object:
        return store.trigger_states.hit("o", "job", "t", "webhook", most=2, window=60.0, now=now)

    assert [await hit(1000.0), await hit(1010.0), await hit(1020.0)] == [True, True, False]
    assert await hit(1059.0) is False  # the first fire is still in the window
    assert await hit(1060.5) is True  # ... and now it has left it
    assert await hit(1061.0) is False
    state = await store.trigger_states.get("o", "job", "t")
    assert state is not None and state.rate_hits == (1010.0, 1060.5)
    assert await store.trigger_states.reset("o", "job", "t")
    assert await hit(1062.0) is True


async def test_two_queens_share_one_window_even_racing(store: Store, database_url: str) -> None:
    other = await open_store(database_url, SecretBox("contract-test-key"))
    try:
        fires = [(store if i % 2 else other).trigger_states.hit("o", "job", "race", "queue", most=5, window=3600.0,
                                                                 now=2000.0 + i) for i in range(12)]
        allowed = await asyncio.gather(*fires)
        assert sum(allowed) == 5
        state = await other.trigger_states.get("o", "job", "race")
        assert state is not None and len(state.rate_hits) == 5
    finally:
        await other.close()
