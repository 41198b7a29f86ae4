"""Reading a JSON column never fails, whatever the row holds."""

from __future__ import annotations

from myrmica.store.json_columns import TOO_DEEP, read_json


def test_ordinary_values_read_unchanged() -> None:
    assert read_json('{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}
    assert read_json('"\\ud83d\\ude00"') == "😀"


def test_bad_values_read_as_something_printable() -> None:
    assert read_json('{"n": NaN, "m": Infinity, "f": 1e400}') == {"n": None, "m": None, "f": None}
    assert read_json('{"n": ' + "9" * 5000 + "}") == {"n": "9" * 5000}
    assert read_json('{"s": "\\ud800", "\\udfff": 1}') == {"s": "?", "?": 1}
    deep = read_json('{"a": ' + "[" * 100 + "]" * 100 + "}")
    while isinstance(deep, dict | list) and deep:
        deep = deep["a"] if isinstance(deep, dict) else deep[0]
    assert deep == TOO_DEEP


def test_unreadable_text_reads_empty() -> None:
    assert read_json("[" * 100_000 + "]" * 100_000) == []
    assert read_json("{" * 3) == {}
    assert read_json("not json") is None
