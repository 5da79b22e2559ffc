"""What a ``forward`` TO argument stands for: addresses, schemes and resolv.conf files.

CoreDNS reads TO with ``parse.HostPortOrFile`` (``plugin/pkg/parse/host.go``): an IP with an
optional port (53, or 853 for ``tls://``), ``[v6]:port``, a ``dns://`` or ``tls://`` prefix,
``tls://IP%SERVERNAME`` for a per-upstream TLS name, or the path of a resolv.conf-style file
whose ``nameserver`` lines are the upstreams (port 53). An empty file is skipped; upstreams are
de-duplicated by ``ip:port``, first seen wins. Error texts are CoreDNS's, word for word.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final

from clusterdns.log import plugin_logger

from .options import DNS_PORT, UpstreamAddress

log = plugin_logger("forward")

#: Scheme prefixes in CoreDNS's matching order (``https3`` before its prefix ``https``).
_SCHEMES: Final = ("tls", "dns", "quic", "grpc", "https3", "https", "unix")
_DEFAULT_PORTS: Final = {"dns": "53", "tls": "853", "quic": "853", "grpc": "443", "https": "443"}
#: Destination schemes this forward speaks.
SUPPORTED_SCHEMES: Final = frozenset({"dns", "tls"})


class AddressError(ValueError):
    """A TO argument CoreDNS rejects; ``str()`` is CoreDNS's text."""


class NoNameservers(AddressError):
    """``parse.ErrNoNameservers``: a TO (an empty file) gave no upstream."""

    def __init__(self) -> None:
        super().__init__("no nameservers found")


def go_quote(text: str) -> str:
    """Go's ``%q`` for the printable text that appears in these errors."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif not ch.isprintable():
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x80 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def split_scheme(text: str) -> tuple[str, str]:
    """``parse.Transport``: the scheme (``dns`` without one) and the rest."""
    for scheme in _SCHEMES:
        prefix = scheme + "://"
        if text.startswith(prefix):
            return scheme, text[len(prefix) :]
    return "dns", text


def split_host_port(text: str) -> tuple[str, str]:
    """Go's ``net.SplitHostPort``; raises ValueError when ``text`` has no port."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError("missing ']' in address")
        rest = text[end + 1 :]
        if not rest.startswith(":"):
            raise ValueError("missing port in address")
        host, port = text[1:end], rest[1:]
        if ":" in port or "[" in port or "]" in port:
            raise ValueError("too many colons in address")
        return host, port
    colon = text.rfind(":")
    if colon < 0:
        raise ValueError("missing port in address")
    host, port = text[:colon], text[colon + 1 :]
    if ":" in host:
        raise ValueError("too many colons in address")
    if "[" in host or "]" in host or "[" in port or "]" in port:
        raise ValueError("unexpected bracket in address")
    return host, port


def join_host_port(host: str, port: str) -> str:
    """Go's ``net.JoinHostPort``."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_ip(text: str) -> bool:
    """Go's ``net.ParseIP`` (no zone, no leading zeros in IPv4)."""
    if "%" in text or not text:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def strip_zone(host: str) -> str:
    """The host without a ``%zone`` suffix (and whatever follows it)."""
    percent = host.rfind("%")
    return host[:percent] if percent >= 0 else host


def read_resolv_conf(path: str) -> list[str]:
    """The ``nameserver`` entries of a resolv.conf-style file, as ``ip:53`` (miekg/dns rules).

    Raises AddressError with CoreDNS's text when the file cannot be opened.
    """
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as file:
            text = file.read()
    except FileNotFoundError:
        reason = f"open {path}: no such file or directory"
        raise AddressError(f"failed to open file {go_quote(path)}: {go_quote(reason)}") from None
    except IsADirectoryError:
        return []  # Go opens a directory, reads nothing and finds no nameservers
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise AddressError(f"open {path}: {reason}") from None
    servers = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 1 and fields[0] == "nameserver":
            name = strip_zone(fields[1])
            if not is_ip(name):
                # miekg/dns keeps it and CoreDNS would resolve it at every dial; a resolv.conf
                # nameserver must be an address (resolv.conf(5)), so it is skipped here.
                log.warning("Ignoring nameserver %s in %s: not an IP address", fields[1], path)
                continue
            servers.append(join_host_port(name, str(DNS_PORT)))
    return servers


