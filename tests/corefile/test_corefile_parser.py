"""Server blocks, directives, snippets, env and errors, after caddy's parse_test.go."""

from __future__ import annotations

import json

import pytest

from clusterdns.corefile import ServerBlock, parse
from clusterdns.corefile import parser as parser_module
from clusterdns.errors import CorefileError

KNOWN = frozenset("whoami log errors forward cache hosts kubernetes health dir1 dir2 dir3".split())


def parse_text(text: str, env: dict[str, str] | None = None) -> list[ServerBlock]:
    return parse(text, "Corefile", known_directives=KNOWN, env=env or {})


def shape(blocks: list[ServerBlock]) -> list[tuple[list[str], dict[str, list[str]]]]:
    """Keys and, per directive, the texts of all its tokens."""
    return [
        (
            [key.text for key in block.keys],
            {name: [t.text for t in tokens] for name, tokens in block.directives},
        )
        for block in blocks
    ]


def at(line: int) -> str:
    """The position prefix of a parse error in the test Corefile."""
    return f"Corefile:{line} - Error during parsing: "


def parse_error(text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(CorefileError) as info:
        parse_text(text, env)
    return str(info.value)


# -- structure ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("localhost", [(["localhost"], {})], id="key-only"),
        pytest.param("localhost\n  dir1", [(["localhost"], {"dir1": ["dir1"]})], id="braceless"),
        pytest.param(
            "localhost:1234\n  dir1 foo bar",
            [(["localhost:1234"], {"dir1": ["dir1", "foo", "bar"]})],
            id="braceless-args",
        ),
        pytest.param("localhost {\n  dir1\n}", [(["localhost"], {"dir1": ["dir1"]})], id="braced"),
        pytest.param(
            "localhost:1234 {\n  dir1 foo bar\n  dir2\n}",
            [(["localhost:1234"], {"dir1": ["dir1", "foo", "bar"], "dir2": ["dir2"]})],
            id="two-directives",
        ),
        pytest.param(
            "http://localhost https://localhost\n  dir1 foo bar",
            [(["http://localhost", "https://localhost"], {"dir1": ["dir1", "foo", "bar"]})],
            id="two-keys-braceless",
        ),
        pytest.param(
            "http://localhost, https://localhost {\n  dir1 foo bar\n}",
            [(["http://localhost", "https://localhost"], {"dir1": ["dir1", "foo", "bar"]})],
            id="comma-separated-keys",
        ),
        pytest.param(
            "host1:80, http://host2.com\n  dir1 foo bar\n  dir2 baz",
            [
                (
                    ["host1:80", "http://host2.com"],
                    {"dir1": ["dir1", "foo", "bar"], "dir2": ["dir2", "baz"]},
                )
            ],
            id="comma-keys-braceless",
        ),
        pytest.param(
            "http://host1.com,\n  http://host2.com,\n  https://host3.com",
            [(["http://host1.com", "http://host2.com", "https://host3.com"], {})],
            id="trailing-comma-continues-on-next-line",
        ),
        pytest.param(
            "a,\n b {\n dir1\n}", [(["a", "b"], {"dir1": ["dir1"]})], id="continued-keys-then-brace"
        ),
        pytest.param("a,b {\n}", [(["a,b"], {})], id="inner-comma-kept"),
        pytest.param(
            "http://host1.com:1234, https://host2.com\n  dir1 foo {\n    bar baz\n  }\n  dir2",
            [
                (
                    ["http://host1.com:1234", "https://host2.com"],
                    {"dir1": ["dir1", "foo", "{", "bar", "baz", "}"], "dir2": ["dir2"]},
                )
            ],
            id="sub-block",
        ),
        pytest.param(
            "127.0.0.1\n  dir1 {\n    bar baz\n  }\n  dir2 {\n    foo bar\n  }",
            [
                (
                    ["127.0.0.1"],
                    {
                        "dir1": ["dir1", "{", "bar", "baz", "}"],
                        "dir2": ["dir2", "{", "foo", "bar", "}"],
                    },
                )
            ],
            id="two-sub-blocks",
        ),
        pytest.param(
            "localhost\n  dir1 {\n  }",
            [(["localhost"], {"dir1": ["dir1", "{", "}"]})],
            id="empty-sub-block",
        ),
        pytest.param(
            "localhost\n  dir1 {\n    nested {\n      foo\n    }\n  }\n  dir2 foo bar",
            [
                (
                    ["localhost"],
                    {
                        "dir1": ["dir1", "{", "nested", "{", "foo", "}", "}"],
                        "dir2": ["dir2", "foo", "bar"],
                    },
                )
            ],
            id="nested-sub-blocks",
        ),
        pytest.param(
            ". {\n  forward . 1.1.1.1 {\n    a {\n      b {\n        c\n      }\n    }\n  }\n}",
            [
                (
                    ["."],
                    {
                        "forward": [
                            "forward",
                            ".",
                            "1.1.1.1",
                            "{",
                            "a",
                            "{",
                            "b",
                            "{",
                            "c",
                            "}",
                            "}",
                            "}",
                        ]
                    },
                )
            ],
            id="three-levels-deep",
        ),
        pytest.param("", [], id="empty-file"),
        pytest.param("# only a comment\n", [], id="only-comment"),
        pytest.param('""', [], id="empty-key-dropped"),
        pytest.param('"" {\n  whoami\n}', [], id="block-without-keys-dropped"),
        pytest.param("example.org { }", [(["example.org"], {})], id="empty-block"),
        pytest.param(
            "localhost:1234 {\n}\nlocalhost:2015 {\n}",
            [(["localhost:1234"], {}), (["localhost:2015"], {})],
            id="two-blocks",
        ),
        pytest.param(
            "http://host1.com, http://host2.com {\n}\nhttps://host3.com, https://host4.com {\n}",
            [
                (["http://host1.com", "http://host2.com"], {}),
                (["https://host3.com", "https://host4.com"], {}),
            ],
            id="two-blocks-two-keys",
        ),
        pytest.param("a b c {\n}", [(["a", "b", "c"], {})], id="three-keys"),
        pytest.param(
            "a\n  whoami\n}\nb {\n  log\n}",
            [(["a"], {"whoami": ["whoami"]}), (["b"], {"log": ["log"]})],
            id="closing-brace-ends-braceless-block",
        ),
        pytest.param(
            ".:53 {\n    whoami # answer\n    # log\n}\n",
            [([".:53"], {"whoami": ["whoami"]})],
            id="comments-ignored",
        ),
    ],
)
def test_structure(text: str, expected: list[tuple[list[str], dict[str, list[str]]]]) -> None:
    assert shape(parse_text(text)) == expected


