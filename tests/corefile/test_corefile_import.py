"""``import`` of files and globs, relative paths, cycles and caps (caddy parse_test.go)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from clusterdns.corefile import ServerBlock, parse, parse_file
from clusterdns.corefile import parser as parser_module
from clusterdns.errors import CorefileError

KNOWN = frozenset("whoami log errors forward hosts dir1 dir2 dir3 proxy".split())


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def parse_in(directory: Path, text: str, env: dict[str, str] | None = None) -> list[ServerBlock]:
    """Parse ``text`` as if it were ``directory/Corefile``."""
    return parse(text, str(directory / "Corefile"), known_directives=KNOWN, env=env or {})


def error_in(directory: Path, text: str) -> str:
    with pytest.raises(CorefileError) as info:
        parse_in(directory, text)
    return str(info.value)


def at(path: Path, line: int) -> str:
    """The position prefix of a parse error in file ``path``."""
    return f"{path}:{line} - Error during parsing: "


def shape(blocks: list[ServerBlock]) -> list[tuple[list[str], dict[str, list[str]]]]:
    return [
        (
            [k.text for k in b.keys],
            {name: [t.text for t in tokens] for name, tokens in b.directives},
        )
        for b in blocks
    ]


@pytest.fixture
def testdata(tmp_path: Path) -> Path:
    """caddy's caddyfile/testdata files."""
    write(tmp_path / "import_test1.txt", "dir2 arg1 arg2\ndir3")
    write(tmp_path / "import_test2.txt", "host1 {\n\tdir1\n\tdir2 arg1\n}")
    write(tmp_path / "import_glob0.txt", "glob0.host0 {\n\tdir2 arg1\n}\n\nglob0.host1 {\n}\n")
    write(tmp_path / "import_glob1.txt", "glob1.host0 {\n\tdir1\n\tdir2 arg1\n}\n")
    write(tmp_path / "import_glob2.txt", "glob2.host0 {\n\tdir2 arg1\n}\n")
    return tmp_path


def test_import_file_inside_block(testdata: Path) -> None:
    blocks = parse_in(testdata, "localhost\n  dir1 arg1\n  import import_test1.txt")
    assert shape(blocks) == [
        (
            ["localhost"],
            {"dir1": ["dir1", "arg1"], "dir2": ["dir2", "arg1", "arg2"], "dir3": ["dir3"]},
        )
    ]


def test_import_file_at_top_level(testdata: Path) -> None:
    assert shape(parse_in(testdata, "import import_test2.txt")) == [
        (["host1"], {"dir1": ["dir1"], "dir2": ["dir2", "arg1"]})
    ]


def test_import_glob_at_top_level_in_name_order(testdata: Path) -> None:
    blocks = parse_in(testdata, "import import_glob*.txt")
    assert [[k.text for k in b.keys] for b in blocks] == [
        ["glob0.host0"],
        ["glob0.host1"],
        ["glob1.host0"],
        ["glob2.host0"],
    ]


def test_import_glob_with_question_mark(testdata: Path) -> None:
    blocks = parse_in(testdata, "import import_glob?.txt")
    assert len(blocks) == 4


def test_import_between_blocks(testdata: Path) -> None:
    blocks = parse_in(testdata, "a {\n  log\n}\nimport import_test2.txt\nb {\n  errors\n}")
    assert [[k.text for k in b.keys] for b in blocks] == [["a"], ["host1"], ["b"]]


def test_imported_tokens_name_the_imported_file(testdata: Path) -> None:
    block = parse_in(testdata, ". {\n  import import_test1.txt\n}")[0]
    path = str(testdata / "import_test1.txt")
    assert [(t.text, t.file, t.line) for t in block.tokens("dir2")] == [
        ("dir2", path, 1),
        ("arg1", path, 1),
        ("arg2", path, 1),
    ]


