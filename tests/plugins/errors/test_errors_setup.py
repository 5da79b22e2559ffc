"""errors setup: what each Corefile form configures, and CoreDNS's exact setup errors.

The cases follow CoreDNS's ``plugin/errors/setup_test.go``; the error texts are those CoreDNS
prints (``plugin/errors: Corefile:N - Error during parsing: ...``), the position being the
last token read, as caddy's dispenser reports it.
"""

from __future__ import annotations

import pytest
from errors_test_support import build

from clusterdns.errors import PluginSetupError
from clusterdns.plugins.errors.errors import Errors
from clusterdns.duration import HOUR, MILLISECOND, MINUTE, SECOND
from clusterdns.plugins.errors.options import ErrorsOptions


def handler(errors_lines: str) -> Errors:
    found = build(f". {{\n{errors_lines}\n}}\n").blocks[0].handlers["errors"]
    assert isinstance(found, Errors)
    return found


def options(errors_lines: str) -> ErrorsOptions:
    return handler(errors_lines).options


@pytest.mark.parametrize(
    "lines",
    ["errors", "errors stdout", "errors {\n}", "errors stdout {\n}"],
)
def test_plain_forms_have_no_options(lines: str) -> None:
    assert options(lines) == ErrorsOptions()


def test_stacktrace_is_accepted_and_marks_the_block() -> None:
    instance = build(". {\nerrors {\nstacktrace\n}\n}\n")
    errors = instance.blocks[0].handlers["errors"]
    assert isinstance(errors, Errors)
    assert errors.options == ErrorsOptions(stacktrace=True)
    assert getattr(instance.blocks[0], "stacktrace", False) is True


@pytest.mark.parametrize(
    ("line", "period_ns", "regexp_text", "level", "show_first"),
    [
        ("consolidate 1m ^exact$", MINUTE, "^exact$", "error", False),
        ("consolidate 1m error", MINUTE, "error", "error", False),
        ('consolidate 1m "format error"', MINUTE, "format error", "error", False),
        ("consolidate 5s error2 warning", 5 * SECOND, "error2", "warning", False),
        ("consolidate 100ms .* info", 100 * MILLISECOND, ".*", "info", False),
        ("consolidate 1h30m .* debug", HOUR + 30 * MINUTE, ".*", "debug", False),
        ("consolidate 1m error show_first", MINUTE, "error", "error", True),
        ("consolidate 1m error warning show_first", MINUTE, "error", "warning", True),
        ("consolidate 0 x", 0, "x", "error", False),
        ("consolidate -1s x", -SECOND, "x", "error", False),
    ],
)
def test_consolidate_rule(
    line: str, period_ns: int, regexp_text: str, level: str, show_first: bool
) -> None:
    (rule,) = options(f"errors {{\n{line}\n}}").consolidate
    assert (rule.period_ns, rule.regexp_text, rule.level, rule.show_first) == (
        period_ns,
        regexp_text,
        level,
        show_first,
    )


def test_several_consolidate_rules_keep_their_order() -> None:
    rules = options("errors {\nstacktrace\nconsolidate 1m error1\nconsolidate 5s error2\n}").consolidate
    assert [(r.period_ns, r.regexp_text) for r in rules] == [(MINUTE, "error1"), (5 * SECOND, "error2")]


def test_regexp_may_be_10000_bytes() -> None:
    (rule,) = options("errors {\nconsolidate 1m " + "a" * 10000 + "\n}").consolidate
    assert rule.regexp.search("a" * 10000)


P = "plugin/errors: Corefile:"
E = " - Error during parsing: "


