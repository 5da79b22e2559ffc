"""forward failure handling: health checks, down and up again, deadlines, limits.

Upstreams that refuse (paused: the kernel answers port unreachable) fail at once; upstreams
that never answer fail at the read timeout, kept short here. Health probes are ``. IN NS``,
so the upstreams' counts for ``example.org`` are the forwarded queries alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable

import dns.flags
import dns.rcode
import pytest

from clusterdns.metrics import REGISTRY
from clusterdns.plugins.forward import forward, health
from clusterdns.plugins.forward.forward import Forward
from clusterdns.plugins.forward.options import ForwardOptions, UpstreamAddress
from clusterdns.plugins.forward.proxy import Proxy
from clusterdns.testing import RunningServer, query, run_corefile
from clusterdns.testing.upstream import Upstream

Start = Callable[[], Awaitable[Upstream]]
Until = Callable[..., Awaitable[None]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    async with contextlib.AsyncExitStack() as stack:

        async def start_one() -> Upstream:
            up = await stack.enter_async_context(Upstream())
            up.add("example.org.", "A", "10.0.0.1")
            return up

        yield start_one


def corefile(*lines: str) -> str:
    return ". {\n" + "\n".join(lines) + "\n}\n"


def handler(srv: RunningServer) -> Forward:
    assert srv.runtime.instance is not None
    forward_handler = srv.runtime.instance.blocks[0].handlers["forward"]
    assert isinstance(forward_handler, Forward)
    return forward_handler


def failures(up: Upstream) -> float:
    value = REGISTRY.get_sample_value(
        "coredns_proxy_healthcheck_failures_total", {"proxy_name": "forward", "to": up.addr}
    )
    return value or 0.0


def counter(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


async def test_no_health_check_before_a_failure(start: Start) -> None:
    up = await start()
    async with run_corefile(corefile(f"forward . {up.addr}")) as srv:
        await query(srv.port, "example.org", "A")
        assert not handler(srv).proxies[0].checker.running
    assert up.count(name=".") == 0


async def test_down_after_more_than_max_fails_and_up_after_one_good_check(
    start: Start, until: Until, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "CHECK_TIMEOUT_SECONDS", 0.05)
    first, second = await start(), await start()
    first.mode = "silent"
    text = corefile(
        f"forward . {first.addr} {second.addr} {{",
        "policy sequential\nmax_fails 2\nhealth_check 10ms\nread_timeout 100ms\n}",
    )
    async with run_corefile(text) as srv:
        proxy = handler(srv).proxies[0]
        reply = await query(srv.port, "example.org", "A")  # first times out, second answers
        assert reply.answer and first.count(name="example.org") == 1

        # The failure started probing; each failed probe counts; down only after the third.
        await until(lambda: _true(failures(first) >= 3))
        assert proxy.down(2)
        assert first.count(name=".") >= 3

        # While down it is skipped: the query goes straight to the second upstream.
        reply = await query(srv.port, "example.org", "A")
        assert reply.answer and first.count(name="example.org") == 1

        # One probe answered and it is up again; probing stops.
        first.mode = "answer"

        async def first_answers() -> bool:
            await query(srv.port, "example.org", "A")
            return first.count(name="example.org") > 1

        await until(first_answers)
        assert proxy.fails == 0 and not proxy.checker.running


async def _true(value: bool) -> bool:
    return value


def test_down_means_more_than_max_fails() -> None:
    upstream = UpstreamAddress("dns", "127.0.0.1", 53)
    proxy = Proxy(upstream, ForwardOptions(from_zone=".", upstreams=(upstream,)))
    for fails, down in [(0, False), (2, False), (3, True)]:
        proxy.fails = fails
        assert proxy.down(2) is down
    proxy.fails = 100
    assert not proxy.down(0)


async def test_max_fails_zero_never_checks_nor_marks_down(start: Start) -> None:
    first, second = await start(), await start()
    await first.pause()
    text = corefile(
        f"forward . {first.addr} {second.addr} {{\npolicy sequential\nmax_fails 0\n}}"
    )
    async with run_corefile(text) as srv:
        for _ in range(3):
            assert (await query(srv.port, "example.org", "A")).answer
        proxy = handler(srv).proxies[0]
        assert not proxy.checker.running and proxy.fails == 0 and not proxy.down(0)
    assert failures(first) == 0


async def test_health_check_options_shape_the_probe(start: Start, until: Until) -> None:
    up = await start()
    up.mode = "silent"
    text = corefile(
        f"forward . {up.addr} {{\nhealth_check 10ms no_rec domain Example.NET\n"
        "read_timeout 50ms\nmax_connect_attempts 1\n}"
    )
    async with run_corefile(text) as srv:
        await query(srv.port, "example.org", "A")
        await up.wait_until(lambda: up.count(name="example.net") >= 1)
    probe = next(r.message for r in up.received if r.name == "example.net.")
    assert probe is not None
    assert probe.question[0].rdtype == 2  # NS
    assert not probe.flags & dns.flags.RD


async def test_force_tcp_checks_over_tcp(start: Start, until: Until) -> None:
    up = await start()
    up.mode = "silent"
    text = corefile(
        f"forward . {up.addr} {{\nforce_tcp\nhealth_check 10ms\nread_timeout 50ms\n"
        "max_connect_attempts 1\n}"
    )
    async with run_corefile(text) as srv:
        await query(srv.port, "example.org", "A")
        await up.wait_until(lambda: up.count(name=".") >= 1)
    assert up.count(name=".", proto="tcp") >= 1 and up.count(name=".", proto="udp") == 0


async def test_servfail_when_no_upstream_answers(
    start: Start, log_lines: list[str]
) -> None:
    up = await start()
    up.mode = "silent"
    text = corefile("errors", f"forward . {up.addr} {{\nread_timeout 100ms\n}}")
    async with run_corefile(text) as srv:
        loop = asyncio.get_running_loop()
        began = loop.time()
        reply = await query(srv.port, "example.org", "A")
        elapsed = loop.time() - began
    assert reply.rcode() == dns.rcode.SERVFAIL
    assert up.count(name="example.org") == 2  # the default cap: 2 attempts per upstream
    assert 0.2 <= elapsed < 1.0
    pattern = (
        r"\[ERROR\] plugin/errors: 2 example\.org\. A: read udp 127\.0\.0\.1:\d+->"
        + re.escape(up.addr)
        + r": i/o timeout"
    )
    assert any(re.fullmatch(pattern, line) for line in log_lines), log_lines


async def test_max_connect_attempts(start: Start) -> None:
    up = await start()
    up.mode = "silent"
    text = corefile(f"forward . {up.addr} {{\nread_timeout 50ms\nmax_connect_attempts 1\n}}")
    async with run_corefile(text) as srv:
        reply = await query(srv.port, "example.org", "A")
    assert reply.rcode() == dns.rcode.SERVFAIL and up.count(name="example.org") == 1


async def test_overall_deadline_without_an_attempt_cap(
    start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(forward, "DEADLINE_SECONDS", 0.3)
    up = await start()
    up.mode = "silent"
    text = corefile(f"forward . {up.addr} {{\nread_timeout 100ms\nmax_connect_attempts 0\n}}")
    async with run_corefile(text) as srv:
        loop = asyncio.get_running_loop()
        began = loop.time()
        reply = await query(srv.port, "example.org", "A")
        elapsed = loop.time() - began
    assert reply.rcode() == dns.rcode.SERVFAIL
    assert up.count(name="example.org") == 3  # attempts until the deadline, each 100 ms
    assert elapsed < 0.6  # the last read is cut at the deadline


async def test_refused_upstream_error_text(start: Start, log_lines: list[str]) -> None:
    up = await start()
    await up.pause()
    text = corefile("errors", f"forward . {up.addr} {{\nforce_tcp\nmax_fails 0\n}}")
    async with run_corefile(text) as srv:
        reply = await query(srv.port, "example.org", "A")
    assert reply.rcode() == dns.rcode.SERVFAIL
    expected = (
        f"[ERROR] plugin/errors: 2 example.org. A: dial tcp {up.addr}: connect: connection refused"
    )
    assert expected in log_lines


@pytest.mark.parametrize("failfast", [False, True], ids=["random-upstream", "failfast"])
async def test_all_upstreams_down(
    start: Start, until: Until, log_lines: list[str], failfast: bool
) -> None:
    first, second = await start(), await start()
    await first.pause()
    await second.pause()
    option = "failfast_all_unhealthy_upstreams" if failfast else ""
    text = corefile(
        "errors",
        f"forward . {first.addr} {second.addr} {{\nmax_fails 1\nhealth_check 10ms\n{option}\n}}",
    )
    async with run_corefile(text) as srv:
        proxies = handler(srv).proxies
        assert (await query(srv.port, "example.org", "A")).rcode() == dns.rcode.SERVFAIL
        await until(lambda: _true(all(p.down(1) for p in proxies)))
        broken = counter("coredns_forward_healthcheck_broken_total")
        log_lines.clear()
        reply = await query(srv.port, "example.org", "A")
    assert reply.rcode() == dns.rcode.SERVFAIL
    assert counter("coredns_forward_healthcheck_broken_total") == broken + 1
    errors = [line for line in log_lines if "plugin/errors" in line]
    if failfast:
        assert errors == ["[ERROR] plugin/errors: 2 example.org. A: no healthy proxies"]
    else:  # one random upstream was tried anyway
        assert len(errors) == 1 and errors[0].endswith("read: connection refused")


async def test_all_down_then_one_back(start: Start, until: Until) -> None:
    first, second = await start(), await start()
    await first.pause()
    await second.pause()
    text = corefile(f"forward . {first.addr} {second.addr} {{\nmax_fails 1\nhealth_check 10ms\n}}")
    async with run_corefile(text) as srv:
        proxies = handler(srv).proxies
        await query(srv.port, "example.org", "A")
        await until(lambda: _true(all(p.down(1) for p in proxies)))
        await second.resume()
        await until(lambda: _true(not proxies[1].down(1)))
        reply = await query(srv.port, "example.org", "A")
    assert reply.answer and second.count(name="example.org") == 1


async def test_max_concurrent_refuses_the_excess(start: Start, log_lines: list[str]) -> None:
    up = await start()
    up.hold()
    text = corefile("errors", f"forward . {up.addr} {{\nmax_concurrent 2\n}}")
    async with run_corefile(text) as srv:
        rejects = counter("coredns_forward_max_concurrent_rejects_total")
        held = [asyncio.create_task(query(srv.port, "example.org", "A")) for _ in range(2)]
        await up.wait_until(lambda: up.count(name="example.org") == 2)
        refused = await query(srv.port, "example.org", "A")
        up.release()
        answered = await asyncio.gather(*held)
        after = await query(srv.port, "example.org", "A")
    assert refused.rcode() == dns.rcode.REFUSED
    assert counter("coredns_forward_max_concurrent_rejects_total") == rejects + 1
    rejected = "[ERROR] plugin/errors: 5 example.org. A: concurrent queries exceeded maximum 2"
    assert rejected in log_lines
    assert [r.rcode() for r in answered] == [dns.rcode.NOERROR] * 2
    assert after.rcode() == dns.rcode.NOERROR  # the slots were given back
    assert up.count(name="example.org") == 3  # the refused query never went upstream
    assert failures(up) == 0  # and REFUSED is no health failure


async def test_shutdown_cancels_health_checks(start: Start, until: Until) -> None:
    up = await start()
    await up.pause()
    text = corefile(f"forward . {up.addr} {{\nhealth_check 10ms\n}}")
    async with run_corefile(text) as srv:
        proxy = handler(srv).proxies[0]
        await query(srv.port, "example.org", "A")
        await until(lambda: _true(proxy.checker.running))
        task = proxy.checker.task
    assert task is not None and task.done()
    assert not proxy.checker.running
    proxy.healthcheck()  # a late failure after shutdown starts nothing
    assert not proxy.checker.running


@pytest.mark.parametrize(
    ("read_timeout", "answered"), [("1s", True), ("50ms", False)], ids=["patient", "impatient"]
)
async def test_read_timeout_decides_for_a_slow_upstream(
    start: Start, read_timeout: str, answered: bool
) -> None:
    up = await start()
    up.delay = 0.2
    text = corefile(
        f"forward . {up.addr} {{\nread_timeout {read_timeout}\nmax_connect_attempts 1\n}}"
    )
    async with run_corefile(text) as srv:
        reply = await query(srv.port, "example.org", "A")
    assert (reply.rcode() == dns.rcode.NOERROR) is answered
    assert bool(reply.answer) is answered
