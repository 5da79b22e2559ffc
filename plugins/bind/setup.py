"""Corefile syntax of *bind*: ``bind ADDR|IFACE... { except ADDR|IFACE... }``.

Several ``bind`` lines in a block are merged; the block then listens only on those addresses
(CoreDNS ``plugin/bind/setup.go``). Anything that is neither an IP nor an interface name is a
setup error, with CoreDNS's wording.
"""

from __future__ import annotations

import ipaddress

from clusterdns.controller import Controller
from clusterdns.errors import PluginSetupError

from clusterdns import netif as interfaces


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _expand(c: Controller, args: list[str], names: set[str]) -> list[str]:
    """Addresses for each argument: an interface's addresses, or the IP itself."""
    result: list[str] = []
    for arg in args:
        if arg in names:
            result.extend(interfaces.addresses(arg))
        elif _is_ip(arg):
            result.append(arg)
        else:
            raise c.error(f'not a valid IP address or interface name: "{arg}"')
    return result


def parse(c: Controller) -> list[str]:
    """The block's listen hosts, in order, without the excepted ones."""
    d = c.dispenser
    names = interfaces.interface_names()
    hosts: list[str] = []
    while d.next():
        addrs = d.remaining_args()
        if not addrs:
            raise c.error("at least one address or interface name is expected")
        excepted: list[str] = []
        while d.next_block():
            if d.val() != "except":
                raise c.error(f'invalid option "{d.val()}"')
            excepted = d.remaining_args()
            if not excepted:
                raise c.error(
                    "at least one address or interface must be given to except subdirective"
                )
        skip = set(_expand(c, excepted, names))
        hosts.extend(ip for ip in _expand(c, addrs, names) if ip not in skip)
    return hosts


def setup(c: Controller) -> None:
    hosts = parse(c)
    if not hosts:
        raise PluginSetupError("bind", "no address left to bind to after except")
    c.config.listen_hosts = hosts