def test_brace_on_the_next_line_is_accepted_like_caddy() -> None:
    # coredns-features.md 2.2 says this fails; caddy's parser (blockContents) accepts it.
    assert shape(parse_text("example.org\n{\n    whoami\n}")) == shape(
        parse_text("example.org {\n    whoami\n}")
    )


def test_brace_alone_inside_a_block_is_an_unknown_directive() -> None:
    assert parse_error(". {\n    {\n    }\n}") == at(2) + "Unknown directive '{'"


def test_sub_block_on_the_next_line_is_grouped_with_the_directive() -> None:
    # The parser counts braces wherever they are; only the dispenser insists on the same line.
    blocks = parse_text(". {\n  forward . 1.1.1.1\n  {\n    max_fails 3\n  }\n}")
    assert [t.text for t in blocks[0].tokens("forward")] == [
        "forward",
        ".",
        "1.1.1.1",
        "{",
        "max_fails",
        "3",
        "}",
    ]


def test_repeated_directives_are_grouped_in_order() -> None:
    blocks = parse_text(". {\n  log one\n  whoami\n  log two {\n    x\n  }\n  errors\n  log\n}")
    block = blocks[0]
    assert block.directive_names() == ("log", "whoami", "errors")
    assert [(t.text, t.line) for t in block.tokens("log")] == [
        ("log", 2),
        ("one", 2),
        ("log", 4),
        ("two", 4),
        ("{", 4),
        ("x", 5),
        ("}", 6),
        ("log", 8),
    ]
    assert block.tokens("cache") == ()


