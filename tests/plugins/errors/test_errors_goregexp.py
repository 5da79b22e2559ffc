"""Go regular expressions for ``consolidate``: Go's errors, Go's matching, not Python's.

Error texts follow Go's ``regexp/syntax`` (``parse.go`` and ``parse_test.go`` invalid cases);
matching cases pin the places where Python's ``re`` would answer differently.
"""

from __future__ import annotations

import pytest

from clusterdns.plugins.errors.goregexp import (
    GoRegexpError,
    UnsupportedRegexpError,
    compile_go,
)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("())", "unexpected ): `())`"),
        (")", "unexpected ): `)`"),
        ("a)", "unexpected ): `a)`"),
        ("(", "missing closing ): `(`"),
        ("(a|b", "missing closing ): `(a|b`"),
        ("x(?:y", "missing closing ): `x(?:y`"),
        ("*", "missing argument to repetition operator: `*`"),
        ("+", "missing argument to repetition operator: `+`"),
        ("?", "missing argument to repetition operator: `?`"),
        ("(*)", "missing argument to repetition operator: `*`"),
        ("(?:*)", "missing argument to repetition operator: `*`"),
        ("a|*", "missing argument to repetition operator: `*`"),
        ("(?i)*", "missing argument to repetition operator: `*`"),
        ("{1}", "missing argument to repetition operator: `{1}`"),
        ("x{1}*?", "invalid nested repetition operator: `{1}*?`"),
        ("a**", "invalid nested repetition operator: `**`"),
        ("a*+", "invalid nested repetition operator: `*+`"),
        ("a??", None),
        ("a*??", "invalid nested repetition operator: `*??`"),
        ("x{2}{3}", "invalid nested repetition operator: `{2}{3}`"),
        ("a{1001}", "invalid repeat count: `{1001}`"),
        ("a{2,1}", "invalid repeat count: `{2,1}`"),
        ("a{1,1001}", "invalid repeat count: `{1,1001}`"),
        ("a{100000000}", "invalid repeat count: `{100000000}`"),
        ("(a{100}){100}", "invalid repeat count: `{100}`"),
        ("((a{10}){10}){11}", "invalid repeat count: `{11}`"),
        ("((a{10}){10}){10}", None),
        ("(a{0}){1001}", "invalid repeat count: `{1001}`"),
        ("[a", "missing closing ]: `[a`"),
        ("x[a-z", "missing closing ]: `[a-z`"),
        ("[]", "missing closing ]: `[]`"),
        ("[^]", "missing closing ]: `[^]`"),
        ("[z-a]", "invalid character class range: `z-a`"),
        ("[a-\\d]", "invalid escape sequence: `\\d`"),
        ("[[:foo:]]", "invalid character class range: `[:foo:]`"),
        ("[[:alpha:]", "missing closing ]: `[[:alpha:]`"),
        ("\\pX", "invalid character class range: `\\pX`"),
        ("\\p{Foo}", "invalid character class range: `\\p{Foo}`"),
        ("\\p{Lu", "invalid character class range: `\\p{Lu`"),
        ("\\p", "invalid character class range: `\\p`"),
        ("\\1", "invalid escape sequence: `\\1`"),
        ("\\8", "invalid escape sequence: `\\8`"),
        ("\\q", "invalid escape sequence: `\\q`"),
        ("\\C", "invalid escape sequence: `\\C`"),
        ("\\x", "invalid escape sequence: `\\x`"),
        ("\\x4", "invalid escape sequence: `\\x4`"),
        ("\\xZZ", "invalid escape sequence: `\\xZZ`"),
        ("\\x{}", "invalid escape sequence: `\\x{}`"),
        ("\\x{110000}", "invalid escape sequence: `\\x{110000`"),
        ("\\x{12", "invalid escape sequence: `\\x{12`"),
        ("a\\", "trailing backslash at end of expression: ``"),
        ("(?=a)", "invalid or unsupported Perl syntax: `(?=`"),
        ("(?!a)", "invalid or unsupported Perl syntax: `(?!`"),
        ("(?<=a)", "invalid named capture: `(?<=a)`"),
        ("(?x)", "invalid or unsupported Perl syntax: `(?x`"),
        ("(?i", "invalid or unsupported Perl syntax: `(?i`"),
        ("(?i-)a", "invalid or unsupported Perl syntax: `(?i-)`"),
        ("(?--i)", "invalid or unsupported Perl syntax: `(?--`"),
        ("(?P<a-b>x)", "invalid named capture: `(?P<a-b>`"),
        ("(?P<>x)", "invalid named capture: `(?P<>`"),
        ("(?P<name", "invalid named capture: `(?P<name`"),
        ("(?P=name)", "invalid or unsupported Perl syntax: `(?P`"),
        ("(?'n'x)", "invalid or unsupported Perl syntax: `(?'`"),
    ],
)
def test_errors_are_gos(pattern: str, message: str | None) -> None:
    if message is None:
        compile_go(pattern)
        return
    with pytest.raises(GoRegexpError) as info:
        compile_go(pattern)
    assert str(info.value) == f"error parsing regexp: {message}"


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        # Unanchored search, as MatchString.
        ("timeout", "read udp: i/o timeout", True),
        ("^read udp .* i/o timeout$", "read udp 10.0.0.1:53->8.8.8.8:53: i/o timeout", True),
        # $ is the end of the text only (Python's $ also matches before a final newline).
        ("timeout$", "timeout\n", False),
        ("(?m)timeout$", "timeout\nmore", True),
        ("^b", "a\nb", False),
        ("(?m)^b", "a\nb", True),
        ("\\Aa\\z", "a", True),
        ("a\\z", "a\n", False),
        # Perl classes and word boundaries are ASCII.
        ("^\\d$", "\u0661", False),
        ("^\\w$", "\u00e9", False),
        ("^\\s$", "\u00a0", False),
        ("^\\s$", "\x0b", False),
        ("\\bx\\b", "\u00e9x\u00e9", True),
        ("^[[:alpha:]]+$", "abcXYZ", True),
        ("^[[:^digit:]]$", "7", False),
        ("^[^a]$", "\n", True),
        (".", "\n", False),
        ("(?s).", "\n", True),
        ("^\\pL+$", "\u00e9t\u00e9", True),
        ("^\\PL$", "1", True),
        ("^\\p{Lu}$", "a", False),
        ("(?i)^\\p{Lu}$", "a", True),
        ("^\\p{^Lu}$", "a", True),
        ("^[\\p{Nd}x]+$", "1x\u0661", True),
        ("(?i)ERROR", "an error", True),
        ("(?i:E)rror", "error", True),
        ("(?i:E)RROR", "error", False),
        ("(?i)E(?-i)RROR", "eRROR", True),
        ("(?i)E(?-i)RROR", "error", False),
        ("\\Q.*\\E", "a.*b", True),
        ("\\Q.*\\E", "ab", False),
        ("a{,3}", "a{,3}", True),
        ("a{2}", "aa", True),
        ("x\\x41\\x{42}\\101", "xABA", True),
        ("[\\d-z]+", "-9z", True),
        ("[]a]", "]", True),
        ("(?U)a+", "aaa", True),
        ("(?P<first>a)(?P<first>b)", "ab", True),
        ("\\.", "a", False),
    ],
)
def test_matching_is_gos(pattern: str, text: str, matches: bool) -> None:
    assert bool(compile_go(pattern).search(text)) is matches


def test_script_classes_are_refused_clearly() -> None:
    with pytest.raises(UnsupportedRegexpError, match="Greek"):
        compile_go("\\p{Greek}")
