"""hosts answers through a real server: A/AAAA/PTR, NODATA, SERVFAIL, fallthrough, wildcards."""

from __future__ import annotations

from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import pytest

from clusterdns.testing import Case, check, query, run_corefile

HOSTS = """\
# served from a file in tmp_path
127.0.0.1 localhost
10.0.0.1 example.org www.Example.ORG   # trailing comment
10.0.0.2 example.org
fe80::1%eth0 linklocal.example.org
2001:db8::1 example.org v6only.example.org
10.0.0.9 *.wild.example.org
10.0.0.10 exact.wild.example.org
not-an-ip bogus.example.org
10.0.0.12 other.example.net
"""


@pytest.fixture
def hosts_file(tmp_path: Path) -> Path:
    path = tmp_path / "hosts"
    path.write_text(HOSTS)
    return path


def corefile(hosts_file: Path) -> str:
    return f""". {{
    hosts {hosts_file} example.org {{
        10.0.0.3 example.org
        10.0.0.4 inline.example.org
        ttl 300
    }}
}}
"""


CASES = [
    Case(
        "example.org.",
        "A",
        answer=[
            "example.org. 300 IN A 10.0.0.1",
            "example.org. 300 IN A 10.0.0.2",
            "example.org. 300 IN A 10.0.0.3",
        ],
        authoritative=True,
    ),
    Case("www.example.org.", "A", answer=["www.example.org. 300 IN A 10.0.0.1"], authoritative=True),
    Case("example.org.", "AAAA", answer=["example.org. 300 IN AAAA 2001:db8::1"], authoritative=True),
    Case("linklocal.example.org.", "AAAA", answer=["linklocal.example.org. 300 IN AAAA fe80::1"]),
    Case("inline.example.org.", "A", answer=["inline.example.org. 300 IN A 10.0.0.4"]),
    # the name exists, the type does not: authoritative NODATA without SOA
    Case("v6only.example.org.", "A", authoritative=True),
    Case("example.org.", "MX", authoritative=True),
    Case("example.org.", "TXT", authoritative=True),
    # unknown names: SERVFAIL written by the server (AA not set)
    Case("bogus.example.org.", "A", rcode="SERVFAIL", authoritative=False),
    Case("missing.example.org.", "TXT", rcode="SERVFAIL", authoritative=False),
    # wildcards: one extra label, not the apex, exact entries win
    Case("a.wild.example.org.", "A", answer=["a.wild.example.org. 300 IN A 10.0.0.9"]),
    Case("exact.wild.example.org.", "A", answer=["exact.wild.example.org. 300 IN A 10.0.0.10"]),
    Case("a.wild.example.org.", "AAAA", authoritative=True),
    Case("wild.example.org.", "A", rcode="SERVFAIL"),
    Case("deep.a.wild.example.org.", "A", rcode="SERVFAIL"),
    # PTR, v4 and v6, file and inline; names outside ZONES were dropped while parsing
    Case(
        "1.0.0.10.in-addr.arpa.",
        "PTR",
        answer=[
            "1.0.0.10.in-addr.arpa. 300 IN PTR example.org.",
            "1.0.0.10.in-addr.arpa. 300 IN PTR www.example.org.",
        ],
        authoritative=True,
    ),
    Case("3.0.0.10.in-addr.arpa.", "PTR", answer=["3.0.0.10.in-addr.arpa. 300 IN PTR example.org."]),
    Case(
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
        "PTR",
        answer=[
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 300 IN PTR example.org.",
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 300 IN PTR v6only.example.org.",
        ],
    ),
    # unknown address, wildcard address, address of a name outside ZONES: next plugin (none)
    Case("99.0.0.10.in-addr.arpa.", "PTR", rcode="SERVFAIL"),
    Case("9.0.0.10.in-addr.arpa.", "PTR", rcode="SERVFAIL"),
    Case("12.0.0.10.in-addr.arpa.", "PTR", rcode="SERVFAIL"),
    Case("1.0.0.127.in-addr.arpa.", "PTR", rcode="SERVFAIL"),
]


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_answers(hosts_file: Path, tcp: bool) -> None:
    async with run_corefile(corefile(hosts_file)) as srv:
        for case in CASES:
            reply = await query(srv.port, case.qname, case.qtype, tcp=tcp)
            check(reply, case)


async def test_records_keep_file_then_inline_order(hosts_file: Path) -> None:
    async with run_corefile(corefile(hosts_file)) as srv:
        reply = await query(srv.port, "example.org.", "A")
        assert [r.address for r in reply.answer[0]] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]


async def test_owner_is_the_lowercased_qname(hosts_file: Path) -> None:
    async with run_corefile(corefile(hosts_file)) as srv:
        reply = await query(srv.port, "WWW.Example.Org.", "A")
        assert reply.answer[0].name.to_text() == "www.example.org."
        reply = await query(srv.port, "1.0.0.10.IN-ADDR.ARPA.", "PTR")
        assert reply.answer[0].name.to_text() == "1.0.0.10.in-addr.arpa."


