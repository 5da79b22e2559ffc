"""The cache in front of a scripted backend: what is stored, for how long, and how hits look.

Each case drives the real handler through a real Mux (no sockets) with a hand-moved clock, so
TTLs are checked to the second without sleeping. Expectations follow CoreDNS's ``cache.go``,
``handler.go``, ``item.go`` and their tests (coredns-features.md 5.3.2).
"""

from __future__ import annotations

import dns.flags
import dns.opcode
import dns.rcode
import pytest
from cache_test_support import answer, harness, metric, soa, ttls
from dnslib import EDNS0, DNSRecord

from clusterdns import wire
from clusterdns.corefile.address import ZoneAddress
from clusterdns.plugin import Handler, ResponseWriter
from clusterdns.plugins.cache.item import SHARDS, Store
from clusterdns.request import Request
from clusterdns.server.config import BlockConfig, ListenAddress
from clusterdns.server.mux import Mux

# --- hit and miss --------------------------------------------------------------------------


async def test_a_miss_asks_the_backend_and_a_hit_does_not() -> None:
    h = harness()
    first = await h.ask("www.example.org.")
    second = await h.ask("www.example.org.")
    assert len(h.backend.asked) == 1
    assert [r.to_text() for r in first.answer] == ["www.example.org. 300 IN A 192.0.2.1"]
    assert [r.to_text() for r in second.answer] == ["www.example.org. 300 IN A 192.0.2.1"]


@pytest.mark.parametrize(
    ("elapsed", "expected_ttl"),
    [(0, 300), (0.9, 300), (1, 299), (10.5, 290), (299, 1), (299.99, 1)],
)
async def test_ttl_counts_down_in_whole_seconds(elapsed: float, expected_ttl: int) -> None:
    h = harness()
    await h.ask("www.example.org.")
    h.clock.advance(elapsed)
    reply = await h.ask("www.example.org.")
    assert ttls(reply) == [expected_ttl]
    assert len(h.backend.asked) == 1


async def test_an_expired_entry_is_a_miss() -> None:
    h = harness()
    await h.ask("www.example.org.")
    h.clock.advance(300)
    reply = await h.ask("www.example.org.")
    assert len(h.backend.asked) == 2
    assert ttls(reply) == [300]


async def test_a_hit_is_rebuilt_for_the_asking_client() -> None:
    h = harness(script=answer("{q} 300 IN A 192.0.2.1", ra=False))
    await h.ask("www.example.org.", qid=1)
    reply = await h.ask("WWW.Example.ORG.", qid=4242)
    assert reply.id == 4242
    assert reply.question[0].name.to_text() == "WWW.Example.ORG."
    # owner names are as stored: in the case of the first asker
    assert [r.to_text() for r in reply.answer] == ["www.example.org. 300 IN A 192.0.2.1"]
    assert reply.flags & dns.flags.AA  # always set on a hit
    assert not reply.flags & dns.flags.RA  # copied from the stored reply
    assert len(h.backend.asked) == 1


async def test_ra_is_copied_from_the_stored_reply() -> None:
    h = harness(script=answer("{q} 300 IN A 192.0.2.1", ra=True))
    await h.ask("www.example.org.")
    reply = await h.ask("www.example.org.")
    assert reply.flags & dns.flags.RA


# --- TTL rewriting and clamps ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("stanza", "lines", "expected"),
    [
        ("cache", ("{q} 300 IN A 192.0.2.1", "{q} 60 IN A 192.0.2.2"), [60]),
        ("cache", ("{q} 3 IN A 192.0.2.1",), [5]),
        ("cache", ("{q} 0 IN A 192.0.2.1",), [5]),
        ("cache", ("{q} 28800 IN TXT \"1.1.0\"",), [3600]),
        ("cache 30", ("{q} 28800 IN TXT \"1.1.0\"",), [30]),
        ("cache {\nsuccess 100 20\n}", ("{q} 300 IN A 192.0.2.1",), [20]),
        ("cache {\nsuccess 100 3600 10\n}", ("{q} 3 IN A 192.0.2.1",), [10]),
        ("cache {\nsuccess 100 3600 0\n}", ("{q} 3 IN A 192.0.2.1",), [3]),
    ],
)  # fmt: skip
async def test_every_record_gets_the_clamped_duration_even_on_a_miss(
    stanza: str, lines: tuple[str, ...], expected: list[int]
) -> None:
    h = harness(stanza, answer(*lines))
    miss = await h.ask("www.example.org.", "TXT" if "TXT" in lines[0] else "A")
    assert set(ttls(miss)) == set(expected)
    assert len(ttls(miss)) == len(lines)


