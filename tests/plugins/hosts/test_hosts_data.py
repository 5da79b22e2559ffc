"""hosts data: hosts-file parsing, file+inline merging, reverse names and Go durations.

These are the pure pieces behind the handler; their rules come from CoreDNS's
``hostsfile.go``, ``wildcard.go``, ``dnsutil/reverse.go`` and Go's ``time.ParseDuration``.
"""

from __future__ import annotations

import pytest

from clusterdns.plugins.hosts.hostsfile import (
    HostsMap,
    merge,
    parse_hosts,
    wildcard_pattern,
)
from clusterdns.plugins.hosts.reverse import address_from_reverse

HOSTS = """\
# a comment line
127.0.0.1 localhost localhost.localdomain
10.0.0.1  Example.ORG www.example.org   # trailing comment
10.0.0.2\texample.org
::ffff:10.0.0.3 mapped.example.org
fe80::1%eth0 linklocal.example.org
2001:DB8::1 example.org
10.0.0.9 *.wild.example.org
010.0.0.1 leadingzero.example.org
not-an-ip bogus.example.org
10.0.0.11
10.0.0.12 other.example.net
"""


def texts(records: object) -> list[str]:
    return [repr(r) for r in records]  # type: ignore[attr-defined]


def test_parse_hosts_lines() -> None:
    hosts = parse_hosts(HOSTS, origins=["."], auto_reverse=True)
    assert texts(hosts.name4["example.org."]) == ["10.0.0.1", "10.0.0.2"]
    assert texts(hosts.name4["www.example.org."]) == ["10.0.0.1"]
    assert texts(hosts.name4["mapped.example.org."]) == ["10.0.0.3"]  # IPv4-mapped is IPv4
    assert texts(hosts.name6["linklocal.example.org."]) == ["fe80::1"]  # %zone dropped
    assert texts(hosts.name6["example.org."]) == ["2001:db8::1"]
    assert texts(hosts.wild4["*.wild.example.org."]) == ["10.0.0.9"]
    assert "leadingzero.example.org." not in hosts.name4
    assert "bogus.example.org." not in hosts.name4
    assert texts(hosts.addr["10.0.0.1"]) == ["example.org.", "www.example.org."]
    assert texts(hosts.addr["10.0.0.3"]) == ["mapped.example.org."]
    assert texts(hosts.addr["2001:db8::1"]) == ["example.org."]
    assert "10.0.0.9" not in hosts.addr  # wildcards get no PTR
    assert texts(hosts.addr["127.0.0.1"]) == ["localhost.", "localhost.localdomain."]


def test_parse_hosts_drops_names_outside_origins() -> None:
    hosts = parse_hosts(HOSTS, origins=["example.org."], auto_reverse=True)
    assert "localhost." not in hosts.name4
    assert "other.example.net." not in hosts.name4
    assert "127.0.0.1" not in hosts.addr


def test_no_reverse() -> None:
    hosts = parse_hosts(HOSTS, origins=["."], auto_reverse=False)
    assert hosts.addr == {}
    assert texts(hosts.name4["example.org."]) == ["10.0.0.1", "10.0.0.2"]


def test_len_counts_addresses_and_reverse_names() -> None:
    hosts = parse_hosts("10.0.0.1 a b\n::1 a\n10.0.0.2 *.x\n", origins=["."], auto_reverse=True)
    # name4: a, b; name6: a; wild4: *.x; addr: 10.0.0.1 -> a, b; ::1 -> a
    assert len(hosts) == 7


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("a.example.org.", "*.example.org."),
        ("example.org.", "*.org."),
        ("org.", ""),
        (".", ""),
        ("a\\.b.example.org.", "*.example.org."),
    ],
)
def test_wildcard_pattern(name: str, pattern: str) -> None:
    assert wildcard_pattern(name) == pattern


def test_merge_puts_file_first_and_looks_sources_up_independently() -> None:
    file = parse_hosts(
        "10.0.0.1 a.example.org\n10.0.0.9 *.example.org\n::1 v6.example.org\n",
        origins=["."],
        auto_reverse=True,
    )
    inline = parse_hosts(
        "10.0.0.2 a.example.org\n10.0.0.8 *.example.org\n10.0.0.3 b.example.org\n",
        origins=["."],
        auto_reverse=True,
    )
    table = merge(file, inline)
    # exact in both sources: file then inline
    assert texts(table.lookup("a.example.org.").v4) == ["10.0.0.1", "10.0.0.2"]  # type: ignore[union-attr]
    # exact only inline: the file's wildcard still answers, first
    assert texts(table.lookup("b.example.org.").v4) == ["10.0.0.9", "10.0.0.3"]  # type: ignore[union-attr]
    # exact in the file for AAAA only: A comes from the wildcards of both sources
    found = table.lookup("v6.example.org.")
    assert found is not None and texts(found.v4) == ["10.0.0.9", "10.0.0.8"]
    assert texts(found.v6) == ["::1"]
    # no exact entry anywhere: both wildcards
    assert texts(table.lookup("c.example.org.").v4) == ["10.0.0.9", "10.0.0.8"]  # type: ignore[union-attr]
    # the apex and deeper names do not match *.example.org
    assert table.lookup("example.org.") is None
    assert table.lookup("x.c.example.org.") is None
    assert texts(table.ptr["10.0.0.1"]) == ["a.example.org."]
    assert texts(table.ptr["10.0.0.3"]) == ["b.example.org."]


def test_merge_of_a_file_alone() -> None:
    file = parse_hosts("10.0.0.1 a.example.org\n::1 a.example.org b.example.org\n", origins=["."], auto_reverse=True)
    table = merge(file, HostsMap())
    found = table.lookup("a.example.org.")
    assert found is not None and texts(found.v4) == ["10.0.0.1"] and texts(found.v6) == ["::1"]
    found = table.lookup("b.example.org.")
    assert found is not None and found.v4 == () and texts(found.v6) == ["::1"]
    assert texts(table.ptr["::1"]) == ["a.example.org.", "b.example.org."]
    assert table.lookup("c.example.org.") is None


def test_merge_of_empty_sources() -> None:
    table = merge(HostsMap(), HostsMap())
    assert table.lookup("a.example.org.") is None
    assert table.ptr == {}


@pytest.mark.parametrize(
    ("name", "address"),
    [
        ("4.3.2.1.in-addr.arpa.", "1.2.3.4"),
        ("3.2.1.in-addr.arpa.", ""),
        ("256.3.2.1.in-addr.arpa.", ""),
        ("in-addr.arpa.", ""),
        (
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
            "2001:db8::1",
        ),
        (
            "4.0.3.0.2.0.1.0.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
            "1.2.3.4",  # IPv4-mapped, written as Go writes it
        ),
        ("1.0.0.0.ip6.arpa.", ""),
        ("example.org.", ""),
    ],
)
def test_address_from_reverse(name: str, address: str) -> None:
    assert address_from_reverse(name) == address
