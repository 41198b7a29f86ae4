"""Lexer for the Go ``text/template`` subset: splits source into text and action tokens."""

from __future__ import annotations

import bisect
import enum
from dataclasses import dataclass

from myrmica.templating._goerrors import TemplateSyntaxError

LEFT_DELIM = "{{"
RIGHT_DELIM = "}}"
SPACE_CHARS = " \t\r\n"

KEYWORDS = frozenset({"block", "break", "continue", "define", "else", "end", "if", "range", "template", "with"})


class Kind(enum.Enum):
    TEXT = "text"
    LEFT = "{{"
    RIGHT = "}}"
    IDENT = "identifier"
    KEYWORD = "keyword"
    FIELD = "field"
    VARIABLE = "variable"
    DOT = "."
    STRING = "string"
    NUMBER = "number"
    CHAR = "char constant"
    BOOL = "bool"
    NIL = "nil"
    LPAREN = "("
    RPAREN = ")"
    PIPE = "|"
    DECLARE = ":="
    ASSIGN = "="
    COMMA = ","
    EOF = "EOF"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    value: str  # raw text; for STRING the decoded value, for FIELD the name without the dot
    line: int
    space_before: bool = False

    def describe(self) -> str:
        """How Go's parser names a token in an error message."""
        if self.kind is Kind.EOF:
            return "EOF"
        if self.kind is Kind.KEYWORD:
            return f"<{self.value}>"
        text = "." + self.value if self.kind is Kind.FIELD else self.value
        if self.kind is Kind.STRING:
            text = go_quote(self.value)
            return text if len(text) <= 12 else text[:11] + '"...'
        return '"' + (text if len(text) <= 10 else text[:10] + "...") + '"'


def go_quote(text: str, ascii_only: bool = False) -> str:
    """A double-quoted Go string literal (``strconv.Quote``, or ``QuoteToASCII`` with ``ascii_only``)."""
    out = ['"']
    for ch in text:
        if ascii_only and ord(ch) >= 0x80:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
        else:
            out.append(_escape_char(ch, '"'))
    out.append('"')
    return "".join(out)


_SIMPLE_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _escape_char(ch: str, quote: str) -> str:
    if ch == quote or ch == "\\":
        return "\\" + ch
    if ch in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[ch]
    if ch.isprintable():
        return ch
    code = ord(ch)
    if code < 0x80:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def go_quote_rune(code: int) -> str:
    """A single-quoted Go rune literal (``strconv.QuoteRune``)."""
    if code < 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        code = 0xFFFD
    return "'" + _escape_char(chr(code), "'") + "'"


_STRING_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
}


def unquote(body: str, quote: str) -> str:
    """Decode the escapes of a Go interpreted literal body (without its quotes)."""
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= n:
            raise ValueError("invalid syntax")
        esc = body[i + 1]
        i += 2
        if esc in _STRING_ESCAPES:
            out.append(_STRING_ESCAPES[esc])
        elif esc == quote:
            out.append(esc)
        elif esc in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[esc]
            digits = body[i : i + width]
            if len(digits) != width or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError("invalid syntax")
            code = int(digits, 16)
            if code > 0x10FFFF or (esc != "x" and 0xD800 <= code <= 0xDFFF):
                raise ValueError("invalid syntax")
            out.append(chr(code))
            i += width
        elif esc in "01234567":
            digits = body[i - 1 : i + 2]
            if len(digits) != 3 or any(c not in "01234567" for c in digits) or int(digits, 8) > 255:
                raise ValueError("invalid syntax")
            out.append(chr(int(digits, 8)))
            i += 2
        else:
            raise ValueError("invalid syntax")
    return "".join(out)


def _is_alnum(ch: str) -> bool:
    return ch == "_" or ch.isalpha() or ch.isdigit()