async def test_all_sections_get_the_smallest_ttl() -> None:
    script = answer(
        "{q} 300 IN A 192.0.2.1",
        ns=("example.org. 200 IN NS ns.example.org.",),
        extra=("ns.example.org. 100 IN A 192.0.2.53",),
    )
    h = harness("cache", script)
    reply = await h.ask("www.example.org.")
    assert ttls(reply) == [100, 100, 100]
    h.clock.advance(100)
    await h.ask("www.example.org.")
    assert len(h.backend.asked) == 2  # cached for the smallest TTL only


async def test_a_zero_ttl_is_raised_to_the_minimum_and_cached() -> None:
    h = harness("cache", answer("{q} 0 IN A 192.0.2.1"))
    await h.ask("www.example.org.")
    h.clock.advance(4.5)
    reply = await h.ask("www.example.org.")
    assert ttls(reply) == [1]
    assert len(h.backend.asked) == 1


async def test_a_zero_duration_is_not_cached() -> None:
    h = harness("cache {\nsuccess 100 3600 0\n}", answer("{q} 0 IN A 192.0.2.1"))
    first = await h.ask("www.example.org.")
    await h.ask("www.example.org.")
    assert ttls(first) == [0]
    assert len(h.backend.asked) == 2


async def test_a_reply_without_records_is_cached_five_seconds() -> None:
    h = harness("cache", answer())  # NOERROR, nothing at all (whoami answers like this)
    await h.ask("www.example.org.")
    h.clock.advance(4)
    await h.ask("www.example.org.")
    assert len(h.backend.asked) == 1
    h.clock.advance(1)
    await h.ask("www.example.org.")
    assert len(h.backend.asked) == 2


async def test_records_only_in_additional_are_cached_as_success() -> None:
    h = harness("cache", answer(extra=("{q} 0 IN A 192.0.2.1",)))
    first = await h.ask("www.example.org.")
    second = await h.ask("www.example.org.")
    assert ttls(first) == ttls(second) == [5]
    assert len(h.backend.asked) == 1


async def test_a_delegation_is_cached_five_seconds() -> None:
    script = answer(ns=("sub.example.org. 3600 IN NS ns.sub.example.org.",))
    h = harness("cache", script)
    first = await h.ask("www.sub.example.org.")
    assert ttls(first) == [5]
    h.clock.advance(4)
    await h.ask("www.sub.example.org.")
    assert len(h.backend.asked) == 1


async def test_keepttl_serves_the_stored_ttl_and_still_expires() -> None:
    h = harness("cache {\nkeepttl\n}")
    await h.ask("www.example.org.")
    h.clock.advance(299)
    assert ttls(await h.ask("www.example.org.")) == [300]
    h.clock.advance(1)
    await h.ask("www.example.org.")
    assert len(h.backend.asked) == 2


# --- denials and failures --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stanza", "soa_ttl", "expected"),
    [
        ("cache", 60, 60),  # the SOA record's TTL, not its MINIMUM (30)
        ("cache", 3000, 1800),  # denial maximum
        ("cache 30", 60, 30),
        ("cache {\ndenial 100 10\n}", 60, 10),
        ("cache", 1, 5),  # denial minimum
        ("cache {\ndenial 100 1800 0\n}", 1, 1),
    ],
)
async def test_nxdomain_with_soa_is_cached_for_the_soa_ttl(stanza: str, soa_ttl: int, expected: int) -> None:
    h = harness(stanza, answer(rcode=wire.NXDOMAIN, ns=(soa(soa_ttl, 30),)))
    miss = await h.ask("nope.example.org.")
    assert miss.rcode() == dns.rcode.NXDOMAIN
    assert ttls(miss) == [expected]
    h.clock.advance(expected - 1)
    hit = await h.ask("nope.example.org.")
    assert hit.rcode() == dns.rcode.NXDOMAIN and ttls(hit) == [1]
    assert len(h.backend.asked) == 1
    h.clock.advance(1)
    await h.ask("nope.example.org.")
    assert len(h.backend.asked) == 2


