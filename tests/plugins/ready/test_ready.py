"""ready through a real server: 200, 503 with the plugins not ready, monitor modes, shutdown.

The chain has no plugin reporting readiness yet here (kubernetes will), so tests add fake
reporters to a block's handlers after the Corefile is set up and before the instance starts,
where ready's startup hook discovers them exactly as it will discover kubernetes.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from clusterdns.plugin import Readiness
from clusterdns.server.instance import CorefileSource
from clusterdns.server.runtime import Runtime
from clusterdns.testing import run_corefile

ADDRESS = "127.0.0.1:0"


class FakeReporter:
    """A stand-in for a plugin that reports readiness (kubernetes before its first sync)."""

    def __init__(self, name: str, ready: bool = False) -> None:
        self.name = name
        self.is_ready = ready
        self.asked = 0

    def ready(self) -> bool:
        self.asked += 1
        return self.is_ready


@asynccontextmanager
async def serving(text: str, reporters: dict[int, list[FakeReporter]]) -> AsyncIterator[Runtime]:
    """Start ``text`` with ``reporters`` added to the handlers of the blocks at those indexes."""
    runtime = Runtime(lambda: CorefileSource(text, "Corefile"), default_port="0", out=io.StringIO())
    instance = runtime.build()
    for index, fakes in reporters.items():
        for fake in fakes:
            assert isinstance(fake, Readiness)
            instance.blocks[index].handlers[fake.name] = fake  # type: ignore[assignment]
    await runtime.start(instance)
    try:
        yield runtime
    finally:
        await runtime.stop()


def one_block(extra: str = "") -> str:
    return f"example.org {{\n ready {ADDRESS}{extra}\n whoami\n}}\n"


async def test_ready_without_reporters_is_ok(get) -> None:
    async with run_corefile(one_block()) as srv:
        reply = await get(srv.runtime.http.port(ADDRESS), "/ready")
    assert (reply.status, reply.body) == (200, b"OK")
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"


async def test_other_paths_are_404(get) -> None:
    async with run_corefile(one_block()) as srv:
        reply = await get(srv.runtime.http.port(ADDRESS), "/health")
    assert reply.status == 404


async def test_not_ready_lists_sorted_names_and_logs_them(get, log_lines) -> None:
    kubernetes, erratic = FakeReporter("kubernetes"), FakeReporter("erratic")
    async with serving(one_block(), {0: [kubernetes, erratic]}) as runtime:
        port = runtime.http.port(ADDRESS)
        both = await get(port, "/ready")
        erratic.is_ready = True
        one = await get(port, "/ready")
        kubernetes.is_ready = True
        none = await get(port, "/ready")
    assert (both.status, both.body) == (503, b"erratic,kubernetes")
    assert (one.status, one.body) == (503, b"kubernetes")
    assert (none.status, none.body) == (200, b"OK")
    assert [line for line in log_lines if "plugin/ready" in line] == [
        '[INFO] plugin/ready: Plugins not ready: "erratic,kubernetes"',
        '[INFO] plugin/ready: Plugins not ready: "kubernetes"',
    ]


async def test_until_ready_stops_asking_a_plugin_once_ready(get) -> None:
    kubernetes = FakeReporter("kubernetes", ready=True)
    async with serving(one_block(), {0: [kubernetes]}) as runtime:
        port = runtime.http.port(ADDRESS)
        first = await get(port, "/ready")
        kubernetes.is_ready = False  # e.g. the API server went away after the first sync
        second = await get(port, "/ready")
    assert first.status == second.status == 200
    assert kubernetes.asked == 1


async def test_continuously_asks_on_every_request(get) -> None:
    kubernetes = FakeReporter("kubernetes", ready=True)
    extra = " {\n  monitor continuously\n }"
    async with serving(one_block(extra), {0: [kubernetes]}) as runtime:
        port = runtime.http.port(ADDRESS)
        first = await get(port, "/ready")
        kubernetes.is_ready = False
        second = await get(port, "/ready")
    assert first.status == 200
    assert (second.status, second.body) == (503, b"kubernetes")


async def test_only_blocks_using_ready_report(get) -> None:
    text = one_block() + "example.net {\n whoami\n}\n"
    async with serving(text, {1: [FakeReporter("kubernetes")]}) as runtime:
        reply = await get(runtime.http.port(ADDRESS), "/ready")
    assert (reply.status, reply.body) == (200, b"OK")


async def test_blocks_using_ready_report_together_on_every_address(get) -> None:
    text = (
        "example.org {\n ready 127.0.0.1:0\n whoami\n}\n"
        "example.net {\n ready 127.0.0.2:0\n whoami\n}\n"
    )
    reporters = {0: [FakeReporter("kubernetes")], 1: [FakeReporter("erratic")]}
    async with serving(text, reporters) as runtime:
        first = await get(runtime.http.port("127.0.0.1:0"), "/ready")
        second = await get(runtime.http.port("127.0.0.2:0"), "/ready", host="127.0.0.2")
    assert (first.status, first.body) == (503, b"erratic,kubernetes")
    assert (second.status, second.body) == (503, b"erratic,kubernetes")


async def test_same_plugin_in_two_blocks_is_asked_once_by_name(get) -> None:
    """CoreDNS keys the list by plugin name: the block set up last is the one asked."""
    text = one_block() + f"example.net {{\n ready {ADDRESS}\n whoami\n}}\n"
    first, last = FakeReporter("kubernetes"), FakeReporter("kubernetes", ready=True)
    async with serving(text, {0: [first], 1: [last]}) as runtime:
        reply = await get(runtime.http.port(ADDRESS), "/ready")
    assert (reply.status, reply.body) == (200, b"OK")
    assert (first.asked, last.asked) == (0, 1)


async def test_ready_is_not_a_link_of_the_chain() -> None:
    async with run_corefile(one_block()) as srv:
        assert srv.runtime.instance is not None
        assert "ready" not in srv.runtime.instance.blocks[0].handlers


async def test_ready_closes_before_health_lameduck_ends(get, until, log_lines) -> None:
    text = (
        "example.org {\n ready 127.0.0.1:0\n"
        " health 127.0.0.2:0 {\n  lameduck 1s\n }\n whoami\n}\n"
    )
    async with run_corefile(text) as srv:
        ready_port = srv.runtime.http.port("127.0.0.1:0")
        health_port = srv.runtime.http.port("127.0.0.2:0")
        assert (await get(ready_port, "/ready")).status == 200
        stopping = asyncio.create_task(srv.runtime.stop())

        async def in_lameduck() -> bool:
            return any("Going into lameduck mode" in line for line in log_lines)

        await until(in_lameduck, timeout=2.0)
        with pytest.raises(ConnectionError):
            await get(ready_port, "/ready")
        health = await get(health_port, "/health", host="127.0.0.2")
        assert not stopping.done()
        assert health.status == 200
        await asyncio.wait_for(stopping, timeout=5.0)


async def test_ready_closes_before_another_blocks_lameduck(get, until, log_lines) -> None:
    """Hooks run directive by directive across blocks (caddy): ready closes before lameduck."""
    text = (
        "example.org {\n health 127.0.0.2:0 {\n  lameduck 1s\n }\n whoami\n}\n"
        f"example.net {{\n ready {ADDRESS}\n whoami\n}}\n"
    )
    async with run_corefile(text) as srv:
        port = srv.runtime.http.port(ADDRESS)
        stopping = asyncio.create_task(srv.runtime.stop())

        async def in_lameduck() -> bool:
            return any("Going into lameduck mode" in line for line in log_lines)

        await until(in_lameduck, timeout=2.0)
        with pytest.raises(ConnectionError):
            await get(port, "/ready")
        assert not stopping.done()
        await asyncio.wait_for(stopping, timeout=5.0)


async def test_ready_keeps_its_listener_across_a_reload(tmp_path, get) -> None:
    async with run_corefile(one_block(), directory=str(tmp_path)) as srv:
        port = srv.runtime.http.port(ADDRESS)
        srv.write_corefile(one_block() + "example.net {\n whoami\n}\n")
        await asyncio.wait_for(srv.runtime.reload(), timeout=3.0)
        reply = await get(port, "/ready")
    assert (reply.status, reply.body) == (200, b"OK")
