"""Why a loop happened, when the Corefile can tell: a loopback resolver from a resolv.conf.

The classic cluster loop (users.md D.13; CoreDNS issues 2087, 2391): the node runs
systemd-resolved, its /etc/resolv.conf names ``127.0.0.53``, kubelet hands that file to the
DNS pod (``dnsPolicy: Default``), ``forward . /etc/resolv.conf`` reads it, and in the pod's
network namespace 127.0.0.53:53 is the DNS server itself. CoreDNS only says "Loop detected";
clusterdns adds which upstream came from which file and what to change.

This reads the block's ``forward`` lines from the Corefile tokens (plugins never import one
another) with the rules of CoreDNS ``parse.HostPortOrFile``: a TO argument that is not an IP
address (with or without port) is a resolv.conf-style file whose ``nameserver`` lines are the
upstreams. Only forwards whose FROM zone covers the probe name can carry the probe.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Final

from clusterdns.corefile import Dispenser, ServerBlock, is_subdomain, normalize_zones
from clusterdns.corefile.address import split_transport

#: Where systemd-resolved keeps the resolv.conf with the real upstreams.
SYSTEMD_REAL_RESOLV_CONF: Final = "/run/systemd/resolve/resolv.conf"


@dataclass(frozen=True, slots=True)
class LoopbackUpstream:
    """A loopback ``nameserver`` read from the resolv.conf file a forward names."""

    nameserver: str
    path: str


def hint_text(upstream: LoopbackUpstream) -> str:
    """The text appended to CoreDNS's FATAL line (it starts with a space)."""
    return (
        f" (the upstream {upstream.nameserver} comes from {upstream.path}: a loopback resolver"
        " such as systemd-resolved's; point forward at the real upstream, e.g."
        f" {SYSTEMD_REAL_RESOLV_CONF}, or give the DNS pod a resolv.conf without loopback"
        " nameservers)"
    )


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def _is_address(target: str) -> bool:
    """An IP, or IP:port / [IPv6]:port (CoreDNS: anything else is tried as a file)."""
    if _is_ip(target):
        return True
    host, colon, port = target.rpartition(":")
    return bool(colon) and port.isdigit() and _is_ip(host)


def _is_loopback(nameserver: str) -> bool:
    try:
        return ipaddress.ip_address(nameserver.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def resolv_conf_nameservers(path: str) -> list[str]:
    """The ``nameserver`` values of a resolv.conf file (miekg/dns ``ClientConfigFromReader``)."""
    servers = []
    with open(path, encoding="utf-8", errors="replace") as file:
        for line in file:
            if line.startswith(("#", ";")):
                continue
            fields = line.split()
            if len(fields) > 1 and fields[0] == "nameserver":
                servers.append(fields[1])
    return servers


def forward_lines(block: ServerBlock, *, file: str = "Corefile") -> list[tuple[str, list[str]]]:
    """Each ``forward FROM TO...`` of the block as (FROM, TOs); options blocks are skipped."""
    d = Dispenser(block.tokens("forward"), file=file)
    lines = []
    while d.next():
        args = d.remaining_args()
        while d.next_block():
            pass
        if args:
            lines.append((args[0], args[1:]))
    return lines


def loopback_upstreams(
    block: ServerBlock, qname: str, *, file: str = "Corefile"
) -> list[LoopbackUpstream]:
    """Loopback nameservers from the resolv.conf files of forwards covering ``qname``, in order."""
    found = []
    for from_arg, targets in forward_lines(block, file=file):
        zones = normalize_zones([from_arg])
        if not zones or not is_subdomain(qname, zones[0]):
            continue
        for target in targets:
            transport, rest = split_transport(target)
            if transport != "dns" or _is_address(rest) or not os.path.isfile(rest):
                continue
            try:
                nameservers = resolv_conf_nameservers(rest)
            except OSError:
                continue
            found += [LoopbackUpstream(ns, rest) for ns in nameservers if _is_loopback(ns)]
    return found
