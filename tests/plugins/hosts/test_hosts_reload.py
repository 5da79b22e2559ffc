"""hosts reloading: file edits picked up, a deleted file keeps its data, the task's lifecycle,
and the two metrics.

Waits poll the server with a deadline; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import dns.message

from clusterdns.metrics import REGISTRY
from clusterdns.plugins.hosts.hosts import Hosts
from clusterdns.testing import RunningServer, query, run_corefile

DEADLINE_SECONDS = 5.0
POLL_SECONDS = 0.02


async def eventually(probe: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``probe`` until it holds; fail after the deadline."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not await probe():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached before the deadline")
        await asyncio.sleep(POLL_SECONDS)


def addresses(reply: dns.message.Message) -> list[str]:
    return [r.address for rrset in reply.answer for r in rrset]


async def answer(port: int, name: str) -> list[str]:
    return addresses(await query(port, name, "A"))


def handler(srv: RunningServer) -> Hosts:
    instance = srv.runtime.instance
    assert instance is not None
    found = instance.blocks[0].handlers["hosts"]
    assert isinstance(found, Hosts)
    return found


def reload_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("hosts reload ")]


async def test_reload_picks_up_an_edit(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("10.0.0.1 a.example.org\n")
    text = f". {{\n hosts {path} {{\n reload 100ms\n }}\n}}\n"
    async with run_corefile(text) as srv:
        assert await answer(srv.port, "a.example.org.") == ["10.0.0.1"]
        path.write_text("10.0.0.2 a.example.org\n10.0.0.3 b.example.org\n")  # size changes too

        async def edited() -> bool:
            return await answer(srv.port, "a.example.org.") == ["10.0.0.2"]

        await eventually(edited)
        assert await answer(srv.port, "b.example.org.") == ["10.0.0.3"]


async def test_deleted_file_keeps_the_last_contents(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("10.0.0.1 a.example.org\n")
    text = f". {{\n hosts {path} {{\n 10.0.0.5 inline.example.org\n reload 100ms\n }}\n}}\n"
    async with run_corefile(text) as srv:
        path.unlink()
        assert await handler(srv).hostsfile.refresh() is False  # nothing swapped in
        assert await answer(srv.port, "a.example.org.") == ["10.0.0.1"]
        assert await answer(srv.port, "inline.example.org.") == ["10.0.0.5"]
        path.write_text("10.0.0.7 a.example.org\n")  # restored: used again

        async def restored() -> bool:
            return await answer(srv.port, "a.example.org.") == ["10.0.0.7"]

        await eventually(restored)


async def test_unchanged_file_is_not_reparsed(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("10.0.0.1 a.example.org\n")
    async with run_corefile(f". {{\n hosts {path} {{\n reload 0\n }}\n}}\n") as srv:
        hostsfile = handler(srv).hostsfile
        table = hostsfile.table
        assert await hostsfile.refresh() is False
        assert hostsfile.table is table


async def test_reload_zero_runs_no_task_but_reads_at_startup(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("10.0.0.1 a.example.org\n")
    async with run_corefile(f". {{\n hosts {path} {{\n reload 0\n }}\n}}\n") as srv:
        assert reload_tasks() == []
        assert await answer(srv.port, "a.example.org.") == ["10.0.0.1"]


async def test_task_is_cancelled_on_shutdown_and_corefile_reload(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("10.0.0.1 a.example.org\n")
    async with run_corefile(f". {{\n hosts {path}\n}}\n", directory=str(tmp_path)) as srv:
        [first] = reload_tasks()
        srv.write_corefile(f". {{\n hosts {path} {{\n ttl 5\n }}\n}}\n")
        await srv.runtime.reload()
        assert first.done() and first.cancelled()
        [second] = reload_tasks()
        assert second is not first
    assert second.done() and second.cancelled()
    assert reload_tasks() == []


async def test_metrics(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("10.0.0.1 a.example.org b.example.org\n::1 a.example.org\n10.0.0.9 *.w.example.org\n")
    text = f". {{\n hosts {path} {{\n 10.0.0.5 c.example.org\n reload 100ms\n }}\n}}\n"
    async with run_corefile(text) as srv:
        # file: A a, A b, AAAA a, wildcard, PTR 10.0.0.1 -> a, b, PTR ::1 -> a = 7; inline: 2
        assert REGISTRY.get_sample_value("coredns_hosts_entries", {"hostsfile": str(path)}) == 9
        stamp = REGISTRY.get_sample_value("coredns_hosts_reload_timestamp_seconds")
        assert stamp == os.stat(path).st_mtime_ns / 1e9  # CoreDNS reports the file's mtime
        path.write_text("10.0.0.2 a.example.org\n")

        async def counted() -> bool:
            return REGISTRY.get_sample_value("coredns_hosts_entries", {"hostsfile": str(path)}) == 4

        await eventually(counted)
        assert await answer(srv.port, "a.example.org.") == ["10.0.0.2"]
