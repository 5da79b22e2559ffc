"""health through a real server: /health, 404s, the self-check, lameduck and reloads."""

from __future__ import annotations

import asyncio
import time

import pytest

from clusterdns.metrics import REGISTRY
from clusterdns.testing import query, run_corefile

ADDRESS = "127.0.0.1:0"


def sample(name: str) -> float:
    value = REGISTRY.get_sample_value(name)
    return 0.0 if value is None else value


async def test_health_answers_ok_without_newline(get) -> None:
    async with run_corefile(f"example.org {{\n health {ADDRESS}\n whoami\n}}\n") as srv:
        reply = await get(srv.runtime.http.port(ADDRESS), "/health")
    assert reply.status == 200
    assert reply.body == b"OK"
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize("path", ["/", "/healthz", "/health/", "/ready", "/metrics"])
async def test_other_paths_are_404(get, path: str) -> None:
    async with run_corefile(f"example.org {{\n health {ADDRESS}\n whoami\n}}\n") as srv:
        reply = await get(srv.runtime.http.port(ADDRESS), path)
    assert reply.status == 404


async def test_query_string_is_ignored(get) -> None:
    async with run_corefile(f"example.org {{\n health {ADDRESS}\n whoami\n}}\n") as srv:
        reply = await get(srv.runtime.http.port(ADDRESS), "/health?verbose=1")
    assert (reply.status, reply.body) == (200, b"OK")


async def test_every_block_may_serve_health_on_its_own_address(get) -> None:
    text = (
        "example.org {\n health 127.0.0.1:0\n whoami\n}\n"
        "example.net {\n health 127.0.0.2:0\n whoami\n}\n"
    )
    async with run_corefile(text) as srv:
        first = await get(srv.runtime.http.port("127.0.0.1:0"), "/health")
        second = await get(srv.runtime.http.port("127.0.0.2:0"), "/health", host="127.0.0.2")
    assert (first.status, first.body) == (200, b"OK")
    assert (second.status, second.body) == (200, b"OK")


async def test_health_is_not_a_link_of_the_chain() -> None:
    async with run_corefile(f"example.org {{\n health {ADDRESS}\n whoami\n}}\n") as srv:
        assert srv.runtime.instance is not None
        assert "health" not in srv.runtime.instance.blocks[0].handlers


async def test_self_check_observes_its_duration_once_a_second(until) -> None:
    before_count = sample("coredns_health_request_duration_seconds_count")
    before_failures = sample("coredns_health_request_failures_total")
    async with run_corefile(f"example.org {{\n health {ADDRESS}\n whoami\n}}\n"):

        async def probed_twice() -> bool:
            return sample("coredns_health_request_duration_seconds_count") >= before_count + 2

        started = time.monotonic()
        await until(probed_twice, timeout=5.0)
        elapsed = time.monotonic() - started
    assert elapsed >= 1.5  # twice, a second apart: not a tight loop
    assert sample("coredns_health_request_failures_total") == before_failures
    bucket = "coredns_health_request_duration_seconds_bucket"
    assert (REGISTRY.get_sample_value(bucket, {"le": "2.5"}) or 0) >= 2


async def test_self_check_failure_is_counted_and_logged(until, log_lines) -> None:
    before = sample("coredns_health_request_failures_total")
    async with run_corefile(f"example.org {{\n health {ADDRESS}\n whoami\n}}\n") as srv:
        listening = srv.runtime.http.servers[ADDRESS].server
        assert listening is not None
        listening.close()  # the socket goes away under the probe

        async def failed() -> bool:
            return sample("coredns_health_request_failures_total") > before

        await until(failed, timeout=5.0)
    warnings = [line for line in log_lines if line.startswith("[WARNING] plugin/health: ")]
    assert warnings
    assert warnings[0].startswith(
        '[WARNING] plugin/health: Local health request to "http://127.0.0.1:0/health" failed: '
    )


async def test_self_check_task_is_cancelled_at_shutdown() -> None:
    def probes() -> list[asyncio.Task]:  # type: ignore[type-arg]
        return [t for t in asyncio.all_tasks() if t.get_name().startswith("health self-check")]

    async with run_corefile(f"example.org {{\n health {ADDRESS}\n whoami\n}}\n"):
        assert len(probes()) == 1
    assert probes() == []


async def test_lameduck_keeps_dns_and_health_up_until_it_ends(get, until, log_lines) -> None:
    text = f"example.org {{\n health {ADDRESS} {{\n  lameduck 1500ms\n }}\n whoami\n}}\n"
    async with run_corefile(text) as srv:
        port = srv.runtime.http.port(ADDRESS)
        dns_port = srv.port
        started = time.monotonic()
        stopping = asyncio.create_task(srv.runtime.stop())

        async def in_lameduck() -> bool:
            return "[INFO] plugin/health: Going into lameduck mode for 1.5s" in log_lines

        await until(in_lameduck, timeout=2.0)
        reply = await query(dns_port, "a.example.org", "A")
        health = await get(port, "/health")
        assert not stopping.done(), "lameduck ended before the checks ran"
        assert reply.rcode() == 0 and reply.additional  # whoami still answers
        assert (health.status, health.body) == (200, b"OK")

        await asyncio.wait_for(stopping, timeout=5.0)
        assert time.monotonic() - started >= 1.5
        with pytest.raises(ConnectionError):
            await get(port, "/health")  # closed once lameduck is over


async def test_no_lameduck_on_reload(tmp_path, get, log_lines) -> None:
    text = f"example.org {{\n health {ADDRESS} {{\n  lameduck 30s\n }}\n whoami\n}}\n"
    async with run_corefile(text, directory=str(tmp_path)) as srv:
        port = srv.runtime.http.port(ADDRESS)
        srv.write_corefile(f"example.org {{\n health {ADDRESS}\n whoami\n}}\n")
        await asyncio.wait_for(srv.runtime.reload(), timeout=3.0)  # far less than 30s
        reply = await get(port, "/health")
        assert srv.runtime.http.port(ADDRESS) == port  # the same listener: no gap for probes
        assert (reply.status, reply.body) == (200, b"OK")
    assert not any("lameduck" in line for line in log_lines)


async def test_zero_lameduck_stops_at_once(log_lines) -> None:
    text = f"example.org {{\n health {ADDRESS} {{\n  lameduck 0s\n }}\n whoami\n}}\n"
    async with run_corefile(text) as srv:
        await asyncio.wait_for(srv.runtime.stop(), timeout=2.0)
    assert not any("lameduck" in line for line in log_lines)
