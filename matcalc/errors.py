"""User-facing errors: one line saying what went wrong and where."""
from __future__ import annotations


class MatcalcError(Exception):
    """An error caused by the user's input (exit code 2 in the CLI).

    ``source`` and ``pos`` (0-based offset into ``source``) locate the problem;
    ``str(err)`` is the one-line message, ``err.pointer()`` the source line with
    a caret under the column.
    """

    kind = "error"

    def __init__(self, message: str, source: str | None = None, pos: int | None = None):
        self.message = message
        self.source = source
        self.pos = pos
        super().__init__(self._one_line())

    def _location(self) -> tuple[int, int] | None:
        if self.source is None or self.pos is None:
            return None
        before = self.source[: self.pos]
        line = before.count("\n") + 1
        col = self.pos - (before.rfind("\n") + 1) + 1
        return line, col

    def _one_line(self) -> str:
        loc = self._location()
        if loc is None:
            return self.message
        line, col = loc
        where = f"column {col}" if "\n" not in (self.source or "") else f"line {line}, column {col}"
        return f"{self.message} (at {where})"

    def pointer(self) -> str:
        """The offending source line and a caret under the column ('' if unknown)."""
        loc = self._location()
        if loc is None:
            return ""
        line_no, col = loc
        text = self.source.split("\n")[line_no - 1]
        if len(text) > 200:  # keep the excerpt readable around the column
            start = max(0, col - 100)
            text, col = text[start:start + 200], col - start
        return f"  {text}\n  {' ' * (col - 1)}^"


class ParseError(MatcalcError):
    kind = "syntax error"


class ShapeError(MatcalcError):
    kind = "shape error"


class UnknownNameError(MatcalcError):
    kind = "unknown name"


class UnsupportedError(MatcalcError):
    """A construct the engine cannot differentiate (refused, never guessed)."""

    kind = "unsupported"


class DomainError(MatcalcError):
    kind = "domain error"


class LimitError(MatcalcError):
    """A documented limit was exceeded (program size, derivation time)."""

    kind = "limit exceeded"
