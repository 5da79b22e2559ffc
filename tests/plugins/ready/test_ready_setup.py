"""ready's Corefile syntax: accepted forms, defaults, and CoreDNS's exact errors."""

from __future__ import annotations

import pytest

from clusterdns.errors import PluginSetupError
from clusterdns.plugins.ready.setup import DEFAULT_ADDRESS, Monitor, ReadyOptions, parse
from clusterdns.server.instance import CorefileSource
from clusterdns.server.runtime import Runtime


def corefile(body: str) -> str:
    return f"example.org {{\n{body}\n}}\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("ready", ReadyOptions(":8181", Monitor.UNTIL_READY)),
        ("ready localhost:1234", ReadyOptions("localhost:1234", Monitor.UNTIL_READY)),
        ("ready {\n  monitor until-ready\n}", ReadyOptions(":8181", Monitor.UNTIL_READY)),
        ("ready {\n  monitor continuously\n}", ReadyOptions(":8181", Monitor.CONTINUOUSLY)),
        (
            "ready localhost:1234 {\n  monitor continuously\n}",
            ReadyOptions("localhost:1234", Monitor.CONTINUOUSLY),
        ),
        ("ready [::1]:8181", ReadyOptions("[::1]:8181", Monitor.UNTIL_READY)),
    ],
    ids=["default", "address", "until-ready", "continuously", "address-and-monitor", "ipv6"],
)
def test_parse_accepts(controller, body: str, expected: ReadyOptions) -> None:
    assert parse(controller(corefile(body), "ready")) == expected


def test_default_address_is_every_interface_port_8181() -> None:
    assert DEFAULT_ADDRESS == ":8181"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "ready localhost:1234 {\n  monitor 404\n}",
            "plugin/ready: Corefile:3 - Error during parsing: monitor type '404' not supported",
        ),
        (
            "ready {\n  monitro continuously\n}",
            "plugin/ready: Corefile:3 - Error during parsing: unknown property 'monitro'",
        ),
        (
            "ready {\n  monitor\n}",
            "plugin/ready: Corefile:3 - Error during parsing: "
            "Wrong argument count or unexpected line ending after 'monitor'",
        ),
        (
            "ready localhost:1234 b",
            "plugin/ready: Corefile:2 - Error during parsing: "
            "Wrong argument count or unexpected line ending after 'b'",
        ),
        ("ready bla", "plugin/ready: address bla: missing port in address"),
        (
            "ready bla bla",
            "plugin/ready: Corefile:2 - Error during parsing: "
            "Wrong argument count or unexpected line ending after 'bla'",
        ),
        (
            "ready :8181\nready :8182",
            "plugin/ready: this plugin can only be used once per Server Block",
        ),
    ],
    ids=["bad-monitor", "unknown-property", "monitor-no-value", "extra-arg", "no-port",
         "two-args", "twice"],
)
def test_setup_errors(body: str, message: str) -> None:
    runtime = Runtime(lambda: CorefileSource(corefile(body), "Corefile"), default_port="0")
    with pytest.raises(PluginSetupError) as caught:
        runtime.build()
    assert str(caught.value) == message


def test_once_per_block_not_per_corefile(controller) -> None:
    text = "example.org {\n ready 127.0.0.1:0\n}\nexample.net {\n ready 127.0.0.1:0\n}\n"
    runtime = Runtime(lambda: CorefileSource(text, "Corefile"), default_port="0")
    assert len(runtime.build().blocks) == 2
