"""prefetch: popular entries are refreshed near expiry, in the background.

The clock that ages entries is the test's; the backend can be held at a gate, so "the client is
not delayed by the refresh" is shown by a client answer arriving while the refresh it started is
still stuck in the backend. Every wait is bounded.
"""

from __future__ import annotations

import asyncio

import dns.rcode
import pytest
from cache_test_support import WAIT_SECONDS, addresses, answer, harness, metric, numbered, ttls

from clusterdns import wire
from clusterdns.plugins.cache import cache as cache_module
from clusterdns.request import Request

PREFETCH_ONE = "cache {\nprefetch 1\n}"


async def test_prefetch_refreshes_in_the_background_without_delaying_the_client() -> None:
    h = harness(PREFETCH_ONE, numbered(ttl=10))
    prefetches = metric("coredns_cache_prefetch_total")
    await h.ask("www.example.org.")
    h.clock.advance(9)  # 1 second left: within 10% of 10 s
    h.backend.hold()
    reply = await asyncio.wait_for(h.ask("www.example.org."), WAIT_SECONDS)
    assert (addresses(reply), ttls(reply)) == (["192.0.2.1"], [1])
    await h.backend.wait_asked(2)  # the refresh reached the backend and waits there
    assert h.cache.refreshing() == 1
    assert metric("coredns_cache_prefetch_total") == prefetches + 1
    # more hits while it is in flight: still answered at once, still one refresh
    again = await asyncio.wait_for(h.ask("www.example.org."), WAIT_SECONDS)
    assert addresses(again) == ["192.0.2.1"]
    assert len(h.backend.asked) == 2 and h.cache.refreshing() == 1
    h.backend.release()
    await asyncio.wait_for(h.cache.settled(), WAIT_SECONDS)
    fresh = await h.ask("www.example.org.")
    assert (addresses(fresh), ttls(fresh)) == (["192.0.2.2"], [10])
    assert len(h.backend.asked) == 2


async def test_the_refresh_is_a_derived_tcp_request_with_ad() -> None:
    h = harness(PREFETCH_ONE, numbered(ttl=10))
    await h.ask("www.example.org.", proto="udp")
    h.clock.advance(9)
    await h.ask("www.example.org.", proto="udp")
    await asyncio.wait_for(h.cache.settled(), WAIT_SECONDS)
    first, refresh = h.backend.asked
    assert refresh is not first
    assert refresh.proto == "tcp" and first.proto == "udp"
    assert refresh.query.flags & wire.FLAG_AD
    assert refresh.name == "www.example.org." and refresh.remote_ip == first.remote_ip


@pytest.mark.parametrize(
    ("stanza", "hit_times", "prefetched"),
    [
        ("cache {\nprefetch 1\n}", [8.9], False),  # 2 s left of 10: above 10%
        ("cache {\nprefetch 1\n}", [9], True),
        ("cache {\nprefetch 3\n}", [9, 9], False),
        ("cache {\nprefetch 3\n}", [9, 9, 9], True),
        ("cache {\nprefetch 2 10s 50%\n}", [5], False),
        ("cache {\nprefetch 2 10s 50%\n}", [1, 5], True),  # hits counted before the window opens
        ("cache {\nprefetch 2 1s 50%\n}", [1, 5], False),  # a gap longer than DURATION resets
        ("cache {\nprefetch 2 1s 50%\n}", [1, 5, 5.5], True),
        ("cache {\nprefetch 0\n}", [9, 9, 9], False),
    ],
)  # fmt: skip
async def test_popularity_and_threshold(stanza: str, hit_times: list[float], prefetched: bool) -> None:
    h = harness(stanza, numbered(ttl=10))
    await h.ask("www.example.org.")
    start = h.clock.value
    for at in hit_times:
        h.clock.value = start + at
        await h.ask("www.example.org.")
    await asyncio.wait_for(h.cache.settled(), WAIT_SECONDS)
    assert len(h.backend.asked) == (2 if prefetched else 1)


