"""expr-lang's collection and bit functions (``first``, ``keys``, ``sort``, ``flatten``, ``bitand``…)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from myrmica.templating._exprargs import Function, Runtime, arity, want_list, want_map
from myrmica.templating._exprerrors import ExprError
from myrmica.templating._exprvalues import MAX_DEPTH, equal, fetch, is_int, is_list, is_number, type_name, wrap
from myrmica.templating._gofmt import sorted_keys

# ---------------------------------------------------------------- collections


def _first(rt: Runtime, args: list[Any]) -> Any:
    arity("first", args, 1)
    return args[0][0] if is_list(args[0]) and args[0] else None


def _last(rt: Runtime, args: list[Any]) -> Any:
    arity("last", args, 1)
    return args[0][-1] if is_list(args[0]) and args[0] else None


def _get(rt: Runtime, args: list[Any]) -> Any:
    arity("get", args, 2)
    try:
        return fetch(args[0], args[1])
    except ExprError:
        return None


def _take(rt: Runtime, args: list[Any]) -> Any:
    arity("take", args, 2)
    items = want_list("take", args[0])
    if not is_int(args[1]):
        raise ExprError(f"cannot take {type_name(args[1])} elements")
    count = max(args[1], 0)
    rt.meter.step(min(count, len(items)))
    return list(items[:count])


def _keys(rt: Runtime, args: list[Any]) -> list[Any]:
    arity("keys", args, 1)
    mapping = want_map("keys", args[0])
    rt.meter.check_items(len(mapping))
    return _sorted_keys(mapping)


def _sorted_keys(mapping: Mapping[Any, Any]) -> list[Any]:
    return sorted_keys(mapping)


def _values(rt: Runtime, args: list[Any]) -> list[Any]:
    arity("values", args, 1)
    mapping = want_map("values", args[0])
    rt.meter.check_items(len(mapping))
    return [mapping[key] for key in _sorted_keys(mapping)]


def _to_pairs(rt: Runtime, args: list[Any]) -> list[Any]:
    arity("toPairs", args, 1)
    mapping = want_map("toPairs", args[0])
    rt.meter.check_items(len(mapping))
    return [[key, mapping[key]] for key in _sorted_keys(mapping)]


def _from_pairs(rt: Runtime, args: list[Any]) -> dict[Any, Any]:
    arity("fromPairs", args, 1)
    pairs = want_list("fromPairs", args[0])
    rt.meter.check_items(len(pairs), "map")
    out: dict[Any, Any] = {}
    for pair in pairs:
        if not is_list(pair) or len(pair) != 2:
            raise ExprError("invalid pair for fromPairs (want a list of two items)")
        try:
            out[pair[0]] = pair[1]
        except TypeError:
            raise ExprError(f"cannot use {type_name(pair[0])} as a map key") from None
    return out


def _reverse(rt: Runtime, args: list[Any]) -> list[Any]:
    arity("reverse", args, 1)
    items = want_list("reverse", args[0])
    rt.meter.step(len(items))
    return list(reversed(items))


def _uniq(rt: Runtime, args: list[Any]) -> list[Any]:
    arity("uniq", args, 1)
    out: list[Any] = []
    for item in want_list("uniq", args[0]):
        rt.meter.step(len(out) + 1)
        if not any(equal(item, seen) for seen in out):
            out.append(item)
    return out


def _flatten(rt: Runtime, args: list[Any]) -> list[Any]:
    arity("flatten", args, 1)
    out: list[Any] = []

    def walk(items: Any, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise ExprError(f"cannot flatten a list nested deeper than {MAX_DEPTH} levels")
        for item in items:
            if is_list(item):
                walk(item, depth + 1)
            else:
                rt.meter.check_items(len(out) + 1)
                out.append(item)

    walk(want_list("flatten", args[0]), 0)
    return out


def _concat(rt: Runtime, args: list[Any]) -> list[Any]:
    if not args:
        raise ExprError("invalid number of arguments for concat (expected at least 1, got 0)")
    lists = [want_list("concat", a) for a in args]
    rt.meter.check_items(sum(len(items) for items in lists))
    return [item for items in lists for item in items]


def sort_items(name: str, items: list[Any], keys: list[Any], descending: bool) -> list[Any]:
    """Sort ``items`` by ``keys`` (all numbers or all strings), stable like Go's sort.Stable."""
    if keys and not (all(is_number(k) for k in keys) or all(isinstance(k, str) for k in keys)):
        raise ExprError(f"{name}: cannot compare values of different types")
    order = sorted(range(len(items)), key=lambda i: keys[i], reverse=descending)
    return [items[i] for i in order]


def sort_order(name: str, value: Any) -> bool:
    if value not in ("asc", "desc"):
        raise ExprError(f"invalid order for {name}, expected asc or desc")
    return bool(value == "desc")


def _sort(rt: Runtime, args: list[Any]) -> list[Any]:
    arity("sort", args, 1, 2)
    items = list(want_list("sort", args[0]))
    descending = sort_order("sort", args[1]) if len(args) == 2 else False
    rt.meter.step(len(items))
    return sort_items("sort", items, items, descending)


def _bits(name: str, op: Callable[[int, int], int]) -> Function:
    def func(rt: Runtime, args: list[Any]) -> int:
        arity(name, args, 2)
        left, right = args
        if not (is_int(left) and is_int(right)):
            raise ExprError(f"invalid argument for {name} (want int, int)")
        if name.startswith("bitsh") or name == "bitushr":
            if right < 0:
                raise ExprError("invalid operation: negative shift count (type int)")
            right = min(right, 64)
        return wrap(op(left, right))

    return func


def _bitnot(rt: Runtime, args: list[Any]) -> int:
    arity("bitnot", args, 1)
    if not is_int(args[0]):
        raise ExprError(f"invalid argument for bitnot (type {type_name(args[0])})")
    return ~int(args[0])


LIST_FUNCTIONS: dict[str, Function] = {
    "first": _first,
    "last": _last,
    "get": _get,
    "take": _take,
    "keys": _keys,
    "values": _values,
    "toPairs": _to_pairs,
    "fromPairs": _from_pairs,
    "reverse": _reverse,
    "uniq": _uniq,
    "flatten": _flatten,
    "concat": _concat,
    "sort": _sort,
    "bitand": _bits("bitand", lambda a, b: a & b),
    "bitor": _bits("bitor", lambda a, b: a | b),
    "bitxor": _bits("bitxor", lambda a, b: a ^ b),
    "bitnand": _bits("bitnand", lambda a, b: a & ~b),
    "bitshl": _bits("bitshl", lambda a, b: a << b),
    "bitshr": _bits("bitshr", lambda a, b: a >> b),
    "bitushr": _bits("bitushr", lambda a, b: (a % 2**64) >> b),
    "bitnot": _bitnot,
}