def test_import_in_a_directive_sub_block(tmp_path: Path) -> None:
    write(tmp_path / "directive_import_test", "prop1 1\n\tprop2 2")
    block = parse_in(
        tmp_path,
        "localhost\n\tdir1\n\tproxy {\n\t\timport directive_import_test\n\t\ttransparent\n\t}",
    )[0]
    assert [t.text for t in block.tokens("proxy")] == [
        "proxy",
        "{",
        "prop1",
        "1",
        "prop2",
        "2",
        "transparent",
        "}",
    ]
    assert [t.text for t in block.tokens("dir1")] == ["dir1"]


def test_import_missing_file_in_a_sub_block(tmp_path: Path) -> None:
    message = error_in(
        tmp_path, "localhost\n\tdir1\n\tproxy {\n\t\timport nonexistent_file\n\t\ttransparent\n\t}"
    )
    assert message == at(tmp_path / "Corefile", 4) + "File to import not found: nonexistent_file"


def test_import_not_at_line_start_in_a_sub_block_is_an_argument(tmp_path: Path) -> None:
    block = parse_in(tmp_path, ". {\n  hosts {\n    x import y\n  }\n}")[0]
    assert [t.text for t in block.tokens("hosts")] == ["hosts", "{", "x", "import", "y", "}"]


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    assert error_in(tmp_path, "a {\n}\nimport notfound/file.conf") == (
        at(tmp_path / "Corefile", 3) + "File to import not found: notfound/file.conf"
    )


def test_glob_without_match_only_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="clusterdns"):
        blocks = parse_in(tmp_path, "a {\n  import notfound/*\n  log\n}")
    assert shape(blocks) == [(["a"], {"log": ["log"]})]
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("clusterdns", "WARNING", "No files matching import glob pattern: notfound/*")
    ]


def test_glob_without_match_at_top_level(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="clusterdns"):
        assert parse_in(tmp_path, "import conf.d/*.conf") == []
    assert "No files matching import glob pattern: conf.d/*.conf" in caplog.text


def test_glob_pattern_checks_the_whole_path(tmp_path: Path) -> None:
    assert error_in(tmp_path, "import a*/b*") == (
        at(tmp_path / "Corefile", 1) + f""
        f"Glob pattern may only contain one wildcard (*), but has others: {tmp_path / 'a*/b*'}"
    )


def test_glob_wildcard_in_directory(tmp_path: Path) -> None:
    write(tmp_path / "b" / "x.conf", "b {\n}")
    write(tmp_path / "a" / "x.conf", "a {\n}")
    write(tmp_path / "a-b" / "x.conf", "a-b {\n}")
    write(tmp_path / "c" / "y.conf", "c {\n}")
    blocks = parse_in(tmp_path, "import */x.conf")
    # Go's Glob walks the matching directories in order, then the files of each
    assert [b.keys[0].text for b in blocks] == ["a", "a-b", "b"]


def test_star_matches_dotfiles(tmp_path: Path) -> None:
    write(tmp_path / "conf.d" / ".hidden", "hidden {\n}")
    write(tmp_path / "conf.d" / "visible", "visible {\n}")
    assert [b.keys[0].text for b in parse_in(tmp_path, "import conf.d/*")] == ["hidden", "visible"]


def test_relative_import_from_an_imported_file(tmp_path: Path) -> None:
    write(tmp_path / "sub" / "a.conf", "a {\n  import b.conf\n}")
    write(tmp_path / "sub" / "b.conf", "log b")
    write(tmp_path / "b.conf", "log wrong")
    block = parse_in(tmp_path, "import sub/a.conf")[0]
    assert [t.text for t in block.tokens("log")] == ["log", "b"]


