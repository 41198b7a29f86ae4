"""Answers a queen keeps for a moment because every run or trigger asks for them: a write through this
queen clears them at once (``clear``/``forget``), one through another queen shows once ``seconds`` have
passed. Past ``most`` keys it starts afresh rather than grow."""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TimedCache(Generic[K, V]):
    def __init__(self, seconds: float, *, most: int = 1000) -> None:
        self.seconds = seconds
        self._most = most
        self._kept: dict[K, tuple[V, float]] = {}

    def get(self, key: K) -> V | None:
        kept = self._kept.get(key)
        return kept[0] if kept is not None and kept[1] > time.monotonic() else None

    def put(self, key: K, value: V, *, read_at: float) -> None:
        """``read_at``: ``time.monotonic()`` taken before the value was read, which it is kept from."""
        if len(self._kept) >= self._most:
            self._kept.clear()
        self._kept[key] = (value, read_at + self.seconds)

    def forget(self, key: K) -> None:
        self._kept.pop(key, None)

    def clear(self) -> None:
        self._kept.clear()
