"""Split Corefile text into tokens exactly as CoreDNS's Corefile lexer (coredns/caddy) does.

Every later stage (parser, dispenser, plugin setup) reasons about tokens and the line they sit
on, because a newline ends a directive's argument list. Getting whitespace, comments, quotes
and line numbers byte-for-byte right here is what makes error messages and argument counts
match CoreDNS.

Environment references (``{$NAME}``, ``{%NAME%}``) are *not* expanded while lexing: caddy
expands them at parse time, and only in keys, directive tokens and import patterns
(snippet bodies stay raw until imported). ``expand_env`` lives here because it is a
token-text transformation; the parser decides where to apply it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

# Python's str.isspace() also accepts the ASCII separators U+001C..U+001F; Go's
# unicode.IsSpace (caddy's definition) does not.
_NOT_GO_SPACE = frozenset("\x1c\x1d\x1e\x1f")


@dataclass(frozen=True, slots=True)
class Token:
    """One word of a Corefile and where it starts (``file`` is the imported file's path)."""

    text: str
    file: str
    line: int


def _is_space(ch: str) -> bool:
    return ch.isspace() and ch not in _NOT_GO_SPACE


def tokenize(text: str, file: str) -> list[Token]:
    """Lex ``text``: whitespace-separated words, ``#`` comments, ``"quoted"`` words.

    A leading BOM is skipped and ``\\r`` is dropped outside quotes. ``#`` starts a comment
    that runs to the end of the line, even in the middle of a word; but, as in caddy, a comment
    that cut a word short ends at the next whitespace (``foo#bar baz`` is ``foo``, ``baz``).
    A word that starts with ``"`` runs to the closing quote (it may span lines; ``\\"`` is the
    only escape; ``""`` is an empty word) and carries the line where it starts. An unterminated
    quote yields what was read, if anything.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    tokens: list[Token] = []
    chars: list[str] = []
    line = start = 1
    quoted = escaped = comment = False

    def emit() -> None:
        tokens.append(Token("".join(chars), file, start))
        chars.clear()

    for ch in text:
        if quoted:
            if not escaped and ch == "\\":
                escaped = True
                continue
            if not escaped and ch == '"':
                quoted = False
                emit()
                continue
            if ch == "\n":
                line += 1
            if escaped and ch != '"':
                chars.append("\\")
            chars.append(ch)
            escaped = False
        elif _is_space(ch):
            if ch == "\r":
                continue
            if ch == "\n":
                line += 1
                comment = False
            if chars:
                emit()
                comment = False  # caddy's comment flag lives only until a word is emitted
        elif comment or ch == "#":
            comment = True
        elif not chars and ch == '"':
            start, quoted = line, True
        else:
            if not chars:
                start = line
            chars.append(ch)
    if chars:
        emit()
    return tokens


def expand_env(text: str, env: Mapping[str, str] | None = None) -> str:
    """Replace ``{%NAME%}`` then ``{$NAME}`` with the variable's value ('' when unset).

    Mirrors caddy's ``replaceEnvVars``: every occurrence of a reference is replaced at once,
    an empty reference (``{$}``) stops the scan, and an unterminated one is left as written.
    Unlike caddy, a substituted value is not scanned again, so a value that mentions its own
    variable cannot loop forever.
    """
    values = os.environ if env is None else env
    text = _expand(text, "{%", "%}", values)
    return _expand(text, "{$", "}", values)


def _expand(text: str, opening: str, closing: str, env: Mapping[str, str]) -> str:
    start = text.find(opening)
    while start != -1:
        end = text.find(closing, start)
        if end == -1:
            break
        if end <= start + len(opening):
            return text
        reference = text[start : end + len(closing)]
        value = env.get(reference[len(opening) : -len(closing)], "")
        text = text.replace(reference, value)
        start = text.find(opening, start + len(value))
    return text
