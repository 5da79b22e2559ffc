"""health's Corefile syntax: accepted forms, defaults, and CoreDNS's exact errors."""

from __future__ import annotations

import pytest

from clusterdns.errors import PluginSetupError
from clusterdns.duration import format_duration, parse_duration
from clusterdns.plugins.health.setup import DEFAULT_ADDRESS, HealthOptions, parse
from clusterdns.server.instance import CorefileSource
from clusterdns.server.runtime import Runtime

SECOND_NS = 1_000_000_000


def corefile(body: str) -> str:
    return f"example.org {{\n{body}\n}}\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("health", HealthOptions(DEFAULT_ADDRESS, 0)),
        ("health localhost:1234", HealthOptions("localhost:1234", 0)),
        (
            "health localhost:1234 {\n  lameduck 4s\n}",
            HealthOptions("localhost:1234", 4 * SECOND_NS),
        ),
        ("health {\n  lameduck 1m30s\n}", HealthOptions(":8080", 90 * SECOND_NS)),
        ("health bla:a", HealthOptions("bla:a", 0)),  # the port is only checked when listening
        ("health [::1]:8080", HealthOptions("[::1]:8080", 0)),
        ("health :8081\nhealth :8082", HealthOptions(":8082", 0)),  # the last line wins
    ],
    ids=["default", "address", "lameduck", "lameduck-default-address", "port-unchecked", "ipv6",
         "last-wins"],
)
def test_parse_accepts(controller, body: str, expected: HealthOptions) -> None:
    assert parse(controller(corefile(body), "health")) == expected


def test_default_address_is_every_interface_port_8080() -> None:
    assert DEFAULT_ADDRESS == ":8080"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("health bla", "plugin/health: address bla: missing port in address"),
        ("health ::1", "plugin/health: address ::1: too many colons in address"),
        ("health [::1", "plugin/health: address [::1: missing ']' in address"),
        (
            "health bla bla",
            "plugin/health: Corefile:2 - Error during parsing: "
            "Wrong argument count or unexpected line ending after 'bla'",
        ),
        (
            "health localhost:1234 {\n  lameduck a\n}",
            "plugin/health: unable to parse lameduck duration value: 'a' : "
            'time: invalid duration "a"',
        ),
        (
            "health localhost:1234 {\n  lameduck 4\n}",
            "plugin/health: unable to parse lameduck duration value: '4' : "
            'time: missing unit in duration "4"',
        ),
        (
            "health localhost:1234 {\n  lamedudk 4\n}",
            "plugin/health: Corefile:3 - Error during parsing: unknown property 'lamedudk'",
        ),
        (
            "health {\n  lameduck\n}",
            "plugin/health: Corefile:3 - Error during parsing: "
            "Wrong argument count or unexpected line ending after 'lameduck'",
        ),
        (
            "health {\n  lameduck 1s 2s\n}",
            "plugin/health: Corefile:3 - Error during parsing: "
            "Wrong argument count or unexpected line ending after '2s'",
        ),
    ],
    ids=["no-port", "bare-ipv6", "open-bracket", "two-args", "bad-duration", "no-unit",
         "unknown-property", "lameduck-no-value", "lameduck-two-values"],
)
def test_setup_errors(body: str, message: str) -> None:
    runtime = Runtime(lambda: CorefileSource(corefile(body), "Corefile"), default_port="0")
    with pytest.raises(PluginSetupError) as caught:
        runtime.build()
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        ("0", 0),
        ("5s", 5 * SECOND_NS),
        ("+5s", 5 * SECOND_NS),
        ("-1.5s", -1_500_000_000),
        ("250ms", 250_000_000),
        ("1h2m3s", 3723 * SECOND_NS),
        ("1.5h", 5400 * SECOND_NS),
        (".5s", 500_000_000),
        ("1.s", SECOND_NS),
        ("10us", 10_000),
        ("10\u00b5s", 10_000),
        ("10\u03bcs", 10_000),
        ("7ns", 7),
        ("1.0000000019s", 1_000_000_001),  # Go truncates below a nanosecond
    ],
)
def test_parse_duration_like_go(text: str, nanoseconds: int) -> None:
    assert parse_duration(text) == nanoseconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", 'time: invalid duration ""'),
        ("s", 'time: invalid duration "s"'),
        (".s", 'time: invalid duration ".s"'),
        ("-", 'time: invalid duration "-"'),
        ("5", 'time: missing unit in duration "5"'),
        ("5x", 'time: unknown unit "x" in duration "5x"'),
        ("1s5", 'time: missing unit in duration "1s5"'),
        ("3000000h", 'time: invalid duration "3000000h"'),
    ],
)
def test_parse_duration_errors_like_go(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("nanoseconds", "text"),
    [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5\u00b5s"),
        (250_000_000, "250ms"),
        (1_500_000_000, "1.5s"),
        (5 * SECOND_NS, "5s"),
        (60 * SECOND_NS, "1m0s"),
        (90 * SECOND_NS, "1m30s"),
        (3600 * SECOND_NS, "1h0m0s"),
        (3723 * SECOND_NS + 1, "1h2m3.000000001s"),
        (-1_500_000_000, "-1.5s"),
    ],
)
def test_format_duration_like_go(nanoseconds: int, text: str) -> None:
    assert format_duration(nanoseconds) == text
