"""The dispenser plugins read their tokens with, after caddy's dispenser_test.go."""

from __future__ import annotations

import pytest

from clusterdns.corefile import CorefileSyntaxError, Dispenser, Token, parse, tokenize
from clusterdns.errors import CorefileError


def dispenser(text: str) -> Dispenser:
    return Dispenser(tokenize(text, "Testfile"), file="Testfile")


def test_val_and_next() -> None:
    d = dispenser("host:port\n  dir1 arg1\n  dir2 arg2 arg3\n  dir3")
    assert d.val() == ""
    seen = []
    while d.next():
        seen.append(d.val())
    assert seen == ["host:port", "dir1", "arg1", "dir2", "arg2", "arg3", "dir3"]
    assert d.next() is False
    assert d.val() == "dir3"  # the cursor stays on the last token


def test_next_arg() -> None:
    d = dispenser("dir1 arg1\n  dir2 arg2 arg3\n  dir3")
    assert d.next() and d.val() == "dir1"
    assert d.next_arg() and d.val() == "arg1"
    assert not d.next_arg() and d.val() == "arg1"
    assert d.next() and d.val() == "dir2"
    assert d.next_arg() and d.val() == "arg2"
    assert d.next_arg() and d.val() == "arg3"
    assert not d.next_arg() and d.val() == "arg3"
    assert d.next() and d.val() == "dir3"
    assert not d.next() and d.val() == "dir3"


def test_next_arg_loads_the_first_token() -> None:
    d = dispenser("dir1 arg1")
    assert d.next_arg() and d.val() == "dir1"


def test_next_line() -> None:
    d = dispenser("host:port\n  dir1 arg1\n  dir2 arg2 arg3")
    assert d.next_line() and d.val() == "host:port"
    assert d.next_line() and d.val() == "dir1"
    assert not d.next_line() and d.val() == "dir1"
    d.next()  # arg1
    assert d.next_line() and d.val() == "dir2"
    assert not d.next_line() and d.val() == "dir2"
    d.next()  # arg2
    assert not d.next_line() and d.val() == "arg2"
    d.next()  # arg3
    assert not d.next_line() and d.val() == "arg3"


def test_next_block() -> None:
    d = dispenser("foobar1 {\n  sub1 arg1\n  sub2\n}\nfoobar2 {\n}")
    assert not d.next_block() and d.val() == ""
    d.next()  # foobar1
    assert d.next_block() and d.val() == "sub1"
    assert d.next_block() and d.val() == "arg1"
    assert d.next_block() and d.val() == "sub2"
    assert not d.next_block() and d.val() == "}"
    d.next()  # foobar2
    assert not d.next_block() and (d.val(), d.line()) == ("}", 6)  # an empty block is as if absent


def test_next_block_needs_the_brace_on_the_same_line() -> None:
    d = dispenser("forward . 1.1.1.1\n{\n  max_fails 3\n}")
    d.next()
    assert d.remaining_args() == [".", "1.1.1.1"]
    assert not d.next_block()
    assert d.val() == "1.1.1.1"


def test_next_block_without_block_does_not_move() -> None:
    d = dispenser("dir1 arg1\ndir2")
    d.next()
    d.next()  # arg1
    assert not d.next_block() and d.val() == "arg1"


def test_next_block_stops_at_eof_of_an_unclosed_block() -> None:
    d = dispenser("foobar {\n  sub1 arg1")
    assert d.next()
    assert d.next_block() and d.val() == "sub1"
    assert d.next_block() and d.val() == "arg1"
    assert not d.next_block()
    assert not d.next_block()


def test_next_block_walks_nested_blocks() -> None:
    d = dispenser("dir {\n  outer {\n    inner\n  }\n  last\n}\nnext")
    d.next()
    seen = []
    while d.next_block():
        seen.append(d.val())
    assert seen == ["outer", "{", "inner", "}", "last"]
    assert d.next() and d.val() == "next"


def test_next_block_with_a_nested_block_first() -> None:
    d = dispenser("dir {\n  {\n    inner\n  }\n  last\n}\nnext")
    d.next()
    seen = []
    while d.next_block():
        seen.append(d.val())
    assert seen == ["{", "inner", "}", "last"]
    assert d.next() and d.val() == "next"


def test_next_block_descends_into_nested_blocks_by_level() -> None:
    d = dispenser("view {\n  expr {\n    a 1\n    b 2\n  }\n  plain x\n  empty {\n  }\n}\nnext")
    d.next()
    outer = []
    while d.next_block():
        name, args, inner = d.val(), d.remaining_args(), []
        while d.next_block(1):
            inner.append([d.val(), *d.remaining_args()])
        outer.append((name, args, inner))
    assert outer == [
        ("expr", [], [["a", "1"], ["b", "2"]]),
        ("plain", ["x"], []),
        ("empty", [], []),
    ]
    assert d.next() and d.val() == "next"


