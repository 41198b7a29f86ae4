"""Telling a database that does not answer from a real error, and saying so once per outage.

A queen whose PostgreSQL goes away (restart, fail-over, network) must not fail the requests it
supervises, nor fill its log with a traceback per statement: it notes the outage once, waits, and
carries on when the database answers again.
"""

from __future__ import annotations

import logging
import socket

import asyncpg
from sqlalchemy.exc import DBAPIError

_DRIVER_UNAVAILABLE: tuple[type[BaseException], ...] = (
    ConnectionError,  # refused, reset, aborted
    socket.gaierror,
    asyncpg.PostgresConnectionError,  # the connection broke or could not be made
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up, crashed
)


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) says the database could not be reached, not that a
    statement was wrong."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _DRIVER_UNAVAILABLE):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, asyncpg.InterfaceError) and "closed" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


class OutageLog:
    """Logs the first failure of an outage as one line, the recovery as one line, and real errors in
    full, so a long outage is two lines rather than thousands of tracebacks."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self._log, self._what = logger, what
        self.down = False

    def failed(self, exc: BaseException) -> None:
        if not is_outage(exc):
            self._log.error("%s failed; will retry", self._what, exc_info=exc)
        elif not self.down:
            self.down = True
            self._log.warning("%s: the database is unreachable (%s: %s); retrying until it answers", self._what,
                              type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")

    def ok(self) -> None:
        if self.down:
            self.down = False
            self._log.warning("%s: the database answers again", self._what)
