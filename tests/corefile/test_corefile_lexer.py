"""Lexing and env substitution, after caddy's lexer_test.go and parse_test.go (env cases)."""

from __future__ import annotations

import pytest

from clusterdns.corefile import Token, expand_env, tokenize


def texts_and_lines(text: str) -> list[tuple[str, int]]:
    return [(token.text, token.line) for token in tokenize(text, "Corefile")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("host:123", [("host:123", 1)], id="one-word"),
        pytest.param(
            "host:123\n\n\t\t\tdirective", [("host:123", 1), ("directive", 3)], id="blank-line"
        ),
        pytest.param(
            "host:123 {\n\tdirective\n}",
            [("host:123", 1), ("{", 1), ("directive", 2), ("}", 3)],
            id="block",
        ),
        pytest.param(
            "host:123 { directive }",
            [("host:123", 1), ("{", 1), ("directive", 1), ("}", 1)],
            id="block-on-one-line",
        ),
        pytest.param(
            "host:123 {\n\t#comment\n\tdirective\n\t# comment\n\tfoobar # another comment\n}",
            [("host:123", 1), ("{", 1), ("directive", 3), ("foobar", 5), ("}", 6)],
            id="comments",
        ),
        pytest.param(
            'a "quoted value" b\nfoobar',
            [("a", 1), ("quoted value", 1), ("b", 1), ("foobar", 2)],
            id="quoted",
        ),
        pytest.param(
            'A "quoted \\"value\\" inside" B',
            [("A", 1), ('quoted "value" inside', 1), ("B", 1)],
            id="escaped-quotes",
        ),
        pytest.param('"don\'t\\escape"', [("don't\\escape", 1)], id="other-backslash-kept"),
        pytest.param('"don\'t\\\\escape"', [("don't\\\\escape", 1)], id="double-backslash-kept"),
        pytest.param(
            'A "quoted value with line\n\t\tbreak inside" {\n\tfoobar\n}',
            [
                ("A", 1),
                ("quoted value with line\n\t\tbreak inside", 1),
                ("{", 2),
                ("foobar", 3),
                ("}", 4),
            ],
            id="quoted-spans-lines",
        ),
        pytest.param('"C:\\php\\php-cgi.exe"', [("C:\\php\\php-cgi.exe", 1)], id="windows-path"),
        pytest.param('empty "" string', [("empty", 1), ("", 1), ("string", 1)], id="empty-quoted"),
        pytest.param(
            "skip those\r\nCR characters",
            [("skip", 1), ("those", 1), ("CR", 2), ("characters", 2)],
            id="crlf",
        ),
        pytest.param("\ufeff:8080", [(":8080", 1)], id="bom"),
        pytest.param("", [], id="empty"),
        pytest.param("\n", [], id="newline"),
        pytest.param(" ", [], id="space"),
        pytest.param("\t\n", [], id="tab-newline"),
        pytest.param("a b c\nd e", [("a", 1), ("b", 1), ("c", 1), ("d", 2), ("e", 2)], id="words"),
    ],
)
def test_caddy_lexer_cases(text: str, expected: list[tuple[str, int]]) -> None:
    assert texts_and_lines(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("foo#bar\nnext", [("foo", 1), ("next", 2)], id="hash-ends-word"),
        pytest.param("foo #bar baz\nnext", [("foo", 1), ("next", 2)], id="comment-to-end-of-line"),
        # caddy quirk: a comment that cut a word short ends at the next whitespace
        pytest.param(
            "foo#bar baz\nnext", [("foo", 1), ("baz", 1), ("next", 2)], id="mid-word-comment-quirk"
        ),
        pytest.param('"a # b" c', [("a # b", 1), ("c", 1)], id="hash-in-quotes"),
        pytest.param('# "not a quote\nx', [("x", 2)], id="quote-in-comment"),
        pytest.param('a"b c"', [('a"b', 1), ('c"', 1)], id="quote-inside-word-literal"),
        pytest.param('"abc"def', [("abc", 1), ("def", 1)], id="closing-quote-ends-word"),
        pytest.param('x "unterminated', [("x", 1), ("unterminated", 1)], id="unterminated-quote"),
        pytest.param('x "', [("x", 1)], id="lone-quote"),
        pytest.param('"a\\\nb"', [("a\\\nb", 1)], id="backslash-newline-in-quotes"),
        pytest.param("a\rb", [("ab", 1)], id="cr-inside-word-dropped"),
        pytest.param('"a\r\nb"', [("a\r\nb", 1)], id="cr-kept-in-quotes"),
        pytest.param("a\u00a0b\u2003c", [("a", 1), ("b", 1), ("c", 1)], id="unicode-spaces"),
        pytest.param("a\x1cb", [("a\x1cb", 1)], id="ascii-separator-not-space"),
        pytest.param("x\ufeffy", [("x\ufeffy", 1)], id="bom-only-at-start"),
        pytest.param(
            'one\n"two\nlines" three\nfour',
            [("one", 1), ("two\nlines", 2), ("three", 3), ("four", 4)],
            id="line-after-multiline-quote",
        ),
    ],
)
def test_lexer_edge_cases(text: str, expected: list[tuple[str, int]]) -> None:
    assert texts_and_lines(text) == expected