async def test_nodata_is_a_denial() -> None:
    h = harness("cache", answer(ns=(soa(60),)))
    before = metric("coredns_cache_hits_total", type="denial")
    await h.ask("www.example.org.", "AAAA")
    reply = await h.ask("www.example.org.", "AAAA")
    assert reply.rcode() == dns.rcode.NOERROR and not reply.answer
    assert metric("coredns_cache_hits_total", type="denial") == before + 1
    assert len(h.backend.asked) == 1


@pytest.mark.parametrize(
    ("stanza", "rcode", "cached_for"),
    [
        ("cache", wire.SERVFAIL, 5),
        ("cache", wire.NOTIMP, 5),
        ("cache {\nservfail 2s\n}", wire.SERVFAIL, 2),
        ("cache {\nservfail 5m\n}", wire.SERVFAIL, 300),
    ],
)
async def test_a_written_server_failure_is_cached_for_the_servfail_duration(
    stanza: str, rcode: int, cached_for: int
) -> None:
    h = harness(stanza, answer(rcode=rcode))
    await h.ask("www.example.org.")
    h.clock.advance(cached_for - 1)
    reply = await h.ask("www.example.org.")
    assert reply.rcode() == rcode
    assert len(h.backend.asked) == 1
    h.clock.advance(1)
    await h.ask("www.example.org.")
    assert len(h.backend.asked) == 2


@pytest.mark.parametrize(
    ("stanza", "script", "qtype"),
    [
        ("cache {\nservfail 0\n}", answer(rcode=wire.SERVFAIL), "A"),
        ("cache", lambda req: wire.SERVFAIL, "A"),  # not written by the chain: the server answers
        ("cache", answer("{q} 300 IN A 192.0.2.1", tc=True), "A"),
        ("cache", answer(rcode=wire.REFUSED), "A"),
        ("cache", answer(rcode=wire.FORMERR), "A"),
        ("cache", answer("{q} 300 IN A 192.0.2.1", rcode=wire.NXDOMAIN, ns=(soa(),)), "A"),
        ("cache", answer(rcode=wire.NXDOMAIN), "A"),  # no SOA to give a denial TTL
        ("cache", answer("{q} 300 IN SOA ns.example.org. h.example.org. 1 2 3 4 5"), "AXFR"),
        ("cache", answer("{q} 300 IN SOA ns.example.org. h.example.org. 1 2 3 4 5"), "IXFR"),
        # CoreDNS 1.14.7: an answer whose CNAME chain never reaches the type, without SOA
        ("cache", answer("{q} 300 IN CNAME t1.example.net.", "t1.example.net. 300 IN CNAME t2.example.net."), "A"),
        ("cache", answer("{q} 300 IN CNAME t.example.net.", "t.example.net. 300 IN AAAA ::1"), "A"),
        ("cache", answer("{q} 300 IN CNAME t.example.net.", "other.example.net. 300 IN A 192.0.2.1"), "A"),
        ("cache", answer("{q} 300 IN CNAME a.example.net.", "a.example.net. 300 IN CNAME {q}"), "A"),
        ("cache", answer("{q} 300 IN CNAME a.example.net.", "{q} 300 IN CNAME b.example.net.",
                         "a.example.net. 300 IN A 192.0.2.1"), "A"),
    ],
    ids=[
        "servfail-0", "servfail-unwritten", "truncated", "refused", "formerr", "nxdomain-with-answer",
        "nxdomain-without-soa", "axfr", "ixfr", "dangling-cname", "cname-to-other-type",
        "cname-unrelated-a", "cname-loop", "cname-fork",
    ],
)  # fmt: skip
async def test_not_stored(stanza: str, script, qtype: str) -> None:  # type: ignore[no-untyped-def]
    h = harness(stanza, script)
    await h.ask("www.example.org.", qtype)
    await h.ask("www.example.org.", qtype)
    assert len(h.backend.asked) == 2


