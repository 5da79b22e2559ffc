"""Reverse names to addresses, for PTR lookups (CoreDNS ``dnsutil.ExtractAddressFromReverse``).

``4.3.2.1.in-addr.arpa.`` is ``1.2.3.4``; a 32-nibble ``ip6.arpa.`` name is an IPv6 address.
The result is written the way the hosts table keys its reverse entries (Go's ``IP.String``),
so a PTR lookup is one dictionary access. Anything else gives ''.
"""

from __future__ import annotations

from typing import Final

from .hostsfile import parse_ip

IP4_ARPA: Final = ".in-addr.arpa."
IP6_ARPA: Final = ".ip6.arpa."


def address_from_reverse(name: str) -> str:
    """The address a lower-cased reverse name stands for, or '' if it is not one."""
    if name.endswith(IP4_ARPA):
        labels = name[: -len(IP4_ARPA)].split(".")
        labels.reverse()
        ip = parse_ip(".".join(labels))
        return str(ip) if ip is not None and ip.version == 4 else ""
    if name.endswith(IP6_ARPA):
        labels = name[: -len(IP6_ARPA)].split(".")
        labels.reverse()
        groups = ["".join(labels[i * 4 : i * 4 + 4]) for i in range(len(labels) // 4)]
        ip = parse_ip(":".join(groups))
        return str(ip) if ip is not None else ""
    return ""