@pytest.mark.parametrize(
    ("corefile", "message"),
    [
        (". {\nerrors errors.txt\n}\n", P + "2" + E + "invalid log file: errors.txt"),
        (". {\nerrors visible\n}\n", P + "2" + E + "invalid log file: visible"),
        (". {\nerrors a b\n}\n", P + "2" + E + "Wrong argument count or unexpected line ending after 'b'"),
        (". {\nerrors\nerrors\n}\n", "plugin/errors: this plugin can only be used once per Server Block"),
        (
            ". {\nerrors {\nlog visible\n}\n}\n",
            P + "3 - Syntax error: Unexpected token 'log', expecting 'Unknown field log'",
        ),
        (
            ". {\nerrors {\nstacktrace extra\n}\n}\n",
            P + "3 - Syntax error: Unexpected token 'extra', expecting 'Unknown field extra'",
        ),
        (
            ". {\nerrors {\nconsolidate\n}\n}\n",
            P + "3" + E + "Wrong argument count or unexpected line ending after 'consolidate'",
        ),
        (
            ". {\nerrors {\nconsolidate 1m\n}\n}\n",
            P + "3" + E + "Wrong argument count or unexpected line ending after '1m'",
        ),
        (
            ". {\nerrors {\nconsolidate 1m a warning show_first x\n}\n}\n",
            P + "3" + E + "Wrong argument count or unexpected line ending after 'x'",
        ),
        (". {\nerrors {\nconsolidate 1m .* extra\n}\n}\n", P + "3" + E + "unknown option in consolidate: extra"),
        (". {\nerrors {\nconsolidate abc .*\n}\n}\n", P + "3" + E + 'time: invalid duration "abc"'),
        (". {\nerrors {\nconsolidate 1 .*\n}\n}\n", P + "3" + E + 'time: missing unit in duration "1"'),
        (
            ". {\nerrors {\nconsolidate 1d .*\n}\n}\n",
            P + "3" + E + 'time: unknown unit "d" in duration "1d"',
        ),
        (". {\nerrors {\nconsolidate 1m ())\n}\n}\n", P + "3" + E + "error parsing regexp: unexpected ): `())`"),
        (
            ". {\nerrors {\nconsolidate 1m (?=lookahead)\n}\n}\n",
            P + "3" + E + "error parsing regexp: invalid or unsupported Perl syntax: `(?=`",
        ),
        (
            ". {\nerrors {\nconsolidate 1m " + "a" * 10001 + "\n}\n}\n",
            P + "3" + E + "regex pattern too long: 10001 > 10000",
        ),
        (
            ". {\nerrors {\nconsolidate 1m error warning error\n}\n}\n",
            P + "3" + E + "multiple log levels specified in consolidate",
        ),
        (
            ". {\nerrors {\nconsolidate 1m error info debug\n}\n}\n",
            P + "3" + E + "multiple log levels specified in consolidate",
        ),
        (
            ". {\nerrors {\nconsolidate 1m error show_first warning\n}\n}\n",
            P + "3" + E + "log level must come before show_first in consolidate",
        ),
        (
            ". {\nerrors {\nconsolidate 1m error show_first info\n}\n}\n",
            P + "3" + E + "log level must come before show_first in consolidate",
        ),
        (
            ". {\nerrors {\nconsolidate 1m error invalid_option\n}\n}\n",
            P + "3" + E + "unknown option in consolidate: invalid_option",
        ),
        (
            ". {\nerrors {\nconsolidate 1m error\nstacktrace\nbogus\n}\n}\n",
            P + "5 - Syntax error: Unexpected token 'bogus', expecting 'Unknown field bogus'",
        ),
    ],
    ids=lambda value: value[:48] if isinstance(value, str) else value,
)
def test_setup_errors(corefile: str, message: str) -> None:
    with pytest.raises(PluginSetupError) as info:
        build(corefile)
    assert str(info.value) == message


def test_the_first_occurrence_is_checked_before_the_second_is_refused() -> None:
    with pytest.raises(PluginSetupError) as info:
        build(". {\nerrors bad\nerrors\n}\n")
    assert str(info.value) == P + "2" + E + "invalid log file: bad"
