"""The parser of the expr-lang expression language: tokens to a small tree of frozen nodes.

A precedence-climbing parser written after ``expr/parser/parser.go`` (same precedences, the
``not in`` family, chained comparisons ``a < b < c``, ``??`` that cannot be mixed with other
operators unparenthesised, ``a ? b : c`` and ``a ?: b``, ``let x = …; …``, pipes ``x | f(y)`` and
the predicate arguments ``{# > 1}`` of ``filter``/``map``/…). Nesting is bounded by ``max_depth``.
"""

from __future__ import annotations

from dataclasses import dataclass

from myrmica.templating._exprerrors import ExprError
from myrmica.templating._exprlexer import NEGATABLE, Kind, Token, tokenize

# ---------------------------------------------------------------- nodes


@dataclass(frozen=True, slots=True)
class Node:
    pos: int


@dataclass(frozen=True, slots=True)
class Literal(Node):
    value: None | bool | int | float | str


@dataclass(frozen=True, slots=True)
class Ident(Node):
    name: str


@dataclass(frozen=True, slots=True)
class Pointer(Node):
    name: str  # "" for #, "index" for #index, "acc" for #acc


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str
    node: Node


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Member(Node):
    node: Node
    prop: Node
    optional: bool
    name: str | None  # the property name when written as .name (for messages)


@dataclass(frozen=True, slots=True)
class Slice(Node):
    node: Node
    start: Node | None
    stop: Node | None


@dataclass(frozen=True, slots=True)
class Chain(Node):
    """Wraps a ``?.`` chain: a nil met by an optional member makes the whole chain nil."""

    node: Node


@dataclass(frozen=True, slots=True)
class Call(Node):
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class MethodCall(Node):
    name: str


@dataclass(frozen=True, slots=True)
class Predicate(Node):
    node: Node


@dataclass(frozen=True, slots=True)
class Conditional(Node):
    cond: Node
    then: Node
    otherwise: Node