def test_tokens_carry_the_file_name() -> None:
    assert tokenize("a\nb", "/etc/coredns/Corefile") == [
        Token("a", "/etc/coredns/Corefile", 1),
        Token("b", "/etc/coredns/Corefile", 2),
    ]


def test_lexer_leaves_env_references_alone() -> None:
    assert texts_and_lines('{$HOME} "{%HOME%}"') == [("{$HOME}", 1), ("{%HOME%}", 1)]


ENV = {
    "PORT": "8080",
    "ADDRESS": "servername.com",
    "FOOBAR": "foobar",
    "PARTIAL_DIR": "r1",
    "EMPTY": "",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("{$ADDRESS}", "servername.com", id="unix"),
        pytest.param("{%ADDRESS%}", "servername.com", id="windows"),
        pytest.param("di{$PARTIAL_DIR}", "dir1", id="partial"),
        pytest.param("{$ADDRESS}:{$PORT}", "servername.com:8080", id="two-unix"),
        pytest.param("{%ADDRESS%}:{$PORT}", "servername.com:8080", id="windows-then-unix"),
        pytest.param("{$ADDRESS}:{%PORT%}", "servername.com:8080", id="unix-then-windows"),
        pytest.param("{%ADDRESS%}/{%FOOBAR%}", "servername.com/foobar", id="two-windows"),
        pytest.param("{$PORT}-{$PORT}", "8080-8080", id="repeated"),
        pytest.param("{$UNSET}", "", id="unset-unix"),
        pytest.param("a{%UNSET%}b", "ab", id="unset-windows"),
        pytest.param("{$EMPTY}", "", id="empty-value"),
        pytest.param("{%ADDRESS}", "{%ADDRESS}", id="malformed-windows"),
        pytest.param(":{$PORT$}", ":", id="malformed-unix-is-unset-name"),
        pytest.param("{$PORT", "{$PORT", id="unterminated"),
        pytest.param("{$}", "{$}", id="empty-name"),
        pytest.param("{%}", "{%}", id="windows-overlap"),
        pytest.param("{$$}", "", id="dollar-name"),
        pytest.param("{$PORT}{$}{$PORT}", "8080{$}8080", id="empty-name-stops-after-replace-all"),
        pytest.param("{{ .Name }} {$FOOBAR}", "{{ .Name }} foobar", id="template-braces"),
        pytest.param("$PORT %PORT%", "$PORT %PORT%", id="no-braces"),
    ],
)
def test_expand_env(text: str, expected: str) -> None:
    assert expand_env(text, ENV) == expected


def test_expand_env_does_not_rescan_values() -> None:
    assert expand_env("{$SELF}", {"SELF": "{$SELF}"}) == "{$SELF}"


def test_expand_env_windows_value_is_expanded_by_unix_pass() -> None:
    assert expand_env("{%A%}", {"A": "{$B}", "B": "b"}) == "b"


def test_expand_env_defaults_to_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLUSTERDNS_TEST_VAR", "from-env")
    assert expand_env("x-{$CLUSTERDNS_TEST_VAR}") == "x-from-env"