def test_keys_and_tokens_keep_their_lines() -> None:
    block = parse_text("a,\n  b {\n  whoami x\n}")[0]
    assert [(k.text, k.file, k.line) for k in block.keys] == [
        ("a", "Corefile", 1),
        ("b", "Corefile", 2),
    ]
    assert [(t.text, t.line) for t in block.tokens("whoami")] == [("whoami", 3), ("x", 3)]


def test_multiline_quoted_argument_keeps_the_line_going() -> None:
    block = parse_text('. {\n  hosts "a\nb" c\n  log\n}')[0]
    assert [t.text for t in block.tokens("hosts")] == ["hosts", "a\nb", "c"]
    assert [t.text for t in block.tokens("log")] == ["log"]


def test_import_as_argument_is_not_an_import() -> None:
    block = parse_text(". {\n  hosts / import password\n}")[0]
    assert [t.text for t in block.tokens("hosts")] == ["hosts", "/", "import", "password"]


def test_keys_ending_the_file_make_a_block() -> None:
    assert shape(parse_text("a {\n}\nb")) == [(["a"], {}), (["b"], {})]


# -- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            ". {\n    foo\n}",
            at(2) + "Unknown directive 'foo'",
            id="unknown-directive",
        ),
        pytest.param(
            ".\nfoo bar",
            at(2) + "Unknown directive 'foo'",
            id="unknown-directive-braceless",
        ),
        pytest.param(
            ". {\n    whoami }\n",
            at(2) + "Unexpected '}' because no matching opening brace",
            id="brace-closing-on-directive-line",
        ),
        pytest.param(
            ". { whoami }",
            at(1) + "Unexpected '}' because no matching opening brace",
            id="one-line-block",
        ),
        pytest.param(
            "localhost\n  dir1 {\n  } }",
            at(3) + "Unexpected '}' because no matching opening brace",
            id="extra-closing-brace",
        ),
        pytest.param(
            ". {\n    forward . 1.1.1.1 {\n        max_fails 3\n",
            at(3) + "Unexpected EOF",
            id="eof-in-sub-block",
        ),
        pytest.param(
            "localhost\n  dir1 {\n    foo",
            at(3) + "Unexpected EOF",
            id="eof-in-sub-block-braceless",
        ),
        pytest.param(
            ". {\n    whoami\n",
            "Corefile:2 - Syntax error: Unexpected token 'whoami', expecting '}'",
            id="eof-in-block",
        ),
        pytest.param(
            ". {",
            "Corefile:1 - Syntax error: Unexpected token '{', expecting '}'",
            id="eof-after-open-brace",
        ),
        pytest.param("a, b,", at(1) + "Unexpected EOF", id="eof-after-comma"),
        pytest.param(
            "localhost:1234, http://host2,",
            at(1) + "Unexpected EOF",
            id="eof-after-comma-2",
        ),
        pytest.param(
            "http://localhost, {\n}",
            at(1) + "Expected another address but had '{' - check for extra comma",
            id="comma-before-brace",
        ),
        pytest.param(
            "a,\n{\n}",
            at(2) + "Expected another address but had '{' - check for extra comma",
            id="comma-then-brace-next-line",
        ),
        pytest.param(
            "(s) {\n  whoami\n}\n(s) {\n  log\n}",
            at(4) + "redeclaration of previously declared snippet s",
            id="snippet-redeclared",
        ),
        pytest.param(
            "(s)\nwhoami",
            "Corefile:2 - Syntax error: Unexpected token 'whoami', expecting '{'",
            id="snippet-without-brace",
        ),
        pytest.param(
            "(s) {\n  whoami\n",
            "Corefile:2 - Syntax error: Unexpected token 'whoami', expecting '}'",
            id="snippet-unclosed",
        ),
        pytest.param(
            "(loop) {\n  import loop\n}\nimport loop\n",
            at(3) + "maximum snippet import depth (10000) exceeded",
            id="snippet-imports-itself",
        ),
        pytest.param(
            "(loop) {\n  { }\n  import loop\n}\nimport loop\n",
            at(4) + "maximum snippet import depth (10000) exceeded",
            id="snippet-imports-itself-after-braces",
        ),
        pytest.param(
            "(a) {\n  import b\n}\n(b) {\n  import a\n}\n. {\n  import a\n}",
            at(5) + "maximum snippet import depth (10000) exceeded",
            id="snippet-import-cycle",
        ),
        pytest.param(
            ". {\n    import\n}",
            at(2) + "Wrong argument count or unexpected line ending after 'import'",
            id="import-without-argument",
        ),
        pytest.param(
            "import a b",
            at(1) + "Import takes only one argument (glob pattern or file)",
            id="import-two-arguments",
        ),
        pytest.param(
            'import ""',
            at(1) + "Import requires a non-empty filepath",
            id="import-empty",
        ),
        pytest.param(
            "import {$UNSET}",
            at(1) + "Import requires a non-empty filepath",
            id="import-unset-env",
        ),
        pytest.param(
            "import {$$}",
            at(1) + "Import requires a non-empty filepath",
            id="import-dollar-env",
        ),
        pytest.param(
            "import /*/*.txt",
            at(1) + "Glob pattern may only contain one wildcard (*), but has others: /*/*.txt",
            id="two-stars",
        ),
        pytest.param(
            "import /???/?*?o",
            at(1) + "Glob pattern may only contain one wildcard (*), but has others: /???/?*?o",
            id="many-question-marks",
        ),
        pytest.param(
            "import /??",
            at(1) + "Glob pattern may only contain one wildcard (*), but has others: /??",
            id="two-question-marks",
        ),
        pytest.param(
            "import /[a-z]",
            at(1) + "Glob pattern may only contain one wildcard (*), but has others: /[a-z]",
            id="character-class",
        ),
        pytest.param(
            "import /tmp/x[",
            at(1) + "Failed to use import pattern /tmp/x[: syntax error in pattern",
            id="unclosed-bracket",
        ),
        pytest.param(
            ". {\n  {$PLUGIN}\n}",
            at(2) + "Unknown directive ''",
            id="directive-from-unset-env",
        ),
    ],
)
def test_errors(text: str, expected: str) -> None:
    assert parse_error(text) == expected


