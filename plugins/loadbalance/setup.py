"""Corefile syntax of *loadbalance* (CoreDNS ``plugin/loadbalance/setup.go``).

::

    loadbalance [round_robin] {
        prefer CIDR [CIDR...]
    }

``round_robin`` is the only policy. CoreDNS's ``weighted WEIGHTFILE`` policy is recognised
(with CoreDNS's argument checks) and then rejected as not supported. Several ``loadbalance``
lines in a block are read in turn, and their ``prefer`` subnets add up.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from typing import Final

from clusterdns.controller import Controller

from .loadbalance import LoadBalance, Network

ROUND_ROBIN: Final = "round_robin"
WEIGHTED: Final = "weighted"


@dataclass(frozen=True, slots=True)
class LoadBalanceOptions:
    """The policy (always round_robin here) and the preferred subnets, in Corefile order."""

    policy: str = ROUND_ROBIN
    prefer: tuple[Network, ...] = ()


def _go_quote(text: str) -> str:
    """Go's ``%q`` for printable text."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_cidr(text: str) -> Network:
    """Go's ``net.ParseCIDR`` as *loadbalance* uses it; raises ``ValueError`` with Go's text.

    Host bits are masked off. An IPv4-mapped IPv6 network of /96 or longer matches IPv4
    addresses, as it does in Go.
    """
    address, slash, length = text.partition("/")
    error = ValueError(f"invalid CIDR address: {text}")
    if not slash or "%" in address or not length.isascii() or not length.isdigit():
        raise error
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise error from None
    bits = int(length)
    if bits > ip.max_prefixlen:
        raise error
    network = ipaddress.ip_network((ip, bits), strict=False)
    if isinstance(network, ipaddress.IPv6Network):
        mapped = network.network_address.ipv4_mapped
        if mapped is not None and bits >= 96:
            return ipaddress.IPv4Network((mapped, bits - 96))
    return network


def parse(c: Controller) -> LoadBalanceOptions:
    """Read every ``loadbalance`` line of the block."""
    d = c.dispenser
    prefer: list[Network] = []
    while d.next():
        args = d.remaining_args()
        if args:
            policy = args[0]
            if policy == ROUND_ROBIN:
                if len(args) > 1:
                    raise d.errf("unknown property for %s", policy)
            elif policy == WEIGHTED:
                if len(args) < 2:
                    raise d.err("missing weight file argument")
                if len(args) > 2:
                    raise d.err("unexpected argument(s)")
                raise d.errf("policy %s is not supported", policy)
            else:
                raise c.error(f"unknown policy: {policy}")  # CoreDNS gives no file:line here
        while d.next_block():
            if d.val() != "prefer":
                raise d.errf("unknown property '%s'", d.val())
            for cidr in d.remaining_args():
                try:
                    prefer.append(parse_cidr(cidr))
                except ValueError as exc:
                    raise d.errf("invalid CIDR %s: %s", _go_quote(cidr), exc) from None
    return LoadBalanceOptions(prefer=tuple(prefer))


def setup(c: Controller) -> None:
    options = parse(c)
    c.add_plugin(functools.partial(LoadBalance, prefer=options.prefer))