def test_remaining_args() -> None:
    d = dispenser("dir1 arg1 arg2 arg3\n  dir2 arg4 arg5\n  dir3 arg6 { arg7\n  dir4")
    d.next()
    assert d.remaining_args() == ["arg1", "arg2", "arg3"]
    d.next()
    assert d.remaining_args() == ["arg4", "arg5"]
    d.next()
    assert d.remaining_args() == ["arg6"]
    assert d.next() and d.val() == "{"  # the brace was not consumed
    d.next()  # arg7
    d.next()  # dir4
    assert d.remaining_args() == []


def test_remaining_args_then_block() -> None:
    d = dispenser("cache 30 {\n  success 100\n  denial 50\n}")
    d.next()
    assert d.remaining_args() == ["30"]
    options = []
    while d.next_block():
        options.append([d.val(), *d.remaining_args()])
    assert options == [["success", "100"], ["denial", "50"]]


def test_multiline_quoted_token_counts_its_line_breaks() -> None:
    d = dispenser('hosts "a\nb" c\nnext')
    d.next()
    assert d.remaining_args() == ["a\nb", "c"]
    assert d.next_line() and d.val() == "next"


def test_tokens_of_another_file_are_not_on_the_same_line() -> None:
    d = Dispenser([Token("log", "Corefile", 3), Token("x", "/etc/extra.conf", 3)], file="Corefile")
    d.next()
    assert not d.next_arg()
    assert d.next_line() and d.file() == "/etc/extra.conf"


def test_plugin_loop_over_grouped_occurrences() -> None:
    blocks = parse(
        ". {\n  log a\n  whoami\n  log b {\n    class error\n  }\n}",
        "Corefile",
        known_directives={"log", "whoami"},
    )
    d = Dispenser(blocks[0].tokens("log"), file="Corefile")
    occurrences = []
    while d.next():
        args = d.remaining_args()
        block = []
        while d.next_block():
            block.append([d.val(), *d.remaining_args()])
        occurrences.append((args, block))
    assert occurrences == [(["a"], []), (["b"], [["class", "error"]])]


# -- position and errors --------------------------------------------------------------


def test_line_and_file() -> None:
    d = Dispenser([Token("a", "", 7), Token("b", "/x.conf", 2)], file="Corefile")
    assert (d.line(), d.file()) == (0, "Corefile")
    d.next()
    assert (d.line(), d.file()) == (7, "Corefile")  # a token without a file falls back
    d.next()
    assert (d.line(), d.file()) == (2, "/x.conf")


def test_empty_dispenser() -> None:
    # caddy's NextArg would "load" a missing first token and RemainingArgs give [""]
    d = Dispenser([], file="Corefile")
    assert not d.next_arg()
    assert not d.next_line()
    assert not d.next()
    assert not d.next_block()
    assert d.remaining_args() == []
    assert (
        str(d.arg_err()) == "Corefile:0 - Error during parsing: "
        "Wrong argument count or unexpected line ending after ''"
    )


def test_arg_err_and_err() -> None:
    d = dispenser("dir1 {\n}\ndir2 arg1 arg2")
    d.next()
    d.next()  # {
    assert (
        str(d.arg_err())
        == "Testfile:1 - Error during parsing: Unexpected token '{', expecting argument"
    )
    for _ in range(4):
        d.next()  # }, dir2, arg1, arg2
    assert str(d.arg_err()) == (
        "Testfile:3 - Error during parsing: "
        "Wrong argument count or unexpected line ending after 'arg2'"
    )
    error = d.err("foobar")
    assert isinstance(error, CorefileError)
    assert (error.file, error.line, error.message) == ("Testfile", 3, "foobar")
    assert str(error) == "Testfile:3 - Error during parsing: foobar"


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(
            lambda d: d.eof_err(), "Testfile:2 - Error during parsing: Unexpected EOF", id="eof"
        ),
        pytest.param(
            lambda d: d.errf("unknown property '%s' (%d)", d.val(), 3),
            "Testfile:2 - Error during parsing: unknown property 'max_fails' (3)",
            id="errf",
        ),
        pytest.param(
            lambda d: d.errf("100% literal"),
            "Testfile:2 - Error during parsing: 100% literal",
            id="errf-no-args",
        ),
        pytest.param(
            lambda d: d.syntax_err("{"),
            "Testfile:2 - Syntax error: Unexpected token 'max_fails', expecting '{'",
            id="syntax",
        ),
    ],
)
def test_error_constructors(make, expected: str) -> None:  # type: ignore[no-untyped-def]
    d = dispenser("forward\nmax_fails 3")
    d.next()
    d.next()
    assert str(make(d)) == expected


def test_syntax_err_is_a_corefile_error() -> None:
    d = dispenser("x")
    d.next()
    error = d.syntax_err("}")
    assert isinstance(error, CorefileSyntaxError) and isinstance(error, CorefileError)
    assert (error.file, error.line, error.message) == (
        "Testfile",
        1,
        "Syntax error: Unexpected token 'x', expecting '}'",
    )