async def test_the_refreshed_entry_keeps_the_hit_count() -> None:
    h = harness("cache {\nprefetch 3 1m\n}", numbered(ttl=10))
    await h.ask("www.example.org.")
    h.clock.advance(9)
    for _ in range(3):
        await h.ask("www.example.org.")
    await asyncio.wait_for(h.cache.settled(), WAIT_SECONDS)
    item = h.cache.positive.get(("www.example.org.", 1, 1, False, False))
    assert item is not None and item.hits == 3
    h.clock.advance(9)
    await h.ask("www.example.org.")  # the 4th close hit: prefetched again at once
    await asyncio.wait_for(h.cache.settled(), WAIT_SECONDS)
    assert len(h.backend.asked) == 3


async def test_a_failed_prefetch_does_not_shadow_a_valid_answer() -> None:
    h = harness(PREFETCH_ONE, numbered(ttl=10))
    await h.ask("www.example.org.")
    h.backend.script = answer(rcode=wire.SERVFAIL)
    h.clock.advance(9)
    await h.ask("www.example.org.")
    await asyncio.wait_for(h.cache.settled(), WAIT_SECONDS)
    assert h.cache.denial.get(("www.example.org.", 1, 1, False, False)) is not None
    reply = await h.ask("www.example.org.")  # the SERVFAIL entry gives way to the answer
    assert reply.rcode() == dns.rcode.NOERROR and addresses(reply) == ["192.0.2.1"]


async def test_a_positive_refresh_replaces_a_denial() -> None:
    h = harness(PREFETCH_ONE, numbered(ttl=10))
    await h.ask("www.example.org.")
    key = ("www.example.org.", 1, 1, False, False)
    h.backend.script = answer(rcode=wire.SERVFAIL)
    h.clock.advance(9)
    await h.ask("www.example.org.")
    await asyncio.wait_for(h.cache.settled(), WAIT_SECONDS)
    h.backend.script = numbered(ttl=10)
    await h.ask("www.example.org.")  # prefetch again (1 s left), this time an answer
    await asyncio.wait_for(h.cache.settled(), WAIT_SECONDS)
    assert h.cache.denial.get(key) is None


async def test_shutdown_cancels_refreshes_in_flight() -> None:
    h = harness(PREFETCH_ONE, numbered(ttl=10))
    await h.ask("www.example.org.")
    h.clock.advance(9)
    h.backend.hold()
    await h.ask("www.example.org.")
    await h.backend.wait_asked(2)
    tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith("cache refresh ")]
    assert len(tasks) == 1
    await asyncio.wait_for(h.cache.close(), WAIT_SECONDS)
    assert tasks[0].cancelled()
    assert h.cache.refreshing() == 0
    # after shutdown no new refresh starts
    h.backend.release()
    h.clock.advance(0.5)
    await h.ask("www.example.org.")
    assert h.cache.refreshing() == 0


async def test_refreshes_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_module, "MAX_REFRESHES", 1)
    h = harness(PREFETCH_ONE, numbered(ttl=10))
    await h.ask("a.example.org.")
    await h.ask("b.example.org.")
    h.clock.advance(9)
    h.backend.hold()
    await h.ask("a.example.org.")
    await h.ask("b.example.org.")  # would be a second refresh: skipped
    await h.backend.wait_asked(3)
    assert h.cache.refreshing() == 1
    assert [r.name for r in h.backend.asked[2:]] == ["a.example.org."]
    h.backend.release()
    await asyncio.wait_for(h.cache.settled(), WAIT_SECONDS)


async def test_a_refresh_that_raises_is_logged_and_contained(caplog: pytest.LogCaptureFixture) -> None:
    def broken(req: Request) -> int:
        raise RuntimeError("backend bug")

    h = harness(PREFETCH_ONE, numbered(ttl=10))
    await h.ask("www.example.org.")
    h.backend.script = broken
    h.clock.advance(9)
    reply = await h.ask("www.example.org.")
    await asyncio.wait_for(h.cache.settled(), WAIT_SECONDS)
    assert addresses(reply) == ["192.0.2.1"]
    assert any(
        "refreshing www.example.org. A failed: RuntimeError('backend bug')" in r.getMessage()
        for r in caplog.records
    )