@pytest.mark.parametrize(
    ("script", "qtype", "rcode"),
    [
        (answer("{q} 300 IN CNAME t.example.net.", "t.example.net. 300 IN A 192.0.2.1"), "A", "NOERROR"),
        (answer("WWW.Example.ORG. 300 IN CNAME T.example.NET.", "t.example.net. 300 IN A 192.0.2.1"), "A", "NOERROR"),
        (answer("{q} 300 IN CNAME t.example.net.", "t.example.net. 300 IN MX 10 mail.example.net."), "MX", "NOERROR"),
        (answer("{q} 300 IN CNAME t.example.net."), "CNAME", "NOERROR"),
        (answer("{q} 300 IN CNAME t.example.net."), "ANY", "NOERROR"),
        # with an SOA the dangling chain is a NODATA denial (kept for the SOA's TTL)
        (answer("{q} 300 IN CNAME t.example.net.", ns=(soa(60),)), "A", "NOERROR"),
    ],
    ids=["cname-to-a", "cname-mixed-case", "cname-to-mx", "cname-query", "any-query", "dangling-with-soa"],
)  # fmt: skip
async def test_stored(script, qtype: str, rcode: str) -> None:  # type: ignore[no-untyped-def]
    h = harness("cache", script)
    first = await h.ask("www.example.org.", qtype)
    second = await h.ask("www.example.org.", qtype)
    assert dns.rcode.to_text(second.rcode()) == rcode
    assert second.answer == first.answer
    assert len(h.backend.asked) == 1


async def test_dangling_chain_with_soa_is_a_denial() -> None:
    h = harness("cache", answer("{q} 300 IN CNAME t.example.net.", ns=(soa(60),)))
    before = metric("coredns_cache_hits_total", type="denial")
    await h.ask("www.example.org.")
    reply = await h.ask("www.example.org.")
    assert ttls(reply) == [60, 60]
    assert metric("coredns_cache_hits_total", type="denial") == before + 1


async def test_a_reply_for_another_question_is_passed_on_but_dropped() -> None:
    def other(req: Request) -> DNSRecord:
        msg = DNSRecord.question("other.example.org.", "A")
        msg.header.id = req.id
        msg.header.qr = 1
        msg.add_answer(*answer("other.example.org. 300 IN A 192.0.2.9")(req).rr)
        return msg

    h = harness("cache", other)
    before = metric("coredns_cache_drops_total")
    await h.ask("www.example.org.")
    await h.ask("www.example.org.")
    assert len(h.backend.asked) == 2
    assert metric("coredns_cache_drops_total") == before + 2


async def test_a_reply_that_is_not_a_response_is_dropped() -> None:
    def not_qr(req: Request) -> DNSRecord:
        msg = answer("{q} 300 IN A 192.0.2.1")(req)
        msg.header.qr = 0
        return msg

    h = harness("cache", not_qr)
    await h.ask("www.example.org.")
    await h.ask("www.example.org.")
    assert len(h.backend.asked) == 2


# --- what the key holds ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "shared"),
    [
        (dict(), dict(), True),
        (dict(qname="WWW.EXAMPLE.ORG."), dict(), True),
        (dict(do=True), dict(), False),
        (dict(do=True), dict(do=True), True),
        (dict(cd=True), dict(), False),
        (dict(cd=True), dict(cd=True), True),
        (dict(ad=True), dict(), True),  # AD is not part of the key
        (dict(use_edns=True), dict(), True),  # EDNS without DO is not either
        (dict(proto="udp"), dict(proto="tcp"), True),
        (dict(qtype="AAAA"), dict(), False),
    ],
)  # fmt: skip
async def test_the_key_is_name_type_class_do_and_cd(first: dict, second: dict, shared: bool) -> None:  # type: ignore[type-arg]
    h = harness("cache", answer("{q} 300 IN A 192.0.2.1", "{q} 300 IN AAAA 2001:db8::1"))
    first, second = dict(first), dict(second)
    await h.ask(first.pop("qname", "www.example.org."), first.pop("qtype", "A"), **first)
    await h.ask(second.pop("qname", "www.example.org."), second.pop("qtype", "A"), **second)
    assert len(h.backend.asked) == (1 if shared else 2)


async def test_the_chain_is_asked_with_ad_set_and_the_answer_keeps_the_plugin() -> None:
    h = harness("cache", answer("{q} 300 IN A 192.0.2.1", ad=True))
    reply = await h.ask("www.example.org.")
    asked = h.backend.asked[0]
    assert asked.query.flags & wire.FLAG_AD
    assert asked.msg.header.ad == 1  # the packet itself says so too
    assert not reply.flags & dns.flags.AD  # the client asked neither DO nor AD


@pytest.mark.parametrize(
    ("client", "ad_in_reply"),
    [(dict(), False), (dict(ad=True), True), (dict(do=True), True)],
)
async def test_ad_only_for_clients_that_set_do_or_ad(client: dict, ad_in_reply: bool) -> None:  # type: ignore[type-arg]
    h = harness("cache", answer("{q} 300 IN A 192.0.2.1", ad=True))
    miss = await h.ask("www.example.org.", **client)
    hit = await h.ask("www.example.org.", **client)
    assert bool(miss.flags & dns.flags.AD) is ad_in_reply
    assert bool(hit.flags & dns.flags.AD) is ad_in_reply
    assert len(h.backend.asked) == 1


