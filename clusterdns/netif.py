"""The IP addresses of this machine's network interfaces (``bind IFACE``, kubernetes NS glue).

Python's standard library names interfaces but does not list their addresses, so this reads
them from Linux directly: IPv4 through the SIOCGIFADDR ioctl (the interface's primary address;
secondary IPv4 aliases are not seen) and IPv6 from ``/proc/net/if_inet6``. Link-local IPv6
addresses get ``%iface`` appended, as CoreDNS's *bind* does.
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from typing import Final

_SIOCGIFADDR: Final = 0x8915
_IF_INET6: Final = "/proc/net/if_inet6"


def interface_names() -> set[str]:
    try:
        return {name for _, name in socket.if_nameindex()}
    except OSError:
        return set()


def _ipv4(name: str) -> list[str]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            packed = fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
        except OSError:
            return []
    return [socket.inet_ntoa(packed[20:24])]


def _ipv6(name: str) -> list[str]:
    addresses = []
    try:
        with open(_IF_INET6, encoding="ascii") as file:
            lines = file.read().splitlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        if len(fields) < 6 or fields[5] != name:
            continue
        address = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
        text = str(address)
        if address.is_link_local or address.is_multicast and (int(address) >> 112) & 0xF == 2:
            text += f"%{name}"
        addresses.append(text)
    return addresses


def addresses(name: str) -> list[str]:
    """Every address of interface ``name``, IPv4 first."""
    return _ipv4(name) + _ipv6(name)


def local_addresses() -> list[str]:
    """Every non-loopback address of every interface (CoreDNS's NS self-discovery)."""
    found: list[str] = []
    for name in sorted(interface_names()):
        for address in addresses(name):
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            if not ip.is_loopback and not ip.is_link_local:
                found.append(address)
    return found
