"""Tork's expressions: the expr-lang language inside ``{{ … }}``, as Tork's ``internal/eval`` uses it.

    >>> render("hello {{ upper(inputs.name) }}", tork_context(inputs={"name": "ant"}))
    'hello ANT'
    >>> evaluate("{{ sequence(1, 5) }}", {})
    [1, 2, 3, 4]

Two entry points, as in Tork: :func:`render` (``EvaluateTemplate``) replaces every ``{{ expr }}``
of a string with the value printed Go-style (``%v``: ``[1 2 3]``, ``map[a:1]``, ``<nil>``) and
always returns a string; :func:`evaluate` (``EvaluateExpr``, for ``each.list`` and webhook ``if``)
evaluates the first ``{{ … }}`` of a string, or the whole string when it has none, and returns the
native value. The environment is Tork's context — build it with :func:`tork_context` and
:func:`each_context` — plus ``randomInt`` and ``sequence``. A name that is neither in the
environment nor a function is an error before anything runs ("unknown name x").

Sandboxing: data is only read by map key or list index (never a Python attribute, and methods
cannot be called); the only callables are the function table. Bounded by :class:`Limits`: source
length, nesting depth, evaluation steps (nodes, items visited or built, 64-character runs of
text), and the size of every string, list and map built, checked *before* building it.

Deliberate departures from expr-lang (Go): strings are indexed, sliced and measured (``len``,
``indexOf``) in characters, not UTF-8 bytes, and ``"abc"[0]`` is ``"a"``, not the byte 97;
``==`` compares numbers inside lists and maps across int/float (Go's reflect.DeepEqual does not);
``keys``/``values``/``toPairs`` are in sorted key order (Go's is random); method calls,
``timezone()`` and ``if``/``else`` blocks are not supported; for the date functions see
:mod:`._exprtime`.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

from myrmica.templating._exprargs import Runtime
from myrmica.templating._exprblocks import Block, find_blocks
from myrmica.templating._exprerrors import ExprError
from myrmica.templating._exprfuncs import FUNCTIONS, regex_matches
from myrmica.templating._exprlists import sort_items, sort_order
from myrmica.templating._exprparser import (
    PREDICATES,
    Array,
    Binary,
    Call,
    Chain,
    Conditional,
    Ident,
    Let,
    Literal,
    MapLit,
    Member,
    MethodCall,
    Node,
    Pointer,
    Predicate,
    Slice,
    Unary,
    children,
    parse,
)
from myrmica.templating._exprvalues import (
    ExprMeter,
    Limits,
    StrMap,
    Struct,
    add,
    arith,
    compare,
    contains,
    equal,
    fetch,
    is_int,
    is_list,
    is_number,
    mismatched,
    negate,
    printable,
    slice_value,
    type_name,
    wrap,
)

__all__ = [
    "ExprError",
    "Limits",
    "StrMap",
    "Struct",
    "each_context",
    "evaluate",
    "has_expression",
    "is_valid",
    "render",
    "tork_context",
]

INTERNAL_ERROR = "internal error of the expression engine"
_UNSUPPORTED = frozenset({"timezone"})
_random = random.Random()


class _NilChain(Exception):
    """An optional member (``?.``) met nil: the enclosing chain is nil."""


# ---------------------------------------------------------------- the environment


def tork_context(
    *,
    inputs: Mapping[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
    tasks: Mapping[str, Any] | None = None,
    job: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Tork's job context (``inputs``, ``secrets``, ``tasks``, ``job``) as string maps.

    Go has these as ``map[string]string``, so a missing key reads as ``""``. ``job`` (``id``,
    ``name``) is left out when None, as for a sub-job, where ``job.id`` is "unknown name job".
    """
    context: dict[str, Any] = {
        "inputs": StrMap(inputs),
        "secrets": StrMap(secrets),
        "tasks": StrMap(tasks),
    }
    if job is not None:
        context["job"] = StrMap(job)
    return context


