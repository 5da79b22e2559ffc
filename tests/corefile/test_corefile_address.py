"""Zone keys, normalisation and matching (CoreDNS register.go, normalize_test.go, cidr_test.go)."""

from __future__ import annotations

import pytest

from clusterdns.corefile import (
    ZoneAddress,
    is_subdomain,
    matches,
    normalize_zone,
    normalize_zones,
    parse_key,
)
from clusterdns.errors import ConfigError


def keys(key: str, default_port: str = "53") -> list[str]:
    return [str(address) for address in parse_key(key, default_port)]


def test_zone_address_string() -> None:
    assert str(ZoneAddress("dns", "example.org.", "53")) == "dns://example.org.:53"
    assert str(ZoneAddress("tls", ".", "853")) == "tls://.:853"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param(".", ["dns://.:53"], id="root"),
        pytest.param(".:53", ["dns://.:53"], id="root-with-port"),
        pytest.param("example.org", ["dns://example.org.:53"], id="qualified"),
        pytest.param("Example.ORG.", ["dns://example.org.:53"], id="lowercased"),
        pytest.param("example.org:1053", ["dns://example.org.:1053"], id="explicit-port"),
        pytest.param("dns://example.org", ["dns://example.org.:53"], id="dns-scheme"),
        pytest.param("dns://example.org:1053", ["dns://example.org.:1053"], id="dns-scheme-port"),
        pytest.param("tls://example.org", ["tls://example.org.:853"], id="tls"),
        pytest.param("quic://example.org", ["quic://example.org.:853"], id="quic"),
        pytest.param("grpc://example.org", ["grpc://example.org.:443"], id="grpc"),
        pytest.param("https://example.org", ["https://example.org.:443"], id="https"),
        pytest.param("https3://example.org", ["https3://example.org.:443"], id="https3"),
        pytest.param("tls://example.org:5353", ["tls://example.org.:5353"], id="tls-explicit-port"),
        pytest.param("example.org:+53", ["dns://example.org.:53"], id="atoi-plus-sign"),
        pytest.param("example.org:0053", ["dns://example.org.:53"], id="atoi-leading-zeros"),
        pytest.param(
            "example.org:abc", ["dns://example.org:abc.:53"], id="non-numeric-port-is-part-of-zone"
        ),
        pytest.param("foo://bar", ["dns://foo://bar.:53"], id="unknown-scheme-is-dns"),
        pytest.param("a\\.b", ["dns://a\\.b.:53"], id="escaped-dot"),
    ],
)
def test_parse_key(key: str, expected: list[str]) -> None:
    assert keys(key) == expected


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param("example.org", "dns://example.org.:5353", id="dns-uses-flag"),
        pytest.param("example.org:53", "dns://example.org.:53", id="key-port-wins"),
        pytest.param("tls://example.org", "tls://example.org.:853", id="tls-ignores-flag"),
        pytest.param("grpc://example.org", "grpc://example.org.:443", id="grpc-ignores-flag"),
    ],
)
def test_default_port_flag(key: str, expected: str) -> None:
    assert keys(key, "5353") == [expected]


def test_unix_scheme_has_no_default_port() -> None:
    assert parse_key("unix://example.org", "53") == [ZoneAddress("unix", "example.org.", "")]


@pytest.mark.parametrize(
    ("key", "zones"),
    [
        pytest.param("10.0.0.0/8", ["10.in-addr.arpa."], id="v4-8"),
        pytest.param("10.1.0.0/16", ["1.10.in-addr.arpa."], id="v4-16"),
        pytest.param("10.0.0.0/24", ["0.0.10.in-addr.arpa."], id="v4-24"),
        pytest.param("10.1.2.3/32", ["3.2.1.10.in-addr.arpa."], id="v4-32"),
        pytest.param("0.0.0.0/0", ["in-addr.arpa."], id="v4-0"),
        pytest.param("10.0.0.0/15", ["0.10.in-addr.arpa.", "1.10.in-addr.arpa."], id="v4-15"),
        pytest.param(
            "192.168.1.1/23",
            ["0.168.192.in-addr.arpa.", "1.168.192.in-addr.arpa."],
            id="v4-23-host-bits",
        ),
        pytest.param(
            "10.129.60.0/22",
            [
                "60.129.10.in-addr.arpa.",
                "61.129.10.in-addr.arpa.",
                "62.129.10.in-addr.arpa.",
                "63.129.10.in-addr.arpa.",
            ],
            id="v4-22",
        ),
        pytest.param("10.9.3.0/18", [f"{i}.9.10.in-addr.arpa." for i in range(64)], id="v4-18"),
        pytest.param("2001:db8::/32", ["8.b.d.0.1.0.0.2.ip6.arpa."], id="v6-32"),
        pytest.param(
            "2001:db8::/31", ["8.b.d.0.1.0.0.2.ip6.arpa.", "9.b.d.0.1.0.0.2.ip6.arpa."], id="v6-31"
        ),
        pytest.param(
            "2001:db8::/29", [f"{c}.b.d.0.1.0.0.2.ip6.arpa." for c in "89abcdef"], id="v6-29"
        ),
        pytest.param("2001:db8::/30", [f"{c}.b.d.0.1.0.0.2.ip6.arpa." for c in "89ab"], id="v6-30"),
        pytest.param(
            "2001:db8::/112",
            ["0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."],
            id="v6-112",
        ),
        pytest.param(
            "2001:db8::/108",
            ["0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."],
            id="v6-108",
        ),
        pytest.param(
            "2001:db8::/115",
            [
                "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
                "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
            ],
            id="v6-115",
        ),
        pytest.param("fd00::/8", ["d.f.ip6.arpa."], id="v6-8"),
        pytest.param("10.0.0.0/24:1053", ["0.0.10.in-addr.arpa."], id="v4-with-port"),
    ],
)
def test_reverse_keys(key: str, zones: list[str]) -> None:
    assert [address.zone for address in parse_key(key, "53")] == zones


