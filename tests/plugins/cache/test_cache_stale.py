"""serve_stale: ``immediate`` (CoreDNS semantics) and ``verify`` (refresh first, RFC 8767).

Entries age on the test's clock; the verify TIMEOUT is real time, so the "backend too slow"
cases hold the backend at a gate and give the client a short TIMEOUT, with every wait bounded.
"""

from __future__ import annotations

import asyncio

import dns.rcode
import pytest
from cache_test_support import WAIT_SECONDS, addresses, answer, harness, metric, numbered, soa, ttls

from clusterdns import wire

KEY = ("www.example.org.", 1, 1, False, False)


# --- immediate ---------------------------------------------------------------------------------


async def test_immediate_serves_stale_at_once_and_refreshes_in_the_background() -> None:
    h = harness("cache {\nserve_stale\n}", numbered(ttl=10))
    served = metric("coredns_cache_served_stale_total")
    await h.ask("www.example.org.")
    h.clock.advance(15)
    h.backend.hold()
    stale = await asyncio.wait_for(h.ask("www.example.org."), WAIT_SECONDS)
    assert (addresses(stale), ttls(stale)) == (["192.0.2.1"], [0])
    assert metric("coredns_cache_served_stale_total") == served + 1
    await h.backend.wait_asked(2)
    h.backend.release()
    await asyncio.wait_for(h.cache.settled(), WAIT_SECONDS)
    fresh = await h.ask("www.example.org.")
    assert (addresses(fresh), ttls(fresh)) == (["192.0.2.2"], [10])
    assert len(h.backend.asked) == 2


@pytest.mark.parametrize(
    "failure",
    [answer(rcode=wire.SERVFAIL), lambda req: wire.SERVFAIL, answer(rcode=wire.REFUSED),
     answer("{q} 10 IN A 192.0.2.9", tc=True)],
    ids=["servfail-written", "servfail-unwritten", "refused", "truncated"],
)  # fmt: skip
async def test_a_failed_refresh_keeps_the_stale_entry(failure) -> None:  # type: ignore[no-untyped-def]
    h = harness("cache {\nserve_stale\n}", numbered(ttl=10))
    await h.ask("www.example.org.")
    h.backend.script = failure
    h.clock.advance(15)
    await h.ask("www.example.org.")
    await asyncio.wait_for(h.cache.settled(), WAIT_SECONDS)
    again = await h.ask("www.example.org.")
    assert (again.rcode(), addresses(again), ttls(again)) == (dns.rcode.NOERROR, ["192.0.2.1"], [0])
    assert h.cache.denial.get(KEY) is None  # the failure was not stored either
    await asyncio.wait_for(h.cache.settled(), WAIT_SECONDS)


@pytest.mark.parametrize(
    ("stanza", "expired_for", "stale"),
    [
        ("cache {\nserve_stale 1m\n}", 0, True),
        ("cache {\nserve_stale 1m\n}", 59, True),
        ("cache {\nserve_stale 1m\n}", 60, False),
        ("cache {\nserve_stale 1500ms\n}", 1, False),  # CoreDNS compares whole seconds
        ("cache {\nserve_stale 0s\n}", 0, False),
        ("cache", 0, False),
    ],
)
async def test_the_stale_window(stanza: str, expired_for: float, stale: bool) -> None:
    h = harness(stanza, numbered(ttl=10))
    await h.ask("www.example.org.")
    h.clock.advance(10 + expired_for)
    h.backend.hold()
    task = asyncio.create_task(h.ask("www.example.org."))
    if stale:
        reply = await asyncio.wait_for(task, WAIT_SECONDS)
        assert addresses(reply) == ["192.0.2.1"]
        h.backend.release()
        await asyncio.wait_for(h.cache.settled(), WAIT_SECONDS)
    else:  # a plain miss: the client waits for the backend
        await h.backend.wait_asked(2)
        assert not task.done()
        h.backend.release()
        reply = await asyncio.wait_for(task, WAIT_SECONDS)
        assert addresses(reply) == ["192.0.2.2"]


@pytest.mark.parametrize(
    ("stanza", "expected_ttl"),
    [
        ("cache {\nserve_stale 1h immediate 30s\n}", 30),
        ("cache {\nserve_stale 1h verify 10ms 30s\n}", 30),
        ("cache {\nserve_stale\nkeepttl\n}", 10),  # as CoreDNS: keepttl wins over the stale 0
    ],
)
async def test_the_ttl_of_stale_replies(stanza: str, expected_ttl: int) -> None:
    h = harness(stanza, numbered(ttl=10))
    await h.ask("www.example.org.")
    h.backend.script = answer(rcode=wire.SERVFAIL)
    h.clock.advance(20)
    reply = await asyncio.wait_for(h.ask("www.example.org."), WAIT_SECONDS)
    assert ttls(reply) == [expected_ttl]
    await asyncio.wait_for(h.cache.settled(), WAIT_SECONDS)


