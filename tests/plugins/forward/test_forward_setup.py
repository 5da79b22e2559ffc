"""forward setup: what each Corefile form configures, and CoreDNS's exact setup errors.

Corefiles go through the real build path (parse, setup, chain) without opening sockets; the
handlers of the block carry the parsed ``ForwardOptions``. Errors CoreDNS raises with the
dispenser name ``Corefile:N``; its other errors (Go's ``strconv`` and ``time`` texts, address
errors) have no position, as in CoreDNS.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from clusterdns.errors import PluginSetupError
from clusterdns.plugins.forward.forward import Forward
from clusterdns.plugins.forward.options import ForwardOptions, TLSOptions, UpstreamAddress
from clusterdns.server.instance import CorefileSource, Instance
from clusterdns.server.runtime import Runtime

LOCAL = UpstreamAddress("dns", "127.0.0.1", 53)


def build(corefile: str) -> Instance:
    runtime = Runtime(lambda: CorefileSource(corefile, "Corefile"), default_port="0")
    return runtime.build()


def chain(lines: str) -> list[Forward]:
    """The forward handlers of a one-block Corefile, outermost first."""
    handler = build(f". {{\n{lines}\n}}\n").blocks[0].handlers["forward"]
    handlers = []
    while isinstance(handler, Forward):
        handlers.append(handler)
        handler = handler.next  # type: ignore[assignment]
    return handlers


def options(lines: str) -> ForwardOptions:
    (only,) = chain(lines)
    return only.options


def defaults(**changes: object) -> ForwardOptions:
    values: dict[str, object] = {"from_zone": ".", "upstreams": (LOCAL,)}
    values.update(changes)
    return ForwardOptions(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ("forward . 127.0.0.1", defaults()),
        ("forward . 127.0.0.1 \n", defaults()),
        ("forward . 127.0.0.1:53", defaults()),
        ("forward . dns://127.0.0.1", defaults()),
        ("forward Example.ORG 127.0.0.1:8080", defaults(from_zone="example.org.", upstreams=(UpstreamAddress("dns", "127.0.0.1", 8080),))),
        ("forward 10.9.3.0/24 127.0.0.1", defaults(from_zone="3.9.10.in-addr.arpa.")),
        ("forward 10.9.3.0/18 127.0.0.1", defaults(from_zone="0.9.10.in-addr.arpa.")),
        ("forward . [::1]:53", defaults(upstreams=(UpstreamAddress("dns", "::1", 53),))),
        ("forward . [2003::1]", defaults(upstreams=(UpstreamAddress("dns", "2003::1", 53),))),
        ("forward . 2003::1", defaults(upstreams=(UpstreamAddress("dns", "2003::1", 53),))),
        (
            "forward . 127.0.0.1 127.0.0.1:53 dns://127.0.0.1:53 127.0.0.2",
            defaults(upstreams=(LOCAL, UpstreamAddress("dns", "127.0.0.2", 53))),
        ),
        ("forward . 127.0.0.1 {\nexcept miek.nl Example.ORG\n}", defaults(ignored=("miek.nl.", "example.org."))),
        ("forward . 127.0.0.1 {\nmax_fails 3\n}", defaults(max_fails=3)),
        ("forward . 127.0.0.1 {\nmax_fails 0\n}", defaults(max_fails=0)),
        ("forward . 127.0.0.1 {\nmax_connect_attempts 0\n}", defaults(max_connect_attempts=0)),
        ("forward . 127.0.0.1 {\nmax_connect_attempts 5\n}", defaults(max_connect_attempts=5)),
        ("forward . 127.0.0.1 {\nforce_tcp\n}", defaults(force_tcp=True)),
        ("forward . 127.0.0.1 {\nprefer_udp\n}", defaults(prefer_udp=True)),
        ("forward . 127.0.0.1 {\nforce_tcp\nprefer_udp\n}", defaults(force_tcp=True, prefer_udp=True)),
        ("forward . 127.0.0.1 {\nhealth_check 0.5s\n}", defaults()),
        ("forward . 127.0.0.1 {\nhealth_check 1s no_rec\n}", defaults(health_check_seconds=1.0, health_check_recursion_desired=False)),
        (
            "forward . 127.0.0.1 {\nhealth_check 0.5s no_rec domain Example.org\n}",
            defaults(health_check_recursion_desired=False, health_check_domain="example.org."),
        ),
        ("forward . 127.0.0.1 {\nhealth_check 0.5s domain example.org.\n}", defaults(health_check_domain="example.org.")),
        ("forward . 127.0.0.1 {\nhealth_check 0.5s domain .\n}", defaults()),
        ("forward . 127.0.0.1 {\nhealth_check 0\n}", defaults(health_check_seconds=0.0)),
        ("forward . 127.0.0.1 {\nexpire 1m30s\n}", defaults(expire_seconds=90.0)),
        ("forward . 127.0.0.1 {\nexpire 0s\n}", defaults(expire_seconds=0.0)),
        ("forward . 127.0.0.1 {\nmax_age 20s\n}", defaults(max_age_seconds=20.0)),
        ("forward . 127.0.0.1 {\nmax_idle_conns 10\n}", defaults(max_idle_conns=10)),
        ("forward . 127.0.0.1 {\nread_timeout 200ms\n}", defaults(read_timeout_seconds=0.2)),
        ("forward . 127.0.0.1 {\npolicy round_robin\n}", defaults(policy="round_robin")),
        ("forward . 127.0.0.1 {\npolicy sequential\n}", defaults(policy="sequential")),
        ("forward . 127.0.0.1 {\nmax_concurrent 1000\n}", defaults(max_concurrent=1000, max_concurrent_text="1000")),
        ("forward . 127.0.0.1 {\nmax_concurrent +5\n}", defaults(max_concurrent=5, max_concurrent_text="+5")),
        ("forward . 127.0.0.1 {\nnext NXDOMAIN servfail REFUSED\n}", defaults(next_rcodes=(3, 2, 5))),
        ("forward . 127.0.0.1 {\nnext_on_nodata\n}", defaults(next_on_nodata=True)),
        ("forward . 127.0.0.1 {\nfailover SERVFAIL notimpl\n}", defaults(failover_rcodes=(2, 4))),
        ("forward . 127.0.0.1 {\nfailfast_all_unhealthy_upstreams\n}", defaults(failfast_all_unhealthy_upstreams=True)),
        ("forward . 127.0.0.1 {\nsource_address 192.0.2.1\n}", defaults(source_address="192.0.2.1")),
        ("forward . 127.0.0.1 {\nsource_address ::ffff:192.0.2.1\n}", defaults(source_address="192.0.2.1")),
        ("forward . 127.0.0.1 {\ndoh_method GET\n}", defaults()),
        ("forward . 127.0.0.1 {\nresolver 10.0.0.1 [::1]:5353\n}", defaults()),
        (
            "forward . tls://127.0.0.1 {\ntls_servername dns.example\n}",
            defaults(
                upstreams=(UpstreamAddress("tls", "127.0.0.1", 853),),
                tls=TLSOptions(server_name="dns.example"),
            ),
        ),
        (
            "forward . tls://127.0.0.1%dns.example:8853 tls://[2400:3200::1%dns.alidns.com]:853",
            defaults(
                upstreams=(
                    UpstreamAddress("tls", "127.0.0.1", 8853, "dns.example"),
                    UpstreamAddress("tls", "2400:3200::1", 853, "dns.alidns.com"),
                ),
                tls=TLSOptions(),
            ),
        ),
    ],
)
def test_parse(lines: str, expected: ForwardOptions) -> None:
    assert options(lines) == expected


def test_several_forward_lines_are_chained_in_order() -> None:
    handlers = chain(
        "forward 1st.example.org 127.0.0.1\nforward 2nd.example.org 127.0.0.2\n"
        "forward 3rd.example.org 127.0.0.3\nwhoami"
    )
    assert [h.options.from_zone for h in handlers] == [
        "1st.example.org.",
        "2nd.example.org.",
        "3rd.example.org.",
    ]
    assert handlers[-1].next is not None and handlers[-1].next.name == "whoami"


def test_default_attempt_cap_is_twice_the_upstreams() -> None:
    (handler,) = chain("forward . 127.0.0.1 127.0.0.2 127.0.0.3")
    assert handler.max_attempts == 6
    (capped,) = chain("forward . 127.0.0.1 127.0.0.2 {\nmax_connect_attempts 1\n}")
    assert capped.max_attempts == 1


def test_cidr_expanding_to_several_zones_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="clusterdns"):
        assert options("forward 10.9.3.0/18 127.0.0.1").from_zone == "0.9.10.in-addr.arpa."
    assert (
        "Unsupported CIDR notation: '10.9.3.0/18' expands to multiple zones. "
        "Using only '0.9.10.in-addr.arpa.'."
    ) in caplog.messages


def _error(lines: str) -> str:
    with pytest.raises(PluginSetupError) as info:
        build(f". {{\n{lines}\n}}\n")
    return str(info.value)


AT2 = "Corefile:2 - Error during parsing: "
AT3 = "Corefile:3 - Error during parsing: "
WRONG = "Wrong argument count or unexpected line ending after "


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("forward", AT2 + WRONG + "'forward'"),
        ("forward .", AT2 + WRONG + "'.'"),
        ("forward . {\n}", AT2 + WRONG + "'.'"),
        ("forward . 127.0.0.1 {\nblaatl\n}", AT3 + "unknown property 'blaatl'"),
        ("forward . 127.0.0.1 {\nexcept\n}", AT3 + WRONG + "'except'"),
        ("forward . 127.0.0.1 {\nmax_fails\n}", AT3 + WRONG + "'max_fails'"),
        ("forward . 127.0.0.1 {\nmax_fails x\n}", 'strconv.ParseUint: parsing "x": invalid syntax'),
        ("forward . 127.0.0.1 {\nmax_fails -1\n}", 'strconv.ParseUint: parsing "-1": invalid syntax'),
        ("forward . 127.0.0.1 {\nmax_fails 4294967296\n}", 'strconv.ParseUint: parsing "4294967296": value out of range'),
        ("forward . 127.0.0.1 {\nmax_connect_attempts -4\n}", 'strconv.ParseUint: parsing "-4": invalid syntax'),
        ("forward . 127.0.0.1 {\nhealth_check\n}", AT3 + WRONG + "'health_check'"),
        ("forward . 127.0.0.1 {\nhealth_check no_rec\n}", 'time: invalid duration "no_rec"'),
        ("forward . 127.0.0.1 {\nhealth_check 1\n}", 'time: missing unit in duration "1"'),
        ("forward . 127.0.0.1 {\nhealth_check -1s\n}", "health_check can't be negative: -1000000000"),
        ("forward . 127.0.0.1 {\nhealth_check 0.5s rec\n}", "health_check: unknown option rec"),
        ("forward . 127.0.0.1 {\nhealth_check 0.5s domain\n}", AT3 + WRONG + "'domain'"),
        ("forward . 127.0.0.1 {\nhealth_check 0.5s domain example..org\n}", "health_check: invalid domain name example..org"),
        ("forward . 127.0.0.1 {\nforce_tcp yes\n}", AT3 + WRONG + "'yes'"),
        ("forward . 127.0.0.1 {\nprefer_udp yes\n}", AT3 + WRONG + "'yes'"),
        ("forward . 127.0.0.1 {\nexpire -1s\n}", "expire can't be negative: -1s"),
        ("forward . 127.0.0.1 {\nexpire 10\n}", 'time: missing unit in duration "10"'),
        ("forward . 127.0.0.1 {\nmax_age -1m\n}", "max_age can't be negative: -1m0s"),
        ("forward . 127.0.0.1 {\nmax_age 1s\n}", "max_age (1s) must not be less than expire (10s)"),
        ("forward . 127.0.0.1 {\nmax_idle_conns many\n}", 'strconv.Atoi: parsing "many": invalid syntax'),
        ("forward . 127.0.0.1 {\nmax_idle_conns -1\n}", "max_idle_conns can't be negative: -1"),
        ("forward . 127.0.0.1 {\nread_timeout 0s\n}", "read_timeout must be positive: 0s"),
        ("forward . 127.0.0.1 {\nread_timeout -2s\n}", "read_timeout must be positive: -2s"),
        ("forward . 127.0.0.1 {\ndoh_method PUT\n}", "doh_method must be either GET or POST"),
        ("forward . 127.0.0.1 {\npolicy\n}", AT3 + WRONG + "'policy'"),
        ("forward . 127.0.0.1 {\npolicy fastest\n}", AT3 + "unknown policy 'fastest'"),
        ("forward . 127.0.0.1 {\nmax_concurrent many\n}", 'strconv.Atoi: parsing "many": invalid syntax'),
        ("forward . 127.0.0.1 {\nmax_concurrent -4\n}", "max_concurrent can't be negative: -4"),
        ("forward . 127.0.0.1 {\nmax_concurrent 99999999999999999999\n}", 'strconv.Atoi: parsing "99999999999999999999": value out of range'),
        ("forward . 127.0.0.1 {\nnext\n}", AT3 + WRONG + "'next'"),
        ("forward . 127.0.0.1 {\nnext NXDOMAIN FOO\n}", "FOO is not a valid rcode"),
        ("forward . 127.0.0.1 {\nnext_on_nodata x\n}", AT3 + WRONG + "'x'"),
        ("forward . 127.0.0.1 {\nfailfast_all_unhealthy_upstreams x\n}", AT3 + WRONG + "'x'"),
        ("forward . 127.0.0.1 {\nfailover\n}", AT3 + WRONG + "'failover'"),
        ("forward . 127.0.0.1 {\nfailover NOERROR\n}", "NoError cannot be used in failover"),
        ("forward . 127.0.0.1 {\nfailover servfail nope\n}", "nope is not a valid rcode"),
        ("forward . 127.0.0.1 {\nresolver example.com\n}", 'resolver must be an IP address or IP:port: "example.com"'),
        ("forward . 127.0.0.1 {\nsource_address\n}", AT3 + WRONG + "'source_address'"),
        ("forward . 127.0.0.1 {\nsource_address not-an-ip\n}", AT3 + "invalid IP address: not-an-ip"),
        ("forward . 127.0.0.1 {\ntls a b c d\n}", AT3 + WRONG + "'d'"),
        ("forward . 127.0.0.1 {\ntls /nonexistent/ca.pem\n}", "error reading /nonexistent/ca.pem: open /nonexistent/ca.pem: no such file or directory"),
        ("forward . 127.0.0.1 {\ntls /nonexistent/c.pem /nonexistent/k.pem\n}", "could not load TLS cert: open /nonexistent/c.pem: no such file or directory"),
        ("forward . 127.0.0.1 {\ntls_servername\n}", AT3 + WRONG + "'tls_servername'"),
        (
            "forward xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx 127.0.0.1",
            "unable to normalize 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'",
        ),
        (
            "forward . a27.0.0.1",
            'not an IP address or file "a27.0.0.1": failed to open file "a27.0.0.1": '
            '"open a27.0.0.1: no such file or directory"',
        ),
        (
            "forward . https://1.1.1.1/",
            "paths are not allowed in HTTPS upstream addresses (the /dns-query path is used by "
            "default): https://1.1.1.1/",
        ),
        ("forward . https://1.1.1.1", "'https' is not supported as a destination protocol in forward: https://1.1.1.1:443"),
        ("forward . grpc://1.1.1.1", "'grpc' is not supported as a destination protocol in forward: grpc://1.1.1.1:443"),
        ("forward . 1.2.3.4:99999", "address 1.2.3.4:99999: invalid port"),
        (
            "forward . tls://127.0.0.1%example.net:854 {\ntls_servername foo\n}",
            "both forward ('foo') and proxy level ('example.net') TLS servernames are set for "
            "upstream proxy 'tls://127.0.0.1:854'",
        ),
        ("forward . " + " ".join(f"127.0.0.{i}" for i in range(1, 17)), "more than 15 TOs configured: 16"),
        # the block is read before the addresses, as in CoreDNS
        ("forward . a27.0.0.1 {\nblaatl\n}", AT3 + "unknown property 'blaatl'"),
        # an error in a later forward line is reported
        ("forward . 127.0.0.1\nforward . 127.0.0.1 {\nmax_fails x\n}", 'strconv.ParseUint: parsing "x": invalid syntax'),
        ("forward . 127.0.0.1\nforward example.org", "Corefile:3 - Error during parsing: " + WRONG + "'example.org'"),
    ],
)
def test_setup_errors(lines: str, message: str) -> None:
    assert _error(lines) == f"plugin/forward: {message}"


def test_fifteen_upstreams_are_allowed() -> None:
    handler = options("forward . " + " ".join(f"127.0.0.{i}" for i in range(1, 16)))
    assert len(handler.upstreams) == 15


# --- resolv.conf ------------------------------------------------------------------------


def test_resolv_conf_nameservers(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(
        "# a comment\n; another\nsearch example.org\noptions ndots:5\n"
        "nameserver 10.10.255.252\nnameserver   10.10.255.253  # trailing words ignored\n"
        "nameserver fe80::1%eth0\nnameserver\n"
    )
    assert options(f"forward . {resolv}").upstreams == (
        UpstreamAddress("dns", "10.10.255.252", 53),
        UpstreamAddress("dns", "10.10.255.253", 53),
        UpstreamAddress("dns", "fe80::1", 53),
    )


def test_resolv_conf_with_other_upstreams_deduplicated(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\nnameserver 127.0.0.2\n")
    assert options(f"forward . 127.0.0.2 {resolv} 127.0.0.3").upstreams == (
        UpstreamAddress("dns", "127.0.0.2", 53),
        LOCAL,
        UpstreamAddress("dns", "127.0.0.3", 53),
    )


def test_empty_resolv_conf_is_skipped(tmp_path: Path) -> None:
    empty = tmp_path / "empty.conf"
    empty.write_text("# nameserver 1.0.0.1\n")
    null = tmp_path / "null.conf"
    null.write_text("")
    assert options(f"forward . {empty} 127.0.0.1").upstreams == (LOCAL,)
    assert _error(f"forward . {null}") == "plugin/forward: no valid upstream addresses found"


def test_resolv_conf_counts_as_one_to(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("".join(f"nameserver 10.0.0.{i}\n" for i in range(1, 21)))
    assert len(options(f"forward . {resolv}").upstreams) == 20  # CoreDNS counts TO entries


def test_resolv_conf_hostname_nameserver_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver dns.example\nnameserver 10.0.0.1\n")
    with caplog.at_level(logging.WARNING, logger="clusterdns"):
        upstreams = options(f"forward . {resolv}").upstreams
    assert upstreams == (UpstreamAddress("dns", "10.0.0.1", 53),)
    assert f"Ignoring nameserver dns.example in {resolv}: not an IP address" in caplog.messages


def test_unreadable_resolv_conf(tmp_path: Path) -> None:
    regular = tmp_path / "file"
    regular.write_text("")
    bad = f"{regular}/resolv.conf"
    assert _error(f"forward . {bad}") == (
        f'plugin/forward: not an IP address or file "{bad}": open {bad}: not a directory'
    )