async def test_the_stored_ad_bit_serves_later_clients() -> None:
    h = harness("cache", answer("{q} 300 IN A 192.0.2.1", ad=True))
    await h.ask("www.example.org.")  # stored with the upstream's AD although this client cleared it
    hit = await h.ask("www.example.org.", ad=True)
    assert hit.flags & dns.flags.AD


async def test_opt_is_never_stored_or_copied() -> None:
    def with_opt(req: Request) -> DNSRecord:
        msg = answer("{q} 300 IN A 192.0.2.1")(req)
        msg.add_ar(EDNS0(udp_len=4096, flags="do"))
        return msg

    h = harness("cache", with_opt)
    miss = await h.ask("www.example.org.")
    hit = await h.ask("www.example.org.")
    assert miss.edns == -1 and hit.edns == -1  # the client sent no OPT: none comes back
    edns_hit = await h.ask("www.example.org.", use_edns=True)
    assert edns_hit.edns == 0 and not edns_hit.ednsflags & dns.flags.DO
    item = h.cache.positive.get(("www.example.org.", 1, 1, False, False))
    assert item is not None and all(rr.rtype != 41 for rr in item.extra)


RRSIG_TEXT = "{q} 300 IN RRSIG A 8 3 300 {expiration} {inception} 12051 example.org. AAAA"


@pytest.mark.parametrize(
    ("inception", "expiration", "stored"),
    [("20160421031301", "20160521031301", False), ("20200101000000", "20900101000000", True)],
    ids=["expired", "valid"],
)
async def test_replies_with_expired_signatures_are_not_stored_for_do(
    inception: str, expiration: str, stored: bool
) -> None:
    def signed(req: Request) -> DNSRecord:
        rrsig = RRSIG_TEXT.replace("{inception}", inception).replace("{expiration}", expiration)
        msg = answer("{q} 300 IN A 192.0.2.1", rrsig)(req)
        msg.add_ar(EDNS0(udp_len=1232, flags="do"))
        return msg

    h = harness("cache", signed)
    await h.ask("www.example.org.", do=True)
    await h.ask("www.example.org.", do=True)
    assert len(h.backend.asked) == (1 if stored else 2)


# --- zones and disable -----------------------------------------------------------------------


async def test_names_outside_the_zones_bypass_the_cache() -> None:
    h = harness("cache example.org")
    requests = metric("coredns_cache_requests_total", zones="example.org.")
    await h.ask("www.example.net.")
    await h.ask("www.example.net.")
    assert len(h.backend.asked) == 2
    await h.ask("www.example.org.")
    await h.ask("www.example.org.")
    assert len(h.backend.asked) == 3
    assert metric("coredns_cache_requests_total", zones="example.org.") == requests + 2


@pytest.mark.parametrize(
    ("stanza", "qname", "script", "stored"),
    [
        ("cache {\ndisable success example.org\n}", "www.example.org.", answer("{q} 300 IN A 192.0.2.1"), False),
        ("cache {\ndisable success example.org\n}", "www.example.net.", answer("{q} 300 IN A 192.0.2.1"), True),
        ("cache {\ndisable success example.org\n}", "www.example.org.", answer(rcode=3, ns=(soa(),)), True),
        ("cache {\ndisable denial example.org\n}", "www.example.org.", answer(rcode=3, ns=(soa(),)), False),
        ("cache {\ndisable denial example.org\n}", "www.example.org.", answer(rcode=wire.SERVFAIL), False),
        ("cache {\ndisable denial example.org\n}", "www.example.org.", answer("{q} 300 IN A 192.0.2.1"), True),
        ("cache {\ndisable denial\n}", "www.example.net.", answer(rcode=3, ns=(soa(),)), False),
        ("cache {\ndisable success\n}", "www.example.net.", answer("{q} 300 IN A 192.0.2.1"), False),
    ],
)  # fmt: skip
async def test_disable_per_zone(stanza: str, qname: str, script, stored: bool) -> None:  # type: ignore[no-untyped-def]
    h = harness(stanza, script)
    first = await h.ask(qname)
    await h.ask(qname)
    assert len(h.backend.asked) == (1 if stored else 2)
    assert ttls(first) in ([300], [60], [])  # the reply still carries the cache's TTL


