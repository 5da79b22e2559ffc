"""loadbalance setup: accepted forms, preferred subnets, and CoreDNS's exact errors."""

from __future__ import annotations

import ipaddress

import pytest

from clusterdns.errors import PluginSetupError
from clusterdns.plugins.loadbalance.loadbalance import LoadBalance, random_shuffle
from clusterdns.server.instance import CorefileSource, Instance
from clusterdns.server.runtime import Runtime


def build(corefile: str) -> Instance:
    runtime = Runtime(lambda: CorefileSource(corefile, "Corefile"), default_port="0")
    return runtime.build()


def handler(lines: str) -> LoadBalance:
    found = build(f". {{\n{lines}\n}}\n").blocks[0].handlers["loadbalance"]
    assert isinstance(found, LoadBalance)
    return found


@pytest.mark.parametrize("lines", ["loadbalance", "loadbalance round_robin", "loadbalance {\n}"])
def test_round_robin(lines: str) -> None:
    lb = handler(lines)
    assert lb.prefer == () and lb.shuffle is random_shuffle


@pytest.mark.parametrize(
    ("lines", "subnets"),
    [
        (
            "loadbalance round_robin {\nprefer 10.9.20.0/24 192.168.1.0/24\n}",
            ["10.9.20.0/24", "192.168.1.0/24"],
        ),
        ("loadbalance {\nprefer 10.9.20.5/24\nprefer 2001:DB8::1/32\n}", ["10.9.20.0/24", "2001:db8::/32"]),
        ("loadbalance {\nprefer ::ffff:10.1.2.3/104\n}", ["10.0.0.0/8"]),  # Go: 4-in-6 matches IPv4
        ("loadbalance {\nprefer 10.0.0.0/8\n}\nloadbalance {\nprefer 11.0.0.0/8\n}", ["10.0.0.0/8", "11.0.0.0/8"]),
        ("loadbalance {\nprefer\n}", []),
    ],
    ids=["two-subnets", "host-bits-masked", "ipv4-mapped", "two-directives", "no-cidrs"],
)
def test_prefer(lines: str, subnets: list[str]) -> None:
    assert handler(lines).prefer == tuple(ipaddress.ip_network(s) for s in subnets)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("loadbalance fleeb", "unknown policy: fleeb"),
        ("loadbalance round_robin a", "Corefile:2 - Error during parsing: unknown property for round_robin"),
        ("loadbalance weighted", "Corefile:2 - Error during parsing: missing weight file argument"),
        ("loadbalance weighted a b", "Corefile:2 - Error during parsing: unexpected argument(s)"),
        ("loadbalance weighted wfile", "Corefile:2 - Error during parsing: policy weighted is not supported"),
        ("loadbalance {\nsusu\n}", "Corefile:3 - Error during parsing: unknown property 'susu'"),
        (
            "loadbalance {\nprefer 10.0.0.0/33\n}",
            'Corefile:3 - Error during parsing: invalid CIDR "10.0.0.0/33": invalid CIDR address: 10.0.0.0/33',
        ),
        (
            "loadbalance {\nprefer 10.0.0.0/8 10.0.0.1\n}",
            'Corefile:3 - Error during parsing: invalid CIDR "10.0.0.1": invalid CIDR address: 10.0.0.1',
        ),
        (
            "loadbalance {\nprefer fe80::%eth0/10\n}",
            'Corefile:3 - Error during parsing: invalid CIDR "fe80::%eth0/10": invalid CIDR address: fe80::%eth0/10',
        ),
    ],
    ids=[
        "unknown-policy", "round-robin-extra", "weighted-no-file", "weighted-two-files",
        "weighted-unsupported", "unknown-property", "prefer-bad-length", "prefer-no-length",
        "prefer-zone",
    ],
)
def test_setup_errors(lines: str, message: str) -> None:
    with pytest.raises(PluginSetupError) as info:
        build(f". {{\n{lines}\n}}\n")
    assert str(info.value) == f"plugin/loadbalance: {message}"
