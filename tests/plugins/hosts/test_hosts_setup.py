"""hosts setup: what each Corefile form configures, and CoreDNS's exact setup errors.

Corefiles go through the real build path (parse, setup, chain) without opening sockets; the
handler of the block carries the parsed ``HostsOptions``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from clusterdns.errors import PluginSetupError
from clusterdns.log import CoreDNSFormatter
from clusterdns.plugins.hosts.hosts import Hosts
from clusterdns.plugins.hosts.options import HostsOptions
from clusterdns.server.instance import CorefileSource, Instance
from clusterdns.server.runtime import Runtime


def build(corefile: str) -> Instance:
    runtime = Runtime(lambda: CorefileSource(corefile, "Corefile"), default_port="0")
    return runtime.build()


def options(hosts_lines: str, keys: str = ".") -> HostsOptions:
    handler = build(f"{keys} {{\n{hosts_lines}\n}}\n").blocks[0].handlers["hosts"]
    assert isinstance(handler, Hosts)
    return handler.options


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ("hosts", HostsOptions(origins=(".",))),
        ("hosts /etc/hosts miek.nl. pun.gent.", HostsOptions(origins=("miek.nl.", "pun.gent."))),
        (
            "hosts /etc/hosts Miek.NL 10.0.0.9/8 {\nfallthrough\n}",
            HostsOptions(origins=("miek.nl.", "10.in-addr.arpa."), fall_zones=(".",)),
        ),
        ("hosts {\nfallthrough example.org Example.NET\n}", HostsOptions(origins=(".",), fall_zones=("example.org.", "example.net."))),
        ("hosts {\nttl 30\n}", HostsOptions(origins=(".",), ttl_seconds=30)),
        ("hosts {\nttl +65535\n}", HostsOptions(origins=(".",), ttl_seconds=65535)),
        ("hosts {\nreload 100ms\n}", HostsOptions(origins=(".",), reload_seconds=0.1)),
        ("hosts {\nreload 1h30m\n}", HostsOptions(origins=(".",), reload_seconds=5400.0)),
        ("hosts {\nreload 0\n}", HostsOptions(origins=(".",), reload_seconds=0.0)),
        ("hosts {\nno_reverse\n}", HostsOptions(origins=(".",), auto_reverse=False)),
        (
            "hosts {\n10.0.0.1   example.org  www.example.org\n::1 localhost\nfallthrough\n}",
            HostsOptions(
                origins=(".",),
                inline=("10.0.0.1 example.org www.example.org", "::1 localhost"),
                fall_zones=(".",),
            ),
        ),
        (
            "hosts {\nfallthrough_unsupported\nfallthrough example.org\n}",
            HostsOptions(origins=(".",), fall_zones=("example.org.",), fallthrough_unsupported=True),
        ),
    ],
    ids=[
        "defaults", "zones", "zones-cidr-fallthrough", "fallthrough-zones", "ttl", "ttl-plus-sign",
        "reload-ms", "reload-compound", "reload-disabled", "no-reverse", "inline-before-fallthrough",
        "fallthrough-unsupported-before-fallthrough",
    ],
)
def test_parse(lines: str, expected: HostsOptions) -> None:
    assert options(lines) == expected


def test_zones_default_to_the_block_keys() -> None:
    assert options("hosts", keys="Example.org example.NET:53 10.0.0.0/24").origins == (
        "example.org.",
        "example.net.",
        "0.0.10.in-addr.arpa.",
    )


def _error(corefile: str) -> str:
    with pytest.raises(PluginSetupError) as info:
        build(corefile)
    return str(info.value)


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("hosts {\nttl\n}", "Corefile:3 - Error during parsing: ttl needs a time in second"),
        ("hosts {\nttl abc\n}", "Corefile:3 - Error during parsing: ttl needs a number of second"),
        ("hosts {\nttl 1_0\n}", "Corefile:3 - Error during parsing: ttl needs a number of second"),
        ("hosts {\nttl 99999999999999999999\n}", "Corefile:3 - Error during parsing: ttl needs a number of second"),
        ("hosts {\nttl 0\n}", "Corefile:3 - Error during parsing: ttl provided is invalid"),
        ("hosts {\nttl 65536\n}", "Corefile:3 - Error during parsing: ttl provided is invalid"),
        ("hosts {\nreload\n}", "Corefile:3 - Error during parsing: reload needs a duration (zero seconds to disable)"),
        ("hosts {\nreload 1s 2s\n}", "Corefile:3 - Error during parsing: reload needs a duration (zero seconds to disable)"),
        ("hosts {\nreload 5\n}", "Corefile:3 - Error during parsing: invalid duration for reload '5'"),
        ("hosts {\nreload 5y\n}", "Corefile:3 - Error during parsing: invalid duration for reload '5y'"),
        ("hosts {\nreload -1s\n}", "Corefile:3 - Error during parsing: invalid negative duration for reload '-1s'"),
        (
            "hosts {\nfallthrough\n10.0.0.1 example.org\n}",
            "Corefile:4 - Error during parsing: unknown property '10.0.0.1'",
        ),
        (
            "hosts {\nfallthrough_unsupported\n}",
            "Corefile:4 - Error during parsing: fallthrough_unsupported requires fallthrough",
        ),
        (
            "hosts {\nfallthrough\nfallthrough_unsupported example.org\n}",
            "Corefile:4 - Error during parsing: Wrong argument count or unexpected line ending after 'example.org'",
        ),
        ("hosts\nhosts", "this plugin can only be used once per Server Block"),
    ],
    ids=[
        "ttl-missing", "ttl-not-a-number", "ttl-underscore", "ttl-overflow", "ttl-zero", "ttl-too-big",
        "reload-missing", "reload-two-args", "reload-no-unit", "reload-bad-unit", "reload-negative",
        "inline-after-fallthrough", "unsupported-without-fallthrough", "unsupported-with-args", "twice",
    ],
)
def test_setup_errors(block: str, message: str) -> None:
    assert _error(f". {{\n{block}\n}}\n") == f"plugin/hosts: {message}"


def test_unreadable_path_is_an_error(tmp_path: Path) -> None:
    regular = tmp_path / "file"
    regular.write_text("")
    bad = f"{regular}/hosts"
    assert _error(f". {{\nhosts {bad}\n}}\n") == (
        f"plugin/hosts: Corefile:2 - Error during parsing: unable to access hosts file '{bad}': "
        f"stat {bad}: not a directory"
    )


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    formatter = CoreDNSFormatter()
    return [formatter.format(r) for r in caplog.records if r.levelno >= logging.WARNING]


def test_missing_file_is_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    missing = tmp_path / "nope"
    with caplog.at_level(logging.WARNING, logger="clusterdns"):
        assert options(f"hosts {missing}").path == str(missing)
    assert _lines(caplog) == [f"[WARNING] plugin/hosts: File does not exist: {missing}"]


def test_directory_is_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="clusterdns"):
        assert options(f"hosts {tmp_path}").path == str(tmp_path)
    assert _lines(caplog) == [f'[WARNING] plugin/hosts: Hosts file "{tmp_path}" is a directory']
