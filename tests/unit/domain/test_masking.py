"""Masking secret values: whole values, the lines of multi-line ones, and cuts that keep them whole."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from myrmica.domain.masking import MASK, mask, mask_terms, safe_cut, secret_terms

KEY = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\n  AQEFAASCBKcwggSjAgEAAoIBAQ  \n}\n\n-----END KEY-----\n"


def test_a_single_line_secret_is_masked_wherever_it_appears() -> None:
    assert mask("token=hunter2; again hunter2.", ["hunter2"]) == f"token={MASK}; again {MASK}."
    assert mask("nothing here", []) == "nothing here"
    assert mask("x", [""]) == "x"


def test_each_line_of_a_multi_line_secret_is_masked_on_its_own() -> None:
    terms = secret_terms([KEY])
    assert KEY in terms
    assert "MIIEvQIBADANBgkqhkiG9w0B" in terms
    assert "AQEFAASCBKcwggSjAgEAAoIBAQ" in terms  # blanks around a line do not count
    assert "}" not in terms and "" not in terms  # too short to say anything, and would mask common text
    printed = ["MIIEvQIBADANBgkqhkiG9w0B", "    AQEFAASCBKcwggSjAgEAAoIBAQ", "}"]
    assert [mask(line, [KEY]) for line in printed] == [MASK, f"    {MASK}", "}"]
    assert mask(KEY, [KEY]) == MASK  # the whole value where it does appear whole


def test_longer_terms_are_masked_first() -> None:
    terms = secret_terms(["abc", "abcdef"])
    assert terms == ["abcdef", "abc"]
    assert mask_terms("abcdef abc", terms) == f"{MASK} {MASK}"


def test_a_cut_never_falls_inside_a_secret() -> None:
    data = b"x" * 10 + b"SECRET" + b"y" * 10
    for cut in range(11, 16):  # every cut inside the secret moves before it
        assert safe_cut(data, cut, [b"SECRET"]) == 10
    assert safe_cut(data, 10, [b"SECRET"]) == 10
    assert safe_cut(data, 16, [b"SECRET"]) == 16
    assert safe_cut(data, 5, [b"SECRET"]) == 5
    # A secret longer than the piece: the piece ends where the secret does.
    assert safe_cut(b"SECRETyyy", 3, [b"SECRET"]) == 6


@given(st.binary(max_size=40).map(lambda b: b.translate(bytes(range(256)).replace(b"ABC", b"xyz"))),
       st.text(alphabet="ABC", min_size=2, max_size=8).map(str.encode), st.data())
def test_no_cut_falls_inside_the_secret(around: bytes, secret: bytes, data: st.DataObject) -> None:
    text = around + secret + around  # the secret occurs once: the bytes around it hold none of its letters
    cut = data.draw(st.integers(min_value=1, max_value=len(text) - 1))
    point = safe_cut(text, cut, [secret])
    start = len(around)
    assert not start < point < start + len(secret)
    assert point <= cut or point == start + len(secret)  # it only moves back (or to the end of a long secret)