def test_reverse_key_on_non_octet_boundary_gives_every_zone() -> None:
    addresses = parse_key("10.0.0.0/17", "53")
    assert len(addresses) == 128
    assert [a.zone for a in addresses[:2]] == ["0.0.10.in-addr.arpa.", "1.0.10.in-addr.arpa."]
    assert str(addresses[-1]) == "dns://127.0.10.in-addr.arpa.:53"


def test_reverse_key_keeps_port_and_transport() -> None:
    assert keys("tls://10.0.0.0/15:5353") == [
        "tls://0.10.in-addr.arpa.:5353",
        "tls://1.10.in-addr.arpa.:5353",
    ]


@pytest.mark.parametrize(
    ("key", "zone"),
    [
        pytest.param("10.0.0.0/33", "10.0.0.0/33.", id="mask-too-long"),
        pytest.param("10.0.0/24", "10.0.0/24.", id="incomplete-address"),
        pytest.param("10.0.0.0/ 8", None, id="space-in-mask"),
        pytest.param("10.0.0.0/255.0.0.0", "10.0.0.0/255.0.0.0.", id="netmask-form"),
        pytest.param("010.0.0.0/8", "010.0.0.0/8.", id="leading-zero-octet"),
        pytest.param("10.0.0.0", "10.0.0.0.", id="plain-address"),
    ],
)
def test_not_quite_cidr_keys_are_plain_names(key: str, zone: str | None) -> None:
    # Only a complete address and decimal mask make a reverse key; anything else is a name.
    assert [a.zone for a in parse_key(key, "53")] == ([zone] if zone else [key.lower() + "."])


@pytest.mark.parametrize(
    ("key", "message"),
    [
        pytest.param("", 'expecting data after last colon: ""', id="empty"),
        pytest.param("dns://", 'expecting data after last colon: ""', id="scheme-only"),
        pytest.param(".:", 'expecting data after last colon: ".:"', id="trailing-colon"),
        pytest.param("a\tb:", 'expecting data after last colon: "a\\tb:"', id="quoted-like-go"),
        pytest.param(":53", "zone is not a valid domain name: ", id="port-only"),
        pytest.param("a..b", "zone is not a valid domain name: a..b", id="empty-label"),
        pytest.param(
            ".example.org", "zone is not a valid domain name: .example.org", id="leading-dot"
        ),
        pytest.param(
            "x" * 64 + ".org",
            f"zone is not a valid domain name: {'x' * 64}.org",
            id="label-too-long",
        ),
        pytest.param("a." * 128, "specified zone is too long: 256 > 255", id="too-long"),
        pytest.param(
            "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 63, None, id="fqdn-too-long"
        ),
        pytest.param("::/0", "invalid CIDR ::/0", id="v6-starting-with-colon"),
        pytest.param("::1/128", "invalid CIDR ::1/128", id="v6-loopback"),
        pytest.param("::fFFF:B:F/115", "invalid CIDR ::fFFF:B:F/115", id="v4-mapped"),
        pytest.param("0::1/64", "invalid CIDR 0::1/64", id="v6-starting-with-zero"),
        pytest.param(
            "0:0:0:0:0:ffff:a00:0/104",
            "invalid CIDR 0:0:0:0:0:ffff:a00:0/104",
            id="v4-mapped-long-form",
        ),
    ],
)
def test_invalid_keys(key: str, message: str | None) -> None:
    with pytest.raises(ConfigError) as info:
        parse_key(key, "53")
    if message is None:  # 255 octets is fine until the final dot makes it 256
        message = "specified zone is too long: 256 > 255"
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("example.org", "example.org.", id="qualify"),
        pytest.param("Example.ORG.", "example.org.", id="lowercase"),
        pytest.param("example.org.", "example.org.", id="unchanged"),
        pytest.param(".", ".", id="root"),
        pytest.param("a\\.", "a\\..", id="escaped-final-dot"),
        pytest.param("a\\\\.", "a\\\\.", id="escaped-backslash-then-dot"),
    ],
)
def test_normalize_zone(name: str, expected: str) -> None:
    assert normalize_zone(name) == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param([".:53"], ["."], id="root-port"),
        pytest.param(["example.org:53"], ["example.org."], id="port-dropped"),
        pytest.param(["example.org.:53"], ["example.org."], id="fqdn-port"),
        pytest.param(["10.0.0.0/8:53"], ["10.in-addr.arpa."], id="cidr-port"),
        pytest.param(
            ["10.0.0.0/15"], ["0.10.in-addr.arpa.", "1.10.in-addr.arpa."], id="cidr-expands"
        ),
        pytest.param(["dns://example.org"], ["example.org."], id="scheme-dropped"),
        pytest.param(
            ["tls://Example.org:853", "in-addr.arpa"],
            ["example.org.", "in-addr.arpa."],
            id="several",
        ),
        pytest.param(["::fFFF:B:F/115"], [], id="invalid-dropped"),
        pytest.param(["\xff\n:", "example.org"], ["example.org."], id="invalid-skipped-silently"),
    ],
)
def test_normalize_zones_from_args(args: list[str], expected: list[str]) -> None:
    assert normalize_zones(args, ["ignored.local."]) == expected