def test_syntax_errors_are_corefile_errors_with_position() -> None:
    with pytest.raises(CorefileError) as info:
        parse_text(". {\n  whoami\n")
    assert (info.value.file, info.value.line) == ("Corefile", 2)
    assert info.value.message == "Syntax error: Unexpected token 'whoami', expecting '}'"


def test_error_names_the_file_given() -> None:
    with pytest.raises(
        CorefileError,
        match=r"^/etc/coredns/Corefile:2 - Error during parsing: Unknown directive 'x'$",
    ):
        parse("a\nx", "/etc/coredns/Corefile", known_directives=KNOWN)


def test_known_directives_decide_what_is_unknown() -> None:
    assert shape(parse("a\nx", "Corefile", known_directives={"x"})) == [(["a"], {"x": ["x"]})]


def test_snippet_import_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parser_module, "MAX_SNIPPET_EXPANSIONS", 3)
    text = "(s) {\n  log\n}\n. {\n  import s\n  import s\n  import s\n  import s\n}"
    assert parse_error(text) == at(8) + "maximum snippet import depth (3) exceeded"


def test_snippet_imports_below_the_cap_succeed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parser_module, "MAX_SNIPPET_EXPANSIONS", 3)
    blocks = parse_text("(s) {\n  log\n}\n. {\n  import s\n  import s\n  import s\n}")
    assert [t.text for t in blocks[0].tokens("log")] == ["log", "log", "log"]


# -- snippets -------------------------------------------------------------------------


