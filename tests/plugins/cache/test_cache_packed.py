"""A cache hit's fast path sends exactly the bytes the message path would send.

A hit hands the writers a ``wire.Prepacked`` (records packed once per TTL value) instead of a
dnslib message; the server then only writes the header, the client's question and OPT. These
properties build an item from random records, answer random queries both ways (the item's
message through ``pack_reply``, and the prepacked reply through ``finish``) and require the
same bytes and the same logged size, or ``finish`` declining (truncation and compression stay
on the message path). *loadbalance* reorders packed records as it reorders a message's.
"""

from __future__ import annotations

import random

from dnslib import AAAA, CNAME, MX, PTR, RR, SOA, SRV, TXT, A, DNSRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from clusterdns import wire
from clusterdns.request import Request
from clusterdns.plugins.cache.item import Item
from clusterdns.plugins.loadbalance.loadbalance import random_shuffle, round_robin

OWNERS = ["web.demo.svc.cluster.local.", "_http._tcp.db.shop.svc.cluster.local.", "x.example.org."]


def records() -> st.SearchStrategy[RR]:
    owner = st.sampled_from(OWNERS)
    rdata = st.one_of(
        st.builds(lambda i: (1, A(f"10.96.{i // 256}.{i % 256}")), st.integers(0, 65535)),
        st.builds(lambda i: (28, AAAA(f"fd00::{i:x}")), st.integers(0, 65535)),
        st.builds(lambda t: (5, CNAME(t)), st.sampled_from(OWNERS)),
        st.builds(lambda t, p: (33, SRV(10, 100, p, t)), st.sampled_from(OWNERS), st.integers(1, 65535)),
        st.builds(lambda t: (12, PTR(t)), st.sampled_from(OWNERS)),
        st.builds(lambda t: (16, TXT(t)), st.text("abc xyz", max_size=300)),
        st.builds(lambda t: (15, MX(t, 10)), st.sampled_from(OWNERS)),
        st.just((6, SOA("ns.dns.cluster.local.", "hostmaster.cluster.local.", (1, 7200, 1800, 86400, 5)))),
    )
    return st.builds(lambda o, r: RR(o, r[0], rdata=r[1], ttl=30), owner, rdata)


def query_bytes(name: str, qtype: int, *, rd: bool, cd: bool, ad: bool, edns: int | None, do: bool, options: bytes) -> bytes:
    flags = (wire.FLAG_RD if rd else 0) | (wire.FLAG_CD if cd else 0) | (wire.FLAG_AD if ad else 0)
    labels = tuple(label.encode() for label in name.rstrip(".").split("."))
    header = (0x4242).to_bytes(2, "big") + flags.to_bytes(2, "big") + bytes([0, 1, 0, 0, 0, 0, 0, 1 if edns is not None else 0])
    data = header + wire.question_wire(labels, qtype, 1)
    if edns is not None:
        data += wire.opt_record(edns, 0x8000 if do else 0, options)
    return data


def item_of(rrs: list[RR], rcode: int, ra: bool, ad: bool) -> Item:
    msg = DNSRecord()
    msg.header.rcode = rcode
    msg.header.ra = int(ra)
    msg.header.ad = int(ad)
    answer, ns, extra = rrs[: len(rrs) // 2], rrs[len(rrs) // 2 : -1], rrs[-1:]
    return Item(msg, answer=answer, ns=ns, extra=extra, stored=0.0, duration_seconds=30)


@settings(max_examples=300, deadline=None)
@given(
    rrs=st.lists(records(), min_size=1, max_size=40),
    rcode=st.sampled_from([wire.NOERROR, wire.NXDOMAIN, wire.SERVFAIL]),
    ra=st.booleans(),
    item_ad=st.booleans(),
    case=st.sampled_from([str.lower, str.upper, str.title]),
    qtype=st.sampled_from([1, 28, 33, 255]),
    rd=st.booleans(),
    cd=st.booleans(),
    ad=st.booleans(),
    edns=st.one_of(st.none(), st.sampled_from([0, 512, 1232, 1400, 4096, 65535])),
    do=st.booleans(),
    options=st.sampled_from([b"", b"\x00\x0a\x00\x08abcdefgh", b"\x00\x0c\x00\x40" + bytes(64)]),
    proto=st.sampled_from(["udp", "tcp"]),
    ttl=st.integers(0, 30),
)
def test_a_prepacked_hit_is_the_message_paths_bytes(
    rrs, rcode, ra, item_ad, case, qtype, rd, cd, ad, edns, do, options, proto, ttl
) -> None:  # type: ignore[no-untyped-def]
    data = query_bytes(case("web.demo.svc.cluster.local."), qtype, rd=rd, cd=cd, ad=ad, edns=edns, do=do, options=options)
    query = wire.parse_query(data)
    assert isinstance(query, wire.Query)
    req = Request(query, proto, "127.0.0.1", 5300, "127.0.0.1", 53)
    item = item_of(rrs, rcode, ra, item_ad)
    do_bit = req.do
    slow = wire.pack_reply(
        item.to_msg(req, ttl, do=do_bit, ad=ad), query_edns=query.edns, limit=req.size, udp=proto == "udp", ipv6=False
    )
    fast = item.to_packed(req, ttl, do=do_bit, ad=ad).finish(limit=req.size, udp=proto == "udp", ipv6=False)
    if fast is None:  # declined only when the plain reply does not fit: the message path shapes it
        opt = 0 if edns is None else 11 + len(wire.echoed_options(options))
        limit = min(req.size, 1480) if proto == "udp" else req.size
        assert slow.written_size + opt > limit
        return
    assert fast.wire == slow.wire
    assert fast.written_size == slow.written_size
    assert not slow.truncated


@settings(max_examples=200, deadline=None)
@given(rrs=st.lists(records(), min_size=2, max_size=12), seed=st.integers(0, 2**32))
def test_loadbalance_reorders_packed_records_as_it_reorders_a_message(rrs, seed) -> None:  # type: ignore[no-untyped-def]
    data = query_bytes("web.demo.svc.cluster.local.", 1, rd=True, cd=False, ad=False, edns=None, do=False, options=b"")
    query = wire.parse_query(data)
    assert isinstance(query, wire.Query)
    req = Request(query, "tcp", "127.0.0.1", 5300, "127.0.0.1", 53)
    item = item_of(rrs, wire.NOERROR, True, False)
    random.seed(seed)
    shuffled = random_shuffle(item.to_msg(req, 30, do=False, ad=False))
    random.seed(seed)
    packed = item.to_packed(req, 30, do=False, ad=False)
    sections = tuple(round_robin(list(section)) for section in packed.sections)  # type: ignore[arg-type]
    fast = wire.Prepacked(query, packed.flags, sections).finish(limit=65535, udp=False, ipv6=False)  # type: ignore[arg-type]
    slow = wire.pack_reply(shuffled, query_edns=None, limit=65535, udp=False, ipv6=False)
    assert fast is not None
    assert fast.wire == slow.wire