def each_context(context: Mapping[str, Any], index: int, value: Any, var: str = "item") -> dict[str, Any]:
    """``context`` plus the ``each`` variable: ``{index: "<i>" (a string, as Tork), value: item}``."""
    return {**context, var or "item": {"index": str(index), "value": value}}


# ---------------------------------------------------------------- checking names


def _problems(root: Node) -> tuple[tuple[str | None, ExprError], ...]:
    """What a compile against an environment may reject, in the order it is met.

    ``(name, error)``: the error applies when ``name`` is not in the environment, or always when
    ``name`` is None (an unknown function, a method call, a bad pointer). Computed once per tree.
    """
    found: list[tuple[str | None, ExprError]] = []
    stack: list[tuple[Node, frozenset[str]]] = [(root, frozenset({"$env"}))]
    while stack:
        node, scope = stack.pop()
        if isinstance(node, Ident) and node.name not in scope:
            found.append((node.name, ExprError(f"unknown name {node.name}", node.pos)))
        elif isinstance(node, Call) and node.name in _UNSUPPORTED:
            found.append((None, ExprError(f"function {node.name} is not supported", node.pos)))
        elif isinstance(node, Call) and node.name not in FUNCTIONS and node.name not in PREDICATES:
            found.append((None, ExprError(f"unknown name {node.name}", node.pos)))
        elif isinstance(node, MethodCall):
            found.append((None, ExprError(f"method calls are not supported ({node.name})", node.pos)))
        elif isinstance(node, Pointer) and node.name not in ("", "index", "acc"):
            found.append((None, ExprError(f"unknown pointer #{node.name}", node.pos)))
        if isinstance(node, Let):
            stack.append((node.body, scope | {node.name}))
            stack.append((node.value, scope))
            continue
        stack.extend((child, scope) for child in reversed(children(node)))
    return tuple(found)


@functools.lru_cache(maxsize=2048)
def _parse(source: str, max_depth: int) -> tuple[Node, tuple[tuple[str | None, ExprError], ...]]:
    """Parsed trees are immutable, so one per source is shared by all evaluations."""
    node = parse(source, max_depth)
    return node, _problems(node)


def _compile(source: str, names: frozenset[str] | None, limits: Limits) -> Node:
    if len(source) > limits.max_source:
        raise ExprError(f"expression is longer than the limit of {limits.max_source} characters")
    try:
        node, problems = _parse(source, limits.max_depth)
        if names is not None:
            for name, problem in problems:
                if name is None or name not in names:
                    raise ExprError(problem.message, problem.pos)
    except ExprError as exc:
        raise exc.located(source, "compiling") from None
    except RecursionError:
        raise ExprError("expression is nested too deeply").located(source, "compiling") from None
    return node


# ---------------------------------------------------------------- evaluation


