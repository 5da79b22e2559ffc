"""loadbalance ordering, through the handler and its writer with a fixed reply behind it.

Replies that no plugin in the registry produces (CNAME chains, MX, zone transfers, NXDOMAIN
with records) are written by a small test handler placed after *loadbalance*; the order the
client would get is what reaches the recording writer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import dns.message
from dnslib import AAAA, CNAME, MX, RR, TXT, A, DNSRecord

from clusterdns import wire
from clusterdns.plugin import Handler, ResponseWriter
from clusterdns.plugins.loadbalance.loadbalance import LoadBalance, _prefer
from clusterdns.request import Request

ATTEMPTS = 200  # bound on queries when waiting for a random order to show up


class Recorder:
    """The client end: keeps what was written."""

    def __init__(self) -> None:
        self.msg: DNSRecord | None = None

    @property
    def written(self) -> bool:
        return self.msg is not None

    def write_msg(self, msg: DNSRecord) -> None:
        self.msg = msg


class Fixed(Handler):
    """Writes the reply ``build`` makes for the query."""

    name = "fixed"

    def __init__(self, build: Callable[[Request], DNSRecord]) -> None:
        super().__init__(None)
        self.build = build

    async def serve_dns(self, req: Request, w: ResponseWriter) -> int:
        reply = self.build(req)
        w.write_msg(reply)
        return reply.header.rcode


def request(qname: str = "example.org.", qtype: str = "A") -> Request:
    query = wire.parse_query(dns.message.make_query(qname, qtype).to_wire())
    assert isinstance(query, wire.Query)
    return Request(query, "udp", "127.0.0.1", 40000, "127.0.0.1", 53)


def a(ip: str) -> RR:
    return RR("example.org.", rtype=1, ttl=30, rdata=A(ip))


def aaaa(ip: str) -> RR:
    return RR("example.org.", rtype=28, ttl=30, rdata=AAAA(ip))


def cname(target: str) -> RR:
    return RR("www.example.org.", rtype=5, ttl=30, rdata=CNAME(target))


def mx(preference: int, host: str) -> RR:
    return RR("example.org.", rtype=15, ttl=30, rdata=MX(host, preference))


def txt(text: str) -> RR:
    return RR("example.org.", rtype=16, ttl=30, rdata=TXT(text))


def text(records: list[RR]) -> list[str]:
    return [f"{r.rtype} {r.rdata}" for r in records]


async def serve(
    lb: LoadBalance, sections: tuple[list[RR], list[RR], list[RR]], *, rcode: int = 0, qtype: str = "A"
) -> tuple[DNSRecord, DNSRecord]:
    """Run one query; return the reply the backend wrote and the one the client got."""
    built: list[DNSRecord] = []

    def build(req: Request) -> DNSRecord:
        reply = req.reply(rcode, authoritative=True)
        reply.rr, reply.auth, reply.ar = list(sections[0]), list(sections[1]), list(sections[2])
        built.append(reply)
        return reply

    lb.next = Fixed(build)
    recorder = Recorder()
    await lb.serve_dns(request(qtype=qtype), recorder)
    assert recorder.msg is not None
    return built[0], recorder.msg


MIXED = [a("10.0.0.1"), mx(10, "mx1.example.org."), txt("t"), cname("example.org."), a("10.0.0.2"),
         aaaa("::1"), mx(20, "mx2.example.org."), a("10.0.0.3"), cname("other.example.org.")]


async def test_section_order_cname_other_addresses_mx() -> None:
    lb = LoadBalance(None)
    for _ in range(20):
        _, got = await serve(lb, (MIXED, [], []))
        kinds = [r.rtype for r in got.rr]
        assert kinds == [5, 5, 16, *[t for t in kinds[3:7]], 15, 15]
        assert text(got.rr[:2]) == text([MIXED[3], MIXED[8]])  # CNAMEs keep their order
        assert sorted(text(got.rr[3:7])) == sorted(text([MIXED[0], MIXED[4], MIXED[5], MIXED[7]]))
        assert sorted(text(got.rr[7:])) == sorted(text([MIXED[1], MIXED[6]]))


async def test_addresses_and_mx_are_shuffled() -> None:
    lb = LoadBalance(None)
    first_address: set[str] = set()
    first_mx: set[str] = set()
    for _ in range(ATTEMPTS):
        _, got = await serve(lb, (MIXED, [], []))
        first_address.add(str(got.rr[3].rdata))
        first_mx.add(str(got.rr[7].rdata))
        if len(first_address) > 1 and len(first_mx) > 1:
            break
    assert len(first_address) > 1 and len(first_mx) > 1


async def test_every_section_is_reordered() -> None:
    lb = LoadBalance(None)
    section = [txt("t"), a("10.0.0.1"), cname("example.org.")]
    _, got = await serve(lb, (section, list(section), list(section)))
    for records in (got.rr, got.auth, got.ar):
        assert [r.rtype for r in records] == [5, 16, 1]


async def test_the_backend_reply_is_not_modified() -> None:
    lb = LoadBalance(None)
    for _ in range(ATTEMPTS):
        built, got = await serve(lb, (MIXED, list(MIXED), list(MIXED)))
        assert got is not built
        assert built.rr == MIXED and built.auth == MIXED and built.ar == MIXED  # lists untouched
        assert all(any(r is m for m in MIXED) for r in got.rr)  # the records themselves shared
        if text(got.rr) != text(MIXED):
            break


async def test_only_noerror_replies_are_shuffled() -> None:
    lb = LoadBalance(None)
    addresses = [a(f"10.0.0.{i}") for i in range(1, 9)]
    for _ in range(10):
        built, got = await serve(lb, (addresses, [], []), rcode=wire.NXDOMAIN)
        assert got is built and text(got.rr) == text(addresses)


async def test_zone_transfers_are_not_shuffled() -> None:
    lb = LoadBalance(None)
    addresses = [a(f"10.0.0.{i}") for i in range(1, 9)]
    for qtype in ("AXFR", "IXFR"):
        built, got = await serve(lb, (addresses, [], []), qtype=qtype)
        assert got is built and text(got.rr) == text(addresses)


async def test_single_records_pass_unchanged() -> None:
    lb = LoadBalance(None)
    built, got = await serve(lb, ([a("10.0.0.1")], [txt("t")], []))
    assert got is built


def test_prefer_order_matches_coredns() -> None:
    # CoreDNS plugin/loadbalance/prefer_test.go TestSortPreferred
    records = [a("10.9.30.1"), a("10.9.20.5"), a("192.168.1.2"), a("10.10.0.1"), a("10.9.20.3"),
               a("172.16.0.1"), aaaa("2001:db8::1"), aaaa("2001:db8:abcd::1"), aaaa("fd00::1"),
               cname("alias.example.org."), txt("t"), mx(1, "mx.example.org.")]
    subnets = [ipaddress.ip_network(n) for n in ("2001:db8::/32", "10.9.20.0/24", "10.9.30.0/24")]
    assert [str(r.rdata) for r in _prefer(records, subnets)] == [
        "alias.example.org.", "2001:db8::1", "2001:db8:abcd::1", "10.9.20.5", "10.9.20.3",
        "10.9.30.1", "192.168.1.2", "10.10.0.1", "172.16.0.1", "fd00::1", "1 mx.example.org.",
        '"t"',
    ]


def test_prefer_treats_ipv4_mapped_aaaa_as_ipv4() -> None:
    records = [a("10.0.0.1"), aaaa("::ffff:c0a8:101")]  # ::ffff:192.168.1.1
    assert [str(r.rdata) for r in _prefer(records, [ipaddress.ip_network("192.168.1.0/24")])] == [
        "::ffff:c0a8:101", "10.0.0.1",
    ]


async def test_prefer_after_shuffle_in_answer_and_additional_only() -> None:
    lb = LoadBalance(None, prefer=[ipaddress.ip_network("192.168.0.0/16")])
    section = [a("10.0.0.1"), a("192.168.1.1"), a("10.0.0.2"), a("192.168.1.2")]
    seen_second: set[str] = set()
    for _ in range(ATTEMPTS):
        _, got = await serve(lb, (section, list(section), list(section)))
        for records in (got.rr, got.ar):
            assert {str(r.rdata) for r in records[:2]} == {"192.168.1.1", "192.168.1.2"}
        seen_second.add(str(got.auth[0].rdata))
        if len(seen_second) == 4:
            break
    assert len(seen_second) == 4  # the authority section is only shuffled
