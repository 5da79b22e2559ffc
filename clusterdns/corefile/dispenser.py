"""Walk one directive's tokens the way CoreDNS plugins do (caddy's ``Dispenser``).

A plugin's setup reads its configuration with a cursor over the tokens the parser grouped
under its directive: ``while d.next(): args = d.remaining_args(); while d.next_block(): ...``.
Lines matter (a newline ends the arguments, a sub-block must open on the directive's line), and
errors must name the file and line of the token at the cursor, so both are reproduced here.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import CorefileError
from .lexer import Token


class CorefileSyntaxError(CorefileError):
    """caddy's ``SyntaxErr``: ``file:line - Syntax error: ...``, without "Error during parsing"."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(file, line, message)
        self.args = (f"{file}:{line} - {message}",)


class Dispenser:
    """A cursor over tokens; the cursor starts before the first token."""

    def __init__(self, tokens: Sequence[Token], *, file: str) -> None:
        self._tokens = list(tokens)
        self._file = file
        self._cursor = -1
        self._nesting = 0

    # -- moving the cursor -------------------------------------------------------------

    def next(self) -> bool:
        """Load the next token, whatever line it is on; False at the end."""
        if self._cursor < len(self._tokens) - 1:
            self._cursor += 1
            return True
        return False

    def next_arg(self) -> bool:
        """Load the next token only if it is on the current token's line."""
        if self._cursor < 0 and self._tokens:
            self._cursor += 1
            return True
        if self._cursor < len(self._tokens) - 1 and self._same_line(self._cursor + 1):
            self._cursor += 1
            return True
        return False

    def next_line(self) -> bool:
        """Load the next token only if it starts a new line."""
        if self._cursor < 0 and self._tokens:
            self._cursor += 1
            return True
        if self._cursor < len(self._tokens) - 1 and self._is_new_line(self._cursor + 1):
            self._cursor += 1
            return True
        return False

    def next_block(self, level: int = 0) -> bool:
        """Load the next token of a ``{ ... }`` block that opens on the current line.

        Use as a loop condition; it returns False at the block's closing brace (or at once if
        there is no block, or it is empty). Blocks nested inside it are walked through, their
        braces included, unless the plugin descends into one with ``next_block(level + 1)``
        while on the nested block's first token (``level`` is how many blocks deep the loop is;
        0 for a directive's own block). caddy's dispenser does not track nesting; a block
        without nested blocks is walked the same way.
        """
        if self._nesting > level:
            if not self.next():
                return False
            if self.val() == "}":
                self._nesting -= 1
            elif self.val() == "{":
                self._nesting += 1
            return self._nesting > level
        if not self.next_arg():
            return False
        if self.val() != "{":
            self._cursor -= 1
            return False
        if not self.next() or self.val() == "}":
            return False
        self._nesting += 2 if self.val() == "{" else 1
        return True

    def remaining_args(self) -> list[str]:
        """The rest of the current line, stopping before a ``{`` (which is not consumed)."""
        args: list[str] = []
        while self.next_arg():
            if self.val() == "{":
                self._cursor -= 1
                break
            args.append(self.val())
        return args

    # -- reading the current token -----------------------------------------------------

    def val(self) -> str:
        """The current token's text; '' when no token is loaded."""
        token = self._current()
        return token.text if token else ""

    def line(self) -> int:
        """The current token's line; 0 when no token is loaded."""
        token = self._current()
        return token.line if token else 0

    def file(self) -> str:
        """The current token's file (an imported file's path), else the dispenser's file."""
        token = self._current()
        return token.file if token and token.file else self._file

    # -- errors, positioned at the current token ---------------------------------------

    def err(self, message: str) -> CorefileError:
        return CorefileError(self.file(), self.line(), message)

    def errf(self, fmt: str, *args: object) -> CorefileError:
        """``err`` with a printf-style (``%s``, ``%d``) message."""
        return self.err(fmt % args if args else fmt)

    def arg_err(self) -> CorefileError:
        """Another argument was expected: a line ended or a block opened instead."""
        if self.val() == "{":
            return self.err("Unexpected token '{', expecting argument")
        return self.errf("Wrong argument count or unexpected line ending after '%s'", self.val())

    def syntax_err(self, expected: str) -> CorefileError:
        message = f"Syntax error: Unexpected token '{self.val()}', expecting '{expected}'"
        return CorefileSyntaxError(self.file(), self.line(), message)

    def eof_err(self) -> CorefileError:
        return self.err("Unexpected EOF")

    # -- helpers -----------------------------------------------------------------------

    def _current(self) -> Token | None:
        if 0 <= self._cursor < len(self._tokens):
            return self._tokens[self._cursor]
        return None

    def _line_end(self, index: int) -> int:
        """The line a token ends on (a quoted token may span lines)."""
        token = self._tokens[index]
        return token.line + token.text.count("\n")

    def _same_line(self, index: int) -> bool:
        before, token = self._tokens[index - 1], self._tokens[index]
        return before.file == token.file and self._line_end(index - 1) == token.line

    def _is_new_line(self, index: int) -> bool:
        """Whether token ``index`` starts a line: a later line (or another file) than the last."""
        if index < 1:
            return True
        if index >= len(self._tokens):
            return False
        before, token = self._tokens[index - 1], self._tokens[index]
        return before.file != token.file or self._line_end(index - 1) < token.line