class _Evaluator:
    def __init__(self, env: Mapping[str, Any], rt: Runtime) -> None:
        self.env = env
        self.rt = rt
        self.meter = rt.meter
        self.lets: list[tuple[str, Any]] = []
        self.frames: list[dict[str, Any]] = []

    def run(self, node: Node) -> Any:
        try:
            return self.eval(node)
        except _NilChain:
            return None

    def eval(self, node: Node) -> Any:
        self.meter.step()
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Ident):
            return self.lookup(node)
        if isinstance(node, Binary):
            return self.eval_binary(node)
        if isinstance(node, Member):
            return self.eval_member(node)
        if isinstance(node, Call):
            return self.eval_call(node)
        if isinstance(node, Unary):
            return self.eval_unary(node)
        if isinstance(node, Chain):
            try:
                return self.eval(node.node)
            except _NilChain:
                return None
        if isinstance(node, Conditional):
            cond = self.eval(node.cond)
            if not isinstance(cond, bool):
                raise ExprError(f"non-bool expression (type {type_name(cond)}) used as condition", node.pos)
            return self.eval(node.then if cond else node.otherwise)
        if isinstance(node, Pointer):
            if not self.frames or node.name not in self.frames[-1]:
                raise ExprError(f"unknown pointer #{node.name}", node.pos)
            return self.frames[-1][node.name]
        if isinstance(node, Slice):
            container = self.eval(node.node)
            start = None if node.start is None else self.eval(node.start)
            stop = None if node.stop is None else self.eval(node.stop)
            return self.located(node, slice_value, container, start, stop)
        if isinstance(node, Array):
            self.meter.check_items(len(node.items))
            return [self.eval(item) for item in node.items]
        if isinstance(node, MapLit):
            return self.eval_map(node)
        if isinstance(node, Let):
            self.lets.append((node.name, self.eval(node.value)))
            try:
                return self.eval(node.body)
            finally:
                self.lets.pop()
        if isinstance(node, MethodCall):
            raise ExprError(f"method calls are not supported ({node.name})", node.pos)
        assert isinstance(node, Predicate)  # only reached through a predicate builtin
        return self.eval(node.node)

    def located(self, node: Node, func: Any, *args: Any) -> Any:
        try:
            return func(*args)
        except ExprError as exc:
            raise ExprError(exc.message, node.pos if exc.pos is None else exc.pos) from None

    def lookup(self, node: Ident) -> Any:
        for name, value in reversed(self.lets):
            if name == node.name:
                return value
        if node.name in self.env:
            return self.env[node.name]
        if node.name == "$env":
            return MappingProxyType(dict(self.env))
        raise ExprError(f"unknown name {node.name}", node.pos)

    def eval_unary(self, node: Unary) -> Any:
        value = self.eval(node.node)
        if node.op in ("not", "!"):
            if not isinstance(value, bool):
                raise ExprError(f"invalid operation: {node.op} (mismatched type {type_name(value)})", node.pos)
            return not value
        if node.op == "-":
            return self.located(node, negate, value)
        if not is_number(value):
            raise ExprError(f"invalid operation: + (mismatched type {type_name(value)})", node.pos)
        return value

    def boolean(self, node: Binary, value: Any, left: Any, right: Any) -> bool:
        if not isinstance(value, bool):
            raise ExprError(mismatched(node.op, left, right).message, node.pos)
        return value

    def eval_binary(self, node: Binary) -> Any:
        op = node.op
        left = self.eval(node.left)
        if op in ("||", "or", "&&", "and"):
            want = op in ("||", "or")
            if self.boolean(node, left, left, True) == want:
                return want
            right = self.eval(node.right)
            return self.boolean(node, right, left, right)
        if op == "??":
            return self.eval(node.right) if left is None else left
        right = self.eval(node.right)
        try:
            if op == "==":
                return equal(left, right)
            if op == "!=":
                return not equal(left, right)
            if op in ("<", ">", "<=", ">="):
                return compare(op, left, right)
            if op == "+":
                return add(left, right, self.meter)
            if op in ("-", "*", "/", "%", "**", "^"):
                return arith("**" if op == "^" else op, left, right)
            if op == "in":
                if is_list(right):
                    self.meter.step(len(right))
                return contains(right, left)
            if op == "matches":
                return regex_matches(self.rt, left, right)
            if op == "..":
                if not (is_int(left) and is_int(right)):
                    raise mismatched(op, left, right)
                if left > right:
                    return []
                self.meter.check_items(right - left + 1, "range")
                return list(range(left, right + 1))
            if not (isinstance(left, str) and isinstance(right, str)):
                raise mismatched(op, left, right)
            self.meter.step(len(left) // 64)
            if op == "contains":
                return right in left
            if op == "startsWith":
                return left.startswith(right)
            return left.endswith(right)
        except ExprError as exc:
            raise ExprError(exc.message, node.pos if exc.pos is None else exc.pos) from None

    def eval_member(self, node: Member) -> Any:
        container = self.eval(node.node)
        if container is None and node.optional:
            raise _NilChain
        key = self.eval(node.prop)
        if container is None:
            what = node.name if node.name is not None else f"a {type_name(key)} key"
            raise ExprError(f"cannot fetch {what} from <nil>", node.pos)
        return self.located(node, fetch, container, key, node.name)

    def eval_map(self, node: MapLit) -> dict[Any, Any]:
        self.meter.check_items(len(node.pairs), "map")
        out: dict[Any, Any] = {}
        for key_node, value_node in node.pairs:
            key = self.eval(key_node)
            if is_list(key) or isinstance(key, Mapping):
                raise ExprError(f"cannot use {type_name(key)} as a map key", key_node.pos)
            out[key] = self.eval(value_node)
        return out

    def eval_call(self, node: Call) -> Any:
        if node.name in PREDICATES:
            return self.located(node, self.eval_predicate_call, node)
        args = [self.eval(arg) for arg in node.args]
        return self.located(node, FUNCTIONS[node.name], self.rt, args)

    # ------------------------------------------------------------ predicate builtins

    def each(self, predicate: Node, items: list[Any] | tuple[Any, ...]) -> Iterator[tuple[int, Any, Any]]:
        """Yield ``(index, item, predicate result)`` for each item (``#``, ``#index``)."""
        for index, item in enumerate(items):
            self.meter.step()
            self.frames.append({"": item, "index": index})
            try:
                result = self.eval(predicate)
            finally:
                self.frames.pop()
            yield index, item, result

    def test(self, name: str, result: Any) -> bool:
        if not isinstance(result, bool):
            raise ExprError(f"predicate of {name} must return a bool, not {type_name(result)}")
        return result

    def eval_predicate_call(self, node: Call) -> Any:
        name = node.name
        items = self.eval(node.args[0])
        if not is_list(items):
            raise ExprError(f"builtin {name} takes only array (got {type_name(items)})")
        predicate = node.args[1] if len(node.args) > 1 else None
        if name in ("sum", "count") and predicate is None:
            return self.sum_or_count(name, items)
        assert predicate is not None
        if name == "reduce":
            return self.reduce(items, predicate, node.args[2:])
        if name == "sortBy":
            order = sort_order("sortBy", self.eval(node.args[2])) if len(node.args) > 2 else False
            keys = [result for _, _, result in self.each(predicate, items)]
            return sort_items("sortBy", list(items), keys, order)
        if name in ("findLast", "findLastIndex"):
            for index, item, result in self.each(predicate, items[::-1]):
                if self.test(name, result):
                    return item if name == "findLast" else len(items) - 1 - index
            return None if name == "findLast" else -1
        if name == "map":
            self.meter.check_items(len(items))
            return [result for _, _, result in self.each(predicate, items)]
        if name == "groupBy":
            groups: dict[Any, list[Any]] = {}
            for _, item, key in self.each(predicate, items):
                if is_list(key) or isinstance(key, Mapping):
                    raise ExprError(f"cannot use {type_name(key)} as a map key")
                groups.setdefault(key, []).append(item)
            return groups
        if name == "sum":
            return self.sum_or_count(name, [result for _, _, result in self.each(predicate, items)])
        return self.filter_like(name, items, predicate)

    def filter_like(self, name: str, items: Any, predicate: Node) -> Any:
        matched = 0
        kept: list[Any] = []
        for index, item, result in self.each(predicate, items):
            if self.test(name, result):
                matched += 1
                if name == "find":
                    return item
                if name == "findIndex":
                    return index
                if name == "any":
                    return True
                if name == "none":
                    return False
                if name == "filter":
                    kept.append(item)
            elif name == "all":
                return False
        if name == "filter":
            return kept
        if name == "count":
            return matched
        if name == "one":
            return matched == 1
        return {"find": None, "findIndex": -1, "any": False, "none": True, "all": True}[name]

    def sum_or_count(self, name: str, values: Any) -> Any:
        self.meter.step(len(values))
        if name == "count":
            return sum(1 for value in values if self.test(name, value))
        total: Any = 0
        for value in values:
            if not is_number(value):
                raise ExprError(f"invalid argument for sum (type {type_name(value)})")
            total = wrap(total + value) if is_int(total) and is_int(value) else float(total) + float(value)
        return total

    def reduce(self, items: Any, predicate: Node, initial: tuple[Node, ...]) -> Any:
        if initial:
            acc, start = self.eval(initial[0]), 0
        elif items:
            acc, start = items[0], 1
        else:
            return None
        for index in range(start, len(items)):
            self.meter.step()
            self.frames.append({"": items[index], "index": index, "acc": acc})
            try:
                acc = self.eval(predicate)
            finally:
                self.frames.pop()
        return acc


# ---------------------------------------------------------------- public API


def _runtime(limits: Limits, rng: random.Random | None) -> Runtime:
    return Runtime(ExprMeter(limits), rng if rng is not None else _random, {})


def _run(source: str, env: Mapping[str, Any], rt: Runtime) -> Any:
    node = _compile(source, frozenset(env), rt.meter.limits)
    try:
        return _Evaluator(env, rt).run(node)
    except ExprError as exc:
        raise exc.located(source, "evaluating") from None
    except RecursionError:
        raise ExprError("expression evaluation nested too deeply").located(source, "evaluating") from None
    except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
        # A defect of this engine, not of the expression: still an ExprError for the caller (the
        # fuzz tests look for this message), and without the Python text, which may quote data.
        message = f"{INTERNAL_ERROR} ({type(exc).__name__})"
        raise ExprError(message).located(source, "evaluating") from None


_CACHED_TEMPLATE = 4096  # characters: longer templates are scanned each time rather than kept


@functools.lru_cache(maxsize=2048)
def _cached_blocks(text: str) -> tuple[Block, ...]:
    return tuple(find_blocks(text))


def _blocks(text: str) -> Iterable[Block]:
    if "{{" not in text:
        return ()
    return _cached_blocks(text) if len(text) <= _CACHED_TEMPLATE else find_blocks(text)


def _sanitize(text: str) -> str:
    """Tork's ``sanitizeExpr``: the expression of the first block, or the whole text."""
    block = next(iter(_blocks(text)), None)
    return text if block is None else text[block.expr_start : block.expr_end]


def evaluate(
    expression: str,
    env: Mapping[str, Any],
    *,
    limits: Limits = Limits(),
    rng: random.Random | None = None,
) -> Any:
    """The native value of ``expression`` (its first ``{{ … }}``, or all of it), like ``EvaluateExpr``."""
    if len(expression) > limits.max_source:
        raise ExprError(f"expression is longer than the limit of {limits.max_source} characters")
    return _run(_sanitize(expression), env, _runtime(limits, rng))


def render(
    template: str,
    env: Mapping[str, Any],
    *,
    limits: Limits = Limits(),
    rng: random.Random | None = None,
) -> str:
    """``template`` with each ``{{ expr }}`` replaced by its value printed like Go's ``%v``."""
    if len(template) > limits.max_source:
        raise ExprError(f"template is longer than the limit of {limits.max_source} characters")
    rt = _runtime(limits, rng)
    out: list[str] = []
    size = 0
    last = 0
    for block in _blocks(template):
        source = template[block.expr_start : block.expr_end]
        text = template[last : block.start]
        value = _run(source, env, rt)
        try:
            text += printable(value, rt.meter)
        except ExprError as exc:
            raise exc.located(source, "evaluating") from None
        size += len(text)
        if size > limits.max_string:
            raise ExprError(f"rendered template exceeds the limit of {limits.max_string} characters")
        out.append(text)
        last = block.end
    out.append(template[last:])
    return "".join(out)


def is_valid(expression: str) -> bool:
    """Tork's ``ValidExpr``: the first ``{{ … }}`` (or the whole string) parses; ``""`` does not."""
    try:
        check(expression)
    except ExprError:
        return False
    return True


def check(expression: str, *, limits: Limits = Limits()) -> None:
    """Raise :class:`ExprError` if ``expression`` (as :func:`evaluate` reads it) does not parse."""
    if len(expression) > limits.max_source:
        raise ExprError(f"expression is longer than the limit of {limits.max_source} characters")
    _compile(_sanitize(expression), None, limits)


def has_expression(text: str) -> bool:
    """Whether ``text`` has a ``{{ … }}`` block that :func:`render` would replace."""
    return next(iter(_blocks(text)), None) is not None