class Lexer:
    """Turns a template source into a flat token list (text, delimiters and action tokens)."""

    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0
        self.tokens: list[Token] = []
        self._newlines = [i for i, ch in enumerate(source) if ch == "\n"]

    def line_at(self, pos: int) -> int:
        return bisect.bisect_left(self._newlines, pos) + 1

    def error(self, message: str, pos: int) -> TemplateSyntaxError:
        return TemplateSyntaxError(message, self.line_at(pos))

    def emit(self, kind: Kind, value: str, pos: int, space_before: bool = False) -> None:
        self.tokens.append(Token(kind, value, self.line_at(pos), space_before))

    def _space_at(self, pos: int) -> bool:
        return pos < len(self.src) and self.src[pos] in SPACE_CHARS

    def run(self) -> list[Token]:
        src, n = self.src, len(self.src)
        trim_next_text = False
        while True:
            start = src.find(LEFT_DELIM, self.pos)
            end = n if start < 0 else start
            text = src[self.pos : end]
            trim_left = start >= 0 and src.startswith("-", start + 2) and self._space_at(start + 3)
            if trim_next_text:
                text = text.lstrip(SPACE_CHARS)
            if trim_left:
                text = text.rstrip(SPACE_CHARS)
            if text:
                self.emit(Kind.TEXT, text, self.pos)
            if start < 0:
                break
            self.pos = start + (4 if trim_left else 2)
            if src.startswith("/*", self.pos):
                trim_next_text = self._lex_comment(start)
            else:
                self.emit(Kind.LEFT, LEFT_DELIM, start)
                trim_next_text = self._lex_action(start)
        self.tokens.append(Token(Kind.EOF, "", self.line_at(n)))
        return self.tokens

    def _at_right_delim(self) -> tuple[bool, bool]:
        """(at a right delimiter, whether it carries a trim marker)."""
        if self._space_at(self.pos) and self.src.startswith("-" + RIGHT_DELIM, self.pos + 1):
            return True, True
        return self.src.startswith(RIGHT_DELIM, self.pos), False

    def _finish_action(self, trim: bool) -> bool:
        self.emit(Kind.RIGHT, RIGHT_DELIM, self.pos)
        self.pos += 4 if trim else 2
        return trim

    def _lex_comment(self, action_start: int) -> bool:
        close = self.src.find("*/", self.pos + 2)
        if close < 0:
            raise self.error("unclosed comment", action_start)
        self.pos = close + 2
        at, trim = self._at_right_delim()
        if not at:
            raise self.error("comment ends before closing delimiter", close)
        self.pos += 4 if trim else 2
        return trim

    def _lex_action(self, action_start: int) -> bool:
        """Lex one action after its left delimiter; returns whether it ends with a trim marker."""
        src, n = self.src, len(self.src)
        depth = 0
        space = True
        while True:
            at, trim = self._at_right_delim()
            if at:
                if depth:
                    raise self.error("unclosed left paren", self.pos)
                return self._finish_action(trim)
            if self.pos >= n:
                raise self.error("unclosed action", action_start)
            start = self.pos
            ch = src[start]
            if ch in SPACE_CHARS:
                # Stop before a space that starts a trim-marked right delimiter (" -}}").
                while self._space_at(self.pos) and not self._at_right_delim()[0]:
                    self.pos += 1
                space = True
                continue
            if ch == "=":
                self.pos += 1
                self.emit(Kind.ASSIGN, "=", start, space)
            elif ch == ":":
                if not src.startswith(":=", start):
                    raise self.error("expected :=", start)
                self.pos += 2
                self.emit(Kind.DECLARE, ":=", start, space)
            elif ch == "|":
                self.pos += 1
                self.emit(Kind.PIPE, "|", start, space)
            elif ch == ",":
                self.pos += 1
                self.emit(Kind.COMMA, ",", start, space)
            elif ch == "(":
                self.pos += 1
                depth += 1
                self.emit(Kind.LPAREN, "(", start, space)
            elif ch == ")":
                self.pos += 1
                depth -= 1
                if depth < 0:
                    raise self.error("unexpected right paren", start)
                self.emit(Kind.RPAREN, ")", start, space)
            elif ch == '"':
                self._lex_quote(start, space)
            elif ch == "`":
                close = src.find("`", start + 1)
                if close < 0:
                    raise self.error("unterminated raw quoted string", start)
                self.pos = close + 1
                self.emit(Kind.STRING, src[start + 1 : close], start, space)
            elif ch == "'":
                self._lex_char(start, space)
            elif ch == "$":
                self.pos += 1
                self._lex_word(start, Kind.VARIABLE, space)
            elif ch == "." and not src[start + 1 : start + 2].isdigit():
                self.pos += 1
                self._lex_word(start, Kind.FIELD, space)
            elif ch in "+-." or ch.isdigit():
                self._lex_number(start, space)
            elif _is_alnum(ch):
                self._lex_word(start, Kind.IDENT, space)
            else:
                raise self.error(f"unrecognized character in action: U+{ord(ch):04X} {ch!r}", start)
            space = False

    def _at_terminator(self) -> bool:
        src, pos = self.src, self.pos
        if pos >= len(src):
            return True
        ch = src[pos]
        return ch in SPACE_CHARS or ch in ".,|:()" or src.startswith(RIGHT_DELIM, pos)

    def _lex_word(self, start: int, kind: Kind, space: bool) -> None:
        src, n = self.src, len(self.src)
        while self.pos < n and _is_alnum(src[self.pos]):
            self.pos += 1
        if not self._at_terminator():
            raise self.error(f"bad character U+{ord(src[self.pos]):04X} {src[self.pos]!r}", self.pos)
        word = src[start : self.pos]
        if kind is Kind.FIELD:
            if word == ".":
                self.emit(Kind.DOT, ".", start, space)
            else:
                self.emit(Kind.FIELD, word[1:], start, space)
        elif kind is Kind.VARIABLE:
            self.emit(Kind.VARIABLE, word, start, space)
        elif word in KEYWORDS:
            self.emit(Kind.KEYWORD, word, start, space)
        elif word in ("true", "false"):
            self.emit(Kind.BOOL, word, start, space)
        elif word == "nil":
            self.emit(Kind.NIL, word, start, space)
        else:
            self.emit(Kind.IDENT, word, start, space)

    def _lex_quote(self, start: int, space: bool) -> None:
        src, n = self.src, len(self.src)
        i = start + 1
        while True:
            if i >= n or src[i] == "\n":
                raise self.error("unterminated quoted string", start)
            if src[i] == "\\":
                i += 2
                continue
            if src[i] == '"':
                break
            i += 1
        self.pos = i + 1
        try:
            value = unquote(src[start + 1 : i], '"')
        except ValueError:
            raise self.error(f"invalid syntax in string literal {src[start : i + 1]}", start) from None
        self.emit(Kind.STRING, value, start, space)

    def _lex_char(self, start: int, space: bool) -> None:
        src, n = self.src, len(self.src)
        i = start + 1
        while True:
            if i >= n or src[i] == "\n":
                raise self.error("unterminated character constant", start)
            if src[i] == "\\":
                i += 2
                continue
            if src[i] == "'":
                break
            i += 1
        self.pos = i + 1
        try:
            value = unquote(src[start + 1 : i], "'")
        except ValueError:
            value = ""
        if len(value) != 1:
            raise self.error(f"malformed character constant: {src[start : i + 1]}", start)
        self.emit(Kind.CHAR, str(ord(value)), start, space)

    def _lex_number(self, start: int, space: bool) -> None:
        src, n = self.src, len(self.src)
        i = start
        if src[i] in "+-":
            i += 1
        digits = "0123456789_"
        prefix = src[i : i + 2].lower()
        based = prefix in ("0x", "0o", "0b")
        if based:
            digits = {"0x": "0123456789abcdefABCDEF_", "0o": "01234567_", "0b": "01_"}[prefix]
            i += 2
        while i < n and src[i] in digits:
            i += 1
        if i < n and src[i] == ".":
            i += 1
            while i < n and src[i] in digits:
                i += 1
        if not based and i < n and src[i] in "eE":
            i += 1
            if i < n and src[i] in "+-":
                i += 1
            while i < n and src[i] in "0123456789_":
                i += 1
        if i < n and _is_alnum(src[i]):
            raise self.error(f"bad number syntax: {src[start : i + 1]!r}", start)
        self.pos = i
        text = src[start:i]
        if not any(c.isdigit() for c in text):
            raise self.error(f"bad number syntax: {text!r}", start)
        self.emit(Kind.NUMBER, text, start, space)


def tokenize(source: str) -> list[Token]:
    return Lexer(source).run()