def test_snippet_is_spliced_and_not_a_block() -> None:
    blocks = parse_text(
        "(common) {\n  log foo\n  errors stderr\n}\nhttp://example.com {\n  import common\n}\n"
    )
    assert shape(blocks) == [
        (["http://example.com"], {"log": ["log", "foo"], "errors": ["errors", "stderr"]})
    ]


def test_snippet_tokens_keep_their_definition_lines() -> None:
    block = parse_text("(common) {\n  log foo\n}\n. {\n  import common\n}")[0]
    assert [(t.text, t.line) for t in block.tokens("log")] == [("log", 2), ("foo", 2)]


def test_snippet_imported_twice_and_between_directives() -> None:
    blocks = parse_text(
        "(s) {\n  log\n}\na {\n  whoami\n  import s\n  errors\n}\nb {\n  import s\n}"
    )
    assert shape(blocks) == [
        (["a"], {"whoami": ["whoami"], "log": ["log"], "errors": ["errors"]}),
        (["b"], {"log": ["log"]}),
    ]


def test_snippet_with_nested_blocks() -> None:
    block = parse_text(
        "(fw) {\n  forward . 1.1.1.1 {\n    max_fails 3\n  }\n}\n. {\n  import fw\n}"
    )[0]
    assert [t.text for t in block.tokens("forward")] == [
        "forward",
        ".",
        "1.1.1.1",
        "{",
        "max_fails",
        "3",
        "}",
    ]


def test_snippet_imported_inside_a_sub_block() -> None:
    block = parse_text(
        "(opts) {\n  max_fails 3\n  expire 10s\n}\n"
        ". {\n  forward . 1.1.1.1 {\n    import opts\n  }\n}"
    )[0]
    assert [t.text for t in block.tokens("forward")] == [
        "forward",
        ".",
        "1.1.1.1",
        "{",
        "max_fails",
        "3",
        "expire",
        "10s",
        "}",
    ]


def test_snippet_importing_another_snippet() -> None:
    block = parse_text("(a) {\n  log\n}\n(b) {\n  import a\n  errors\n}\n. {\n  import b\n}")[0]
    assert block.directive_names() == ("log", "errors")


def test_snippet_of_server_blocks_imported_at_top_level() -> None:
    blocks = parse_text("(blocks) {\n  a {\n    log\n  }\n}\nimport blocks\nb {\n}")
    assert shape(blocks) == [(["a"], {"log": ["log"]}), (["b"], {})]


def test_empty_snippet_imports_nothing() -> None:
    assert shape(parse_text("(empty) {\n}\n. {\n  import empty\n  log\n}")) == [
        (["."], {"log": ["log"]})
    ]


def test_snippet_body_env_is_expanded_where_it_is_used() -> None:
    block = parse_text("(s) {\n  log {$FMT}\n}\n. {\n  import s\n}", {"FMT": "combined"})[0]
    assert [t.text for t in block.tokens("log")] == ["log", "combined"]


# -- env ------------------------------------------------------------------------------


ENV = {
    "PORT": "8080",
    "ADDRESS": "servername.com",
    "FOOBAR": "foobar",
    "PARTIAL_DIR": "r1",
    "PLUGIN": "whoami",
}


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        pytest.param("{$ADDRESS}", ["servername.com"], id="unix"),
        pytest.param("di{$PARTIAL_DIR}", ["dir1"], id="partial"),
        pytest.param("{$ADDRESS}:{$PORT}", ["servername.com:8080"], id="two"),
        pytest.param("{%ADDRESS%}:{$PORT}", ["servername.com:8080"], id="windows-unix"),
        pytest.param("{$ADDRESS}:{%PORT%}", ["servername.com:8080"], id="unix-windows"),
        pytest.param(":{$PORT$}", [":"], id="malformed"),
        pytest.param("{$UNSET} example.org", ["example.org"], id="unset-key-dropped"),
        pytest.param('"{$ADDRESS} x"', ["servername.com x"], id="quoted-key"),
    ],
)
def test_env_in_keys(text: str, keys: list[str]) -> None:
    assert [key.text for key in parse_text(text, ENV)[0].keys] == keys


