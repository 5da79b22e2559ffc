"""SIGTERM under load: with *health*'s ``lameduck`` a real clusterdns process keeps answering
for the whole lameduck period, then closes its sockets and exits 0.

Kubernetes removes a terminating pod from the Service's endpoints while the pod is already
shutting down; kube-proxy takes a moment to follow, so for about that moment queries still
arrive. ``lameduck`` is what covers it (CoreDNS ``plugin/health``). These tests run
``python -m clusterdns`` (clusterdns.testing.process), load it with UDP and TCP queries from
several clients, send SIGTERM, and record when each query was sent and whether it was
answered:

* every query sent in the first ``LAMEDUCK_SECONDS - MARGIN_SECONDS`` after the signal is
  answered correctly, and answers keep coming until at least that long after it;
* ``/health`` keeps answering ``200 OK`` during the lameduck;
* the process exits 0, no sooner than the lameduck and not much later;
* a reload asked for during the lameduck is refused without disturbing the exit;
* without lameduck the process exits 0 at once, in-flight load or not.
"""

from __future__ import annotations

import pytest

import asyncio
import contextlib
import signal
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import dns.message
import dns.rcode

from clusterdns.testing import fakeapi, query
from clusterdns.testing.fakeapi import FakeAPIServer
from clusterdns.testing.process import ServerProcess, clusterdns_process
from clusterdns.testing.upstream import Upstream

Get = Callable[..., Awaitable[object]]

NAME: Final = "www.example.org."
ADDRESS: Final = "10.0.0.1"
LAMEDUCK_SECONDS: Final = 1.0
#: Slack for the signal to be handled and for scheduling: queries sent up to
#: ``LAMEDUCK_SECONDS - MARGIN_SECONDS`` after the signal must be answered.
MARGIN_SECONDS: Final = 0.15
QUERY_TIMEOUT_SECONDS: Final = 1.0
EXIT_TIMEOUT_SECONDS: Final = 10.0
#: The process must be gone this long after the lameduck ended at the latest.
EXIT_AFTER_LAMEDUCK_SECONDS: Final = 3.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def corefile(health_port: int, lameduck: str | None = "1s") -> str:
    health = f"    health 127.0.0.1:{health_port}\n"
    if lameduck is not None:
        health = f"    health 127.0.0.1:{health_port} {{\n        lameduck {lameduck}\n    }}\n"
    return (
        ".:0 {\n"
        "    bind 127.0.0.1\n"
        f"{health}"
        "    hosts /dev/null {\n"
        f"        {ADDRESS} {NAME}\n"
        "    }\n"
        "}\n"
    )


@dataclass
class Outcome:
    sent: float  # monotonic time the query left
    answered: float | None  # monotonic time of a correct answer, None if it failed
    detail: str = ""


@dataclass
class Load:
    """Clients querying until stopped: fresh UDP sockets, fresh TCP connections, and one kept
    TCP connection; every query's outcome is kept with its send time."""

    port: int
    outcomes: list[Outcome] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        for coro in (
            self._fresh(tcp=False),
            self._fresh(tcp=False),
            self._fresh(tcp=True),
            self._kept(),
        ):
            self.tasks.append(asyncio.create_task(coro))

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.wait_for(asyncio.gather(*self.tasks), QUERY_TIMEOUT_SECONDS * 4)

    def _record(self, sent: float, reply: dns.message.Message) -> None:
        addresses = [r.address for rrset in reply.answer for r in rrset]
        if reply.rcode() == 0 and addresses == [ADDRESS]:
            self.outcomes.append(Outcome(sent, time.monotonic()))
        else:
            self.outcomes.append(Outcome(sent, None, f"{dns.rcode.to_text(reply.rcode())} {addresses}"))

    async def _fresh(self, *, tcp: bool) -> None:
        while not self.stop.is_set():
            sent = time.monotonic()
            try:
                reply = await query(self.port, NAME, tcp=tcp, timeout=QUERY_TIMEOUT_SECONDS)
            except Exception as exc:  # refused or timed out: unanswered
                self.outcomes.append(Outcome(sent, None, repr(exc)))
                if tcp:  # a refused connection fails at once; do not spin
                    await asyncio.sleep(0.01)
                continue
            self._record(sent, reply)

    async def _kept(self) -> None:
        with contextlib.suppress(OSError):
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            try:
                while not self.stop.is_set():
                    message = dns.message.make_query(NAME, "A")
                    wire = message.to_wire()
                    sent = time.monotonic()
                    writer.write(struct.pack("!H", len(wire)) + wire)
                    try:
                        async with asyncio.timeout(QUERY_TIMEOUT_SECONDS):
                            (length,) = struct.unpack("!H", await reader.readexactly(2))
                            reply = dns.message.from_wire(await reader.readexactly(length))
                    except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
                        self.outcomes.append(Outcome(sent, None, f"kept connection: {exc!r}"))
                        return
                    self._record(sent, reply)
            finally:
                writer.close()

    def answered_by(self, moment: float) -> int:
        return sum(1 for o in self.outcomes if o.answered is not None and o.answered <= moment)


