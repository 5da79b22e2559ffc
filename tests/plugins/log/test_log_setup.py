"""log setup: the rules each Corefile form makes, and CoreDNS's exact setup errors.

The cases follow CoreDNS's ``plugin/log/setup_test.go``.
"""

from __future__ import annotations

import pytest
from log_test_support import build

from clusterdns.errors import PluginSetupError
from clusterdns.plugins.log.log import Log
from clusterdns.plugins.log.options import Rule
from clusterdns.plugins.log.replacer import COMBINED_LOG_FORMAT, COMMON_LOG_FORMAT

ALL = frozenset({"all"})


def rules(log_lines: str) -> tuple[Rule, ...]:
    handler = build(f". {{\n{log_lines}\n whoami\n}}\n").blocks[0].handlers["log"]
    assert isinstance(handler, Log)
    return handler.options.rules


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ("log", [Rule(".", COMMON_LOG_FORMAT, ALL)]),
        ("log example.org", [Rule("example.org.", COMMON_LOG_FORMAT, ALL)]),
        ("log Example.ORG.", [Rule("Example.ORG.", COMMON_LOG_FORMAT, ALL)]),
        ('log ""', [Rule(".", COMMON_LOG_FORMAT, ALL)]),
        ("log example\\.org\\.", [Rule("example\\.org\\..", COMMON_LOG_FORMAT, ALL)]),
        ("log example.org\\\\.", [Rule("example.org\\\\.", COMMON_LOG_FORMAT, ALL)]),
        # One argument is always a name, even when it looks like a format.
        ("log {common}", [Rule("{common}.", COMMON_LOG_FORMAT, ALL)]),
        ("log {combined}", [Rule("{combined}.", COMMON_LOG_FORMAT, ALL)]),
        ("log . {common}", [Rule(".", COMMON_LOG_FORMAT, ALL)]),
        ("log . {combined}", [Rule(".", COMBINED_LOG_FORMAT, ALL)]),
        ("log example.org {>id}", [Rule("example.org.", "{>id}", ALL)]),
        (
            'log example.org "{when} {combined} {common}"',
            [Rule("example.org.", "{when} " + COMBINED_LOG_FORMAT + " " + COMMON_LOG_FORMAT, ALL)],
        ),
        # Two or more arguments without a "{" are all names.
        (
            "log example.org example.net",
            [Rule("example.org.", COMMON_LOG_FORMAT, ALL), Rule("example.net.", COMMON_LOG_FORMAT, ALL)],
        ),
        (
            'log a.example b.example "{name} only"',
            [Rule("a.example.", "{name} only", ALL), Rule("b.example.", "{name} only", ALL)],
        ),
        ("log {\n class denial\n}", [Rule(".", COMMON_LOG_FORMAT, frozenset({"denial"}))]),
        ("log {\n class all\n}", [Rule(".", COMMON_LOG_FORMAT, ALL)]),
        (
            "log example.org {\n class denial error\n class success\n}",
            [Rule("example.org.", COMMON_LOG_FORMAT, frozenset({"denial", "error", "success"}))],
        ),
        (
            "log . {combined} {\n class denial all\n}",
            [Rule(".", COMBINED_LOG_FORMAT, frozenset({"denial", "all"}))],
        ),
        (
            "log a.example b.example {\n class error\n}",
            [
                Rule("a.example.", COMMON_LOG_FORMAT, frozenset({"error"})),
                Rule("b.example.", COMMON_LOG_FORMAT, frozenset({"error"})),
            ],
        ),
        (
            'log example.org\nlog . "{name}" {\n class denial\n}\nlog',
            [
                Rule("example.org.", COMMON_LOG_FORMAT, ALL),
                Rule(".", "{name}", frozenset({"denial"})),
                Rule(".", COMMON_LOG_FORMAT, ALL),
            ],
        ),
        ("log {\n}", [Rule(".", COMMON_LOG_FORMAT, ALL)]),
    ],
)
def test_rules(lines: str, expected: list[Rule]) -> None:
    assert list(rules(lines)) == expected


P = "plugin/log: Corefile:"
E = " - Error during parsing: "


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("log {\n class\n}", P + "3" + E + "Wrong argument count or unexpected line ending after 'class'"),
        ("log {\n class foo\n}", "plugin/log: invalid Class: foo"),
        ("log {\n class denial Error\n}", "plugin/log: invalid Class: Error"),
        ("log {\n format {common}\n}", P + "3" + E + "unknown property 'format'"),
        ("log example.org {\n class error\n}\nlog {\n klass error\n}", P + "6" + E + "unknown property 'klass'"),
    ],
)
def test_setup_errors(lines: str, message: str) -> None:
    with pytest.raises(PluginSetupError) as info:
        build(f". {{\n{lines}\n whoami\n}}\n")
    assert str(info.value) == message