async def test_nodata_has_no_soa(hosts_file: Path) -> None:
    async with run_corefile(corefile(hosts_file)) as srv:
        reply = await query(srv.port, "v6only.example.org.", "A")
        assert reply.rcode() == dns.rcode.NOERROR
        assert reply.flags & dns.flags.AA
        assert reply.answer == [] and reply.authority == []


async def test_servfail_is_left_to_the_server(hosts_file: Path) -> None:
    async with run_corefile(corefile(hosts_file)) as srv:
        reply = await query(srv.port, "bogus.example.org.", "A", use_edns=0)
        assert reply.rcode() == dns.rcode.SERVFAIL
        assert not reply.flags & dns.flags.AA
        assert reply.answer == [] and reply.authority == []
        assert reply.edns == 0  # the server's error reply echoes EDNS


FALLTHROUGH = """. {{
    hosts {{
        10.0.0.1 example.org
        10.0.0.2 example.net
        {options}
    }}
    whoami
}}
"""


def answered_by_whoami(reply: dns.message.Message) -> bool:
    return reply.answer == [] and any(r.rdtype == 33 for r in reply.additional)


@pytest.mark.parametrize(
    ("options", "qname", "qtype", "whoami"),
    [
        ("fallthrough", "missing.example.org.", "A", True),
        ("fallthrough", "example.org.", "AAAA", False),  # known name: NODATA, no fallthrough
        ("fallthrough", "example.org.", "TXT", False),
        ("fallthrough\nfallthrough_unsupported", "example.org.", "TXT", True),
        ("fallthrough\nfallthrough_unsupported", "example.org.", "AAAA", False),
        ("fallthrough example.org\nfallthrough_unsupported", "example.net.", "TXT", False),
        ("fallthrough example.net", "missing.example.net.", "A", True),
        ("", "2.2.2.2.in-addr.arpa.", "PTR", True),  # unknown PTR: always the next plugin
        ("no_reverse", "1.0.0.10.in-addr.arpa.", "PTR", True),
    ],
    ids=[
        "unknown-name", "known-name-other-family", "unsupported-type-nodata",
        "unsupported-type-falls-through", "unsupported-option-keeps-aaaa-nodata",
        "unsupported-respects-fallthrough-zones", "fallthrough-zone", "unknown-ptr",
        "no-reverse",
    ],
)
async def test_fallthrough(options: str, qname: str, qtype: str, whoami: bool) -> None:
    async with run_corefile(FALLTHROUGH.format(options=options)) as srv:
        reply = await query(srv.port, qname, qtype)
        assert reply.rcode() == dns.rcode.NOERROR
        assert answered_by_whoami(reply) == whoami, reply.to_text()


async def test_fallthrough_outside_its_zones_is_servfail() -> None:
    async with run_corefile(FALLTHROUGH.format(options="fallthrough example.net")) as srv:
        reply = await query(srv.port, "missing.example.org.", "A")
        assert reply.rcode() == dns.rcode.SERVFAIL


async def test_names_outside_zones_go_to_the_next_plugin(hosts_file: Path) -> None:
    text = f". {{\n hosts {hosts_file} example.org\n whoami\n}}\n"
    async with run_corefile(text) as srv:
        reply = await query(srv.port, "localhost.", "A")  # in the file, but outside ZONES
        assert answered_by_whoami(reply)
        reply = await query(srv.port, "missing.example.org.", "A")
        assert reply.rcode() == dns.rcode.SERVFAIL  # inside ZONES, no fallthrough


async def test_ptr_answered_outside_zones() -> None:
    text = ". {\n hosts example.org {\n 10.0.0.1 a.example.org\n }\n}\n"
    async with run_corefile(text) as srv:
        reply = await query(srv.port, "1.0.0.10.in-addr.arpa.", "PTR")
        check(reply, Case("1.0.0.10.in-addr.arpa.", "PTR", answer=["1.0.0.10.in-addr.arpa. 3600 IN PTR a.example.org."]))


async def test_default_ttl_is_3600() -> None:
    async with run_corefile(". {\n hosts {\n 10.0.0.1 a.example.org\n }\n}\n") as srv:
        reply = await query(srv.port, "a.example.org.", "A")
        assert reply.answer[0].ttl == 3600


async def test_zones_default_to_the_block() -> None:
    text = "example.org {\n hosts {\n 10.0.0.1 a.example.org\n 10.0.0.2 a.example.net\n }\n}\n"
    async with run_corefile(text) as srv:
        reply = await query(srv.port, "a.example.org.", "A")
        assert [r.address for r in reply.answer[0]] == ["10.0.0.1"]
        reply = await query(srv.port, "2.0.0.10.in-addr.arpa.", "PTR")
        assert reply.rcode() == dns.rcode.REFUSED  # no block serves in-addr.arpa
