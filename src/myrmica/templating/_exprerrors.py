"""The one error of the expression engine (re-exported by :mod:`myrmica.templating.expr`)."""

from __future__ import annotations


class ExprError(Exception):
    """A bad expression or a failed evaluation.

    ``message`` never quotes a runtime value (only names from the source, types and sizes), so a
    secret that flows through an expression cannot leak through an error. ``pos`` is the character
    offset of the offending token in ``expression``; ``line``/``column`` are 1-based, as expr-lang
    prints them: ``unknown name foo (1:5)``.
    """

    def __init__(self, message: str, pos: int | None = None, *, expression: str | None = None, phase: str = "") -> None:
        self.message = message
        self.pos = pos
        self.expression = expression
        self.phase = phase  # "compiling" or "evaluating" once located in an expression
        super().__init__(str(self))

    @property
    def line(self) -> int | None:
        if self.pos is None or self.expression is None:
            return None
        return self.expression.count("\n", 0, self.pos) + 1

    @property
    def column(self) -> int | None:
        if self.pos is None or self.expression is None:
            return None
        return self.pos - (self.expression.rfind("\n", 0, self.pos) + 1) + 1

    def located(self, expression: str, phase: str) -> ExprError:
        """This error attached to the source it came from (kept as is when already attached)."""
        if self.expression is not None:
            return self
        return ExprError(self.message, self.pos, expression=expression, phase=phase)

    def __str__(self) -> str:
        text = self.message
        if self.line is not None:
            text = f"{text} ({self.line}:{self.column})"
        if self.expression is not None and self.phase:
            text = f"error {self.phase} expression: {self.expression}: {text}"
        return text
