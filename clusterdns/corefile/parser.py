"""Group a Corefile's tokens into server blocks, the way CoreDNS's parser (coredns/caddy) does.

A block's keys are its zones; its tokens are grouped per directive (all occurrences of a
directive together, in order) so that each plugin's setup runs once per block. Snippets and
``import`` are expanded here, env references are substituted here, and every error carries
caddy's wording and the file and line of the offending token, because users compare both
with CoreDNS.

The parser is a ``Dispenser`` whose token list grows as imports are spliced in. Besides
caddy's caps on the number of imports, it follows the chain of imports each token came
through, so an import cycle fails at once with the message caddy gives when it hits its cap
(caddy loops until the cap, which for files means 100000 reads).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace

from ..errors import CorefileError
from .dispenser import Dispenser
from .lexer import Token, expand_env, tokenize

#: caddy's caps on snippet and file imports per parse (module attributes so tests can lower them).
MAX_SNIPPET_EXPANSIONS = 10_000
MAX_FILE_EXPANSIONS = 100_000

_log = logging.getLogger("clusterdns")
_Chain = tuple[str, ...]  # the imports ("snippet:NAME", "file:PATH") a token came through


@dataclass(frozen=True, slots=True)
class ServerBlock:
    """Keys (zones as written, env-expanded) and, per directive in order, all its tokens.

    Each occurrence of a directive contributes its name token followed by its arguments and
    sub-block, so a ``Dispenser`` over ``tokens(name)`` sees every occurrence in turn.
    """

    keys: tuple[Token, ...]
    directives: tuple[tuple[str, tuple[Token, ...]], ...]

    def tokens(self, name: str) -> tuple[Token, ...]:
        """All tokens of directive ``name`` (empty when the block does not use it)."""
        for directive, tokens in self.directives:
            if directive == name:
                return tokens
        return ()

    def directive_names(self) -> tuple[str, ...]:
        """The directives used in the block, in order of first appearance."""
        return tuple(name for name, _ in self.directives)

    def canonical(self) -> dict[str, object]:
        """A JSON-able form for the reload checksum: texts and line structure, no positions.

        Comments, blank lines and indentation do not change it; any token, any line break
        between tokens, and anything in an imported file does. Directives are sorted by name
        (their order in a block has no effect; plugin order is fixed).
        """
        return {
            "keys": [key.text for key in self.keys],
            "directives": {name: _lines(tokens) for name, tokens in sorted(self.directives)},
        }


def _lines(tokens: tuple[Token, ...]) -> list[list[str]]:
    lines: list[list[str]] = []
    before: Token | None = None
    for token in tokens:
        if (
            before is None
            or before.file != token.file
            or before.line + before.text.count("\n") != token.line
        ):
            lines.append([])
        lines[-1].append(token.text)
        before = token
    return lines


def parse(
    text: str,
    file: str,
    *,
    known_directives: Collection[str],
    env: Mapping[str, str] | None = None,
) -> list[ServerBlock]:
    """Parse Corefile ``text`` read from ``file`` (the name used in errors and for imports).

    Raises ``CorefileError`` for any syntax error, unknown directive or failed import.
    """
    return _Parser(tokenize(text, file), file, known_directives, env).parse_all()


def parse_file(
    path: str,
    *,
    known_directives: Collection[str],
    env: Mapping[str, str] | None = None,
) -> list[ServerBlock]:
    """Read and parse the Corefile at ``path``; errors name the file as given."""
    with open(path, "rb") as handle:
        text = handle.read().decode("utf-8", errors="replace")
    return parse(text, path, known_directives=known_directives, env=env)


class _Parser(Dispenser):
    def __init__(
        self,
        tokens: list[Token],
        file: str,
        known_directives: Collection[str],
        env: Mapping[str, str] | None,
    ) -> None:
        super().__init__(tokens, file=file)
        self._chains: list[_Chain] = [()] * len(tokens)
        self._known = known_directives
        self._env = env
        self._snippets: dict[str, list[Token]] = {}
        self._snippet_expansions = 0
        self._file_expansions = 0
        self._eof = False
        self._keys: list[Token] = []
        self._grouped: dict[str, list[Token]] = {}

    def _expand(self, text: str) -> str:
        return expand_env(text, self._env)

    def parse_all(self) -> list[ServerBlock]:
        blocks = []
        while self.next():
            self._keys, self._grouped = [], {}
            self._parse_block()
            if self._keys:
                directives = tuple((name, tuple(t)) for name, t in self._grouped.items())
                blocks.append(ServerBlock(tuple(self._keys), directives))
        return blocks

    def _parse_block(self) -> None:
        self._parse_keys()
        if self._eof:  # the file ended on the keys' line
            return
        if (name := self._snippet_name()) is not None:
            self._define_snippet(name)
            self._keys = []  # a snippet is not a server block
            return
        braced = self.val() == "{"
        if not braced:  # braceless form: the rest of the file is this block
            self._cursor -= 1
        self._parse_directives()
        if braced and self.val() != "}":
            raise self.syntax_err("}")

    def _parse_keys(self) -> None:
        """Read keys up to ``{`` or the end of the line; a trailing comma continues the list."""
        expecting_another = False
        while True:
            text = self._expand(self.val())
            if text == "import" and self._is_new_line(self._cursor):
                self._import()
                continue
            if text == "{":
                if expecting_another:
                    raise self.errf(
                        "Expected another address but had '%s' - check for extra comma", text
                    )
                return
            if text:  # "" (an empty quoted word or variable) is not a key
                expecting_another = text.endswith(",")
                text = text.removesuffix(",")
                self._keys.append(Token(text, self.file(), self.line()))
            if not self.next():
                if expecting_another:
                    raise self.eof_err()
                self._eof = True
                return
            if not expecting_another and self._is_new_line(self._cursor):
                return

    def _snippet_name(self) -> str | None:
        if len(self._keys) == 1:
            key = self._keys[0].text
            if key.startswith("(") and key.endswith(")"):
                return key[1:].removesuffix(")")
        return None

    def _define_snippet(self, name: str) -> None:
        if name in self._snippets:
            raise self.errf("redeclaration of previously declared snippet %s", name)
        if self.val() != "{":
            raise self.syntax_err("{")
        tokens: list[Token] = []
        depth = 1
        while self.next():
            if self.val() == "}":
                depth -= 1
                if depth == 0:
                    break
            elif self.val() == "{":
                depth += 1
            tokens.append(self._tokens[self._cursor])
        if depth:
            raise self.syntax_err("}")
        # caddy's guard against a snippet importing itself at the start of one of its lines
        for i, token in enumerate(tokens[:-1]):
            before = tokens[i - 1] if i else None
            at_line_start = before is None or (before.file, before.line) != (token.file, token.line)
            if (
                token.text == "import"
                and at_line_start
                and self._expand(tokens[i + 1].text) == name
            ):
                raise self._snippet_cap_error()
        self._snippets[name] = tokens

    def _parse_directives(self) -> None:
        """Parse directive lines until the block's ``}`` or the end of input."""
        while self.next():
            if self.val() == "}":
                return
            if self.val() == "import":
                self._import()
                self._cursor -= 1
                continue
            self._parse_directive()

    def _parse_directive(self) -> None:
        """Collect a directive's line, and its sub-blocks however deeply nested."""
        name = self._expand(self.val())
        if name not in self._known:
            raise self.errf("Unknown directive '%s'", name)
        collected = self._grouped.setdefault(name, [])
        collected.append(replace(self._tokens[self._cursor], text=name))
        nesting = 0
        while self.next():
            text = self.val()
            if text == "{":
                nesting += 1
            elif nesting == 0 and self._is_new_line(self._cursor):
                self._cursor -= 1  # read one token too far
                break
            elif text == "}":
                if nesting == 0:
                    raise self.err("Unexpected '}' because no matching opening brace")
                nesting -= 1
            elif text == "import" and self._is_new_line(self._cursor):
                self._import()
                self._cursor -= 1
                continue
            token = self._tokens[self._cursor]
            collected.append(replace(token, text=self._expand(token.text)))
        if nesting > 0:
            raise self.eof_err()

    # -- import ------------------------------------------------------------------------

    def _import(self) -> None:
        """Replace ``import ARG`` (the cursor is on ``import``) by the snippet's or files' tokens.

        Afterwards the cursor is on the first imported token (or on what followed the import
        when nothing was imported), as in caddy.
        """
        if not self.next_arg():
            raise self.arg_err()
        pattern = self._expand(self.val())
        if not pattern:
            raise self.err("Import requires a non-empty filepath")
        if self.next_arg():
            raise self.err("Import takes only one argument (glob pattern or file)")
        chain = self._chains[self._cursor]
        imported: list[tuple[Token, _Chain]] = []
        if pattern in self._snippets:
            source = f"snippet:{pattern}"
            if self._snippet_expansions >= MAX_SNIPPET_EXPANSIONS or source in chain:
                raise self._snippet_cap_error()
            self._snippet_expansions += 1
            imported = [(token, (*chain, source)) for token in self._snippets[pattern]]
        else:
            if self._file_expansions >= MAX_FILE_EXPANSIONS:
                raise self._file_cap_error()
            self._file_expansions += 1
            for path in self._import_paths(pattern):
                source = f"file:{os.path.abspath(path)}"
                if source in chain:
                    raise self._file_cap_error()
                imported += [(token, (*chain, source)) for token in self._read_import(path)]
        at = self._cursor - 1
        self._tokens[at : at + 2] = [token for token, _ in imported]
        self._chains[at : at + 2] = [chain for _, chain in imported]
        self._cursor = at

    def _snippet_cap_error(self) -> CorefileError:
        return self.errf("maximum snippet import depth (%d) exceeded", MAX_SNIPPET_EXPANSIONS)

    def _file_cap_error(self) -> CorefileError:
        # caddy prints the snippet cap here, not the file cap; keep its exact text.
        return self.errf("maximum file import depth (%d) exceeded", MAX_SNIPPET_EXPANSIONS)

    def _import_paths(self, pattern: str) -> list[str]:
        """The files ``pattern`` names, relative to the importing token's file."""
        if os.path.isabs(pattern):
            glob_pattern = pattern
        else:
            base = os.path.dirname(os.path.abspath(self.file()))
            glob_pattern = os.path.normpath(os.path.join(base, pattern))
        if (
            glob_pattern.count("*") > 1
            or glob_pattern.count("?") > 1
            or ("[" in glob_pattern and "]" in glob_pattern)
        ):
            raise self.errf(
                "Glob pattern may only contain one wildcard (*), but has others: %s", glob_pattern
            )
        if "[" in glob_pattern or glob_pattern.endswith("\\"):
            raise self.errf("Failed to use import pattern %s: syntax error in pattern", pattern)
        paths = _glob(glob_pattern)
        if not paths:
            if any(ch in glob_pattern for ch in "*?[]"):
                _log.warning("No files matching import glob pattern: %s", pattern)
            else:
                raise self.errf("File to import not found: %s", pattern)
        return paths

    def _read_import(self, path: str) -> list[Token]:
        if os.path.isdir(path):
            raise self.errf("Could not import %s: is a directory", path)
        try:
            with open(path, "rb") as handle:
                text = handle.read().decode("utf-8", errors="replace")
        except OSError as exc:  # worded like Go's *PathError: "open PATH: no such file ..."
            reason = exc.strerror or str(exc)
            reason = reason[:1].lower() + reason[1:]
            raise self.errf("Could not import %s: open %s: %s", path, path, reason) from None
        return tokenize(text, os.path.abspath(path))


# -- a glob with Go's filepath.Glob semantics (sorted per directory, `*` matches dotfiles) --


def _has_meta(path: str) -> bool:
    return any(ch in path for ch in "*?[\\")


def _glob(pattern: str) -> list[str]:
    if not _has_meta(pattern):
        return [pattern] if os.path.lexists(pattern) else []
    directory, name = os.path.split(pattern)
    directories = _glob(directory) if _has_meta(directory) else [directory]
    regex = _name_regex(name)
    found = []
    for parent in directories:
        try:
            names = sorted(os.listdir(parent))
        except OSError:
            continue
        found += [os.path.join(parent, n) for n in names if regex.fullmatch(n)]
    return found


def _name_regex(pattern: str) -> re.Pattern[str]:
    parts, chars = [], iter(pattern)
    for ch in chars:
        if ch == "*":
            parts.append("[^/]*")
        elif ch == "?":
            parts.append("[^/]")
        else:
            parts.append(re.escape(next(chars, "") if ch == "\\" else ch))
    return re.compile("".join(parts), re.DOTALL)