def host_port_or_file(text: str) -> list[str]:
    """``parse.HostPortOrFile`` for one TO: its addresses, each with scheme and port.

    Raises NoNameservers for an empty file, AddressError for anything that is neither an
    address nor a readable file.
    """
    scheme, host = split_scheme(text)
    if not host:
        raise AddressError(f"invalid address: {go_quote(text)}")
    if scheme == "unix":
        return ["unix://" + host]
    try:
        addr, _ = split_host_port(host)
    except ValueError:
        host = host.strip("[]")
        if not is_ip(strip_zone(host)):
            servers = _try_file(host)
        else:
            port = _DEFAULT_PORTS.get(scheme)
            if port is None:
                raise AddressError(
                    f"'{scheme}' is not supported as a destination protocol in forward: {text}"
                ) from None
            prefix = "" if scheme == "dns" else scheme + "://"
            servers = [prefix + join_host_port(host, port)]
    else:
        servers = [text] if is_ip(strip_zone(addr)) else _try_file(host)
    if not servers:
        raise NoNameservers()
    return servers


def _try_file(host: str) -> list[str]:
    try:
        return read_resolv_conf(host)
    except AddressError as exc:
        raise AddressError(f"not an IP address or file {go_quote(host)}: {exc}") from None


def split_server_name(text: str) -> tuple[str, str]:
    """CoreDNS ``splitZone``: ``tls://1.2.3.4%name:853`` -> (``tls://1.2.3.4:853``, ``name``)."""
    scheme, sep, host = text.partition("://")
    if not sep:
        scheme, host = "", text
    new_host, zone = host, ""
    percent = host.rfind("%")
    if percent >= 0:
        new_host = host[:percent]
        if new_host.startswith("["):
            new_host += "]"
        zone = host[percent + 1 :]
        colon = zone.rfind(":")
        if colon >= 0:
            new_host += zone[colon:]
            zone = zone[:colon].removesuffix("]")
    if scheme:
        new_host = scheme + "://" + new_host
    return new_host, zone


@dataclass(frozen=True, slots=True)
class Destinations:
    """The upstreams of one ``forward`` line and how many TO entries produced them."""

    upstreams: tuple[UpstreamAddress, ...]
    entries: int


def destinations(args: list[str]) -> Destinations:
    """Expand TO arguments into de-duplicated upstreams, in Corefile order.

    Raises AddressError with CoreDNS's texts (``no valid upstream addresses found``, ``'x' is
    not supported as a destination protocol in forward: ...``).
    """
    for arg in args:
        scheme, rest = split_scheme(arg)
        if scheme == "https" and "/" in rest:
            raise AddressError(
                "paths are not allowed in HTTPS upstream addresses (the /dns-query path is "
                f"used by default): {arg}"
            )
    expanded: list[str] = []
    entries = 0
    for arg in args:
        try:
            servers = host_port_or_file(arg)
        except NoNameservers:
            continue  # an empty resolv.conf is skipped
        entries += 1
        expanded.extend(servers)
    seen: set[str] = set()
    unique: list[str] = []
    for server in expanded:
        key = split_scheme(split_server_name(server)[0])[1]
        if key not in seen:
            seen.add(key)
            unique.append(server)
    if not unique:
        raise AddressError("no valid upstream addresses found")
    upstreams = []
    for server in unique:
        host, server_name = split_server_name(server)
        scheme, hostport = split_scheme(host)
        if scheme not in SUPPORTED_SCHEMES:
            raise AddressError(
                f"'{scheme}' is not supported as a destination protocol in forward: {host}"
            )
        ip, port = split_host_port(hostport)
        if not port.isascii() or not port.isdigit() or int(port) > 65535:
            raise AddressError(f"address {hostport}: invalid port")
        upstreams.append(
            UpstreamAddress(
                transport=scheme,
                host=strip_zone(ip),
                port=int(port),
                server_name=server_name if scheme == "tls" else "",
            )
        )
    return Destinations(tuple(upstreams), entries)


__all__ = ["AddressError", "Destinations", "destinations", "host_port_or_file"]