async def test_failure_recheck_spaces_refresh_attempts() -> None:
    h = harness("cache {\nserve_stale 1h immediate 0 10s\n}", numbered(ttl=10))
    await h.ask("www.example.org.")
    h.backend.script = answer(rcode=wire.SERVFAIL)
    h.clock.advance(15)
    await h.ask("www.example.org.")
    await asyncio.wait_for(h.cache.settled(), WAIT_SECONDS)
    assert len(h.backend.asked) == 2
    h.clock.advance(9)
    await h.ask("www.example.org.")  # within the recheck period: stale, no refresh
    assert h.cache.refreshing() == 0 and len(h.backend.asked) == 2
    h.clock.advance(1)
    await h.ask("www.example.org.")
    await asyncio.wait_for(h.cache.settled(), WAIT_SECONDS)
    assert len(h.backend.asked) == 3


# --- verify ------------------------------------------------------------------------------------


async def test_verify_serves_the_fresh_answer_when_the_backend_answers_in_time() -> None:
    h = harness("cache {\nserve_stale 1h verify 2s\n}", numbered(ttl=10))
    served = metric("coredns_cache_served_stale_total")
    await h.ask("www.example.org.", qid=7)
    h.clock.advance(15)
    reply = await asyncio.wait_for(h.ask("WWW.example.org.", qid=99), WAIT_SECONDS)
    assert (addresses(reply), ttls(reply)) == (["192.0.2.2"], [10])
    assert reply.id == 99 and reply.question[0].name.to_text() == "WWW.example.org."
    assert metric("coredns_cache_served_stale_total") == served
    again = await h.ask("www.example.org.")
    assert addresses(again) == ["192.0.2.2"] and len(h.backend.asked) == 2


async def test_verify_serves_stale_after_the_timeout_and_the_refresh_goes_on() -> None:
    h = harness("cache {\nserve_stale 1h verify 50ms\n}", numbered(ttl=10))
    served = metric("coredns_cache_served_stale_total")
    await h.ask("www.example.org.")
    h.clock.advance(15)
    h.backend.hold()
    loop = asyncio.get_running_loop()
    started = loop.time()
    stale = await asyncio.wait_for(h.ask("www.example.org."), WAIT_SECONDS)
    waited = loop.time() - started
    assert (addresses(stale), ttls(stale)) == (["192.0.2.1"], [0])
    assert 0.04 <= waited < WAIT_SECONDS  # it waited for the TIMEOUT, not for the backend
    assert metric("coredns_cache_served_stale_total") == served + 1
    assert h.cache.refreshing() == 1  # still in the backend
    h.backend.release()
    await asyncio.wait_for(h.cache.settled(), WAIT_SECONDS)
    fresh = await h.ask("www.example.org.")
    assert (addresses(fresh), ttls(fresh)) == (["192.0.2.2"], [10])
    assert len(h.backend.asked) == 2


async def test_verify_without_timeout_waits_for_the_chain() -> None:
    h = harness("cache {\nserve_stale 1h verify\n}", numbered(ttl=10))
    await h.ask("www.example.org.")
    h.clock.advance(15)
    h.backend.hold()
    task = asyncio.create_task(h.ask("www.example.org."))
    await h.backend.wait_asked(2)
    assert not task.done()
    h.backend.release()
    reply = await asyncio.wait_for(task, WAIT_SECONDS)
    assert addresses(reply) == ["192.0.2.2"]


async def test_concurrent_clients_share_one_verify_refresh() -> None:
    h = harness("cache {\nserve_stale 1h verify\n}", numbered(ttl=10))
    await h.ask("www.example.org.")
    h.clock.advance(15)
    h.backend.hold()
    clients = [asyncio.create_task(h.ask("www.example.org.", qid=n)) for n in range(3)]
    await h.backend.wait_asked(2)  # every client joined the refresh before it ran
    assert h.cache.refreshing() == 1
    h.backend.release()
    replies = await asyncio.wait_for(asyncio.gather(*clients), WAIT_SECONDS)
    assert [addresses(r) for r in replies] == [["192.0.2.2"]] * 3
    assert [r.id for r in replies] == [0, 1, 2]
    assert len(h.backend.asked) == 2


@pytest.mark.parametrize(
    "failure",
    [answer(rcode=wire.SERVFAIL), lambda req: wire.SERVFAIL, answer(rcode=wire.REFUSED)],
    ids=["servfail-written", "servfail-unwritten", "refused"],
)
async def test_verify_serves_stale_when_the_refresh_fails(failure) -> None:  # type: ignore[no-untyped-def]
    h = harness("cache {\nserve_stale 1h verify 2s\n}", numbered(ttl=10))
    await h.ask("www.example.org.")
    h.backend.script = failure
    h.clock.advance(15)
    reply = await asyncio.wait_for(h.ask("www.example.org."), WAIT_SECONDS)
    assert (reply.rcode(), addresses(reply), ttls(reply)) == (dns.rcode.NOERROR, ["192.0.2.1"], [0])
    assert h.cache.denial.get(KEY) is None


