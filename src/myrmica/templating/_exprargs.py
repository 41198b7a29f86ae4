"""The evaluation runtime handed to every function, and the argument checks they share."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from myrmica.templating._exprerrors import ExprError
from myrmica.templating._exprvalues import STEP_UNIT, ExprMeter, is_list, is_number, type_name


@dataclass
class Runtime:
    meter: ExprMeter
    rng: random.Random
    regexes: dict[str, Any]


Function = Callable[[Runtime, list[Any]], Any]


# ---------------------------------------------------------------- argument helpers


def arity(name: str, args: list[Any], low: int, high: int | None = None) -> None:
    high = low if high is None else high
    if low <= len(args) <= high:
        return
    want = str(low) if low == high else f"{low} or {high}" if high == low + 1 else f"{low} to {high}"
    raise ExprError(f"invalid number of arguments for {name} (expected {want}, got {len(args)})")


def want_str(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    raise ExprError(f"invalid argument for {name} (type {type_name(value)})")


def want_list(name: str, value: Any) -> list[Any] | tuple[Any, ...]:
    if is_list(value):
        return value  # type: ignore[no-any-return]
    raise ExprError(f"invalid argument for {name} (type {type_name(value)})")


def want_map(name: str, value: Any) -> Mapping[Any, Any]:
    if isinstance(value, Mapping):
        return value
    raise ExprError(f"invalid argument for {name} (type {type_name(value)})")


def want_number(name: str, value: Any) -> int | float:
    if is_number(value):
        return value  # type: ignore[no-any-return]
    raise ExprError(f"invalid argument for {name} (type {type_name(value)})")


def charge_strings(rt: Runtime, name: str, parts: list[str]) -> list[str]:
    rt.meter.check_items(len(parts))
    rt.meter.step(sum(len(p) for p in parts) // STEP_UNIT)
    return parts
