"""Tokens of the expr-lang expression language (the lexer of :mod:`myrmica.templating.expr`).

Follows ``expr/parser/lexer``: identifiers may contain ``$`` and ``_``; ``not in``/``not matches``…
are lexed as two operators; ``1..3`` is a number, the range operator and a number; strings are
single- or double-quoted with Go escapes, or back-quoted raw; ``//`` and ``/* */`` are comments.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from myrmica.templating._exprerrors import ExprError
from myrmica.templating._golexer import go_quote


class Kind(Enum):
    IDENTIFIER = "identifier"
    NUMBER = "number"
    STRING = "string"
    OPERATOR = "operator"
    BRACKET = "bracket"
    EOF = "EOF"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    value: str
    pos: int  # character offset in the source

    def is_(self, kind: Kind, *values: str) -> bool:
        return self.kind is kind and (not values or self.value in values)

    def __str__(self) -> str:
        name = "EOF" if self.kind is Kind.EOF else self.kind.value.capitalize()
        return f"{name}({go_quote(self.value)})" if self.value else name


WORD_OPERATORS = frozenset({"in", "or", "and", "matches", "contains", "startsWith", "endsWith", "let"})
NEGATABLE = frozenset({"in", "matches", "contains", "startsWith", "endsWith"})
_SPACES = " \t\n\r\f\v"
_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "`": "`",
    "?": "?",
}
_HEX = "0123456789abcdefABCDEF"


def _is_alnum(char: str) -> bool:
    return char == "_" or char == "$" or char.isalpha() or char.isdecimal()


def _unescape(body: str, pos: int) -> str:
    """Go-style escapes of a quoted string body (``expr/parser/unescape.go``)."""
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        if i + 1 >= n:
            raise ExprError("unable to unescape string, found '\\' as last character", pos)
        code = body[i + 1]
        i += 2
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
        elif code in "xXuU":
            width = {"x": 2, "X": 2, "u": 4, "U": 8}[code]
            digits = body[i : i + width]
            if len(digits) < width or any(d not in _HEX for d in digits):
                raise ExprError("unable to unescape string", pos)
            value = int(digits, 16)
            if value > 0x10FFFF:
                raise ExprError("unable to unescape string", pos)
            out.append(chr(value))
            i += width
        elif code in "0123":
            digits = body[i : i + 2]
            if len(digits) < 2 or any(d not in "01234567" for d in digits):
                raise ExprError("unable to unescape octal sequence in string", pos)
            out.append(chr(int(code + digits, 8)))
            i += 2
        else:
            raise ExprError("unable to unescape string", pos)
    return "".join(out)


class _Lexer:
    def __init__(self, source: str) -> None:
        self.src = source
        self.n = len(source)
        self.i = 0
        self.tokens: list[Token] = []

    def peek(self, offset: int = 0) -> str:
        j = self.i + offset
        return self.src[j] if j < self.n else ""

    def emit(self, kind: Kind, value: str, pos: int) -> None:
        self.tokens.append(Token(kind, value, pos))

    def run(self) -> list[Token]:
        while self.i < self.n:
            start = self.i
            char = self.src[start]
            if char in _SPACES:
                self.i += 1
            elif char in "'\"":
                self.quoted(char)
            elif char == "`":
                end = self.src.find("`", start + 1)
                if end < 0:
                    raise ExprError("literal not terminated", start)
                self.emit(Kind.STRING, self.src[start + 1 : end], start)
                self.i = end + 1
            elif "0" <= char <= "9" or (char == "." and "0" <= self.peek(1) <= "9" and self.peek(1)):
                self.number()
            elif char == "?":
                self.i += 2 if self.peek(1) in (".", "?") else 1
                self.emit(Kind.OPERATOR, self.src[start : self.i], start)
            elif char == "/":
                self.slash()
            elif char == "#":
                self.i += 1
                self.emit(Kind.OPERATOR, "#", start)
                name_start = self.i
                while self.i < self.n and _is_alnum(self.src[self.i]):
                    self.i += 1
                if self.i > name_start:
                    self.emit(Kind.IDENTIFIER, self.src[name_start : self.i], name_start)
            elif char in "|:":
                self.i += 2 if self.peek(1) == char else 1
                self.emit(Kind.OPERATOR, self.src[start : self.i], start)
            elif char in "([{)]}":
                self.i += 1
                self.emit(Kind.BRACKET, char, start)
            elif char in ",;%+-^":
                self.i += 1
                self.emit(Kind.OPERATOR, char, start)
            elif char in "&!=*<>":
                self.i += 2 if self.peek(1) and self.peek(1) in "&=*" else 1
                self.emit(Kind.OPERATOR, self.src[start : self.i], start)
            elif char == ".":
                self.i += 2 if self.peek(1) == "." else 1
                self.emit(Kind.OPERATOR, self.src[start : self.i], start)
            elif _is_alnum(char):
                self.word()
            else:
                raise ExprError(f"unrecognized character: U+{ord(char):04X}", start)
        self.emit(Kind.EOF, "", self.n)
        return self.tokens

    def quoted(self, quote: str) -> None:
        start = self.i
        j = start + 1
        while j < self.n:
            char = self.src[j]
            if char == "\\":
                j += 2
                continue
            if char == quote or char == "\n":
                break
            j += 1
        if j >= self.n or self.src[j] == "\n":  # as Go's scanString: a quoted string is on one line
            raise ExprError("literal not terminated", start)
        self.emit(Kind.STRING, _unescape(self.src[start + 1 : j], start), start)
        self.i = j + 1

    def accept_run(self, chars: str) -> None:
        while self.i < self.n and self.src[self.i] in chars:
            self.i += 1

    def number(self) -> None:
        start = self.i
        digits = "0123456789_"
        if self.peek() == "0":
            self.i += 1
            prefix = self.peek()
            if prefix and prefix in "xX":
                digits = _HEX + "_"
                self.i += 1
            elif prefix and prefix in "oO":
                digits = "01234567_"
                self.i += 1
            elif prefix and prefix in "bB":
                digits = "01_"
                self.i += 1
        self.accept_run(digits)
        if self.peek() == ".":
            if self.peek(1) == ".":  # 1..3 is a range
                self.emit(Kind.NUMBER, self.src[start : self.i], start)
                return
            self.i += 1
            self.accept_run(digits)
        if self.peek() and self.peek() in "eE":
            self.i += 1
            if self.peek() and self.peek() in "+-":
                self.i += 1
            self.accept_run(digits)
        if self.peek() and _is_alnum(self.peek()):
            raise ExprError(f"bad number syntax: {self.src[start : self.i + 1]!r}", start)
        self.emit(Kind.NUMBER, self.src[start : self.i], start)

    def slash(self) -> None:
        start = self.i
        if self.peek(1) == "/":
            end = self.src.find("\n", start)
            self.i = self.n if end < 0 else end + 1
        elif self.peek(1) == "*":
            end = self.src.find("*/", start + 2)
            if end < 0:
                raise ExprError("unclosed comment", start)
            self.i = end + 2
        else:
            self.i += 1
            self.emit(Kind.OPERATOR, "/", start)

    def word(self) -> None:
        start = self.i
        while self.i < self.n and _is_alnum(self.src[self.i]):
            self.i += 1
        text = self.src[start : self.i]
        if text == "not":
            self.emit(Kind.OPERATOR, "not", start)
            j = self.i
            while j < self.n and self.src[j] in _SPACES:
                j += 1
            k = j
            while k < self.n and _is_alnum(self.src[k]):
                k += 1
            if self.src[j:k] in NEGATABLE:
                self.emit(Kind.OPERATOR, self.src[j:k], j)
                self.i = k
        elif text in WORD_OPERATORS:
            self.emit(Kind.OPERATOR, text, start)
        else:
            self.emit(Kind.IDENTIFIER, text, start)


def tokenize(source: str) -> list[Token]:
    """The tokens of ``source``, ending with an EOF token; raises :class:`ExprError` on bad input."""
    return _Lexer(source).run()
