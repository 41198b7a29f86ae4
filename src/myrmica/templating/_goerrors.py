"""Errors raised by the Go-template engine (re-exported by :mod:`myrmica.templating.gotemplate`)."""

from __future__ import annotations


class TemplateError(Exception):
    """Base class: ``line`` is the 1-based source line of the offending action, when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.message = message
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)

    def with_line(self, line: int | None) -> TemplateError:
        """The same error located at ``line`` (or itself when it already has a line)."""
        if self.line is not None or line is None:
            return self
        return type(self)(self.message, line)


class TemplateSyntaxError(TemplateError):
    """The template source is malformed (raised by ``Template.parse``)."""


class TemplateRuntimeError(TemplateError):
    """Executing the template failed: bad call, wrong types, or a limit was exceeded."""