# --- metrics and capacity ----------------------------------------------------------------------


async def test_request_hit_miss_and_entry_counts() -> None:
    h = harness("cache example.org", answer("{q} 300 IN A 192.0.2.1"))
    zones = "example.org."
    before = {
        name: metric(f"coredns_cache_{name}", zones=zones)
        for name in ("requests_total", "misses_total")
    }
    hits = metric("coredns_cache_hits_total", type="success", zones=zones)
    await h.ask("a.example.org.")
    await h.ask("a.example.org.")
    await h.ask("b.example.org.")
    assert metric("coredns_cache_requests_total", zones=zones) == before["requests_total"] + 3
    assert metric("coredns_cache_misses_total", zones=zones) == before["misses_total"] + 2
    assert metric("coredns_cache_hits_total", type="success", zones=zones) == hits + 1
    assert metric("coredns_cache_entries", type="success", zones=zones) == 2
    assert metric("coredns_cache_entries", type="denial", zones=zones) == 0


def _same_shard_keys(count: int) -> list[tuple[str, int, int, bool, bool]]:
    keys: list[tuple[str, int, int, bool, bool]] = []
    target = None
    n = 0
    while len(keys) < count:
        key = (f"host{n}.example.org.", 1, 1, False, False)
        shard = hash(key) & (SHARDS - 1)
        if target is None:
            target = shard
        if shard == target:
            keys.append(key)
        n += 1
    return keys


async def test_a_full_shard_evicts_a_random_entry() -> None:
    picked: list[object] = []

    def choice(keys):  # type: ignore[no-untyped-def]
        picked.append(keys[1])
        return keys[1]

    h = harness("cache {\nsuccess 1024\n}", answer("{q} 300 IN A 192.0.2.1"), choice=choice)
    keys = _same_shard_keys(5)
    evictions = metric("coredns_cache_evictions_total", type="success")
    for key in keys:
        await h.ask(key[0])
    assert metric("coredns_cache_evictions_total", type="success") == evictions + 1
    assert picked == [keys[1]]  # the choice function picked the victim among the shard's keys
    assert len(h.cache.positive) == 4
    await h.ask(keys[1][0])
    assert len(h.backend.asked) == 6  # the evicted one is asked again
    await h.ask(keys[0][0])
    assert len(h.backend.asked) == 6


def test_an_overwrite_does_not_evict() -> None:
    store = Store(1024, choice=lambda keys: keys[0])
    keys = _same_shard_keys(4)
    for key in keys:
        assert not store.add(key, object())  # type: ignore[arg-type]
    assert not store.add(keys[0], object())  # type: ignore[arg-type]
    assert len(store) == 4
    store.remove(keys[0])
    store.remove(keys[0])
    assert len(store) == 3


async def test_notify_replies_are_not_stored() -> None:
    def notify(req: Request) -> DNSRecord:
        msg = answer("{q} 300 IN A 192.0.2.1")(req)
        msg.header.opcode = dns.opcode.NOTIFY
        return msg

    h = harness("cache", notify)
    await h.ask("www.example.org.")
    await h.ask("www.example.org.")
    assert len(h.backend.asked) == 2


class Probe(Handler):
    """In front of the cache: remembers which plugin the server says wrote each reply."""

    name = "probe"

    def __init__(self, next: Handler) -> None:
        super().__init__(next)
        self.writers: list[str] = []

    async def serve_dns(self, req: Request, w: ResponseWriter) -> int:
        rcode = await self.serve_next(req, w)
        assert req.outcome is not None
        self.writers.append(req.outcome.plugin)
        return rcode


async def test_the_reply_names_the_plugin_that_wrote_it() -> None:
    h = harness("cache", answer("{q} 300 IN A 192.0.2.1"))
    probe = Probe(h.cache)
    config = BlockConfig(index=0, zones=[ZoneAddress("dns", ".", "53")])
    config.chain = probe
    h.mux = Mux(ListenAddress("dns", "", 53), {".": config})
    await h.ask("www.example.org.")  # a miss: the backend answered (through a derived request)
    await h.ask("www.example.org.")  # a hit: the cache answered
    await h.ask("www.example.org.", ad=True)  # a hit for an AD query
    assert probe.writers == ["backend", "cache", "cache"]
