"""Zone keys and zone names: what ``[SCHEME://]ZONE[:PORT]`` means, and which zone a name is in.

Server blocks are keyed by zones, plugins take ZONES arguments, and every query is routed to
the most specific zone containing its name. CoreDNS's rules (``core/dnsserver/register.go``,
``plugin/normalize.go``, ``plugin/pkg/cidr``) are reproduced here: scheme prefixes and their
default ports, lowercase fully-qualified zones, reverse zones written as CIDRs (split on
octet or nibble boundaries), and CoreDNS's error texts for keys it rejects.

``matches`` runs for every query, so it only does string work on names that are already
normalised.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..errors import ConfigError

#: Scheme prefixes in CoreDNS's matching order (``https3`` before its prefix ``https``).
TRANSPORTS = ("tls", "dns", "quic", "grpc", "https3", "https", "unix")
#: Default ports of the non-dns transports (dns uses the ``-dns.port`` flag; unix has none).
DEFAULT_PORTS = {"tls": "853", "quic": "853", "grpc": "443", "https": "443", "https3": "443"}

_ATOI = re.compile(r"[+-]?[0-9]+")
_INT64 = 2**63


@dataclass(frozen=True, slots=True)
class ZoneAddress:
    """One zone of a server block and where it is served: ``dns://example.org.:53``."""

    transport: str
    zone: str
    port: str

    def __str__(self) -> str:
        return f"{self.transport}://{self.zone}:{self.port}"


def split_transport(key: str) -> tuple[str, str]:
    """``("tls", "example.org")`` for ``tls://example.org``; no known scheme means dns."""
    for transport in TRANSPORTS:
        prefix = f"{transport}://"
        if key.startswith(prefix):
            return transport, key[len(prefix) :]
    return "dns", key


def parse_key(key: str, default_port: str) -> list[ZoneAddress]:
    """The zones a server-block key stands for; a CIDR key may give several.

    ``default_port`` (the ``-dns.port`` flag) applies to dns keys without a port; the other
    schemes have their own defaults; a port in the key always wins. Raises ``ConfigError``
    with CoreDNS's text (the caller adds ``error inspecting server blocks: ``).
    """
    transport, rest = split_transport(key)
    try:
        hosts, port = split_host_port(rest)
        for host in hosts:  # CoreDNS re-checks each host once fully qualified
            split_host_port(fqdn(host))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if not port:
        port = default_port if transport == "dns" else DEFAULT_PORTS.get(transport, "")
    return [ZoneAddress(transport, normalize_zone(host), port) for host in hosts]


def split_host_port(text: str) -> tuple[list[str], str]:
    """Split ``ZONE[:PORT]`` (no scheme) into its zone(s), not yet normalised, and port.

    A trailing ``:N`` (Go ``strconv.Atoi`` syntax) is the port. A zone that parses as a CIDR
    becomes its reverse zones. Raises ``ValueError`` with CoreDNS's message.
    """
    colon = text.rfind(":")
    if colon == len(text) - 1:
        raise ValueError(f"expecting data after last colon: {_go_quote(text)}")
    port = ""
    if colon != -1:
        number = text[colon + 1 :]
        if _ATOI.fullmatch(number) and -_INT64 <= int(number) < _INT64:
            port, text = str(int(number)), text[:colon]
    size = len(text.encode("utf-8", "surrogateescape"))
    if size > 255:
        raise ValueError(f"specified zone is too long: {size} > 255")
    if not is_domain_name(text):
        raise ValueError(f"zone is not a valid domain name: {text}")
    network = _parse_cidr(text)
    if network is None:
        return [text], port
    if text[0] == ":" or (text[0] == "0" and ":" in text):
        raise ValueError(f"invalid CIDR {text}")
    return reverse_zones(network), port