@pytest.mark.parametrize(
    ("line", "tokens"),
    [
        pytest.param("dir1 {$FOOBAR}", ["dir1", "foobar"], id="argument"),
        pytest.param(
            "dir1 {%ADDRESS%}/{%FOOBAR%}", ["dir1", "servername.com/foobar"], id="windows-argument"
        ),
        pytest.param("dir1 {%ADDRESS}", ["dir1", "{%ADDRESS}"], id="malformed-windows"),
        pytest.param('dir1 "Test {$FOOBAR} test"', ["dir1", "Test foobar test"], id="quoted"),
        pytest.param(
            'dir1 "{{ .Name }} {$FOOBAR}"', ["dir1", "{{ .Name }} foobar"], id="template-braces"
        ),
        pytest.param("dir1 {$UNSET} x", ["dir1", "", "x"], id="unset-stays-empty-argument"),
        pytest.param("dir1 {\n  a {$PORT}\n}", ["dir1", "{", "a", "8080", "}"], id="in-sub-block"),
    ],
)
def test_env_in_directive_tokens(line: str, tokens: list[str]) -> None:
    block = parse_text(f":{{%PORT%}}\n{line}", ENV)[0]
    assert [key.text for key in block.keys] == [":8080"]
    assert [t.text for t in block.tokens("dir1")] == tokens


def test_env_in_directive_name() -> None:
    block = parse_text(". {\n  {$PLUGIN} x\n}", ENV)[0]
    assert block.directive_names() == ("whoami",)
    assert [t.text for t in block.tokens("whoami")] == ["whoami", "x"]


def test_env_defaults_to_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLUSTERDNS_ZONE", "cluster.local")
    blocks = parse("{$CLUSTERDNS_ZONE} {\n}", "Corefile", known_directives=KNOWN)
    assert [key.text for key in blocks[0].keys] == ["cluster.local"]


# -- canonical ------------------------------------------------------------------------

BASE = ".:53 {\n    errors\n    forward . 1.1.1.1 {\n        max_fails 3\n    }\n    cache 30\n}\n"


def canonical(text: str) -> str:
    return json.dumps([block.canonical() for block in parse_text(text)])


def test_canonical_shape() -> None:
    assert parse_text(BASE)[0].canonical() == {
        "keys": [".:53"],
        "directives": {
            "cache": [["cache", "30"]],
            "errors": [["errors"]],
            "forward": [["forward", ".", "1.1.1.1", "{"], ["max_fails", "3"], ["}"]],
        },
    }


@pytest.mark.parametrize(
    "edited",
    [
        pytest.param("# header comment\n" + BASE, id="comment-line"),
        pytest.param(BASE.replace("errors", "errors # keep"), id="trailing-comment"),
        pytest.param(BASE.replace("    ", "\t"), id="indentation"),
        pytest.param(BASE.replace("\n", "\n\n"), id="blank-lines"),
        pytest.param(BASE.replace("\n", "\r\n"), id="crlf"),
        pytest.param(BASE.replace("cache 30", "cache   30"), id="spaces-between-words"),
        pytest.param(
            BASE.replace("    errors\n", "").replace(
                "    cache 30\n", "    cache 30\n    errors\n"
            ),
            id="directive-order",
        ),
    ],
)
def test_canonical_ignores_layout(edited: str) -> None:
    assert canonical(edited) == canonical(BASE)


@pytest.mark.parametrize(
    "edited",
    [
        pytest.param(BASE.replace("cache 30", "cache 31"), id="argument"),
        pytest.param(BASE.replace(".:53", ".:1053"), id="key"),
        pytest.param(BASE.replace("max_fails 3", "max_fails\n3"), id="line-break"),
        pytest.param(BASE.replace("errors", "errors\n    log"), id="new-directive"),
    ],
)
def test_canonical_sees_changes(edited: str) -> None:
    assert canonical(edited) != canonical(BASE)