async def wait_answers(load: Load, count: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    target = len(load.outcomes) + count
    while len(load.outcomes) < target:
        assert time.monotonic() < deadline, "the load is stalled"
        await asyncio.sleep(0.01)
    failures = [o.detail for o in load.outcomes if o.answered is None]
    assert failures == [], failures[:10]


async def terminate(server: ServerProcess) -> tuple[float, int, float]:
    """SIGTERM; returns the signal time, the exit code and the exit time."""
    signalled = time.monotonic()
    server.signal(signal.SIGTERM)
    code = await server.wait(EXIT_TIMEOUT_SECONDS)
    return signalled, code, time.monotonic()


async def test_sigterm_under_load_answers_through_the_lameduck_then_exits_0(
    tmp_path: Path, get: Get
) -> None:
    health_port = free_port()
    path = tmp_path / "Corefile"
    path.write_text(corefile(health_port))
    async with clusterdns_process("-conf", str(path)) as server:
        await server.wait_started()
        load = Load(server.port)
        load.start()
        await wait_answers(load, 50)

        probes: list[tuple[float, int]] = []

        async def probe_health() -> None:
            while True:
                try:
                    reply = await get(health_port, "/health")
                except (OSError, TimeoutError):
                    return
                probes.append((time.monotonic(), reply.status))  # type: ignore[attr-defined]
                await asyncio.sleep(0.05)

        prober = asyncio.create_task(probe_health())
        signalled, code, exited = await terminate(server)
        await load.finish()
        await asyncio.wait_for(prober, 5.0)

    assert code == 0, "\n".join(server.lines)
    assert "[INFO] SIGTERM: Shutting down servers then terminating" in server.lines
    assert "[INFO] plugin/health: Going into lameduck mode for 1s" in server.lines
    lameduck_end = signalled + LAMEDUCK_SECONDS
    assert exited >= lameduck_end - MARGIN_SECONDS, "exited before the lameduck ended"
    assert exited <= lameduck_end + EXIT_AFTER_LAMEDUCK_SECONDS

    # every query sent during the lameduck (but its last moments) was answered
    during = [o for o in load.outcomes if signalled <= o.sent <= lameduck_end - MARGIN_SECONDS]
    lost = [o.detail for o in during if o.answered is None]
    assert during and not lost, f"{len(lost)} of {len(during)} queries lost: {lost[:10]}"
    # and answers kept coming until (nearly) the end of the lameduck
    last_answer = max(o.answered for o in load.outcomes if o.answered is not None)
    assert last_answer >= lameduck_end - MARGIN_SECONDS, (
        f"the last answer came {last_answer - signalled:.2f}s after SIGTERM"
    )
    # /health said OK throughout the lameduck
    in_lameduck = [status for moment, status in probes if signalled < moment < lameduck_end - MARGIN_SECONDS]
    assert in_lameduck and set(in_lameduck) == {200}, probes
    # nothing answers once the process is gone
    assert not any(o.answered and o.answered > exited for o in load.outcomes)


async def test_a_reload_during_the_lameduck_is_refused_and_the_exit_is_still_0(
    tmp_path: Path,
) -> None:
    path = tmp_path / "Corefile"
    path.write_text(corefile(free_port()))
    async with clusterdns_process("-conf", str(path)) as server:
        await server.wait_started()
        load = Load(server.port)
        load.start()
        await wait_answers(load, 20)
        signalled = time.monotonic()
        server.signal(signal.SIGTERM)
        await server.wait_for_line(r"Going into lameduck mode", timeout=5.0)
        path.write_text(corefile(free_port()).replace(ADDRESS, "10.0.0.2"))
        server.signal(signal.SIGUSR1)
        server.signal(signal.SIGTERM)  # a second SIGTERM does not cut the lameduck short
        code = await server.wait(EXIT_TIMEOUT_SECONDS)
        exited = time.monotonic()
        await load.finish()

    assert code == 0, "\n".join(server.lines)
    assert "[ERROR] SIGUSR1: shutting down: reload refused" in server.lines
    assert exited - signalled >= LAMEDUCK_SECONDS - MARGIN_SECONDS
    during = [o for o in load.outcomes if signalled <= o.sent <= signalled + LAMEDUCK_SECONDS - MARGIN_SECONDS]
    lost = [o.detail for o in during if o.answered is None]
    assert during and not lost, lost[:10]  # the old configuration answered to the end


async def test_sigterm_under_load_without_lameduck_exits_0_at_once(tmp_path: Path) -> None:
    path = tmp_path / "Corefile"
    path.write_text(corefile(free_port(), lameduck=None))
    async with clusterdns_process("-conf", str(path)) as server:
        await server.wait_started()
        load = Load(server.port)
        load.start()
        await wait_answers(load, 20)
        signalled, code, exited = await terminate(server)
        await load.finish()
    assert code == 0, "\n".join(server.lines)
    assert exited - signalled < 2.0
    assert not any("lameduck" in line for line in server.lines)


def kubernetes_corefile(url: str) -> str:
    return (
        ".:0 {\n"
        "    bind 127.0.0.1\n"
        "    kubernetes cluster.local {\n"
        f"        endpoint {url}\n"
        "        startup_timeout 20s\n"
        "    }\n"
        "}\n"
    )


async def test_signals_during_the_startup_sync_are_trapped_as_coredns_traps_them(
    tmp_path: Path,
) -> None:
    """Regression: the signal handlers were installed only once the server had started, so
    while the kubernetes plugin held the start back waiting for the API (up to
    ``startup_timeout``) SIGHUP and SIGUSR1 killed the process with their default action and
    SIGTERM ended it by the signal instead of exit 0. CoreDNS traps signals before it starts:
    SIGHUP is ignored, SIGUSR1 logs that no instance is running yet, SIGTERM exits 0."""
    async with FakeAPIServer() as api:
        api.load([fakeapi.namespace("default")])
        await api.slow_list(60)  # the start waits for lists that do not come
        path = tmp_path / "Corefile"
        path.write_text(kubernetes_corefile(api.url))
        try:
            async with clusterdns_process("-conf", str(path)) as server:
                waiting = r"^\[INFO\] plugin/kubernetes: waiting for Kubernetes API"
                await server.wait_for_line(waiting, timeout=10.0)
                server.signal(signal.SIGHUP)
                await server.wait_for_line(waiting, timeout=5.0)  # still alive: it logs again
                assert server.process.returncode is None
                server.signal(signal.SIGUSR1)
                await server.wait_for_line(
                    r"^\[ERROR\] SIGUSR1: no server instances are fully running$", timeout=5.0
                )
                await server.wait_for_line(waiting, timeout=5.0)
                signalled = time.monotonic()
                server.signal(signal.SIGTERM)
                code = await server.wait(EXIT_TIMEOUT_SECONDS)
                exited = time.monotonic()
        finally:
            await api.slow_list(0)
    assert code == 0, "\n".join(server.lines)
    assert exited - signalled < 5.0
    assert "[INFO] SIGTERM: Shutting down servers then terminating" in server.lines


async def test_sigterm_with_queries_stuck_on_a_silent_upstream_exits_0_at_once(
    tmp_path: Path,
) -> None:
    """Queries in flight to an upstream that never answers do not hold the exit back."""
    async with Upstream() as up:
        up.mode = "silent"
        path = tmp_path / "Corefile"
        path.write_text(f".:0 {{\n    bind 127.0.0.1\n    forward . {up.addr}\n}}\n")
        async with clusterdns_process("-conf", str(path)) as server:
            await server.wait_started()
            stuck = [
                asyncio.create_task(query(server.port, f"q{n}.example.org", timeout=8.0))
                for n in range(50)
            ]
            await up.wait_until(lambda: up.count() >= 50)
            signalled, code, exited = await terminate(server)
        for task in stuck:
            task.cancel()
        await asyncio.gather(*stuck, return_exceptions=True)
    assert code == 0, "\n".join(server.lines)
    assert exited - signalled < 2.0


async def test_sigterm_with_api_lists_hanging_exits_0_at_once(tmp_path: Path) -> None:
    """Informers blocked in a list the API server never finishes do not hold the exit back."""
    async with FakeAPIServer() as api:
        api.load([fakeapi.namespace("default")])
        path = tmp_path / "Corefile"
        path.write_text(kubernetes_corefile(api.url))
        try:
            async with clusterdns_process("-conf", str(path)) as server:
                await server.wait_started()
                await api.slow_list(60)
                await api.compact()
                await api.expire_watches()  # every informer relists, and the lists hang
                await server.wait_for_line(r"listing again", timeout=5.0)
                signalled, code, exited = await terminate(server)
        finally:
            await api.slow_list(0)
    assert code == 0, "\n".join(server.lines)
    assert exited - signalled < 2.0