def reverse_zones(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[str]:
    """The in-addr.arpa / ip6.arpa zones covering ``network``, split on label boundaries."""
    step = 8 if network.version == 4 else 4
    aligned = -(-network.prefixlen // step) * step
    subnets = [network] if aligned == network.prefixlen else network.subnets(new_prefix=aligned)
    return [_reverse_zone(subnet, step) for subnet in subnets]


def _reverse_zone(network: ipaddress.IPv4Network | ipaddress.IPv6Network, step: int) -> str:
    count = network.prefixlen // step
    if network.version == 4:
        labels = str(network.network_address).split(".")[:count]
        suffix = "in-addr.arpa."
    else:
        labels = list(network.network_address.exploded.replace(":", ""))[:count]
        suffix = "ip6.arpa."
    return ".".join([*reversed(labels), suffix])


def _parse_cidr(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """Go's ``net.ParseCIDR``: a full address, ``/``, decimal prefix length; host bits masked."""
    address, slash, length = text.partition("/")
    if not slash or not length.isascii() or not length.isdigit() or "%" in address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if int(length) > ip.max_prefixlen:
        return None
    return ipaddress.ip_network((ip, int(length)), strict=False)


def is_domain_name(name: str) -> bool:
    """miekg/dns ``IsDomainName``: labels of 1..63 octets, at most 255 octets, valid escapes."""
    data = fqdn(name).encode("utf-8", "surrogateescape") if name else b""
    if not data:
        return False
    offset = begin = 0
    was_dot = escape = False
    i = 0
    while i < len(data):
        ch = data[i]
        if ch == 0x5C:  # backslash: \DDD or \X
            escape = not escape
            if offset + 1 > 256:
                return False
            ddd = data[i + 1 : i + 4]
            skip = 3 if len(ddd) == 3 and ddd.isdigit() else 1
            i += skip
            begin += skip
            was_dot = False
        elif ch == 0x2E:  # dot
            escape = False
            if (i == 0 and len(data) > 1) or was_dot:
                return False
            was_dot = True
            if i - begin >= 64:
                return False
            offset += 1 + i - begin
            if offset > 256:
                return False
            begin = i + 1
        else:
            escape = was_dot = False
        i += 1
    return not escape


def is_fqdn(name: str) -> bool:
    """Whether ``name`` ends in a dot that is not escaped."""
    if not name.endswith("."):
        return False
    stem = name[:-1]
    backslashes = len(stem) - len(stem.rstrip("\\"))
    return backslashes % 2 == 0


def fqdn(name: str) -> str:
    return name if is_fqdn(name) else name + "."


def normalize_zone(name: str) -> str:
    """Lowercase and fully qualify: ``Example.ORG`` -> ``example.org.``."""
    return fqdn(name).lower()


def normalize_zones(args: Iterable[str], server_block: Sequence[str] = ()) -> list[str]:
    """A plugin's ZONES arguments, normalised; without arguments, the block's zones.

    Each argument may carry a scheme and port (they are dropped) and a CIDR expands to its
    reverse zones. Invalid arguments are skipped silently, and a block zone that does not
    parse is kept as is, like CoreDNS's ``OriginsFromArgsOrServerBlock``.
    """
    args = list(args)
    if not args:
        return [(_normalize_exact(zone) or [zone])[0] for zone in server_block]
    return [zone for arg in args for zone in _normalize_exact(arg)]


def _normalize_exact(text: str) -> list[str]:
    try:
        hosts, _ = split_host_port(split_transport(text)[1])
    except ValueError:
        return []
    return [normalize_zone(host) for host in hosts]


def is_subdomain(child: str, parent: str) -> bool:
    """Whether ``child`` is ``parent`` or below it (label-wise, ASCII case-insensitive)."""
    if parent == ".":
        return True
    if child == "." or not parent:
        return child == parent
    return _is_below(child.lower(), parent.lower())


def matches(zones: Sequence[str], qname: str) -> str:
    """The longest of the normalised ``zones`` containing ``qname``; '' if none does."""
    name = qname.lower()
    best = ""
    for zone in zones:
        if len(zone) > len(best) and (zone == "." or _is_below(name, zone)):
            best = zone
    return best


def _is_below(child: str, parent: str) -> bool:
    if child == parent:
        return True
    cut = len(child) - len(parent) - 1  # where the dot before ``parent`` must be
    if cut < 0 or child[cut] != "." or not child.endswith(parent):
        return False
    stem = child[:cut]
    return (len(stem) - len(stem.rstrip("\\"))) % 2 == 0


_GO_ESCAPES = {
    "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
    '"': '\\"', "\\": "\\\\",
}  # fmt: skip


def _go_quote(text: str) -> str:
    """Go's ``%q`` (``strconv.Quote``) of a key, for CoreDNS's error text."""

    def quote(ch: str) -> str:
        if ch in _GO_ESCAPES:
            return _GO_ESCAPES[ch]
        if ch.isprintable():
            return ch
        code = ord(ch)
        if code < 0x80:
            return f"\\x{code:02x}"
        return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"

    return '"' + "".join(map(quote, text)) + '"'
