"""Helpers of the Redis broker: key layout, the message envelope, outage tracking and backoff."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT, FieldT

log = logging.getLogger("myrmica.broker.redis")

# Errors that mean "Redis cannot be reached right now": retried with backoff, never fatal.
TRANSIENT: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError, OSError)

ANT_GROUP = "ant"
QUEEN_GROUP = "queen"
FIELD = "m"
KINDS = frozenset({"execute", "control", "result", "log"})

BACKOFF_START = 0.1
BACKOFF_MAX = 5.0

# Adds a reservation only while the ant's set is below capacity; a key already there counts as reserved.
# KEYS: the candidate ants' reservation sets, in order of preference; ARGV: the key, then each capacity.
# Returns the 1-based index of the ant holding the key (already, or now), 0 when every one is full.
RESERVE_LUA = """
for i, set in ipairs(KEYS) do
  if redis.call('SISMEMBER', set, ARGV[1]) == 1 then
    return i
  end
end
for i, set in ipairs(KEYS) do
  if redis.call('SCARD', set) < tonumber(ARGV[i + 1]) then
    redis.call('SADD', set, ARGV[1])
    return i
  end
end
return 0
"""


class BrokerStopped(RuntimeError):
    """The broker was stopped while an operation still waited for Redis."""


class Malformed(ValueError):
    """A stream entry that is not one of ours (not JSON, unknown kind, missing fields)."""


@dataclass(frozen=True)
class Keys:
    prefix: str

    def ant(self, ant_id: str) -> str:
        return f"{self.prefix}:ant:{ant_id}"

    def replies(self, queen_id: str) -> str:
        return f"{self.prefix}:replies:{queen_id}"

    def reserved(self, ant_id: str) -> str:
        return f"{self.prefix}:reserved:{ant_id}"

    @property
    def ants(self) -> str:
        return f"{self.prefix}:ants"

    @property
    def events(self) -> str:
        return f"{self.prefix}:events"


Fields = dict[FieldT, EncodableT]


def encode(kind: str, body: dict[str, Any]) -> Fields:
    return {FIELD: json.dumps({"kind": kind, "body": body}, separators=(",", ":"), default=str)}


def decode(fields: dict[str, Any] | None, expected: frozenset[str]) -> tuple[str, dict[str, Any]]:
    """The (kind, body) of a stream entry; raises Malformed for anything else."""
    if not fields:
        raise Malformed("an empty entry (deleted, or not written by myrmica)")
    raw = fields.get(FIELD)
    if not isinstance(raw, str):
        raise Malformed(f"no {FIELD!r} field (fields: {sorted(fields)[:5]})")
    try:
        doc = json.loads(raw)
    except ValueError:
        raise Malformed(f"not JSON: {raw[:80]!r}") from None
    if not isinstance(doc, dict):
        raise Malformed(f"not a JSON object: {raw[:80]!r}")
    kind, body = doc.get("kind"), doc.get("body")
    if kind not in expected:
        raise Malformed(f"unexpected kind {kind!r} here (expected {sorted(expected)})")
    if not isinstance(body, dict):
        raise Malformed(f"a {kind} entry whose body is not an object")
    return str(kind), body


def require_id(kind: str, body: dict[str, Any]) -> None:
    value = body.get("task_execution_id")
    if not isinstance(value, str) or not value:
        raise Malformed(f"a {kind} without a task_execution_id")


def redact(url: str) -> str:
    """The URL without credentials, for logs."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    return f"{parts.scheme}://{host}{port}{parts.path}"


class Backoff:
    """Exponential delays, 0.1 s doubling up to 5 s; reset after a success."""

    def __init__(self, start: float = BACKOFF_START, cap: float = BACKOFF_MAX) -> None:
        self._start, self._cap = start, cap
        self._next = start

    def next(self) -> float:
        delay = self._next
        self._next = min(self._cap, self._next * 2)
        return delay

    def reset(self) -> None:
        self._next = self._start


class Link:
    """Whether Redis answers: an outage is logged once when it starts and once when it ends."""

    def __init__(self, where: str, closing: asyncio.Event) -> None:
        self.where = where
        self.down = False
        self._closing = closing

    def failed(self, exc: BaseException) -> None:
        if self._closing.is_set():
            return
        if not self.down:
            self.down = True
            log.warning("redis at %s unreachable; retrying (%s: %s)", self.where, type(exc).__name__, exc)

    def ok(self) -> None:
        if self.down:
            self.down = False
            log.info("redis at %s reachable again", self.where)

    async def pause(self, delay: float) -> bool:
        """Sleep ``delay`` seconds unless the broker stops first; False when it stopped."""
        if self._closing.is_set():
            return False
        try:
            await asyncio.wait_for(self._closing.wait(), timeout=delay)
        except TimeoutError:
            return True
        return False
