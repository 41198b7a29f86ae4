"""The bounded YAML/JSON loader: limits refused with the path of the value, ordinary documents unchanged."""

from __future__ import annotations

import pytest

from myrmica.domain.documents import MAX_DEPTH, compose_yaml, load_json, load_yaml
from myrmica.domain.durations import parse_duration
from myrmica.domain.errors import ValidationError
from myrmica.domain.numbers import is_decimal, strict_int

BOMB = ('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        + "".join(f"{b}: &{b} [{','.join(['*' + a] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)))


def refusal(load: object, text: str) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        load(text)  # type: ignore[operator]
    return caught.value


def test_alias_bombs_cycles_and_alias_chains_are_refused() -> None:
    assert "alias" in refusal(load_yaml, BOMB).message
    assert "cycle" in refusal(load_yaml, "a: &a [*a]").message
    chain = "".join(f"k{i}: &a{i} " + "[" * 40 + (f"*a{i - 1}" if i else "1") + "]" * 40 + "\n" for i in range(3))
    assert "nested" in refusal(load_yaml, chain).message
    many = "base: &b 1\n" + "".join(f"k{i}: *b\n" for i in range(101))
    assert "aliases" in refusal(load_yaml, many).message


def test_ordinary_anchors_and_merge_keys_still_load() -> None:
    assert load_yaml("a: &x {b: 1}\nc:\n  <<: *x\n  d: 2\n") == {"a": {"b": 1}, "c": {"b": 1, "d": 2}}
    assert load_yaml("") is None


@pytest.mark.parametrize("load", [load_json, load_yaml])
def test_depth_is_bounded_and_named(load: object) -> None:
    ok = "[" * (MAX_DEPTH - 1) + "1" + "]" * (MAX_DEPTH - 1)
    assert load('{"a": ' + ok + "}") is not None  # type: ignore[operator]
    error = refusal(load, '{"a": ' + "[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH + "}")
    assert error.field is not None and error.field.startswith("a[0]")
    assert "nested" in refusal(load, "[" * 100_000 + "]" * 100_000).message
    assert load('{"s": "' + "[" * 1000 + '"}') == {"s": "[" * 1000}  # type: ignore[operator]


@pytest.mark.parametrize(("text", "field"), [
    ('{"p": {"n": 99999999999999999999}}', "p.n"),
    ('{"p": [1, 9223372036854775808]}', "p[1]"),
    ('{"n": ' + "9" * 5000 + "}", "n"),
    ('{"n": NaN}', "n"),
    ('{"n": -Infinity}', "n"),
    ('{"n": 1e400}', "n"),
    ('{"s": "\\ud800"}', "s"),
    ('{"s": "a\\u0000"}', "s"),
    ('{"k": {"\\udfff": 1}}', "k"),
])
def test_json_values_out_of_bounds_name_their_path(text: str, field: str) -> None:
    assert refusal(load_json, text).field == field


@pytest.mark.parametrize(("text", "field"), [
    ("timeout: .inf", "timeout"), ("t: {x: -.inf}", "t.x"), ("n: .nan", "n"), ("n: " + "9" * 5000, "n"),
    ("n: 9223372036854775808", "n"), ('s: "\\ud800"', "s"), ("l: [1, 0x8000000000000000]", "l[1]"),
])
def test_yaml_values_out_of_bounds_name_their_path(text: str, field: str) -> None:
    assert refusal(load_yaml, text).field == field


def test_good_values_pass() -> None:
    text = '{"a": [1, -9223372036854775808, 2.5, "x\\ud83d\\ude00", true, null], "é": "ü"}'
    assert load_json(text) == {"a": [1, -(2**63), 2.5, "x😀", True, None], "é": "ü"}
    assert refusal(load_json, '{"a": ').field == "body"


def test_numbers_are_ascii_decimal_within_range() -> None:
    assert not is_decimal("¹") and not is_decimal("١") and is_decimal("42")
    assert strict_int("42", "n") == 42 and strict_int(-3, "n") == -3
    for bad in ("¹", "١", "1_0", " 1", "1.0", "", True, 1.0, None, "9" * 5000):
        with pytest.raises(ValidationError) as caught:
            strict_int(bad, "n")
        assert caught.value.field == "n"
    with pytest.raises(ValidationError):
        strict_int("99999999999999999999", "n")
    with pytest.raises(ValidationError):
        strict_int(5, "n", maximum=4)


def test_durations_are_finite_and_fit_int64_nanoseconds() -> None:
    assert parse_duration("2562047h") == 2562047 * 3600
    for bad in ("2562048h", "99999999999999999999h", float("inf"), float("nan"), 10**30, "9" * 5000):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_compose_yaml_reads_the_first_document_within_the_limits() -> None:
    node = compose_yaml("a: 1\n---\nb: [\n")
    assert node is not None and node.value[0][0].value == "a"
    assert compose_yaml("") is None
    aliases = "x: &x [1]\n" + "".join(f"k{i}: *x\n" for i in range(101))
    with pytest.raises(ValidationError, match="more than 100 YAML aliases"):
        compose_yaml(aliases)


def _shape(node: object) -> object:
    from yaml.nodes import MappingNode, ScalarNode, SequenceNode

    if isinstance(node, ScalarNode):
        return ("scalar", node.tag, node.value, node.start_mark.line, node.style or None)  # (C: "" for plain)
    if isinstance(node, SequenceNode):
        return ("seq", node.tag, node.start_mark.line, [_shape(child) for child in node.value])
    if isinstance(node, MappingNode):
        return ("map", node.tag, node.start_mark.line, [(_shape(k), _shape(v)) for k, v in node.value])
    return node


@pytest.mark.parametrize("text", [
    "name: x\ntasks:\n  - name: t\n    run: |\n      echo 1\n      echo 2\n    env: {A: '1', B: \"two\"}\n",
    "a: 1\nb: 1.5\nc: true\nd: ~\ne: 0x1f\nf: '007'\ng: [1, [2, 3]]\nh: 2001-12-14\n---\nsecond: doc\n",
    "- - - deep\n- !!str 12\n- ? complex\n  : key\n",
    "",
])
def test_the_c_composer_gives_the_same_nodes_as_the_bounded_one(text: str) -> None:
    from myrmica.domain import documents

    fast = documents.compose_yaml(text)
    saved = documents._C_LOADER
    documents._C_LOADER = None
    try:
        slow = documents.compose_yaml(text)
    finally:
        documents._C_LOADER = saved
    assert _shape(fast) == _shape(slow)


def test_the_c_composer_keeps_the_limits_and_the_pure_readers_words() -> None:
    import yaml

    from myrmica.domain.documents import DocumentError, compose_yaml

    # 30 levels by indentation (60 columns: the C composer's) and 40 of brackets: 71 in all
    deep = "".join("  " * i + f"k{i}:\n" for i in range(30)) + "  " * 30 + "k: " + "[" * 40 + "]" * 40 + "\n"
    with pytest.raises(DocumentError, match="nested more than"):
        compose_yaml(deep)
    with pytest.raises(yaml.YAMLError) as caught:
        compose_yaml("a: [1\n")
    assert "expected ',' or ']'" in str(caught.value)  # PyYAML's wording, not libyaml's