def test_recursive_imports_relative_and_absolute(tmp_path: Path) -> None:
    second = write(tmp_path / "recursive_import_test2", "dir2 1")
    write(tmp_path / "recursive_import_test1", "localhost\n\tdir1\n\timport recursive_import_test2")
    expected = [(["localhost"], {"dir1": ["dir1"], "dir2": ["dir2", "1"]})]
    assert shape(parse_in(tmp_path, f"import {tmp_path / 'recursive_import_test1'}")) == expected
    assert shape(parse_in(tmp_path, "import recursive_import_test1")) == expected
    write(tmp_path / "recursive_import_test1", f"localhost\n\tdir1\n\timport {second}")
    assert shape(parse_in(tmp_path, f"import {tmp_path / 'recursive_import_test1'}")) == expected
    assert shape(parse_in(tmp_path, "import recursive_import_test1")) == expected


def test_import_pattern_with_env(tmp_path: Path) -> None:
    write(tmp_path / "conf" / "x.conf", "x {\n}")
    blocks = parse_in(tmp_path, "import {$CONF}/x.conf", {"CONF": str(tmp_path / "conf")})
    assert [b.keys[0].text for b in blocks] == ["x"]


def test_snippet_wins_over_file_of_the_same_name(tmp_path: Path) -> None:
    write(tmp_path / "common", "errors")
    block = parse_in(tmp_path, "(common) {\n  log\n}\n. {\n  import common\n}")[0]
    assert block.directive_names() == ("log",)


def test_snippet_used_in_an_imported_file(tmp_path: Path) -> None:
    other = write(tmp_path / "site.conf", "http://example.com {\n  import common\n}\n")
    blocks = parse_in(tmp_path, f"(common) {{\n  log foo\n}}\nimport {other}\n")
    assert shape(blocks) == [(["http://example.com"], {"log": ["log", "foo"]})]


def test_import_word_as_argument_in_imported_file(tmp_path: Path) -> None:
    other = write(
        tmp_path / "x.conf",
        "http://example.com {\n  # not an import\n  hosts / import password\n}\n",
    )
    block = parse_in(tmp_path, f"import {other}")[0]
    assert [t.text for t in block.tokens("hosts")] == ["hosts", "/", "import", "password"]


def test_empty_imported_file(tmp_path: Path) -> None:
    write(tmp_path / "empty.conf", "# nothing\n")
    assert shape(parse_in(tmp_path, ". {\n  import empty.conf\n  log\n}")) == [
        (["."], {"log": ["log"]})
    ]
    assert shape(parse_in(tmp_path, "import empty.conf\n. {\n}")) == [(["."], {})]
    assert parse_in(tmp_path, "import empty.conf") == []


def test_imported_file_with_bom(tmp_path: Path) -> None:
    (tmp_path / "bom.conf").write_bytes(b"\xef\xbb\xbflog\n")
    assert parse_in(tmp_path, ". {\n  import bom.conf\n}")[0].directive_names() == ("log",)


def test_error_inside_imported_file_names_it(tmp_path: Path) -> None:
    write(tmp_path / "bad.conf", "log\n\nbogus arg\n")
    assert error_in(tmp_path, ". {\n  import bad.conf\n}") == (
        at(tmp_path / "bad.conf", 3) + "Unknown directive 'bogus'"
    )


def test_directory_import_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    assert error_in(tmp_path, "import conf.d") == (
        at(tmp_path / "Corefile", 1) + f"Could not import {tmp_path / 'conf.d'}: is a directory"
    )


def test_dangling_symlink_cannot_be_read(tmp_path: Path) -> None:
    link = tmp_path / "gone.conf"
    link.symlink_to(tmp_path / "missing-target")
    assert error_in(tmp_path, "import gone.conf") == (
        at(tmp_path / "Corefile", 1) + f""
        f"Could not import {link}: open {link}: no such file or directory"
    )


def test_file_importing_itself(tmp_path: Path) -> None:
    write(tmp_path / "loop.conf", "log\nimport loop.conf\n")
    assert error_in(tmp_path, ". {\n  import loop.conf\n}") == (
        at(tmp_path / "loop.conf", 2) + "maximum file import depth (10000) exceeded"
    )