async def test_verify_serves_an_nxdomain_refresh() -> None:
    h = harness("cache {\nserve_stale 1h verify 2s\n}", numbered(ttl=10))
    await h.ask("www.example.org.")
    h.backend.script = answer(rcode=wire.NXDOMAIN, ns=(soa(60),))
    h.clock.advance(15)
    reply = await asyncio.wait_for(h.ask("www.example.org."), WAIT_SECONDS)
    assert reply.rcode() == dns.rcode.NXDOMAIN and ttls(reply) == [60]
    again = await h.ask("www.example.org.")
    assert again.rcode() == dns.rcode.NXDOMAIN and len(h.backend.asked) == 2


async def test_verify_serves_a_fresh_answer_that_may_not_be_stored() -> None:
    h = harness("cache {\nserve_stale 1h verify 2s\n}", numbered(ttl=10))
    await h.ask("www.example.org.")
    h.backend.script = answer(rcode=wire.NXDOMAIN)  # no SOA: fresh, but not storable
    h.clock.advance(15)
    reply = await asyncio.wait_for(h.ask("www.example.org."), WAIT_SECONDS)
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert h.cache.denial.get(KEY) is None
    await h.ask("www.example.org.")  # the stale entry is still there: verified again
    assert len(h.backend.asked) == 3


async def test_verify_with_recheck_serves_stale_without_asking_again() -> None:
    h = harness("cache {\nserve_stale 1h verify 2s 0 30s\n}", numbered(ttl=10))
    await h.ask("www.example.org.")
    h.backend.script = answer(rcode=wire.SERVFAIL)
    h.clock.advance(15)
    await asyncio.wait_for(h.ask("www.example.org."), WAIT_SECONDS)
    assert len(h.backend.asked) == 2
    h.clock.advance(29)
    reply = await asyncio.wait_for(h.ask("www.example.org."), WAIT_SECONDS)
    assert addresses(reply) == ["192.0.2.1"] and len(h.backend.asked) == 2
    h.clock.advance(1)
    h.backend.script = answer("{q} 10 IN A 192.0.2.77")
    fresh = await asyncio.wait_for(h.ask("www.example.org."), WAIT_SECONDS)
    assert (addresses(fresh), ttls(fresh)) == (["192.0.2.77"], [10])
    assert len(h.backend.asked) == 3


async def test_shutdown_releases_a_client_waiting_on_verify() -> None:
    h = harness("cache {\nserve_stale 1h verify\n}", numbered(ttl=10))
    await h.ask("www.example.org.")
    h.clock.advance(15)
    h.backend.hold()
    client = asyncio.create_task(h.ask("www.example.org."))
    await h.backend.wait_asked(2)
    await asyncio.wait_for(h.cache.close(), WAIT_SECONDS)
    reply = await asyncio.wait_for(client, WAIT_SECONDS)
    assert (addresses(reply), ttls(reply)) == (["192.0.2.1"], [0])


# --- serve_stale_policy prefer_positive ----------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "served"),
    [("", "NXDOMAIN"), ("serve_stale_policy prefer_positive", "NOERROR")],
    ids=["default", "prefer-positive"],
)
async def test_prefer_positive_keeps_serving_the_answer_over_a_denial(policy: str, served: str) -> None:
    h = harness(f"cache {{\nserve_stale 1h verify 2s\n{policy}\n}}", numbered(ttl=10))
    await h.ask("www.example.org.")
    h.backend.script = answer(rcode=wire.NXDOMAIN, ns=(soa(60),))
    h.clock.advance(15)
    first = await asyncio.wait_for(h.ask("www.example.org."), WAIT_SECONDS)
    again = await asyncio.wait_for(h.ask("www.example.org."), WAIT_SECONDS)
    assert dns.rcode.to_text(first.rcode()) == dns.rcode.to_text(again.rcode()) == served
    assert h.cache.denial.get(KEY) is not None  # the denial was stored either way
    if served == "NOERROR":
        assert addresses(again) == ["192.0.2.1"] and ttls(again) == [0]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("", []), ("serve_stale_policy prefer_positive", ["192.0.2.1"])],
    ids=["default", "prefer-positive"],
)
async def test_prefer_positive_keeps_the_last_known_good_answer(policy: str, expected: list[str]) -> None:
    h = harness(f"cache {{\nserve_stale\n{policy}\n}}", numbered(ttl=10))
    await h.ask("www.example.org.")
    h.backend.script = answer()  # NOERROR without records: stored as success, answers nothing
    h.clock.advance(15)
    await h.ask("www.example.org.")  # stale answer, refresh in the background
    await asyncio.wait_for(h.cache.settled(), WAIT_SECONDS)
    item = h.cache.positive.get(KEY)
    assert item is not None and not item.answer  # the empty reply is the newest entry
    reply = await h.ask("www.example.org.")
    assert addresses(reply) == expected
    await asyncio.wait_for(h.cache.settled(), WAIT_SECONDS)
