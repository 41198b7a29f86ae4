"""Tork's expression language (myrmica.templating.expr); expected outputs are those of Tork's Go code.

Tork's own pins (internal/eval tests, the spec's §0 and §2.3) come first, then every operator and
function of expr-lang v1.17 against the value Go's expr-lang gives.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from myrmica.templating.expr import (
    ExprError,
    Struct,
    check,
    each_context,
    evaluate,
    has_expression,
    is_valid,
    render,
    tork_context,
)

CTX = tork_context(
    inputs={"SOMEVAR": "SOME DATA", "json": "[1,2,3]", "obj": '{"hello":"world"}', "lines": "a,b,c", "run": "true"},
    tasks={"hello": "hello world", "randomNumber": "42"},
    job={"id": "0123456789abcdef0123456789abcdef", "name": "my job"},
)


def ev(expression: str, env: dict[str, Any] | None = None) -> Any:
    return evaluate(expression, CTX if env is None else env)


def rd(template: str, env: dict[str, Any] | None = None) -> str:
    return render(template, CTX if env is None else env)


def error(expression: str, env: dict[str, Any] | None = None) -> ExprError:
    with pytest.raises(ExprError) as info:
        evaluate(expression, CTX if env is None else env)
    return info.value


# ---------------------------------------------------------------- Tork's internal/eval pins


def test_literal_text_is_kept_and_each_block_is_replaced() -> None:
    assert rd("WORLD") == "WORLD"
    assert rd("{{ inputs.SOMEVAR }}") == "SOME DATA"
    assert rd("{{inputs.SOMEVAR}}y and {{ tasks.hello }}!") == "SOME DATAy and hello world!"
    assert rd("") == ""


def test_hello_and_job_output_examples() -> None:
    assert rd("{{ tasks.hello }}") == "hello world"
    assert rd("hello {{ tasks.randomNumber }}") == "hello 42"


def test_if_renders_the_printed_bool() -> None:
    assert rd("{{ 1 == 1 }}") == "true"
    assert rd("{{ 1 == 2 }}") == "false"
    assert rd("{{ !(1 == 2) }}") == "true"
    assert rd("{{ inputs.run == 'true' }}") == "true"


def test_evaluate_returns_the_native_value_of_the_first_block_or_the_whole_string() -> None:
    assert ev("1+1") == 2
    assert ev("{{1+1}}") == 2
    assert ev("{{ [1,2,3] }}") == [1, 2, 3]
    assert ev("before {{ [1] }} after {{ [2] }}") == [1]


def test_from_json_gives_floats_lists_and_maps() -> None:
    assert ev("{{ fromJSON( inputs.json ) }}") == [1.0, 2.0, 3.0]
    assert all(isinstance(x, float) for x in ev("{{ fromJSON( inputs.json ) }}"))
    assert ev("{{ fromJSON( inputs.obj ) }}") == {"hello": "world"}
    assert rd("{{ fromJSON(inputs.json) }}") == "[1 2 3]"


def test_split_on_comma_and_on_an_escaped_newline() -> None:
    assert ev("{{ split( inputs.lines, ',' ) }}") == ["a", "b", "c"]
    env = tork_context(inputs={"lines": "a\nb\nc"})
    assert ev("{{ split( inputs.lines, '\\n' ) }}", env) == ["a", "b", "c"]


def test_valid_expr() -> None:
    assert is_valid("{{1+1}}")
    assert not is_valid("{1+1}}")
    assert is_valid("1+1")
    assert not is_valid("")
    assert is_valid("{{ anything.unknown(1) }}")  # names are not checked without an environment
    with pytest.raises(ExprError, match="unexpected token"):
        check("{{ 1 + }}")


def test_sequence_excludes_stop() -> None:
    assert ev("sequence(1, 3)") == [1, 2]
    assert ev("sequence(-5, -2)") == [-5, -4, -3]
    assert ev("sequence(5, 2)") == []
    assert ev("sequence(2, 2)") == []
    assert rd("{{ sequence(1,5) }}") == "[1 2 3 4]"
    assert len(ev("{{ sequence(1,5) }}")) == 4  # each.yaml: 4 items per each, 12 executions


def test_random_int_range_and_errors() -> None:
    rng = random.Random(7)
    values = [evaluate("randomInt(5)", {}, rng=rng) for _ in range(200)]
    assert set(values) == {0, 1, 2, 3, 4}
    big = [evaluate("randomInt()", {}, rng=rng) for _ in range(100)]
    assert len(set(big)) == 100 and all(0 <= v < 2**63 for v in big)
    assert render("{{ randomInt(10) }}", {}, rng=random.Random(1)) == str(random.Random(1).randrange(10))
    assert "not expecting nil argument" in str(error("randomInt(nil)"))
    assert "invalid arg type string" in str(error('randomInt("100")'))
    assert "expected 0 or 1, got 2" in str(error("randomInt(1, 10)"))
    assert "invalid argument to Intn" in str(error("randomInt(0)"))


def test_unknown_names_fail_before_evaluation() -> None:
    assert "unknown name bad_function (1:1)" in str(error("bad_function()"))
    assert str(error("{{ bad_function() }}")).startswith("error compiling expression: bad_function(): ")
    assert "unknown name job" in str(error("job.id", tork_context()))  # sub-jobs have no job map
    assert "unknown name item" in str(error("item.index"))
    # a name that is only used on a branch never taken is still an error
    assert "unknown name nope" in str(error("true ? 1 : nope"))


def test_missing_keys_of_the_context_maps_read_as_empty_strings() -> None:
    assert ev("inputs.nothing") == ""
    assert rd("[{{ secrets.nothing }}]") == "[]"
    assert ev("tasks['nothing'] == ''") is True
    assert ev("inputs.nothing ?? 'default'") == ""  # Go's zero value is "", not nil


def test_job_context() -> None:
    assert rd("{{ job.id }}/{{ job.name }}") == "0123456789abcdef0123456789abcdef/my job"


def test_each_item_index_is_a_string_and_value_keeps_its_type() -> None:
    env = each_context(CTX, 0, 1)
    assert ev("item.index", env) == "0"
    assert ev("item.value", env) == 1
    assert rd("eachTask{{item.index}}", env) == "eachTask0"
    assert ev("item.value + 1", env) == 2
    assert ev("item.missing", env) is None  # item is a map[string]any: nil, not ""
    custom = each_context(CTX, 3, {"name": "x"}, var="myitem")
    assert rd("{{ myitem.index }}:{{ myitem.value.name }}", custom) == "3:x"
    assert "unknown name item" in str(error("item.index", custom))


def test_people_example_from_the_docs() -> None:
    env = tork_context(inputs={"people": '[{"name":"a"},{"name":"b"}]'})
    people = ev("{{ fromJSON(inputs.people) }}", env)
    assert rd("{{ item.value.name }}", each_context(env, 1, people[1])) == "b"


def test_webhook_if_with_go_field_names() -> None:
    env = {"job": Struct("tork.JobSummary", {"ID": "1", "State": "COMPLETED", "Name": "n"})}
    assert ev("{{ job.State == 'COMPLETED' }}", env) is True
    assert "type tork.JobSummary has no field state" in str(error("job.state", env))


def test_a_block_ends_at_the_first_closing_braces() -> None:
    # Tork's non-greedy matcher: a map literal ending in }} cuts the block short, as in Go
    with pytest.raises(ExprError, match="unexpected token EOF"):
        rd("{{ {'a': {'b': 1}} }}")
    assert rd("{{ {'a': {'b': 1} } }}") == "map[a:map[b:1]]"


def test_has_expression() -> None:
    assert has_expression("a {{ b }}")
    assert not has_expression("a {{}} b")
    assert not has_expression("{{ a\nb }}")  # a block is on one line
    assert has_expression("{{ a\n}}")  # (the spaces before }} may include a newline, as in Go)
    assert rd("a {{}} b") == "a {{}} b"


# ---------------------------------------------------------------- %v printing


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ 42 }}", "42"),
        ("{{ -7 }}", "-7"),
        ("{{ 1.0 }}", "1"),
        ("{{ 2.5 }}", "2.5"),
        ("{{ 0.1 + 0.2 }}", "0.30000000000000004"),
        ("{{ 123456.0 }}", "123456"),
        ("{{ 1e6 }}", "1e+06"),
        ("{{ 0.000012 }}", "1.2e-05"),
        ("{{ 1e21 }}", "1e+21"),
        ("{{ true }}", "true"),
        ("{{ nil }}", "<nil>"),
        ("{{ 'text' }}", "text"),
        ("{{ [1, 'a', nil, true, 1.5] }}", "[1 a <nil> true 1.5]"),
        ("{{ [] }}", "[]"),
        ("{{ {'b': 2, 'a': 1} }}", "map[a:1 b:2]"),
        ("{{ {'a': [1, 2], 'b': {'c': nil} } }}", "map[a:[1 2] b:map[c:<nil>]]"),
        ("{{ split('a,b', ',') }}", "[a b]"),
        ("{{ 1/0 }}", "+Inf"),
        ("{{ -1/0 }}", "-Inf"),
        ("{{ 0/0 }}", "NaN"),
    ],
)
def test_values_print_like_go(template: str, expected: str) -> None:
    assert rd(template, {}) == expected


# ---------------------------------------------------------------- operators


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # arithmetic: ints stay ints, / and ** give floats, % truncates like Go
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 - 10", -3),
        ("10 / 4", 2.5),
        ("10 / 5", 2.0),
        ("7 % 3", 1),
        ("-7 % 3", -1),
        ("7 % -3", 1),
        ("2 ** 10", 1024.0),
        ("2 ^ 3", 8.0),
        ("2 ** 3 ** 2", 512.0),
        ("-2 ** 2", -4.0),
        ("1 + 2.5", 3.5),
        ("3 * 1.5", 4.5),
        ("9223372036854775807 + 1", -9223372036854775808),
        ("-(-9223372036854775807 - 1)", -9223372036854775808),
        ("+5", 5),
        ("0x1F + 0o17 + 0b11 + 1_000", 31 + 15 + 3 + 1000),
        (".5 + 1e3", 1000.5),
        # strings
        ("'a' + \"b\" + `c`", "abc"),
        ("'it\\'s\\t\\u00e9\\x41\\101'", "it's\téAA"),
        ("`raw \\n`", "raw \\n"),
        # comparison
        ("1 == 1.0", True),
        ("1 != 2", True),
        ("'a' == 'a'", True),
        ("1 == '1'", False),
        ("nil == nil", True),
        ("nil == false", False),
        ("[1, [2]] == [1, [2]]", True),
        ("{'a': 1} == {'a': 1}", True),
        ("2 < 3", True),
        ("2 >= 3", False),
        ("1.5 <= 2", True),
        ("'abc' < 'abd'", True),
        ("1 < 2 < 3", True),
        ("3 > 2 > 2", False),
        # logic
        ("true and false", False),
        ("true && true", True),
        ("false or true", True),
        ("false || false", False),
        ("not true", False),
        ("!false", True),
        ("false and nope_never_evaluated_is_still_a_name", False),
        # membership and strings
        ("2 in [1, 2, 3]", True),
        ("2.0 in [1, 2]", True),
        ("'a' in {'a': 1}", True),
        ("'z' not in ['a']", True),
        ("1 in nil", False),
        ("'hello' contains 'ell'", True),
        ("'hello' not contains 'x'", True),
        ("'hello' startsWith 'he'", True),
        ("'hello' endsWith 'lo'", True),
        ("'hello' not endsWith 'lo'", False),
        ("'abc' matches '^a.c$'", True),
        ("'abc' not matches '^b'", True),
        # ternary, elvis, nil coalescing
        ("true ? 'y' : 'n'", "y"),
        ("1 > 2 ? 'y' : 2 > 1 ? 'z' : 'n'", "z"),
        ("false ?: 'other'", "other"),
        ("nil ?? 'default'", "default"),
        ("0 ?? 1", 0),
        # member access, indexing, slicing
        ("{'a': {'b': 3}}.a.b", 3),
        ("{'a': {'b': 3}}['a']['b']", 3),
        ("{'a': 1}.missing", None),
        ("{'a': nil}?.a?.b", None),
        ("{'a': nil}.a?.b.c", None),
        ("[1, 2, 3][0]", 1),
        ("[1, 2, 3][-1]", 3),
        ("[1, 2, 3, 4, 5][1:4]", [2, 3, 4]),
        ("[1, 2, 3, 4, 5][1:-1]", [2, 3, 4]),
        ("[1, 2, 3, 4, 5][:2]", [1, 2]),
        ("[1, 2, 3, 4, 5][3:]", [4, 5]),
        ("[1, 2, 3][:]", [1, 2, 3]),
        ("[1, 2, 3][5:9]", []),
        ("'hello'[1:3]", "el"),
        # literals, ranges, pipes, let, comments
        ("[1, 2, 3,]", [1, 2, 3]),
        ("{a: 1, 'b': 2, 3: 4, (1 + 1): 5,}", {"a": 1, "b": 2, "3": 4, 2: 5}),
        ("1..3", [1, 2, 3]),
        ("3..1", []),
        ("'a b' | upper() | split(' ')", ["A", "B"]),
        ("[1, 2, 3] | map(# * 2) | sum()", 12),
        ("let x = 2; let y = x * 3; x + y", 8),
        ("1 + /* two */ 2 // rest", 3),
        ("len($env['inputs']) > 0 && 'inputs' in $env", True),
    ],
)
def test_operators(expression: str, expected: Any) -> None:
    env = {**CTX, "nope_never_evaluated_is_still_a_name": True}
    result = evaluate(expression, env)
    assert result == expected
    assert type(result) is type(expected)


def test_not_binds_tighter_than_comparison() -> None:
    # expr-lang parses `not a == b` as `(not a) == b`
    assert ev("not false == true") is True
    assert "invalid operation: not (mismatched type int)" in str(error("not 1 == 2"))


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("inputs.SOMEVAR + 1", "invalid operation: + (mismatched types string and int) (1:16)"),
        ("1 - 'a'", "invalid operation: - (mismatched types int and string)"),
        ("1.5 % 2", "invalid operation: % (mismatched types float64 and int)"),
        ("1 % 0", "integer divide by zero"),
        ("1 < 'a'", "invalid operation: < (mismatched types int and string)"),
        ("[1] < [2]", "invalid operation: < (mismatched types []interface {} and []interface {})"),
        ("1 and true", "invalid operation: and (mismatched types int and bool)"),
        ("false || 'x'", "invalid operation: || (mismatched types bool and string)"),
        ("!'x'", "invalid operation: ! (mismatched type string)"),
        ("-'x'", "invalid operation: - (mismatched type string)"),
        ("1 contains 'a'", "invalid operation: contains (mismatched types int and string)"),
        ("'a' in 'abc'", "operator in not defined on string"),
        ("1 ? 2 : 3", "non-bool expression (type int) used as condition"),
        ("'a' .. 'b'", "invalid operation: .. (mismatched types string and string)"),
        ("[1, 2, 3][3]", "index out of range (array length is 3)"),
        ("[1][-2]", "index out of range (array length is 1)"),
        ("nil.a", 'unexpected token Operator(".") (1:4)'),  # expr-lang takes no postfix after nil
        ("{'a': nil}.a.b", "cannot fetch b from <nil> (1:14)"),
        ("inputs.SOMEVAR.x", "cannot fetch x from string"),
        ("1[0]", "cannot fetch a int key from int"),
        ("{[1]: 2}", "a map key must be a quoted string"),
        ("{([1]): 2}", "cannot use []interface {} as a map key"),
        ("nil ?? 1 + 2", "Operator (+) and coalesce expressions (??) cannot be mixed"),
        ("'x' matches '('", "invalid regular expression for matches"),
        ("#", "cannot use pointer accessor outside predicate"),
        ("inputs.keys()", "method calls are not supported (keys)"),
        ("timezone()", "function timezone is not supported"),
        ("1 +", "unexpected token EOF (1:4)"),
        ("(1", "unexpected token EOF"),
        ("1 2", 'unexpected token Number("2") (1:3)'),
        ("'abc", "literal not terminated"),
        ("'a\nb'", "literal not terminated"),
        ("1a", "bad number syntax"),
        ("99999999999999999999", "integer literal is too large"),
        ("@", "unrecognized character: U+0040"),
        ("'\\q'", "unable to unescape string"),
        ("/* open", "unclosed comment"),
    ],
)
def test_operator_errors(expression: str, message: str) -> None:
    assert message in str(error(expression))


def test_error_positions_are_line_and_column() -> None:
    err = error("1 +\n  nothing")
    assert (err.line, err.column) == (2, 3)
    assert err.message == "unknown name nothing"
    assert err.phase == "compiling"
    runtime = error("{{ 1 + 'a' }}")
    assert runtime.phase == "evaluating" and runtime.expression == "1 + 'a'"
    assert (
        str(runtime)
        == "error evaluating expression: 1 + 'a': invalid operation: + (mismatched types int and string) (1:3)"
    )


# ---------------------------------------------------------------- functions


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # strings
        ("len('hello world')", 11),
        ("len([1, 2])", 2),
        ("len({'a': 1})", 1),
        ("upper('hello')", "HELLO"),
        ("lower('HELLO')", "hello"),
        ("trim('  Hello  ')", "Hello"),
        ("trim('__Hello__', '_')", "Hello"),
        ("trim('\\u00a0\\u3000 x\\t\\n\\x1f')", "x\t\n\x1f"),  # Go's unicode.IsSpace: not \x1f
        ("trimPrefix('HelloWorld', 'Hello')", "World"),
        ("trimPrefix(' x')", "x"),
        ("trimSuffix('HelloWorld', 'World')", "Hello"),
        ("split('apple,orange,grape', ',')", ["apple", "orange", "grape"]),
        ("split('apple,orange,grape', ',', 2)", ["apple", "orange,grape"]),
        ("split('abc', '')", ["a", "b", "c"]),
        ("split('', ',')", [""]),
        ("splitAfter('apple,orange,grape', ',')", ["apple,", "orange,", "grape"]),
        ("splitAfter('apple,orange,grape', ',', 2)", ["apple,", "orange,grape"]),
        ("replace('Hello World', 'World', 'Universe')", "Hello Universe"),
        ("replace('aaa', 'a', 'b', 2)", "bba"),
        ("repeat('Hi', 3)", "HiHiHi"),
        ("join(['apple', 'orange', 'grape'], ',')", "apple,orange,grape"),
        ("join(['a', 'b'])", "ab"),
        ("indexOf('apple pie', 'pie')", 6),
        ("indexOf('apple', 'z')", -1),
        ("lastIndexOf('apple pie apple', 'apple')", 10),
        ("hasPrefix('HelloWorld', 'Hello')", True),
        ("hasSuffix('HelloWorld', 'World')", True),
        # JSON and base64
        ("toJSON([1, 2])", "[\n  1,\n  2\n]"),
        ("toJSON({'b': 1.5, 'a': 'x<y'})", '{\n  "a": "x\\u003cy",\n  "b": 1.5\n}'),
        ("toJSON({})", "{}"),
        ("toJSON(nil)", "null"),
        ("toJSON(1e21)", "1e+21"),
        ("toJSON(0.0000001)", "1e-7"),
        ("toJSON(1e20)", "100000000000000000000"),
        ("toJSON(2.0)", "2"),
        ('fromJSON(\'{"name": "John", "age": 30}\')', {"name": "John", "age": 30.0}),
        ("fromJSON('null')", None),
        ("toBase64('Hello World')", "SGVsbG8gV29ybGQ="),
        ("fromBase64('SGVsbG8gV29ybGQ=')", "Hello World"),
        # numbers and types
        ("int('42') + 1", 43),
        ("int(2.9)", 2),
        ("int(-2.9)", -2),
        ("float('1.5')", 1.5),
        ("float(2)", 2.0),
        ("string(12)", "12"),
        ("string([1, 'a'])", "[1 a]"),
        ("type(1)", "int"),
        ("type(1.5)", "float"),
        ("type('')", "string"),
        ("type([])", "array"),
        ("type({})", "map"),
        ("type(nil)", "nil"),
        ("type(true)", "bool"),
        ("abs(-3)", 3),
        ("abs(-1.5)", 1.5),
        ("ceil(1.2)", 2.0),
        ("floor(1.8)", 1.0),
        ("round(2.5)", 3.0),
        ("round(-2.5)", -3.0),
        ("round(0.49999999999999994)", 0.0),
        ("ceil(2)", 2.0),
        ("max(5, 7)", 7),
        ("min(5, 7)", 5),
        ("max([1, 9, 3])", 9),
        ("min(2.5, 1)", 1),
        ("sum([1, 2, 3])", 6),
        ("sum([1, 2.5])", 3.5),
        ("sum([1, 2, 3], # * 2)", 12),
        ("mean([1, 2, 3, 4])", 2.5),
        ("mean([])", 0.0),
        ("median([3, 1, 2])", 2.0),
        ("median([4, 1, 2, 3])", 2.5),
        # collections
        ("first([1, 2, 3])", 1),
        ("first([])", None),
        ("last([1, 2, 3])", 3),
        ("get([1, 2, 3], 1)", 2),
        ("get([1, 2, 3], 9)", None),
        ("get({'name': 'John'}, 'name')", "John"),
        ("take([1, 2, 3, 4], 2)", [1, 2]),
        ("take([1], 5)", [1]),
        ("keys({'name': 'John', 'age': 30})", ["age", "name"]),
        ("values({'name': 'John', 'age': 30})", [30, "John"]),
        ("toPairs({'b': 2, 'a': 1})", [["a", 1], ["b", 2]]),
        ("fromPairs([['name', 'John'], ['age', 30]])", {"name": "John", "age": 30}),
        ("reverse([1, 2, 3])", [3, 2, 1]),
        ("uniq([1, 2, 1, 3, 2])", [1, 2, 3]),
        ("flatten([1, [2, [3, [4]]]])", [1, 2, 3, 4]),
        ("concat([1], [2, 3], [])", [1, 2, 3]),
        ("sort([3, 1, 4])", [1, 3, 4]),
        ("sort([3, 1, 4], 'desc')", [4, 3, 1]),
        ("sort(['b', 'a'])", ["a", "b"]),
        ("bitand(0b1010, 0b1100)", 0b1000),
        ("bitor(0b1010, 0b1100)", 0b1110),
        ("bitxor(0b1010, 0b1100)", 0b110),
        ("bitnand(0b1010, 0b1100)", 0b10),
        ("bitnot(0b1010)", -0b1011),
        ("bitshl(0b101101, 2)", 0b10110100),
        ("bitshr(0b101101, 2)", 0b1011),
        ("bitushr(-0b101, 2)", 4611686018427387902),
        # predicates
        ("all([1, 2], # > 0)", True),
        ("all([], # > 0)", True),
        ("any([1, 2], {# > 1})", True),
        ("any([], # > 0)", False),
        ("one([1, 2], # == 1)", True),
        ("one([1, 1], # == 1)", False),
        ("none([1, 2], # > 5)", True),
        ("filter(0..9, {# % 2 == 0})", [0, 2, 4, 6, 8]),
        ("map([1, 2, 3], # * 10)", [10, 20, 30]),
        ("map([1, 2, 3], #index)", [0, 1, 2]),
        ("count([1, 2, 3], # > 1)", 2),
        ("count([true, false, true])", 2),
        ("find([1, 2, 3, 4], # > 2)", 3),
        ("find([1], # > 2)", None),
        ("findIndex([1, 2, 3, 4], # > 2)", 2),
        ("findLast([1, 2, 3, 4], # > 2)", 4),
        ("findLastIndex([1, 2, 3, 4], # > 2)", 3),
        ("findLastIndex([1], # > 2)", -1),
        ("groupBy([1, 2, 3, 4], # % 2)", {0: [2, 4], 1: [1, 3]}),
        ("sortBy([{'a': 2}, {'a': 1}], .a)", [{"a": 1}, {"a": 2}]),
        ("sortBy([{'a': 2}, {'a': 1}, {'a': 3}], .a, 'desc')", [{"a": 3}, {"a": 2}, {"a": 1}]),
        ("reduce(1..9, #acc + #)", 45),
        ("reduce(1..9, #acc + #, 100)", 145),
        ("reduce(['a', 'b'], #acc + string(#index), '')", "01"),
        ("filter([{'n': 'a', 'ok': true}, {'n': 'b', 'ok': false}], .ok) | map(.n)", ["a"]),
        ("map([[1, 2], [3]], sum(#))", [3, 3]),
        ("map([[1, 2], [3]], map(#, # * 2))", [[2, 4], [6]]),
    ],
)
def test_functions(expression: str, expected: Any) -> None:
    result = evaluate(expression, {})
    assert result == expected
    assert type(result) is type(expected)


def test_printed_function_results() -> None:
    assert rd("{{ groupBy([1, 2, 3, 4], # % 2) }}", {}) == "map[0:[2 4] 1:[1 3]]"
    assert rd("{{ len('hello world') }}", {}) == "11"


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("len(1)", "invalid argument for len (type int)"),
        ("len()", "invalid number of arguments for len (expected 1, got 0)"),
        ("upper(1)", "invalid argument for upper (type int)"),
        ("trim('a', 'b', 'c')", "invalid number of arguments for trim (expected 1 or 2, got 3)"),
        ("join([1])", "invalid argument for join (element of type int)"),
        ("repeat('a', -1)", "invalid argument for repeat (expected positive integer)"),
        ("fromJSON('{')", "fromJSON: invalid JSON"),
        ("fromJSON('NaN')", "fromJSON: invalid JSON"),
        ("fromBase64('!!')", "fromBase64: illegal base64 data"),
        ("int('x1')", "invalid operation: int(string): not an integer"),
        ("int('99999999999999999999')", "value out of range"),
        ("float('1.5x')", "invalid operation: float(string): not a number"),
        ("int(nil)", "invalid argument for int (type <nil>)"),
        ("toJSON(0/0)", "json: unsupported value: NaN"),
        ("toJSON({(1): 2})", "json: unsupported type"),
        ("sort([1, 'a'])", "sort: cannot compare values of different types"),
        ("sort([1], 'up')", "invalid order for sort, expected asc or desc"),
        ("filter(1, # > 0)", "builtin filter takes only array (got int)"),
        ("filter([1], #)", "predicate of filter must return a bool, not int"),
        ("filter([1])", "expected at least 2 arguments"),
        ("map([1], #nope)", "unknown pointer #nope"),
        ("sequence(1)", "invalid number of arguments for sequence (expected 2, got 1)"),
        ("sequence(1, 2.5)", "cannot use float64 as argument (type int) to call sequence"),
        ("sequence('1', 2)", "cannot use string as argument (type int) to call sequence"),
        ("fromPairs([[1]])", "invalid pair for fromPairs"),
        ("take([1], 'a')", "cannot take string elements"),
        ("max()", "not enough arguments to call max"),
        ("bitshl(1, -1)", "negative shift count"),
    ],
)
def test_function_errors(expression: str, message: str) -> None:
    assert message in str(error(expression, {}))


def test_function_errors_are_located_at_the_call() -> None:
    err = error("1 + len(1)", {})
    assert err.column == 5
