"""``clusterdns migrate kube-dns --configmap FILE [-o OUT]``: a kube-dns ConfigMap as a Corefile.

kube-dns is configured by the ``kube-system/kube-dns`` ConfigMap (shared/reference/
k8s-dns-spec.md 5.2): ``stubDomains``, a JSON object mapping a domain to its nameservers, and
``upstreamNameservers``, a JSON array of at most three nameservers that replace the node's
resolv.conf for every other name. The result is kubeadm's Corefile (coredns-features.md 12)
with ``forward . UPSTREAMS`` instead of ``forward . /etc/resolv.conf`` when upstreams are set,
and one server block per stub domain (5.3)::

    acme.local:53 {
        errors
        cache 30
        forward . 1.2.3.4
    }

plus ``prometheus :9153``, so that the stub domains' queries are counted as the main block's
are (kubeadm's translation left it out).

A nameserver is ``IP``, ``IP:PORT``, ``[IPv6]:PORT`` or, in ``stubDomains`` only, a host name
(with an optional port), which kube-dns resolved once at startup. *forward* takes addresses, so
a host name is resolved here, through the ``resolver`` given (the system's by default), and the
Corefile says which name each address came from; a name that does not resolve is an error.
kubeadm's translation once dropped such nameservers without a word; nothing is dropped here.
``federations`` has no CoreDNS equivalent any more (the *federation* plugin was removed) and is
refused; any other key is named on standard error and left out.

Exit status 0 with the Corefile printed (or written to ``-o``), 1 with a message on standard
error for input that kube-dns would not have taken or that cannot be carried over.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TextIO

import yaml

#: kube-dns takes at most three upstream nameservers (``pkg/dns/config/config.go``).
MAX_UPSTREAMS: Final = 3
#: *forward* takes at most this many TO entries per line.
MAX_FORWARD_TOS: Final = 15
DEFAULT_CLUSTER_DOMAIN: Final = "cluster.local"
_KNOWN_KEYS: Final = ("stubDomains", "upstreamNameservers", "federations")
_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN: Final = re.compile(rf"{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*")
_DNS1123_SUBDOMAIN_MAX: Final = 253

#: A host name to its addresses; raises OSError (or ValueError) when it cannot be resolved.
Resolver = Callable[[str], list[str]]


class MigrationError(Exception):
    """Input that cannot be turned into a Corefile; ``str()`` says what and where."""


def system_resolver(name: str) -> list[str]:
    """The addresses of ``name`` from the system resolver, in its order, without duplicates."""
    found: list[str] = []
    for _, _, _, _, sockaddr in socket.getaddrinfo(name, None, type=socket.SOCK_DGRAM):
        address = str(sockaddr[0]).partition("%")[0]
        if address not in found:
            found.append(address)
    return found


# --- nameservers -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Nameserver:
    """One nameserver as written: an address or a host name, and a port if one was given."""

    host: str
    port: int | None
    is_name: bool

    def forward_to(self, address: str | None = None) -> str:
        """The *forward* TO for this server (or for ``address``, one of its name's addresses)."""
        ip = ipaddress.ip_address(address or self.host)
        if self.port is None:
            return str(ip)
        return f"[{ip}]:{self.port}" if ip.version == 6 else f"{ip}:{self.port}"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_subdomain_name(text: str) -> bool:
    return len(text) <= _DNS1123_SUBDOMAIN_MAX and bool(_DNS1123_SUBDOMAIN.fullmatch(text))


def parse_nameserver(text: object, where: str, *, names_allowed: bool) -> Nameserver:
    """Read one nameserver as kube-dns does (``IP``, ``IP:PORT``, ``[IPv6]:PORT``, a name)."""
    if not isinstance(text, str):
        raise MigrationError(f"{where}: a nameserver must be a string, not {json.dumps(text)}")
    raw = text.strip()
    what = "an IP address, IP:PORT or [IPv6]:PORT" + (", or a host name" if names_allowed else "")
    if _is_ip(raw):
        return Nameserver(str(ipaddress.ip_address(raw)), None, False)
    host, port_text = raw, None
    if raw.startswith("["):
        end = raw.find("]")
        if end < 0 or not raw[end + 1 :].startswith(":"):
            raise MigrationError(f"{where}: {raw!r} is not {what}")
        host, port_text = raw[1:end], raw[end + 2 :]
        if not _is_ip(host) or ipaddress.ip_address(host).version != 6:
            raise MigrationError(f"{where}: {raw!r}: {host!r} in brackets is not an IPv6 address")
    elif raw.count(":") == 1:
        host, port_text = raw.split(":")
    elif ":" in raw:
        raise MigrationError(
            f"{where}: {raw!r} is not {what} (an IPv6 address with a port is written [IPv6]:PORT)"
        )
    port = None
    if port_text is not None:
        if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) <= 65535:
            raise MigrationError(f"{where}: {raw!r}: {port_text!r} is not a port (1-65535)")
        port = int(port_text)
    if _is_ip(host):
        return Nameserver(str(ipaddress.ip_address(host)), port, False)
    name = host.lower().removesuffix(".")
    if names_allowed and _is_subdomain_name(name) and not _looks_like_ipv4(name):
        return Nameserver(name, port, True)
    raise MigrationError(f"{where}: {raw!r} is not {what}")


