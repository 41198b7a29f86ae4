"""Parser for the Go ``text/template`` subset: tokens to a small tree of dataclass nodes."""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass, field

from myrmica.templating._goerrors import TemplateSyntaxError
from myrmica.templating._golexer import Kind, Token, go_quote, tokenize

MAX_NESTING = 100  # nested blocks / parentheses; keeps evaluation well inside Python's recursion limit


# ---------------------------------------------------------------- operands


@dataclass(frozen=True, slots=True)
class DotNode:
    line: int

    def __str__(self) -> str:
        return "."


@dataclass(frozen=True, slots=True)
class NilNode:
    line: int

    def __str__(self) -> str:
        return "nil"


@dataclass(frozen=True, slots=True)
class LiteralNode:
    """A bool, number or string constant."""

    line: int
    value: bool | int | float | str
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class FieldNode:
    """``.A.B``: a chain of map keys looked up on dot."""

    line: int
    idents: tuple[str, ...]

    def __str__(self) -> str:
        return "".join("." + name for name in self.idents)


@dataclass(frozen=True, slots=True)
class VariableNode:
    """``$x`` or ``$x.A.B``."""

    line: int
    name: str
    idents: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.name + "".join("." + name for name in self.idents)


@dataclass(frozen=True, slots=True)
class IdentifierNode:
    """A function name."""

    line: int
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class ChainNode:
    """``(pipeline).A.B`` or ``fn.A``: fields looked up on the value of another operand."""

    line: int
    node: Operand
    idents: tuple[str, ...]

    def __str__(self) -> str:
        inner = f"({self.node})" if isinstance(self.node, PipeNode) else str(self.node)
        return inner + "".join("." + name for name in self.idents)


@dataclass(frozen=True, slots=True)
class CommandNode:
    line: int
    args: tuple[Operand, ...]

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, PipeNode) else str(a) for a in self.args)


@dataclass(frozen=True, slots=True)
class PipeNode:
    line: int
    decl: tuple[str, ...]
    is_assign: bool
    cmds: tuple[CommandNode, ...]

    def __str__(self) -> str:
        head = ""
        if self.decl:
            head = ", ".join(self.decl) + (" = " if self.is_assign else " := ")
        return head + " | ".join(str(c) for c in self.cmds)


Operand = DotNode | NilNode | LiteralNode | FieldNode | VariableNode | IdentifierNode | ChainNode | PipeNode


# ---------------------------------------------------------------- statements


@dataclass(frozen=True, slots=True)
class TextNode:
    line: int
    text: str


@dataclass(frozen=True, slots=True)
class ActionNode:
    line: int
    pipe: PipeNode


@dataclass(frozen=True, slots=True)
class IfNode:
    """``if`` and ``with`` (``with`` sets dot); ``else if``/``else with`` nest in ``else_list``."""

    line: int
    pipe: PipeNode
    body: tuple[Node, ...]
    else_list: tuple[Node, ...] | None
    is_with: bool = False


@dataclass(frozen=True, slots=True)
class RangeNode:
    line: int
    pipe: PipeNode
    body: tuple[Node, ...]
    else_list: tuple[Node, ...] | None


@dataclass(frozen=True, slots=True)
class BreakNode:
    line: int


@dataclass(frozen=True, slots=True)
class ContinueNode:
    line: int


@dataclass(frozen=True, slots=True)
class TemplateNode:
    line: int
    name: str
    pipe: PipeNode | None


Node = TextNode | ActionNode | IfNode | RangeNode | BreakNode | ContinueNode | TemplateNode