def test_file_import_cycle(tmp_path: Path) -> None:
    write(tmp_path / "a.conf", "import b.conf")
    write(tmp_path / "b.conf", "import a.conf")
    assert error_in(tmp_path, "import a.conf") == (
        at(tmp_path / "b.conf", 1) + "maximum file import depth (10000) exceeded"
    )


def test_glob_that_matches_its_own_file(tmp_path: Path) -> None:
    write(tmp_path / "conf.d" / "a.conf", "log a\nimport *.conf\n")
    assert error_in(tmp_path, ". {\n  import conf.d/*.conf\n}") == (
        at(tmp_path / "conf.d" / "a.conf", 2) + "maximum file import depth (10000) exceeded"
    )


def test_same_file_imported_twice_is_not_a_cycle(tmp_path: Path) -> None:
    write(tmp_path / "log.conf", "log")
    block = parse_in(tmp_path, "a {\n  import log.conf\n  import log.conf\n}")[0]
    assert [t.text for t in block.tokens("log")] == ["log", "log"]


def test_file_import_cap_keeps_caddys_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # caddy reports the snippet cap's number in the file cap's message.
    monkeypatch.setattr(parser_module, "MAX_FILE_EXPANSIONS", 2)
    write(tmp_path / "log.conf", "log")
    text = ". {\n  import log.conf\n  import log.conf\n  import log.conf\n}"
    assert error_in(tmp_path, text) == (
        at(tmp_path / "Corefile", 4) + "maximum file import depth (10000) exceeded"
    )


def test_one_glob_import_counts_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parser_module, "MAX_FILE_EXPANSIONS", 1)
    for i in range(10):
        write(tmp_path / "many" / f"f{i}", "")
    assert parse_in(tmp_path, f"import {tmp_path / 'many' / '*'}") == []


def test_parse_file_names_the_path_and_resolves_imports_next_to_it(tmp_path: Path) -> None:
    write(tmp_path / "extra.conf", "errors")
    corefile = write(tmp_path / "Corefile", ". {\n  import extra.conf\n  log\n}\n")
    blocks = parse_file(str(corefile), known_directives=KNOWN)
    assert blocks[0].directive_names() == ("errors", "log")
    write(tmp_path / "Corefile", ". {\n  nope\n}\n")
    with pytest.raises(
        CorefileError, match=f"^{corefile}:2 - Error during parsing: Unknown directive 'nope'$"
    ):
        parse_file(str(corefile), known_directives=KNOWN)


def test_parse_file_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "conf" / "Corefile", ". {\n  import extra.conf\n}\n")
    write(tmp_path / "conf" / "extra.conf", "log")
    monkeypatch.chdir(tmp_path)
    blocks = parse_file(os.path.join("conf", "Corefile"), known_directives=KNOWN)
    assert blocks[0].directive_names() == ("log",)
    assert blocks[0].keys[0].file == os.path.join("conf", "Corefile")


def canonical(directory: Path) -> str:
    return json.dumps(
        [b.canonical() for b in parse_in(directory, ". {\n  import extra.conf\n  errors\n}\n")]
    )


def test_canonical_changes_when_an_imported_file_changes(tmp_path: Path) -> None:
    write(tmp_path / "extra.conf", "forward . 1.1.1.1\n")
    before = canonical(tmp_path)
    write(tmp_path / "extra.conf", "# upstream\n\nforward . 1.1.1.1   # cloudflare\n")
    assert canonical(tmp_path) == before
    write(tmp_path / "extra.conf", "forward . 8.8.8.8\n")
    assert canonical(tmp_path) != before


def test_snippet_and_file_import_cycle(tmp_path: Path) -> None:
    write(tmp_path / "f.conf", "import s\n")
    assert error_in(tmp_path, "(s) {\n  import f.conf\n}\n. {\n  import s\n}") == (
        at(tmp_path / "f.conf", 1) + "maximum snippet import depth (10000) exceeded"
    )