def _looks_like_ipv4(text: str) -> bool:
    """Dotted digits that are not a valid IPv4 address (``1.2.3.456``): a typo, not a name."""
    return all(part.isdigit() for part in text.split("."))


def _addresses(
    server: Nameserver, where: str, resolver: Resolver, cluster_domain: str
) -> tuple[list[str], str]:
    """The TOs of one nameserver and, for a name, a comment saying what it resolved to."""
    if not server.is_name:
        return [server.forward_to()], ""
    hint = ""
    if server.host == cluster_domain or server.host.endswith("." + cluster_domain):
        hint = (
            "; it is a name in the cluster domain, which kube-dns resolved itself: write the "
            "Service's ClusterIP instead (kubectl get service)"
        )
    try:
        found = list(resolver(server.host))
    except (OSError, ValueError, LookupError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise MigrationError(
            f"{where}: cannot resolve nameserver {server.host!r}: {reason}{hint}. forward takes "
            "addresses: write its IP address, or run migrate where the name resolves"
        ) from None
    if not found:
        raise MigrationError(f"{where}: nameserver {server.host!r} resolved to no address{hint}")
    bad = [a for a in found if not _is_ip(str(a))]
    if bad:
        raise MigrationError(f"{where}: resolver returned {bad[0]!r} for {server.host!r}")
    tos = list(dict.fromkeys(server.forward_to(str(a)) for a in found))
    shown = f"{server.host}:{server.port}" if server.port else server.host
    return tos, f"{shown} resolved to {' '.join(tos)} by clusterdns migrate"


# --- the ConfigMap -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KubeDNSConfig:
    """What a kube-dns ConfigMap asks for: upstream TOs and, per stub domain, its TOs."""

    upstreams: tuple[str, ...]
    stub_domains: tuple[tuple[str, tuple[str, ...]], ...]
    comments: tuple[str, ...] = ()
    ignored_keys: tuple[str, ...] = ()


def load_configmap(text: str, name: str = "configmap") -> dict[str, Any]:
    """The ``data`` of the single ConfigMap in ``text`` (YAML or JSON)."""
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise MigrationError(f"{name}: not valid YAML: {exc}") from None
    if len(documents) != 1:
        raise MigrationError(
            f"{name}: expected one ConfigMap, found {len(documents)} documents "
            "(kubectl -n kube-system get configmap kube-dns -o yaml)"
        )
    document = documents[0]
    if not isinstance(document, dict) or document.get("kind") != "ConfigMap":
        kind = document.get("kind") if isinstance(document, dict) else type(document).__name__
        raise MigrationError(f"{name}: expected kind: ConfigMap, got {kind!r}")
    if document.get("apiVersion", "v1") != "v1":
        raise MigrationError(
            f"{name}: a ConfigMap has apiVersion v1, not {document['apiVersion']!r}"
        )
    data = document.get("data") or {}
    if not isinstance(data, dict):
        raise MigrationError(f"{name}: data must be a mapping of keys to strings")
    return data


def _json_value(data: dict[str, Any], key: str, kind: type) -> Any:
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return kind()
    if not isinstance(value, str):
        raise MigrationError(
            f"data.{key} must be a JSON string (ConfigMap values are strings), not a YAML "
            f"{type(value).__name__}"
        )
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise MigrationError(f"data.{key} is not valid JSON: {exc}") from None
    if not isinstance(parsed, kind):
        expected = "an object" if kind is dict else "an array"
        raise MigrationError(f"data.{key} must be {expected}, not {json.dumps(parsed)}")
    return parsed


def read_kube_dns(
    data: dict[str, Any],
    *,
    resolver: Resolver = system_resolver,
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN,
) -> KubeDNSConfig:
    """Validate a kube-dns ConfigMap's data as kube-dns does and resolve stub host names."""
    cluster_domain = cluster_domain.lower().strip(".")
    comments: list[str] = []
    federations = _json_value(data, "federations", dict)
    if federations:
        raise MigrationError(
            "data.federations: federation has no equivalent in CoreDNS or clusterdns any more "
            "(the plugin was removed); remove the key to migrate the rest"
        )
    upstream_list = _json_value(data, "upstreamNameservers", list)
    if len(upstream_list) > MAX_UPSTREAMS:
        raise MigrationError(
            f"data.upstreamNameservers: at most {MAX_UPSTREAMS} nameservers (as kube-dns), "
            f"got {len(upstream_list)}"
        )
    upstreams: list[str] = []
    for index, text in enumerate(upstream_list):
        where = f"data.upstreamNameservers[{index}]"
        server = parse_nameserver(text, where, names_allowed=False)
        upstreams.extend(_addresses(server, where, resolver, cluster_domain)[0])
    stubs: dict[str, tuple[str, ...]] = {}
    for domain_text, servers in _json_value(data, "stubDomains", dict).items():
        domain = domain_text.strip().lower().removesuffix(".")
        where = f"data.stubDomains[{domain_text!r}]"
        if not _is_subdomain_name(domain):
            raise MigrationError(f"{where}: {domain_text!r} is not a valid domain name")
        if domain == cluster_domain:
            raise MigrationError(f"{where}: a stub domain may not be the cluster domain")
        if domain in stubs:
            raise MigrationError(f"{where}: {domain} is given twice")
        if not isinstance(servers, list) or not servers:
            raise MigrationError(f"{where}: must be a non-empty array of nameservers")
        tos: list[str] = []
        for index, text in enumerate(servers):
            server = parse_nameserver(text, f"{where}[{index}]", names_allowed=True)
            found, comment = _addresses(server, f"{where}[{index}]", resolver, cluster_domain)
            tos.extend(found)
            if comment:
                comments.append(comment)
        tos = list(dict.fromkeys(tos))
        if len(tos) > MAX_FORWARD_TOS:
            raise MigrationError(
                f"{where}: {len(tos)} addresses; forward takes at most {MAX_FORWARD_TOS}"
            )
        stubs[domain] = tuple(tos)
    ignored = tuple(key for key in data if key not in _KNOWN_KEYS)
    return KubeDNSConfig(
        upstreams=tuple(dict.fromkeys(upstreams)),
        stub_domains=tuple(stubs.items()),
        comments=tuple(comments),
        ignored_keys=ignored,
    )


# --- the Corefile ------------------------------------------------------------------------


def kubeadm_corefile(
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN, upstreams: tuple[str, ...] = ()
) -> str:
    """kubeadm's Corefile (coredns-features.md 12), forwarding to ``upstreams`` if given."""
    forward_to = " ".join(upstreams) or "/etc/resolv.conf"
    return f""".:53 {{
    errors
    health {{
       lameduck 5s
    }}
    ready
    kubernetes {cluster_domain} in-addr.arpa ip6.arpa {{
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }}
    prometheus :9153
    forward . {forward_to} {{
       max_concurrent 1000
    }}
    cache 30 {{
       disable success {cluster_domain}
       disable denial {cluster_domain}
    }}
    loop
    reload
    loadbalance
}}
"""


def stub_block(domain: str, tos: tuple[str, ...]) -> str:
    """A stub domain's server block (k8s-dns-spec.md 5.3, plus metrics)."""
    return f"""{domain}:53 {{
    errors
    prometheus :9153
    cache 30
    forward . {" ".join(tos)}
}}
"""


def corefile(
    config: KubeDNSConfig, *, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN, origin: str = ""
) -> str:
    """The Corefile for a kube-dns configuration."""
    cluster_domain = cluster_domain.lower().strip(".")
    header = ["# Made by clusterdns migrate kube-dns" + (f" from {origin}" if origin else "")]
    header += [f"# {comment}" for comment in config.comments]
    parts = ["\n".join(header) + "\n", kubeadm_corefile(cluster_domain, config.upstreams)]
    parts += [stub_block(domain, tos) for domain, tos in config.stub_domains]
    return "".join(parts)


def migrate_kube_dns(
    text: str,
    *,
    resolver: Resolver = system_resolver,
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN,
    origin: str = "",
) -> tuple[str, KubeDNSConfig]:
    """The Corefile for the kube-dns ConfigMap in ``text``; raises MigrationError."""
    data = load_configmap(text, origin or "configmap")
    config = read_kube_dns(data, resolver=resolver, cluster_domain=cluster_domain)
    return corefile(config, cluster_domain=cluster_domain, origin=origin), config


# --- the command -------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clusterdns migrate",
        description="Turn another cluster DNS's configuration into a Corefile.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="kube-dns")
    kube_dns = commands.add_parser(
        "kube-dns", help="the kube-system/kube-dns ConfigMap (stubDomains, upstreamNameservers)"
    )
    kube_dns.add_argument(
        "--configmap", required=True, metavar="FILE",
        help="the ConfigMap as YAML or JSON ('-' for standard input), e.g. from "
        "kubectl -n kube-system get configmap kube-dns -o yaml",
    )  # fmt: skip
    kube_dns.add_argument("-o", "--output", metavar="OUT", help="write the Corefile here")
    kube_dns.add_argument(
        "--cluster-domain", default=DEFAULT_CLUSTER_DOMAIN,
        help="the cluster domain, kube-dns's --domain (default %(default)s)",
    )  # fmt: skip
    return parser


def main(
    argv: list[str],
    *,
    resolver: Resolver = system_resolver,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """``clusterdns migrate kube-dns --configmap FILE [-o OUT] [--cluster-domain D]``."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage and the problem
        return int(exc.code or 0)
    try:
        if args.configmap == "-":
            text, origin = (stdin or sys.stdin).read(), "stdin"
        else:
            with open(args.configmap, encoding="utf-8") as file:
                text, origin = file.read(), args.configmap
    except OSError as exc:
        print(f"clusterdns migrate: {args.configmap}: {exc.strerror or exc}", file=err)
        return 1
    try:
        result, config = migrate_kube_dns(
            text, resolver=resolver, cluster_domain=args.cluster_domain, origin=origin
        )
    except MigrationError as exc:
        print(f"clusterdns migrate: {exc}", file=err)
        return 1
    for key in config.ignored_keys:
        print(f"clusterdns migrate: data.{key} is not a kube-dns setting; left out", file=err)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as file:
                file.write(result)
        except OSError as exc:
            print(f"clusterdns migrate: {args.output}: {exc.strerror or exc}", file=err)
            return 1
    else:
        out.write(result)
    return 0


__all__ = [
    "KubeDNSConfig",
    "MigrationError",
    "Nameserver",
    "corefile",
    "kubeadm_corefile",
    "main",
    "migrate_kube_dns",
    "parse_nameserver",
    "read_kube_dns",
    "system_resolver",
]
