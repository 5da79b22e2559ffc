"""forward metrics: CoreDNS's names, labels and buckets, and the connection cache they count.

Metrics are process-wide, so every assertion is on a delta or on labels unique to the test
(each upstream has its own random port, hence its own ``to``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import dns.rcode
import pytest
from prometheus_client import generate_latest

from clusterdns.metrics import REGISTRY, TIME_BUCKETS
from clusterdns.testing import query, run_corefile
from clusterdns.testing.upstream import Upstream


@pytest.fixture
async def up() -> AsyncIterator[Upstream]:
    async with contextlib.AsyncExitStack() as stack:
        upstream = await stack.enter_async_context(Upstream())
        upstream.add("example.org.", "A", "10.0.0.1")
        yield upstream


Until = Callable[..., Awaitable[None]]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_request_duration_per_upstream_and_rcode(up: Upstream) -> None:
    async with run_corefile(f". {{\nforward . {up.addr}\n}}\n") as srv:
        await query(srv.port, "example.org", "A")
        await query(srv.port, "example.org", "A", tcp=True)
        await query(srv.port, "missing.example", "A")
    labels = {"proxy_name": "forward", "to": up.addr}
    name = "coredns_proxy_request_duration_seconds"
    assert sample(f"{name}_count", rcode="NOERROR", **labels) == 2
    assert sample(f"{name}_count", rcode="NXDOMAIN", **labels) == 1
    largest = TIME_BUCKETS[-1]
    assert sample(f"{name}_bucket", rcode="NOERROR", le=str(largest), **labels) == 2
    assert sample(f"{name}_bucket", rcode="NOERROR", le="0.00025", **labels) <= 2


async def test_conn_cache_hits_and_misses(up: Upstream) -> None:
    async with run_corefile(f". {{\nforward . {up.addr}\n}}\n") as srv:
        for _ in range(3):
            await query(srv.port, "example.org", "A", tcp=True)
        for _ in range(2):
            await query(srv.port, "example.org", "A")
    labels = {"proxy_name": "forward", "to": up.addr}
    assert sample("coredns_proxy_conn_cache_misses_total", proto="tcp", **labels) == 1
    assert sample("coredns_proxy_conn_cache_hits_total", proto="tcp", **labels) == 2
    # every UDP exchange has a socket of its own: a miss each time, never a hit
    assert sample("coredns_proxy_conn_cache_misses_total", proto="udp", **labels) == 2
    assert sample("coredns_proxy_conn_cache_hits_total", proto="udp", **labels) == 0
    assert up.tcp_connections == 1


async def test_idle_connections_expire(up: Upstream) -> None:
    text = f". {{\nforward . {up.addr} {{\nforce_tcp\nexpire 100ms\n}}\n}}\n"
    async with run_corefile(text) as srv:
        await query(srv.port, "example.org", "A")
        assert up.open_tcp_connections == 1
        await up.wait_until(lambda: up.open_tcp_connections == 0)  # closed by the sweeper
        await query(srv.port, "example.org", "A")
    labels = {"proxy_name": "forward", "to": up.addr, "proto": "tcp"}
    assert sample("coredns_proxy_conn_cache_misses_total", **labels) == 2
    assert sample("coredns_proxy_conn_cache_hits_total", **labels) == 0
    assert up.tcp_connections == 2


async def test_max_idle_conns_caps_the_cache(up: Upstream) -> None:
    up.hold()
    text = f". {{\nforward . {up.addr} {{\nforce_tcp\nmax_idle_conns 1\n}}\n}}\n"
    async with run_corefile(text) as srv:
        held = [asyncio.create_task(query(srv.port, "example.org", "A")) for _ in range(3)]
        await up.wait_until(lambda: up.tcp_connections == 3)
        up.release()
        await asyncio.gather(*held)
        await up.wait_until(lambda: up.open_tcp_connections == 1)  # two were closed at once
    assert up.tcp_connections == 3


async def test_health_check_failures_have_no_rcode_label(up: Upstream, until: Until) -> None:
    await up.pause()
    labels = {"proxy_name": "forward", "to": up.addr}
    text = f". {{\nforward . {up.addr} {{\nhealth_check 10ms\nmax_fails 1\n}}\n}}\n"
    async with run_corefile(text) as srv:
        assert (await query(srv.port, "example.org", "A")).rcode() == dns.rcode.SERVFAIL

        async def failed() -> bool:
            return sample("coredns_proxy_healthcheck_failures_total", **labels) > 0

        await until(failed)
        exposition = generate_latest(REGISTRY).decode()
    prefix = f'coredns_proxy_healthcheck_failures_total{{proxy_name="forward",to="{up.addr}"}} '
    assert any(line.startswith(prefix) for line in exposition.splitlines())


def test_families_and_help_text() -> None:
    exposition = generate_latest(REGISTRY).decode()
    for family, kind in [
        ("coredns_proxy_request_duration_seconds", "histogram"),
        ("coredns_proxy_healthcheck_failures_total", "counter"),
        ("coredns_proxy_conn_cache_hits_total", "counter"),
        ("coredns_proxy_conn_cache_misses_total", "counter"),
        ("coredns_forward_healthcheck_broken_total", "counter"),
        ("coredns_forward_max_concurrent_rejects_total", "counter"),
    ]:
        assert f"# TYPE {family} {kind}" in exposition
    assert (
        "# HELP coredns_forward_max_concurrent_rejects_total Counter of the number of queries "
        "rejected because the concurrent queries were at maximum." in exposition
    )