@pytest.mark.parametrize(
    ("server_block", "expected"),
    [
        pytest.param(["example.org"], ["example.org."], id="normalized"),
        pytest.param(["10.0.0.0/15"], ["0.10.in-addr.arpa."], id="cidr-first-only"),
        pytest.param(["\xff\n:", "example.org"], ["\xff\n:", "example.org."], id="invalid-kept"),
        pytest.param(
            ["dns://cluster.local.:53", "in-addr.arpa."],
            ["cluster.local.", "in-addr.arpa."],
            id="keys",
        ),
        pytest.param([], [], id="none"),
    ],
)
def test_normalize_zones_from_server_block(server_block: list[str], expected: list[str]) -> None:
    assert normalize_zones([], server_block) == expected


@pytest.mark.parametrize(
    ("child", "parent", "expected"),
    [
        pytest.param(".", ".", True, id="root-root"),
        pytest.param("example.org.", ".", True, id="root-parent"),
        pytest.param(".", "org.", False, id="root-child"),
        pytest.param("example.org.", "example.org.", True, id="same"),
        pytest.param("example.org.", "org.", True, id="child"),
        pytest.param("org.", "example.org.", False, id="parent-is-longer"),
        pytest.param("a.b.example.org.", "example.org.", True, id="deep"),
        pytest.param("notexample.org.", "example.org.", False, id="label-boundary"),
        pytest.param("WWW.Example.ORG.", "example.org.", True, id="case-insensitive"),
        pytest.param("www.example.org.", "EXAMPLE.org.", True, id="case-insensitive-parent"),
        pytest.param("a\\.example.org.", "example.org.", False, id="escaped-dot-is-not-a-boundary"),
        pytest.param(
            "a\\\\.example.org.", "example.org.", True, id="escaped-backslash-then-boundary"
        ),
        pytest.param("example.org", "example.org.", False, id="unqualified-child"),
        pytest.param("", "example.org.", False, id="empty-child"),
        pytest.param("example.org.", "", False, id="empty-parent"),
    ],
)
def test_is_subdomain(child: str, parent: str, expected: bool) -> None:
    assert is_subdomain(child, parent) is expected


@pytest.mark.parametrize(
    ("zones", "qname", "expected"),
    [
        pytest.param(["org.", "."], "example.org.", "org.", id="most-specific"),
        pytest.param(
            ["bla.example.org.", "org.", "."],
            "bla.example.org.",
            "bla.example.org.",
            id="exact-longest",
        ),
        pytest.param(
            [".", "org.", "example.org."], "www.example.org.", "example.org.", id="order-irrelevant"
        ),
        pytest.param(["example.org."], "example.net.", "", id="no-match"),
        pytest.param([], "example.org.", "", id="no-zones"),
        pytest.param(["."], "anything.", ".", id="root"),
        pytest.param(["example.org."], "WWW.EXAMPLE.ORG.", "example.org.", id="qname-case"),
        pytest.param(["example.org."], "badexample.org.", "", id="label-boundary"),
        pytest.param(
            ["cluster.local.", "in-addr.arpa.", "ip6.arpa."],
            "1.0.96.10.in-addr.arpa.",
            "in-addr.arpa.",
            id="reverse",
        ),
        pytest.param(["example.org."], "a\\.example.org.", "", id="escaped-dot"),
    ],
)
def test_matches(zones: list[str], qname: str, expected: str) -> None:
    assert matches(zones, qname) == expected