@dataclass(slots=True)
class ParsedTemplate:
    root: tuple[Node, ...]
    defines: dict[str, tuple[Node, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Marker:
    """The end of an item list: ``{{end}}`` or ``{{else}}`` (``follows`` = "if"/"with" for else-if)."""

    kind: str
    line: int
    follows: str = ""


_OCTAL = re.compile(r"[+-]?0[0-7_]+")
_INT64_MAX = 2**63 - 1


def parse_number(text: str) -> int | float:
    """Value of a Go number literal: int unless it has a fraction or exponent."""
    body = text.lstrip("+-")
    neg = text.startswith("-")
    lowered = body.lower()
    if lowered.startswith(("0x", "0o", "0b")):
        value: int | float = int(body, 0)
    elif "." in body or "e" in lowered:
        value = float(body.replace("_", ""))
    elif _OCTAL.fullmatch(body) and len(body) > 1:
        value = int(body.replace("_", ""), 8)
    else:
        value = int(body.replace("_", ""))
    if isinstance(value, int) and value > _INT64_MAX + (1 if neg else 0):
        raise ValueError(f"{text} overflows int")
    return -value if neg else value


class Parser:
    def __init__(self, source: str, functions: Container[str]) -> None:
        self.tokens = tokenize(source)
        self.i = 0
        self.functions = functions
        self.vars: list[str] = ["$"]
        self.range_depth = 0
        self.depth = 0
        self.defines: dict[str, tuple[Node, ...]] = {}

    # ------------------------------------------------------------ token helpers

    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind is not Kind.EOF:
            self.i += 1
        return tok

    def error(self, message: str, line: int | None = None) -> TemplateSyntaxError:
        return TemplateSyntaxError(message, self.peek().line if line is None else line)

    def unexpected(self, tok: Token, context: str) -> TemplateSyntaxError:
        if tok.kind is Kind.EOF:
            return self.error(f"unexpected EOF in {context}", tok.line)
        return self.error(f"unexpected {tok.describe()} in {context}", tok.line)

    def expect(self, kind: Kind, context: str) -> Token:
        tok = self.next()
        if tok.kind is not kind:
            raise self.unexpected(tok, context)
        return tok

    def nested(self, line: int) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(f"template nesting exceeds {MAX_NESTING} levels", line)

    # ------------------------------------------------------------ structure

    def parse(self) -> ParsedTemplate:
        root: list[Node] = []
        while self.peek().kind is not Kind.EOF:
            tok = self.peek()
            after = self.tokens[self.i + 1]
            if tok.kind is Kind.LEFT and after.kind is Kind.KEYWORD and after.value == "define":
                self.i += 2
                self.parse_define(after.line)
                continue
            node = self.text_or_action()
            if isinstance(node, _Marker):
                raise self.error(f"unexpected {{{{{node.kind}}}}}", node.line)
            root.append(node)
        return ParsedTemplate(tuple(root), self.defines)

    def template_name(self, context: str) -> tuple[str, int]:
        tok = self.next()
        if tok.kind is not Kind.STRING:
            raise self.unexpected(tok, context)
        return tok.value, tok.line

    def parse_define(self, line: int) -> None:
        name, _ = self.template_name("define clause")
        self.expect(Kind.RIGHT, "define clause")
        self.defines[name] = self.definition_body(line, "define")

    def definition_body(self, line: int, context: str) -> tuple[Node, ...]:
        saved_vars, saved_range = self.vars, self.range_depth
        self.vars, self.range_depth = ["$"], 0
        body, marker = self.item_list(line, context)
        if marker.kind != "end":
            raise self.error(f"unexpected {{{{{marker.kind}}}}} in {context}", marker.line)
        self.vars, self.range_depth = saved_vars, saved_range
        return body

    def item_list(self, line: int, context: str) -> tuple[tuple[Node, ...], _Marker]:
        items: list[Node] = []
        while self.peek().kind is not Kind.EOF:
            node = self.text_or_action()
            if isinstance(node, _Marker):
                return tuple(items), node
            items.append(node)
        raise self.error(f"unexpected EOF: {{{{{context}}}}} opened here has no matching {{{{end}}}}", line)

    def text_or_action(self) -> Node | _Marker:
        tok = self.next()
        if tok.kind is Kind.TEXT:
            return TextNode(tok.line, tok.value)
        if tok.kind is Kind.LEFT:
            return self.action()
        raise self.unexpected(tok, "input")

    def action(self) -> Node | _Marker:
        tok = self.peek()
        if tok.kind is Kind.KEYWORD:
            self.next()
            word = tok.value
            if word == "end":
                self.expect(Kind.RIGHT, "end")
                return _Marker("end", tok.line)
            if word == "else":
                follow = self.peek()
                if follow.kind is Kind.KEYWORD and follow.value in ("if", "with"):
                    return _Marker("else", tok.line, follow.value)
                self.expect(Kind.RIGHT, "else")
                return _Marker("else", tok.line)
            if word in ("if", "with", "range"):
                return self.control(word, tok.line)
            if word in ("break", "continue"):
                self.expect(Kind.RIGHT, word)
                if not self.range_depth:
                    raise self.error(f"{{{{{word}}}}} outside {{{{range}}}}", tok.line)
                return BreakNode(tok.line) if word == "break" else ContinueNode(tok.line)
            if word == "template":
                return self.template_call(tok.line)
            if word == "block":
                return self.block(tok.line)
            raise self.error(f"unexpected <{word}> in command", tok.line)
        return ActionNode(tok.line, self.pipeline("command", Kind.RIGHT))

    def control(self, word: str, line: int) -> Node:
        self.nested(line)
        mark = len(self.vars)
        pipe = self.pipeline(word, Kind.RIGHT)
        if word == "range":
            self.range_depth += 1
        body, marker = self.item_list(line, word)
        if word == "range":
            self.range_depth -= 1
        else_list: tuple[Node, ...] | None = None
        if marker.kind == "else":
            if marker.follows and marker.follows == word:
                self.next()  # the "if"/"with" after "else": parse as a nested block sharing our {{end}}
                else_list = (self.control(word, marker.line),)
            elif marker.follows:
                raise self.unexpected(self.peek(), "else")
            else:
                else_list, end = self.item_list(line, word)
                if end.kind != "end":
                    raise self.error(f"expected end; found {{{{{end.kind}}}}}", end.line)
        del self.vars[mark:]
        self.depth -= 1
        if word == "range":
            return RangeNode(line, pipe, body, else_list)
        return IfNode(line, pipe, body, else_list, is_with=word == "with")

    def template_call(self, line: int) -> Node:
        name, _ = self.template_name("template clause")
        pipe = None
        if self.peek().kind is Kind.RIGHT:
            self.next()
        else:
            pipe = self.pipeline("template clause", Kind.RIGHT)
        return TemplateNode(line, name, pipe)

    def block(self, line: int) -> Node:
        name, _ = self.template_name("block clause")
        pipe = self.pipeline("block clause", Kind.RIGHT)
        self.nested(line)
        self.defines[name] = self.definition_body(line, "block")
        self.depth -= 1
        return TemplateNode(line, name, pipe)

    # ------------------------------------------------------------ pipelines

    def pipeline(self, context: str, end: Kind) -> PipeNode:
        line = self.peek().line
        decl, is_assign = self.declarations(context)
        cmds: list[CommandNode] = []
        while True:
            tok = self.peek()
            if tok.kind is end:
                self.next()
                break
            if tok.kind in _OPERAND_START:
                cmds.append(self.command())
                continue
            raise self.unexpected(tok, context)
        if not cmds:
            raise self.error(f"missing value for {context}", line)
        for index, cmd in enumerate(cmds[1:], start=2):
            if isinstance(cmd.args[0], DotNode | NilNode | LiteralNode):
                raise self.error(f"non executable command in pipeline stage {index}", cmd.line)
        # Declarations become visible after the pipeline that initialises them.
        self.vars.extend(name for name in decl if not is_assign)
        return PipeNode(line, tuple(decl), is_assign, tuple(cmds))

    def declarations(self, context: str) -> tuple[list[str], bool]:
        """``$x :=``/``$x =`` at the head of a pipeline (``$i, $v :=`` in a range)."""
        if self.peek().kind is not Kind.VARIABLE:
            return [], False
        after = self.tokens[self.i + 1]
        if after.kind is Kind.COMMA:
            if context != "range":
                raise self.error(f"too many declarations in {context}", after.line)
            first = self.next()
            self.next()
            if self.peek().kind is not Kind.VARIABLE:
                raise self.error("range can only initialize variables", after.line)
            after = self.tokens[self.i + 1]
            if after.kind is Kind.COMMA:
                raise self.error(f"too many declarations in {context}", after.line)
            if after.kind is not Kind.DECLARE and after.kind is not Kind.ASSIGN:
                raise self.error("range can only initialize variables", after.line)
            names = [first.value, self.next().value]
        elif after.kind is Kind.DECLARE or after.kind is Kind.ASSIGN:
            names = [self.next().value]
        else:
            return [], False
        is_assign = self.next().kind is Kind.ASSIGN
        if is_assign:
            for name in names:
                if name not in self.vars:
                    raise self.error(f"undefined variable {name!r}", after.line)
        return names, is_assign

    def command(self) -> CommandNode:
        line = self.peek().line
        args: list[Operand] = []
        while True:
            operand = self.operand()
            if operand is None:
                raise self.unexpected(self.peek(), "operand")
            args.append(operand)
            tok = self.peek()
            if tok.kind in (Kind.RIGHT, Kind.RPAREN):
                break
            if tok.kind is Kind.PIPE:
                self.next()
                if self.peek().kind not in _OPERAND_START:
                    raise self.error("missing command after '|'", tok.line)
                break
            if not tok.space_before:
                raise self.unexpected(tok, "operand")
        return CommandNode(line, tuple(args))

    def operand(self) -> Operand | None:
        node = self.term()
        if node is None:
            return None
        fields: list[str] = []
        while self.peek().kind is Kind.FIELD and not self.peek().space_before:
            fields.append(self.next().value)
        if not fields:
            return node
        if isinstance(node, FieldNode):
            return FieldNode(node.line, node.idents + tuple(fields))
        if isinstance(node, VariableNode):
            return VariableNode(node.line, node.name, node.idents + tuple(fields))
        if isinstance(node, LiteralNode | NilNode | DotNode):
            raise self.error(f"unexpected . after term {str(node)!r}", node.line)
        return ChainNode(node.line, node, tuple(fields))

    def term(self) -> Operand | None:
        tok = self.peek()
        kind = tok.kind
        if kind not in _OPERAND_START:
            return None
        self.next()
        if kind is Kind.IDENT:
            if tok.value not in self.functions:
                raise self.error(f'function "{tok.value}" not defined', tok.line)
            return IdentifierNode(tok.line, tok.value)
        if kind is Kind.DOT:
            return DotNode(tok.line)
        if kind is Kind.NIL:
            return NilNode(tok.line)
        if kind is Kind.VARIABLE:
            if tok.value not in self.vars:
                raise self.error(f"undefined variable {tok.value!r}", tok.line)
            return VariableNode(tok.line, tok.value)
        if kind is Kind.FIELD:
            return FieldNode(tok.line, (tok.value,))
        if kind is Kind.BOOL:
            return LiteralNode(tok.line, tok.value == "true", tok.value)
        if kind is Kind.STRING:
            return LiteralNode(tok.line, tok.value, go_quote(tok.value))
        if kind is Kind.NUMBER or kind is Kind.CHAR:
            try:
                return LiteralNode(tok.line, parse_number(tok.value), tok.value)
            except ValueError as exc:
                raise self.error(f"bad number syntax: {tok.value!r} ({exc})", tok.line) from None
        # Kind.LPAREN: a parenthesised pipeline
        self.nested(tok.line)
        pipe = self.pipeline("parenthesized pipeline", Kind.RPAREN)
        self.depth -= 1
        return pipe


_OPERAND_START = frozenset(
    {
        Kind.IDENT,
        Kind.DOT,
        Kind.NIL,
        Kind.VARIABLE,
        Kind.FIELD,
        Kind.BOOL,
        Kind.STRING,
        Kind.NUMBER,
        Kind.CHAR,
        Kind.LPAREN,
    }
)


def parse(source: str, functions: Container[str]) -> ParsedTemplate:
    return Parser(source, functions).parse()
