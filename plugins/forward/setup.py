"""Corefile syntax of *forward* (CoreDNS ``plugin/forward/setup.go``).

::

    forward FROM TO... {
        except IGNORED_NAMES...
        force_tcp
        prefer_udp
        expire DURATION
        max_idle_conns INTEGER
        max_age DURATION
        read_timeout DURATION
        max_fails INTEGER
        max_connect_attempts INTEGER
        tls [CERT KEY [CA]] | [CA]
        tls_servername NAME
        policy random|round_robin|sequential
        health_check DURATION [no_rec] [domain FQDN]
        max_concurrent MAX
        next RCODE...
        next_on_nodata
        failover RCODE...
        failfast_all_unhealthy_upstreams
        source_address IP
        doh_method GET|POST
        resolver IP[:PORT]...
    }

A block may hold several ``forward`` lines; each is a handler of its own, and they are chained
in Corefile order (the last one calls the plugin after *forward*). The block is read before
the TO arguments, as CoreDNS does, so an option error is reported before an address error.
Errors CoreDNS raises with the dispenser carry ``Corefile:N``; the others (Go's ``strconv``
and ``time`` messages, address errors) are CoreDNS's bare texts.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import re
from dataclasses import replace
from typing import Final

from clusterdns.controller import Controller
from clusterdns.corefile.address import is_domain_name, normalize_zone, normalize_zones
from clusterdns.duration import DurationError, format_duration, parse_duration
from clusterdns.log import plugin_logger

from .addresses import AddressError, destinations, go_quote, is_ip, split_host_port
from .forward import Forward
from .options import MAX_UPSTREAMS, ForwardOptions, TLSOptions
from .proxy import Proxy, Sweeper
from .tlsconfig import TLSConfigError, client_context

log = plugin_logger("forward")

#: miekg/dns ``StringToRcode`` (``NOTIMPL`` kept for an old typo).
RCODES: Final = {
    "NOERROR": 0, "FORMERR": 1, "SERVFAIL": 2, "NXDOMAIN": 3, "NOTIMP": 4, "NOTIMPL": 4,
    "REFUSED": 5, "YXDOMAIN": 6, "YXRRSET": 7, "NXRRSET": 8, "NOTAUTH": 9, "NOTZONE": 10,
    "DSOTYPENI": 11, "BADSIG": 16, "BADKEY": 17, "BADTIME": 18, "BADMODE": 19, "BADNAME": 20,
    "BADALG": 21, "BADTRUNC": 22, "BADCOOKIE": 23,
}  # fmt: skip
_DIGITS: Final = re.compile(r"[0-9]+")
_SIGNED: Final = re.compile(r"[+-]?[0-9]+")
_UINT32_MAX: Final = 2**32 - 1
_INT64: Final = 2**63
NANOSECONDS_PER_SECOND: Final = 1_000_000_000


def _parse_uint32(text: str) -> int:
    """Go's ``strconv.ParseUint(text, 10, 32)``; raises ValueError with Go's text."""
    if not _DIGITS.fullmatch(text):
        raise ValueError(f"strconv.ParseUint: parsing {go_quote(text)}: invalid syntax")
    value = int(text)
    if value > _UINT32_MAX:
        raise ValueError(f"strconv.ParseUint: parsing {go_quote(text)}: value out of range")
    return value


def _atoi(text: str) -> int:
    """Go's ``strconv.Atoi`` on a 64-bit platform; raises ValueError with Go's text."""
    if not _SIGNED.fullmatch(text):
        raise ValueError(f"strconv.Atoi: parsing {go_quote(text)}: invalid syntax")
    value = int(text)
    if not -_INT64 <= value < _INT64:
        raise ValueError(f"strconv.Atoi: parsing {go_quote(text)}: value out of range")
    return value


def _parse_rcodes(args: list[str]) -> list[tuple[str, int]]:
    out = []
    for arg in args:
        rcode = RCODES.get(arg.upper())
        if rcode is None:
            raise ValueError(f"{arg} is not a valid rcode")
        out.append((arg, rcode))
    return out


class _Stanza:
    """The mutable state of one ``forward`` line while its tokens are read."""

    def __init__(self, from_zone: str) -> None:
        self.options = ForwardOptions(from_zone=from_zone, upstreams=())
        self.ignored: list[str] = []
        self.next_rcodes: list[int] = []
        self.failover_rcodes: list[int] = []
        self.tls_files: tuple[str, ...] | None = None
        self.tls_server_name = ""

    def set(self, **changes: object) -> None:
        self.options = replace(self.options, **changes)  # type: ignore[arg-type]


def _duration_seconds(c: Controller, text: str) -> tuple[int, float]:
    try:
        nanoseconds = parse_duration(text)
    except DurationError as exc:
        raise c.error(str(exc)) from None
    return nanoseconds, nanoseconds / NANOSECONDS_PER_SECOND


def _parse_option(c: Controller, s: _Stanza) -> None:
    """One line of the block (CoreDNS ``parseBlock``)."""
    d = c.dispenser
    option = d.val()
    try:
        if option == "except":
            names = d.remaining_args()
            if not names:
                raise d.arg_err()
            for name in names:
                s.ignored.extend(normalize_zones([name]))
        elif option in ("max_fails", "max_connect_attempts"):
            if not d.next_arg():
                raise d.arg_err()
            value = _parse_uint32(d.val())
            s.set(**{option: value})
        elif option == "health_check":
            _parse_health_check(c, s)
        elif option in ("force_tcp", "prefer_udp", "next_on_nodata"):
            if d.next_arg():
                raise d.arg_err()
            s.set(**{option: True})
        elif option == "tls":
            files = d.remaining_args()
            if len(files) > 3:
                raise d.arg_err()
            s.tls_files = tuple(files)
            try:
                client_context(_tls_options(s.tls_files, ""))  # CoreDNS loads the files here
            except TLSConfigError as exc:
                raise c.error(str(exc)) from None
        elif option == "tls_servername":
            if not d.next_arg():
                raise d.arg_err()
            s.tls_server_name = d.val()
        elif option in ("expire", "max_age"):
            if not d.next_arg():
                raise d.arg_err()
            nanoseconds, seconds = _duration_seconds(c, d.val())
            if nanoseconds < 0:
                raise c.error(f"{option} can't be negative: {format_duration(nanoseconds)}")
            s.set(**{f"{option}_seconds": seconds})
        elif option == "max_idle_conns":
            if not d.next_arg():
                raise d.arg_err()
            value = _atoi(d.val())
            if value < 0:
                raise c.error(f"max_idle_conns can't be negative: {value}")
            s.set(max_idle_conns=value)
        elif option == "read_timeout":
            if not d.next_arg():
                raise d.arg_err()
            nanoseconds, seconds = _duration_seconds(c, d.val())
            if nanoseconds <= 0:
                raise c.error(f"read_timeout must be positive: {format_duration(nanoseconds)}")
            s.set(read_timeout_seconds=seconds)
        elif option == "doh_method":
            if not d.next_arg():
                raise d.arg_err()
            if d.val() not in ("GET", "POST"):
                raise c.error("doh_method must be either GET or POST")
        elif option == "policy":
            if not d.next_arg():
                raise d.arg_err()
            if d.val() not in ("random", "round_robin", "sequential"):
                raise d.errf("unknown policy '%s'", d.val())
            s.set(policy=d.val())
        elif option == "max_concurrent":
            if not d.next_arg():
                raise d.arg_err()
            value = _atoi(d.val())
            if value < 0:
                raise c.error(f"max_concurrent can't be negative: {value}")
            s.set(max_concurrent=value, max_concurrent_text=d.val())
        elif option == "next":
            args = d.remaining_args()
            if not args:
                raise d.arg_err()
            s.next_rcodes.extend(rcode for _, rcode in _parse_rcodes(args))
        elif option == "failfast_all_unhealthy_upstreams":
            if d.remaining_args():
                raise d.arg_err()
            s.set(failfast_all_unhealthy_upstreams=True)
        elif option == "failover":
            args = d.remaining_args()
            if not args:
                raise d.arg_err()
            for _, rcode in _parse_rcodes(args):
                if rcode == 0:
                    raise c.error("NoError cannot be used in failover")
                s.failover_rcodes.append(rcode)
        elif option == "resolver":
            args = d.remaining_args()
            if not args:
                raise d.arg_err()
            for arg in args:
                host = arg
                with contextlib.suppress(ValueError):
                    host = split_host_port(arg)[0]
                if not is_ip(host):
                    raise c.error(f"resolver must be an IP address or IP:port: {go_quote(arg)}")
            # Only hostname TOs use the resolver, and this forward takes addresses only.
        elif option == "source_address":
            if not d.next_arg():
                raise d.arg_err()
            if not is_ip(d.val()):
                raise d.errf("invalid IP address: %s", d.val())
            address = ipaddress.ip_address(d.val())
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                address = address.ipv4_mapped
            s.set(source_address=str(address))
        else:
            raise d.errf("unknown property '%s'", option)
    except ValueError as exc:  # Go's strconv and rcode texts, without a position
        raise c.error(str(exc)) from None


def _parse_health_check(c: Controller, s: _Stanza) -> None:
    d = c.dispenser
    if not d.next_arg():
        raise d.arg_err()
    nanoseconds, seconds = _duration_seconds(c, d.val())
    if nanoseconds < 0:
        # CoreDNS formats this Duration with %d: nanoseconds.
        raise c.error(f"health_check can't be negative: {nanoseconds}")
    s.set(health_check_seconds=seconds, health_check_domain=".")
    while d.next_arg():
        word = d.val()
        if word == "no_rec":
            s.set(health_check_recursion_desired=False)
        elif word == "domain":
            if not d.next_arg():
                raise d.arg_err()
            domain = d.val()
            if not is_domain_name(domain):
                raise c.error(f"health_check: invalid domain name {domain}")
            s.set(health_check_domain=normalize_zone(domain))
        else:
            raise c.error(f"health_check: unknown option {word}")


def _parse_stanza(c: Controller) -> tuple[ForwardOptions, int]:
    """One ``forward`` line: its options and how many TO entries it has."""
    d = c.dispenser
    if not d.next_arg():
        raise d.arg_err()
    origin = d.val()
    zones = normalize_zones([origin])
    if not zones:
        raise c.error(f"unable to normalize '{origin}'")
    if len(zones) > 1:
        log.warning(
            "Unsupported CIDR notation: '%s' expands to multiple zones. Using only '%s'.",
            origin,
            zones[0],
        )
    to = d.remaining_args()
    if not to:
        raise d.arg_err()
    stanza = _Stanza(zones[0])
    while d.next_block():
        _parse_option(c, stanza)
    options = stanza.options
    if options.max_age_seconds > 0 and options.max_age_seconds < options.expire_seconds:
        raise c.error(
            f"max_age ({_go_seconds(options.max_age_seconds)}) must not be less than expire "
            f"({_go_seconds(options.expire_seconds)})"
        )
    try:
        found = destinations(to)
    except AddressError as exc:
        raise c.error(str(exc)) from None
    for upstream in found.upstreams:
        if upstream.transport == "tls" and upstream.server_name and stanza.tls_server_name:
            raise c.error(
                f"both forward ('{stanza.tls_server_name}') and proxy level "
                f"('{upstream.server_name}') TLS servernames are set for upstream proxy "
                f"'tls://{upstream.addr}'"
            )
    tls = None
    if stanza.tls_files is not None or stanza.tls_server_name or any(
        u.transport == "tls" for u in found.upstreams
    ):
        tls = _tls_options(stanza.tls_files or (), stanza.tls_server_name)
    options = replace(
        options,
        upstreams=found.upstreams,
        ignored=tuple(stanza.ignored),
        next_rcodes=tuple(stanza.next_rcodes),
        failover_rcodes=tuple(stanza.failover_rcodes),
        tls=tls,
    )
    return options, found.entries


def _tls_options(files: tuple[str, ...], server_name: str) -> TLSOptions:
    """``tls CA`` | ``tls CERT KEY [CA]`` as options."""
    if len(files) == 1:
        return TLSOptions(ca=files[0], server_name=server_name)
    if len(files) >= 2:
        ca = files[2] if len(files) == 3 else ""
        return TLSOptions(cert=files[0], key=files[1], ca=ca, server_name=server_name)
    return TLSOptions(server_name=server_name)


def _go_seconds(seconds: float) -> str:
    return format_duration(round(seconds * NANOSECONDS_PER_SECOND))


def parse(c: Controller) -> list[ForwardOptions]:
    """Every ``forward`` line of the block, in Corefile order."""
    d = c.dispenser
    stanzas = []
    while d.next():
        stanzas.append(_parse_stanza(c))
    for _, entries in stanzas:
        if entries > MAX_UPSTREAMS:
            raise c.error(f"more than {MAX_UPSTREAMS} TOs configured: {entries}")
    return [options for options, _ in stanzas]


def _build_proxies(c: Controller, options: ForwardOptions) -> list[Proxy]:
    contexts: dict[str, object] = {}
    proxies = []
    for upstream in options.upstreams:
        context = None
        if upstream.transport == "tls":
            assert options.tls is not None
            name = options.tls.server_name or upstream.server_name
            if name not in contexts:
                try:
                    contexts[name] = client_context(options.tls)
                except TLSConfigError as exc:
                    raise c.error(str(exc)) from None
            context = contexts[name]
        proxies.append(Proxy(upstream, options, ssl_context=context))  # type: ignore[arg-type]
    return proxies


def setup(c: Controller) -> None:
    all_options = parse(c)
    sweeper = Sweeper()
    for options in all_options:
        proxies = _build_proxies(c, options)
        sweeper.add(proxies, options.expire_seconds)
        c.add_plugin(functools.partial(Forward, options=options, proxies=proxies))
    c.on_startup(sweeper.start)
    c.on_shutdown(sweeper.stop)


__all__ = ["parse", "setup"]
