"""Writes of the hot path straight through the driver (``sqlite3``, or asyncpg inside a group commit).

A statement SQLAlchemy has already compiled still costs it about 60 µs to execute (parameter
processing, events, result set-up; more on asyncio through its greenlet bridge) against 10 µs for
the driver alone. For the handful of write statements the engine runs per request (see
:mod:`myrmica.store.statements`) we compile once with SQLAlchemy for the dialect, keep the SQL text,
the order of its parameters and each parameter's type conversion (``DateTime`` to text on SQLite,
``JSON`` to text: exactly what SQLAlchemy would do), and hand the driver the converted values.
Reads, and every other statement, go through SQLAlchemy as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Insert, Select, Update
from sqlalchemy.engine import Dialect


@dataclass(frozen=True)
class PreparedWrite:
    sql: str
    names: tuple[str, ...]
    converters: tuple[Callable[[Any], Any] | None, ...]

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(value if convert is None or value is None else convert(value)
                     for convert, value in zip(self.converters, (values[n] for n in self.names), strict=True))


def prepare(statement: Insert | Update | Select[Any], dialect: Dialect, column_keys: Sequence[str] | None = None
            ) -> PreparedWrite:
    compiled = statement.compile(dialect=dialect, column_keys=list(column_keys) if column_keys else None)
    names = tuple(compiled.positiontup or ())
    converters = tuple(compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names)
    return PreparedWrite(compiled.string, names, converters)