@dataclass(frozen=True, slots=True)
class Array(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class MapLit(Node):
    pairs: tuple[tuple[Node, Node], ...]


@dataclass(frozen=True, slots=True)
class Let(Node):
    name: str
    value: Node
    body: Node


# ---------------------------------------------------------------- operators

UNARY = {"not": 50, "!": 50, "-": 90, "+": 90}
BINARY: dict[str, tuple[int, bool]] = {  # precedence, right-associative
    "|": (0, False),
    "or": (10, False),
    "||": (10, False),
    "and": (15, False),
    "&&": (15, False),
    "==": (20, False),
    "!=": (20, False),
    "<": (20, False),
    ">": (20, False),
    ">=": (20, False),
    "<=": (20, False),
    "in": (20, False),
    "matches": (20, False),
    "contains": (20, False),
    "startsWith": (20, False),
    "endsWith": (20, False),
    "..": (25, False),
    "+": (30, False),
    "-": (30, False),
    "*": (60, False),
    "/": (60, False),
    "%": (60, False),
    "**": (100, True),
    "^": (100, True),
    "??": (500, False),
}

#: Builtins whose arguments include a predicate, with their argument shapes ("e" expression,
#: "p" predicate; a trailing "?" marks an optional argument).
PREDICATES: dict[str, tuple[str, ...]] = {
    "all": ("e", "p"),
    "none": ("e", "p"),
    "any": ("e", "p"),
    "one": ("e", "p"),
    "filter": ("e", "p"),
    "map": ("e", "p"),
    "count": ("e", "p?"),
    "sum": ("e", "p?"),
    "find": ("e", "p"),
    "findIndex": ("e", "p"),
    "findLast": ("e", "p"),
    "findLastIndex": ("e", "p"),
    "groupBy": ("e", "p"),
    "sortBy": ("e", "p", "e?"),
    "reduce": ("e", "p", "e?"),
}


def _is_comparison(op: str) -> bool:
    return op in BINARY and BINARY[op][0] == 20


def _is_identifier_word(text: str) -> bool:
    return bool(text) and (text[0].isalpha() or text[0] in "_$") and all(c.isalnum() or c in "_$" for c in text)


class _Parser:
    def __init__(self, tokens: list[Token], max_depth: int) -> None:
        self.tokens = tokens
        self.pos = 0
        self.current = tokens[0]
        self.max_depth = max_depth
        self.depth = 0
        self.predicate_depth = 0

    # ------------------------------------------------------------ helpers

    def error(self, message: str, token: Token | None = None) -> ExprError:
        return ExprError(message, (token or self.current).pos)

    def unexpected(self, token: Token | None = None) -> ExprError:
        token = token or self.current
        return self.error(f"unexpected token {token}", token)

    def next(self) -> None:
        if self.pos + 1 >= len(self.tokens):
            raise self.error("unexpected end of expression")
        self.pos += 1
        self.current = self.tokens[self.pos]

    def expect(self, kind: Kind, *values: str) -> None:
        if not self.current.is_(kind, *values):
            raise self.unexpected()
        self.next()

    def enter(self) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            raise self.error(f"expression is nested deeper than {self.max_depth} levels")

    # ------------------------------------------------------------ grammar

    def parse_expression(self, precedence: int = 0) -> Node:
        self.enter()
        try:
            return self._parse_expression(precedence)
        finally:
            self.depth -= 1

    def _parse_expression(self, precedence: int) -> Node:
        if precedence == 0 and self.current.is_(Kind.OPERATOR, "let"):
            return self.parse_let()
        left = self.parse_primary()
        previous = ""
        op_token = self.current
        while op_token.kind is Kind.OPERATOR:
            negate = op_token.value == "not"
            not_token = op_token
            if negate:
                saved = self.pos
                self.next()
                if self.current.value in NEGATABLE and self.current.kind is Kind.OPERATOR:
                    if BINARY[self.current.value][0] >= precedence:
                        op_token = self.current
                    else:
                        self.pos, self.current = saved, self.tokens[saved]
                        break
                else:
                    raise self.unexpected()
            spec = BINARY.get(op_token.value)
            if spec is None or spec[0] < precedence:
                break
            op_prec, right_assoc = spec
            self.next()
            if op_token.value == "|":
                ident = self.current
                self.expect(Kind.IDENTIFIER)
                left = self.parse_call(ident, [left])
            else:
                if previous == "??" and op_token.value != "??":
                    raise self.error(
                        f"Operator ({op_token.value}) and coalesce expressions (??) cannot be mixed. "
                        "Wrap either by parentheses.",
                        op_token,
                    )
                if _is_comparison(op_token.value):
                    left = self.parse_comparison(left, op_token, op_prec)
                else:
                    right = self.parse_expression(op_prec if right_assoc else op_prec + 1)
                    left = Binary(op_token.pos, op_token.value, left, right)
                if negate:
                    left = Unary(not_token.pos, "not", left)
            previous = op_token.value
            op_token = self.current
        if precedence == 0:
            left = self.parse_conditional(left)
        return left

    def parse_comparison(self, left: Node, token: Token, precedence: int) -> Node:
        root: Node | None = None
        while True:
            right = self.parse_expression(precedence + 1)
            node = Binary(token.pos, token.value, left, right)
            root = node if root is None else Binary(token.pos, "&&", root, node)
            left = right
            token = self.current
            if not (token.kind is Kind.OPERATOR and _is_comparison(token.value)):
                return root
            self.next()

    def parse_let(self) -> Node:
        self.expect(Kind.OPERATOR, "let")
        name = self.current
        self.expect(Kind.IDENTIFIER)
        self.expect(Kind.OPERATOR, "=")
        value = self.parse_expression(0)
        self.expect(Kind.OPERATOR, ";")
        body = self.parse_expression(0)
        return Let(name.pos, name.value, value, body)

    def parse_conditional(self, node: Node) -> Node:
        while self.current.is_(Kind.OPERATOR, "?"):
            token = self.current
            self.next()
            if not self.current.is_(Kind.OPERATOR, ":"):
                then = self.parse_expression(0)
                self.expect(Kind.OPERATOR, ":")
                otherwise = self.parse_expression(0)
            else:
                self.next()
                then = node
                otherwise = self.parse_expression(0)
            node = Conditional(token.pos, node, then, otherwise)
        return node

    def parse_primary(self) -> Node:
        token = self.current
        if token.kind is Kind.OPERATOR and token.value in UNARY:
            self.next()
            operand = self.parse_expression(UNARY[token.value])
            return self.parse_postfix(Unary(token.pos, token.value, operand))
        if token.is_(Kind.BRACKET, "("):
            self.next()
            inner = self.parse_expression(0)
            self.expect(Kind.BRACKET, ")")
            return self.parse_postfix(inner)
        if token.is_(Kind.OPERATOR, "#", "."):
            if self.predicate_depth == 0:
                raise self.error("cannot use pointer accessor outside predicate")
            name = ""
            if token.value == "#":
                self.next()
                if self.current.kind is Kind.IDENTIFIER:
                    name = self.current.value
                    self.next()
            return self.parse_postfix(Pointer(token.pos, name))
        return self.parse_secondary()

    def parse_secondary(self) -> Node:
        token = self.current
        node: Node
        if token.kind is Kind.IDENTIFIER:
            self.next()
            if token.value in ("true", "false"):
                return Literal(token.pos, token.value == "true")
            if token.value == "nil":
                return Literal(token.pos, None)
            is_call = self.current.is_(Kind.BRACKET, "(")
            node = self.parse_call(token, []) if is_call else Ident(token.pos, token.value)
        elif token.kind is Kind.NUMBER:
            self.next()
            node = Literal(token.pos, self.number(token))
        elif token.kind is Kind.STRING:
            self.next()
            node = Literal(token.pos, token.value)
        elif token.is_(Kind.BRACKET, "["):
            node = self.parse_array()
        elif token.is_(Kind.BRACKET, "{"):
            node = self.parse_map()
        else:
            raise self.unexpected()
        return self.parse_postfix(node)

    def number(self, token: Token) -> int | float:
        text = token.value.replace("_", "")
        lower = text.lower()
        try:
            if lower.startswith(("0x", "0b", "0o")):
                value = int(text, 0)
            elif "." in lower or "e" in lower:
                result = float(text)
                if result == float("inf"):
                    raise self.error("float literal is too large", token)
                return result
            else:
                value = int(text, 10)
        except ValueError:
            kind = {"0x": "hex", "0b": "binary", "0o": "octal"}.get(lower[:2], "integer")
            if kind == "integer" and ("." in lower or "e" in lower):
                kind = "float"
            raise self.error(f"invalid {kind} literal", token) from None
        if value > 2**63 - 1:
            raise self.error("integer literal is too large", token)
        return value

    def parse_call(self, token: Token, args: list[Node]) -> Node:
        shape = PREDICATES.get(token.value)
        if shape is None:
            return Call(token.pos, token.value, tuple(self.parse_arguments(args)))
        self.expect(Kind.BRACKET, "(")
        wanted = shape[len(args) :]
        for index, kind in enumerate(wanted):
            if kind.endswith("?"):
                if self.current.is_(Kind.BRACKET, ")"):
                    break
            elif self.current.is_(Kind.BRACKET, ")"):
                raise self.error(f"expected at least {len(wanted)} arguments")
            if index > 0:
                self.expect(Kind.OPERATOR, ",")
            args.append(self.parse_predicate() if kind.startswith("p") else self.parse_expression(0))
        if self.current.is_(Kind.OPERATOR, ","):
            self.next()
        self.expect(Kind.BRACKET, ")")
        return Call(token.pos, token.value, tuple(args))

    def parse_arguments(self, args: list[Node]) -> list[Node]:
        offset = len(args)
        self.expect(Kind.BRACKET, "(")
        while not self.current.is_(Kind.BRACKET, ")"):
            if len(args) > offset:
                self.expect(Kind.OPERATOR, ",")
            if self.current.is_(Kind.BRACKET, ")"):
                break
            args.append(self.parse_expression(0))
        self.expect(Kind.BRACKET, ")")
        return args

    def parse_predicate(self) -> Node:
        start = self.current
        braced = start.is_(Kind.BRACKET, "{")
        if braced:
            self.next()
        self.predicate_depth += 1
        try:
            node = self.parse_expression(0)
        finally:
            self.predicate_depth -= 1
        if braced:
            self.expect(Kind.BRACKET, "}")
        return Predicate(start.pos, node)

    def parse_array(self) -> Node:
        start = self.current
        self.expect(Kind.BRACKET, "[")
        items: list[Node] = []
        while not self.current.is_(Kind.BRACKET, "]"):
            if items:
                self.expect(Kind.OPERATOR, ",")
                if self.current.is_(Kind.BRACKET, "]"):
                    break
            items.append(self.parse_expression(0))
        self.expect(Kind.BRACKET, "]")
        return Array(start.pos, tuple(items))

    def parse_map(self) -> Node:
        start = self.current
        self.expect(Kind.BRACKET, "{")
        pairs: list[tuple[Node, Node]] = []
        while not self.current.is_(Kind.BRACKET, "}"):
            if pairs:
                self.expect(Kind.OPERATOR, ",")
                if self.current.is_(Kind.BRACKET, "}"):
                    break
                if self.current.is_(Kind.OPERATOR, ","):
                    raise self.unexpected()
            key: Node
            if self.current.kind in (Kind.NUMBER, Kind.STRING, Kind.IDENTIFIER):
                key = Literal(self.current.pos, self.current.value)
                self.next()
            elif self.current.is_(Kind.BRACKET, "("):
                key = self.parse_expression(0)
            else:
                raise self.error(
                    "a map key must be a quoted string, a number, a identifier, or an expression enclosed in "
                    f"parentheses (unexpected token {self.current})"
                )
            self.expect(Kind.OPERATOR, ":")
            pairs.append((key, self.parse_expression(0)))
        self.expect(Kind.BRACKET, "}")
        return MapLit(start.pos, tuple(pairs))

    def parse_postfix(self, node: Node) -> Node:
        chained = False
        while self.current.kind in (Kind.OPERATOR, Kind.BRACKET):
            token = self.current
            if token.value in (".", "?."):
                optional = token.value == "?."
                self.next()
                prop = self.current
                if optional and prop.is_(Kind.BRACKET, "["):
                    node = self.parse_index(node, prop, optional=True)
                    chained = True
                    continue
                self.next()
                if prop.kind is not Kind.IDENTIFIER and not (
                    prop.kind is Kind.OPERATOR and _is_identifier_word(prop.value)
                ):
                    raise self.error("expected name", prop)
                if self.current.is_(Kind.BRACKET, "("):  # parses (Tork's ValidExpr accepts it), never runs
                    self.parse_arguments([])
                    node = MethodCall(prop.pos, prop.value)
                else:
                    node = Member(prop.pos, node, Literal(prop.pos, prop.value), optional, prop.value)
                chained = chained or optional
            elif token.value == "[":
                node = self.parse_index(node, token, optional=False)
            else:
                break
        return Chain(node.pos, node) if chained else node

    def parse_index(self, node: Node, token: Token, *, optional: bool) -> Node:
        self.next()
        if self.current.is_(Kind.OPERATOR, ":"):
            self.next()
            stop = None if self.current.is_(Kind.BRACKET, "]") else self.parse_expression(0)
            self.expect(Kind.BRACKET, "]")
            return Slice(token.pos, node, None, stop)
        start = self.parse_expression(0)
        if self.current.is_(Kind.OPERATOR, ":"):
            self.next()
            stop = None if self.current.is_(Kind.BRACKET, "]") else self.parse_expression(0)
            self.expect(Kind.BRACKET, "]")
            return Slice(token.pos, node, start, stop)
        self.expect(Kind.BRACKET, "]")
        return Member(token.pos, node, start, optional, None)


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-nodes of ``node``."""
    if isinstance(node, Unary | Predicate | Chain):
        return (node.node,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Member):
        return (node.node, node.prop)
    if isinstance(node, Slice):
        return tuple(n for n in (node.node, node.start, node.stop) if n is not None)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, Conditional):
        return (node.cond, node.then, node.otherwise)
    if isinstance(node, Array):
        return node.items
    if isinstance(node, MapLit):
        return tuple(n for pair in node.pairs for n in pair)
    if isinstance(node, Let):
        return (node.value, node.body)
    return ()


def _height(root: Node) -> int:
    """The height of the tree, computed without recursion (a left-deep ``1+1+…`` chain is deep)."""
    best = 0
    stack = [(root, 1)]
    while stack:
        node, level = stack.pop()
        best = max(best, level)
        stack.extend((child, level + 1) for child in children(node))
    return best


def parse(source: str, max_depth: int) -> Node:
    """Parse one expression; raises :class:`ExprError` with the offending token's offset.

    ``max_depth`` bounds both the parser's recursion and the height of the resulting tree, so
    that evaluating it cannot exhaust the Python stack.
    """
    tokens = tokenize(source)
    parser = _Parser(tokens, max_depth)
    node = parser.parse_expression(0)
    if not parser.current.is_(Kind.EOF):
        raise parser.unexpected()
    if _height(node) > max_depth:
        raise ExprError(f"expression is nested deeper than {max_depth} levels", 0)
    return node
