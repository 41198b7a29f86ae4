"""Tork expressions are sandboxed and bounded: no Python object access, no secret in an error,
every size and step limit fails fast with ExprError, and random input raises nothing else."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from myrmica.templating._exprblocks import find_blocks
from myrmica.templating.expr import INTERNAL_ERROR, ExprError, Limits, evaluate, render, tork_context

SECRET = "Zq9-s3cr3t-VALUE"
CTX = tork_context(
    inputs={"n": "5", "json": "[1,2]"},
    secrets={"token": SECRET, "pin": "918273", "json": '["\\' + SECRET + '"]'},
    tasks={"t": "x"},
)


def fails(expression: str, env: dict[str, Any] | None = None, limits: Limits = Limits()) -> ExprError:
    with pytest.raises(ExprError) as info:
        evaluate(expression, CTX if env is None else env, limits=limits)
    return info.value


# ---------------------------------------------------------------- sizes and steps


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("sequence(0, 1000000000)", "sequence would exceed the limit of 100000 items"),
        ("sequence(-9223372036854775807, 9223372036854775807)", "sequence would exceed"),
        ("0..1000000000", "range would exceed the limit of 100000 items"),
        ("repeat('x', 1000000000)", "string would exceed the limit of 1000000 characters"),
        ("repeat('ab', 9223372036854775807)", "string would exceed"),
        ("let a = repeat('x', 600000); a + a", "string would exceed"),
        ("replace(repeat('a', 100000), 'a', repeat('b', 100))", "string would exceed"),
        ("replace(repeat('a', 1000), '', repeat('b', 1000))", "string would exceed"),
        ("join(map(0..99999, repeat('x', 100)))", "string would exceed"),
        ("map(0..99999, 0..99999)", "evaluation steps"),
        ("map(0..300, map(0..300, map(0..300, #)))", "evaluation steps"),
        ("uniq(0..99999)", "evaluation steps"),
        ("filter(0..99999, # in 0..99999)", "evaluation steps"),
        ("reduce(0..99999, #acc + repeat('x', 1000), '')", "evaluation steps"),
        ("split(repeat('x', 200000), '')", "list would exceed the limit of 100000 items"),
        ("toBase64(repeat('x', 900000))", "string would exceed"),
        ("toJSON(map(0..99999, repeat('x', 20)))", "toJSON result would exceed"),
        ("string(map(0..99999, repeat('x', 20)))", "exceeds the output limit"),
        ("flatten(map(0..999, 0..999))", "evaluation steps"),
        ("concat(0..99999, 0..99999)", "list would exceed"),
    ],
)
def test_large_results_fail_fast(expression: str, message: str) -> None:
    assert message in str(fails(expression))


def test_the_rendered_template_is_bounded_too() -> None:
    with pytest.raises(ExprError, match="rendered template exceeds the limit of 1000000 characters"):
        render("{{ repeat('x', 600000) }}{{ repeat('y', 600000) }}", {})
    small = Limits(max_string=10)
    assert render("{{ 'abc' }}", {}, limits=small) == "abc"
    with pytest.raises(ExprError):
        render("{{ 'abcdef' }}{{ 'ghijkl' }}", {}, limits=small)


def test_steps_are_shared_by_all_blocks_of_a_template() -> None:
    limits = Limits(max_steps=5_000)
    block = "{{ len(filter(0..500, # > 0)) }}"
    assert render(block, {}, limits=limits) == "500"
    with pytest.raises(ExprError, match="evaluation steps"):
        render(block * 2, {}, limits=limits)


def test_source_length_and_nesting_are_bounded() -> None:
    assert "longer than the limit of 100000 characters" in str(fails("1" * 100_001))
    with pytest.raises(ExprError, match="template is longer"):
        render("x" * 100_001, {})
    for deep in ("(" * 1000 + "1" + ")" * 1000, "-" * 5000 + "1", "[" * 1000 + "]" * 1000, "1" + "+1" * 5000):
        assert "nested deeper than 64 levels" in str(fails(deep))
    assert evaluate("(" * 30 + "1" + ")" * 30, {}) == 1
    assert evaluate("1" + "+1" * 50, {}) == 51


def test_deep_or_cyclic_data_is_refused_not_a_crash() -> None:
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    env = {"x": cyclic}
    assert "nested deeper" in str(fails("toJSON(x)", env))
    assert "nested deeper" in str(fails("x == x", env))
    with pytest.raises(ExprError):
        render("{{ x }}", env)
    assert "fromJSON: invalid JSON" in str(fails("fromJSON(repeat('[', 100000))"))
    deep = evaluate("fromJSON(repeat('[', 500) + repeat(']', 500))", {})
    assert "nested deeper" in str(fails("flatten(x)", {"x": deep}))


def test_regular_expressions_run_in_linear_time() -> None:
    # (a+)+$ backtracks exponentially in Python's re; RE2 (Go's engine) does not
    assert evaluate("repeat('a', 100000) + 'b' matches '(a+)+$'", {}) is False
    assert "invalid regular expression" in str(fails("'a' matches '(?<=a)b'"))  # Perl syntax RE2 lacks


def test_integers_wrap_like_go_instead_of_growing() -> None:
    assert evaluate("reduce(1..100, #acc * 1000)", {}) == evaluate("reduce(1..100, #acc * 1000)", {})
    assert -(2**63) <= evaluate("reduce(1..100, #acc * 1000)", {}) < 2**63
    assert evaluate("2 ** 100000", {}) == float("inf")


# ---------------------------------------------------------------- the sandbox


@pytest.mark.parametrize(
    "expression",
    [
        "inputs.__class__",
        "inputs['__dict__']",
        "$env.__class__",
        "{'a': 1}.__class__",
        "{'a': 1}.items",
        "[1].__len__",
    ],
)
def test_python_attributes_are_never_reached(expression: str) -> None:
    try:
        value = evaluate(expression, CTX)
    except ExprError:
        return
    assert value in ("", None)


@pytest.mark.parametrize(
    "expression",
    ["inputs.keys()", "'x'.upper()", "[1].pop()", "$env.get('inputs')", "__import__('os')", "eval('1')", "exec()"],
)
def test_methods_and_python_builtins_cannot_be_called(expression: str) -> None:
    fails(expression)


def test_a_string_is_not_an_object() -> None:
    assert "cannot fetch upper from string" in str(fails("'x'.upper"))


# ---------------------------------------------------------------- secrets never in errors


@pytest.mark.parametrize(
    "expression",
    [
        "int(secrets.token)",
        "float(secrets.token)",
        "fromJSON(secrets.token)",
        "fromBase64(secrets.token)",
        "secrets.token + 1",
        "secrets.token - 1",
        "secrets.token < 1",
        "secrets.token.x",
        "secrets.token[100]",
        "secrets.token matches secrets.token + '('",
        "sequence(secrets.token, 1)",
        "randomInt(secrets.token)",
        "{'a': 1}[secrets.token].b",
        "[1][secrets.token]",
        "[1][int(secrets.pin)]",
        "fromJSON(secrets.json)",
        "secrets.token ? 1 : 2",
        "not secrets.token",
        "secrets.token and true",
        "secrets.token in secrets.token",
        "filter([secrets.token], #)",
        "join([1, secrets.token])",
        "sort([1, secrets.token])",
        "repeat(secrets.token, 10000000)",
        "len(1) + secrets.token",
    ],
)
def test_errors_name_the_secret_never_its_value(expression: str) -> None:
    err = fails(expression)
    for value in (SECRET, "918273", SECRET[:3]):
        assert value not in str(err)
        assert value not in repr(err)
    assert SECRET not in repr(CTX["secrets"])


def test_a_secret_renders_where_it_is_asked_for() -> None:
    assert render("Bearer {{ secrets.token }}", CTX) == f"Bearer {SECRET}"


# ---------------------------------------------------------------- random input

_VOCABULARY = [
    *["0", "1", "2", "-1", "1.5", ".5", "1e3", "0x1F", "'a'", '"b"', "`c`", "'\\n'", "nil", "true", "false"],
    *[
        "inputs",
        "secrets",
        "tasks",
        "x",
        "item",
        "$env",
        "#",
        "#index",
        "#acc",
        ".",
        "?.",
        "??",
        "?",
        ":",
        ",",
        ";",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        "|",
    ],
    *[
        "+",
        "-",
        "*",
        "/",
        "%",
        "**",
        "^",
        "==",
        "!=",
        "<",
        ">",
        "<=",
        ">=",
        "&&",
        "||",
        "!",
        "not",
        "and",
        "or",
        "in",
        "contains",
        "matches",
        "startsWith",
        "endsWith",
        "..",
    ],
    *[
        "let",
        "=",
        "len",
        "upper",
        "lower",
        "trim",
        "split",
        "join",
        "toJSON",
        "fromJSON",
        "sequence",
        "randomInt",
        "repeat",
        "map",
        "filter",
    ],
    *[
        "reduce",
        "sort",
        "sum",
        "first",
        "keys",
        "int",
        "string",
        "type",
        "all",
        "count",
        "groupBy",
        "sortBy",
        "flatten",
        "uniq",
        "abs",
        "round",
    ],
    "{{",
    "}}",
    "now()",
    "duration('1h')",
    "date('2024-01-01')",
    "not in",
    ".n",
    ".json",
    "['n']",
    "(1)",
    "[1, 2]",
    "{a: 1}",
    "0..3",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12,
)
_ENV: dict[str, Any] = {**CTX, "item": {"index": "0", "value": [1, "a"]}}
_SMALL = Limits(max_steps=20_000, max_string=5_000, max_items=500)


def _only_expr_errors(call: Any) -> None:
    try:
        call()
    except ExprError as exc:
        assert SECRET not in str(exc)
        assert INTERNAL_ERROR not in str(exc)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_VOCABULARY), max_size=14), json_values)
def test_token_soup_raises_nothing_but_expr_error(tokens: list[str], data: Any) -> None:
    source = " ".join(tokens)
    env = {**_ENV, "x": data}
    _only_expr_errors(lambda: evaluate(source, env, limits=_SMALL))
    _only_expr_errors(lambda: render("a {{ " + source + " }} b", env, limits=_SMALL))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_raises_nothing_but_expr_error(text: str) -> None:
    _only_expr_errors(lambda: evaluate(text, _ENV, limits=_SMALL))
    _only_expr_errors(lambda: render(text, _ENV, limits=_SMALL))


@settings(max_examples=200, deadline=None)
@given(
    json_values, st.sampled_from(["toJSON(x)", "fromJSON(toJSON(x))", "string(x)", "x == x", "sort(x)", "flatten(x)"])
)
def test_functions_over_random_data_raise_nothing_but_expr_error(data: Any, expression: str) -> None:
    _only_expr_errors(lambda: evaluate(expression, {"x": data}, limits=_SMALL))
    _only_expr_errors(lambda: render("{{ x }}", {"x": data}, limits=_SMALL))


# ---------------------------------------------------------------- the block scanner

_GO_MATCHER = re.compile(r"\{\{[\t\n\f\r ]*(.+?)[\t\n\f\r ]*\}\}")  # Tork's exprMatcher, \s as in Go


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="{} \n\tax", max_size=24))
def test_block_scanner_finds_exactly_what_tork_s_regexp_finds(text: str) -> None:
    expected = [(m.start(), m.end(), m.start(1), m.end(1)) for m in _GO_MATCHER.finditer(text)]
    assert [(b.start, b.end, b.expr_start, b.expr_end) for b in find_blocks(text)] == expected


@pytest.mark.parametrize(
    "template",
    ["{{" * 50_000, "{{ a" * 25_000, "{{x\ny" * 20_000, "{{x" * 30_000 + " " * 9_000 + "}}", "{{ }" * 25_000],
)
def test_block_scanner_is_linear_on_unclosed_blocks(template: str) -> None:
    # a backtracking regexp needs ~n²/2 steps here (minutes at this size); the scanner is one pass
    blocks = list(find_blocks(template))
    assert len(blocks) <= 1


def test_a_defect_of_the_engine_still_surfaces_as_expr_error() -> None:
    class Hostile(dict[str, Any]):
        def __getitem__(self, key: str) -> Any:
            raise ValueError(f"boom {SECRET}")

    err = fails("x.a", {"x": Hostile()})
    assert INTERNAL_ERROR in str(err) and SECRET not in str(err)
