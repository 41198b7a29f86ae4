"""A sandboxed implementation of the subset of Go's ``text/template`` that Formicary job files use.

    >>> render("{{range $i := Iterate 3}}task-{{$i}} {{end}}", {})
    'task-0 task-1 task-2 '

The engine is split into a lexer (``_golexer``), a parser producing a small node tree
(``_goparser``), Go ``fmt`` emulation (``_gofmt``, ``_gotime``), the function table
(``gofuncs``) and the evaluator below.

Sandboxing: template data is only ever read through mapping key lookup (``.X`` on a dict) and
the ``index``/``slice``/``len`` functions; no Python attribute is read and no method of the data
is called, and the only callables are the ones in the function table (there is no ``call``).
Execution is bounded by :class:`Limits`: the output size (which also caps any single string a
function builds), the number of evaluation steps (nodes and commands evaluated, loop iterations,
values formatted by ``print``/``printf``/output, and one step per 64 characters or items a
function returns), and the depth of ``{{template}}`` calls (:data:`MAX_TEMPLATE_DEPTH`).

Deliberate departures from Go: ints and floats compare numerically in ``eq``/``lt``/...;
``eq x nil`` is allowed; a nil value in a map behaves like a missing key (``.X.Y`` on it is
``<no value>``, not an error); ``len``/``index``/``slice`` on strings count characters, not bytes.
Error messages never quote the data a template read (it may be a secret): they name the expression
instead (``range can't iterate over .Token (of type string)``, ``atoi: parsing .Token: invalid syntax``).

``execute(..., defer=f)`` hands each action's printed text to ``f``, which returns what to write in
its place: :mod:`myrmica.templating.yaml_render` writes placeholders there, so that a document's
structure comes from the template alone and the values are put in after parsing.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from myrmica.templating import gofuncs
from myrmica.templating._goerrors import TemplateError, TemplateRuntimeError, TemplateSyntaxError
from myrmica.templating._gofmt import METER, Meter, format_value, sorted_keys, type_name
from myrmica.templating._goparser import (
    ActionNode,
    BreakNode,
    ChainNode,
    CommandNode,
    ContinueNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    IfNode,
    LiteralNode,
    NilNode,
    Node,
    Operand,
    ParsedTemplate,
    PipeNode,
    RangeNode,
    TemplateNode,
    TextNode,
    VariableNode,
    parse,
)
from myrmica.templating.gofuncs import DEFAULT_FUNCTIONS, is_true

__all__ = [
    "DEFAULT_FUNCTIONS",
    "Limits",
    "Template",
    "TemplateError",
    "TemplateRuntimeError",
    "TemplateSyntaxError",
    "has_template",
    "render",
]

MAX_TEMPLATE_DEPTH = 32  # nested {{template}} calls
_STEP_UNIT = 64  # characters (or items) a function result may produce per evaluation step
_IDENTIFIER = re.compile(r"[^\W\d]\w*")


@dataclass(frozen=True)
class Limits:
    max_output: int = 1_000_000  # characters
    max_steps: int = 1_000_000  # evaluation steps (nodes evaluated / loop iterations)


class _Missing:
    """The absent final argument of a command that is not in a pipeline."""


_MISSING: Any = _Missing()


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


@functools.lru_cache(maxsize=1024)
def _signature(func: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):
        return None


def _check_arity(name: str, func: Callable[..., Any], count: int) -> None:
    signature = _signature(func)
    if signature is None:
        return
    required = optional = 0
    variadic = False
    for param in signature.parameters.values():
        if param.kind is param.VAR_POSITIONAL:
            variadic = True
        elif param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            if param.default is param.empty:
                required += 1
            else:
                optional += 1
    if count < required:
        want = f"at least {required}" if variadic or optional else str(required)
        raise TemplateRuntimeError(f"wrong number of args for {name}: want {want} got {count}")
    if not variadic and count > required + optional:
        want = f"at most {required + optional}" if optional else str(required)
        raise TemplateRuntimeError(f"wrong number of args for {name}: want {want} got {count}")


def _result_size(value: Any) -> int:
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    return 0


Defer = Callable[[str, str], str]  # (the printed text, the action's source) -> what to write instead
_MIN_SCRUB = 3  # shorter values are not hunted in messages (they would garble them); see _scrub


def _scrub(message: str, values: list[tuple[Any, str]]) -> str:
    """``message`` with each string value replaced by the expression it came from (never the data)."""
    for value, source in sorted(values, key=lambda pair: -len(str(pair[0]))):
        if isinstance(value, str) and value and source:
            for form in (f'"{value}"', repr(value), *((value,) if len(value) >= _MIN_SCRUB else ())):
                message = message.replace(form, source)
    return message


def _source(pipe: PipeNode) -> str:
    """The expression of a pipeline, without its variable declarations (for error messages)."""
    return " | ".join(str(cmd) for cmd in pipe.cmds)


class _State:
    """One execution: output buffer, variable stack, counters."""

    def __init__(self, template: Template, limits: Limits, defer: Defer | None = None) -> None:
        self.template = template
        self.defer = defer
        self.functions = template.functions
        self.limits = limits
        self.meter = Meter(limits.max_steps, limits.max_output)
        self.out: list[str] = []
        self.size = 0
        self.depth = 0
        self.line: int | None = None
        self.vars: list[tuple[str, Any]] = []

    # ------------------------------------------------------------ bookkeeping

    def error(self, message: str) -> TemplateRuntimeError:
        return TemplateRuntimeError(message, self.line)

    def step(self, count: int = 1) -> None:
        self.meter.step(count)

    def write(self, text: str) -> None:
        self.size += len(text)
        if self.size > self.limits.max_output:
            raise self.error(f"template output exceeds the limit of {self.limits.max_output} characters")
        self.out.append(text)

    def lookup(self, name: str) -> Any:
        for index in range(len(self.vars) - 1, -1, -1):
            if self.vars[index][0] == name:
                return self.vars[index][1]
        raise self.error(f"undefined variable: {name}")

    def assign(self, name: str, value: Any) -> None:
        for index in range(len(self.vars) - 1, -1, -1):
            if self.vars[index][0] == name:
                self.vars[index] = (name, value)
                return
        raise self.error(f"undefined variable: {name}")

    # ------------------------------------------------------------ statements

    def walk_list(self, dot: Any, nodes: tuple[Node, ...]) -> None:
        for node in nodes:
            self.walk(dot, node)

    def walk(self, dot: Any, node: Node) -> None:
        self.line = node.line
        self.step()
        if isinstance(node, TextNode):
            self.write(node.text)
        elif isinstance(node, ActionNode):
            value = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.line = node.line
                text = self.printable(value)
                self.write(text)
                if self.defer is not None:
                    self.out[-1] = self.defer(text, f"{{{{{node.pipe}}}}}")
        elif isinstance(node, IfNode):
            mark = len(self.vars)
            try:
                value = self.eval_pipeline(dot, node.pipe)
                if is_true(value):
                    self.walk_list(value if node.is_with else dot, node.body)
                elif node.else_list is not None:
                    self.walk_list(dot, node.else_list)
            finally:
                del self.vars[mark:]
        elif isinstance(node, RangeNode):
            self.walk_range(dot, node)
        elif isinstance(node, TemplateNode):
            self.walk_template(dot, node)
        elif isinstance(node, BreakNode):
            raise _Break
        else:
            assert isinstance(node, ContinueNode)
            raise _Continue

    def printable(self, value: Any) -> str:
        if value is None:
            return "<no value>"
        if isinstance(value, str):
            return value
        if callable(value):
            raise self.error(f"can't print value of type {type_name(value)}")
        return format_value(value)

    def walk_range(self, dot: Any, node: RangeNode) -> None:
        outer = len(self.vars)
        try:
            value = self.eval_pipeline(dot, node.pipe)
            pairs: Any
            if isinstance(value, list | tuple):
                pairs = enumerate(value)
            elif isinstance(value, Mapping):
                pairs = ((key, value[key]) for key in sorted_keys(value))
            elif isinstance(value, int) and not isinstance(value, bool):
                if len(node.pipe.decl) > 1:
                    raise self.error(f"can't use {_source(node.pipe)} to iterate over more than one variable")
                pairs = ((i, i) for i in range(value))
            elif value is None:
                pairs = iter(())
            else:
                raise self.error(f"range can't iterate over {_source(node.pipe)} (of type {type_name(value)})")
            mark = len(self.vars)
            iterated = False
            for index, elem in pairs:
                iterated = True
                self.line = node.line
                self.step()
                self.bind_range_vars(node.pipe, index, elem)
                try:
                    self.walk_list(elem, node.body)
                except _Continue:
                    pass
                except _Break:
                    break
                finally:
                    del self.vars[mark:]
            if not iterated and node.else_list is not None:
                self.walk_list(dot, node.else_list)
        finally:
            del self.vars[outer:]

    def bind_range_vars(self, pipe: PipeNode, index: Any, elem: Any) -> None:
        decl = pipe.decl
        if not decl:
            return
        if pipe.is_assign:
            if len(decl) == 1:
                self.assign(decl[0], elem)
            else:
                self.assign(decl[0], index)
                self.assign(decl[1], elem)
            return
        # eval_pipeline pushed the declared variables; overwrite them in place (Go's setTopVar).
        base = len(self.vars) - len(decl)
        if len(decl) == 1:
            self.vars[base] = (decl[0], elem)
        else:
            self.vars[base] = (decl[0], index)
            self.vars[base + 1] = (decl[1], elem)

    def walk_template(self, dot: Any, node: TemplateNode) -> None:
        body = self.template.parsed.defines.get(node.name)
        if body is None:
            raise self.error(f'template "{node.name}" not defined')
        if self.depth >= MAX_TEMPLATE_DEPTH:
            raise self.error(f"exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})")
        value = self.eval_pipeline(dot, node.pipe) if node.pipe is not None else None
        saved = self.vars
        self.vars = [("$", value)]
        self.depth += 1
        try:
            self.walk_list(value, body)
        finally:
            self.depth -= 1
            self.vars = saved

    # ------------------------------------------------------------ expressions

    def eval_pipeline(self, dot: Any, pipe: PipeNode) -> Any:
        value = _MISSING
        piped = ""
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value, piped)
            piped = str(cmd)
        for name in pipe.decl:
            if pipe.is_assign:
                self.assign(name, value)
            else:
                self.vars.append((name, value))
        return value

    def not_a_function(self, cmd: CommandNode, final: Any) -> None:
        if len(cmd.args) > 1 or final is not _MISSING:
            raise self.error(f"can't give argument to non-function {cmd.args[0]}")

    def eval_command(self, dot: Any, cmd: CommandNode, final: Any, piped: str = "") -> Any:
        self.line = cmd.line
        self.step()
        first = cmd.args[0]
        if isinstance(first, FieldNode):
            return self.eval_fields(dot, first.idents, cmd, final)
        if isinstance(first, ChainNode):
            receiver = self.eval_arg(dot, first.node)
            return self.eval_fields(receiver, first.idents, cmd, final)
        if isinstance(first, IdentifierNode):
            return self.eval_function(dot, first.name, cmd.args[1:], final, piped)
        if isinstance(first, VariableNode):
            value = self.lookup(first.name)
            if not first.idents:
                self.not_a_function(cmd, final)
                return value
            return self.eval_fields(value, first.idents, cmd, final)
        self.not_a_function(cmd, final)
        if isinstance(first, PipeNode):
            return self.eval_pipeline(dot, first)
        if isinstance(first, NilNode):
            raise self.error("nil is not a command")
        if isinstance(first, DotNode):
            return dot
        assert isinstance(first, LiteralNode)
        return first.value

    def eval_fields(self, receiver: Any, idents: tuple[str, ...], cmd: CommandNode | None, final: Any) -> Any:
        """Look up ``.A.B`` on ``receiver``: map keys only, never Python attributes."""
        for position, name in enumerate(idents):
            if receiver is None:
                return None
            if not isinstance(receiver, Mapping):
                raise self.error(f"can't evaluate field {name} in type {type_name(receiver)}")
            last = position == len(idents) - 1
            if last and cmd is not None and (len(cmd.args) > 1 or final is not _MISSING):
                raise self.error(f"{name} is not a method but has arguments")
            receiver = receiver.get(name)
        return receiver

    def eval_arg(self, dot: Any, node: Operand) -> Any:
        self.line = node.line
        if isinstance(node, DotNode):
            return dot
        if isinstance(node, NilNode):
            return None
        if isinstance(node, LiteralNode):
            return node.value
        if isinstance(node, FieldNode):
            return self.eval_fields(dot, node.idents, None, _MISSING)
        if isinstance(node, VariableNode):
            return self.eval_fields(self.lookup(node.name), node.idents, None, _MISSING)
        if isinstance(node, PipeNode):
            return self.eval_pipeline(dot, node)
        if isinstance(node, IdentifierNode):
            return self.eval_function(dot, node.name, (), _MISSING)
        receiver = self.eval_arg(dot, node.node)
        return self.eval_fields(receiver, node.idents, None, _MISSING)

    def eval_function(self, dot: Any, name: str, arg_nodes: tuple[Operand, ...], final: Any,
                      piped: str = "") -> Any:
        func = self.functions[name]
        line = self.line
        if func is gofuncs.go_and or func is gofuncs.go_or:
            if not arg_nodes and final is _MISSING:
                raise TemplateRuntimeError(f"wrong number of args for {name}: want at least 1 got 0", line)
            want = func is gofuncs.go_or
            value: Any = None
            for node in arg_nodes:
                value = self.eval_arg(dot, node)
                if is_true(value) == want:
                    return value
            return value if final is _MISSING else final
        args = [self.eval_arg(dot, node) for node in arg_nodes]
        if final is not _MISSING:
            args.append(final)
        self.line = line
        _check_arity(name, func, len(args))
        try:
            result = func(*args)
        except TemplateError as exc:
            sources = [*zip(args, map(str, arg_nodes), strict=False), *([(final, piped)] if piped else [])]
            raise type(exc)(_scrub(exc.message, sources), exc.line if exc.line is not None else line) from None
        except RecursionError:
            raise
        except Exception as exc:  # a function's own failure becomes a template error, like Go
            sources = [*zip(args, map(str, arg_nodes), strict=False), *([(final, piped)] if piped else [])]
            raise TemplateRuntimeError(f"error calling {name}: {_scrub(str(exc), sources)}", line) from exc
        size = _result_size(result)
        if size > self.limits.max_output and isinstance(result, str):
            raise TemplateRuntimeError(
                f"result of {name} exceeds the output limit of {self.limits.max_output} characters", line
            )
        self.step(size // _STEP_UNIT)
        return result


class Template:
    """A parsed template; parse once, execute many times (executions do not share state)."""

    def __init__(self, parsed: ParsedTemplate, functions: Mapping[str, Callable[..., Any]], source: str) -> None:
        self.parsed = parsed
        self.functions = functions
        self.source = source

    @classmethod
    def parse(cls, source: str, *, functions: Mapping[str, Callable[..., Any]] | None = None) -> Template:
        """Parse ``source``; ``functions`` are merged over :data:`DEFAULT_FUNCTIONS`."""
        table: dict[str, Callable[..., Any]] = dict(DEFAULT_FUNCTIONS)
        for name, func in (functions or {}).items():
            if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
                raise ValueError(f"function name {name!r} is not a valid identifier")
            if not callable(func):
                raise TypeError(f"value for function {name!r} is not callable")
            table[name] = func
        try:
            parsed = parse(source, table)
        except RecursionError:
            raise TemplateSyntaxError("template is nested too deeply") from None
        return cls(parsed, table, source)

    def execute(self, data: Mapping[str, Any], *, limits: Limits = Limits(), defer: Defer | None = None) -> str:
        """Render with ``data`` as dot and ``$``; raises :class:`TemplateRuntimeError` on failure."""
        state = _State(self, limits, defer)
        state.vars.append(("$", data))
        token = METER.set(state.meter)
        try:
            state.walk_list(data, self.parsed.root)
        except TemplateError as exc:
            raise exc.with_line(state.line) from None
        except RecursionError:
            raise TemplateRuntimeError("template evaluation nested too deeply", state.line) from None
        finally:
            METER.reset(token)
        return "".join(state.out)


def render(
    source: str,
    data: Mapping[str, Any],
    *,
    functions: Mapping[str, Callable[..., Any]] | None = None,
    limits: Limits = Limits(),
) -> str:
    """Parse and execute ``source`` in one go."""
    return Template.parse(source, functions=functions).execute(data, limits=limits)


def has_template(text: str) -> bool:
    """Whether ``text`` contains template actions at all (cheap pre-check before parsing)."""
    return "{{" in text
