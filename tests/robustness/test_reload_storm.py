"""Reloads under load: 100 in a row lose no query, a broken Corefile changes nothing, a new
listen port takes over from the old one, and nothing accumulates.

A reload builds a whole new instance beside the old one and swaps the muxes on the same
sockets (clusterdns.server.runtime), so a client should never notice it. These tests hold
that to account with a continuous load of UDP and TCP queries (fresh sockets, one long-lived
TCP connection, and pipelined queries on another) while the runtime reloads:

* every query is answered, NOERROR, with no timeout;
* every answer comes from the configuration serving when the query was sent or from one
  swapped in while it was in flight: each generation of the Corefile serves its own address
  (``10.1.x.y``), and the generation in the answer must lie between the last reload that had
  completed when the query left and the last one that had started when the reply came back;
* reloads that fail at each step (parse, plugin setup, a startup hook, opening a listener)
  leave the old configuration serving and the runtime able to reload again;
* after the storm the number of tasks, file descriptors and live instances is back where it
  was, and the RSS has grown by less than ``RSS_GROWTH_BOUND_BYTES``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import os
import socket
import struct
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Final

import dns.message
import dns.rcode
import pytest

from clusterdns.errors import ClusterDNSError
from clusterdns.server import instance as instance_module
from clusterdns.server.config import BlockConfig
from clusterdns.server.instance import CorefileSource, Instance
from clusterdns.server.runtime import Runtime
from clusterdns.testing import fakeapi, query
from clusterdns.testing.fakeapi import FakeAPIServer

Until = Callable[..., Awaitable[None]]

NAME: Final = "www.example.org."
STATIC: Final = "static.example.net."
STATIC_ADDRESS: Final = "192.0.2.53"
RELOADS: Final = 100
WARMUP_RELOADS: Final = 10
KUBERNETES_RELOADS: Final = 20
#: answers the load must get between two reloads, so that every reload happens under load
ANSWERS_BETWEEN_RELOADS: Final = 30
QUERY_TIMEOUT_SECONDS: Final = 2.0
STALL_TIMEOUT_SECONDS: Final = 5.0
#: The storm may not grow the RSS of the process (server and clients) by more than this.
RSS_GROWTH_BOUND_BYTES: Final = 24 * 1024 * 1024
#: Extra file descriptors tolerated afterwards (none are expected; the clients close theirs).
FD_SLACK: Final = 4


def address_of(generation: int) -> str:
    return f"10.1.{generation // 250}.{generation % 250 + 1}"


def generation_of(address: str) -> int | None:
    parts = address.split(".")
    if len(parts) != 4 or parts[:2] != ["10", "1"]:
        return None
    return int(parts[2]) * 250 + int(parts[3]) - 1


def corefile(generation: int, *, health: str = "127.0.0.1:0", extra_block: str = "") -> str:
    """Generation ``generation`` of the Corefile: ``NAME`` answers ``address_of(generation)``.

    Odd and even generations also differ in their plugins and in a server block that comes
    and goes, so that every reload sets up and tears down real work, not only an address.
    """
    plugins = "    cache 30\n    loadbalance\n" if generation % 2 else "    errors\n"
    optional = (
        "example.com:0 {\n    bind 127.0.0.1\n    whoami\n}\n" if generation % 2 else ""
    )
    return (
        ".:0 {\n"
        "    bind 127.0.0.1\n"
        f"    health {health}\n"
        f"{plugins}"
        "    hosts /dev/null {\n"
        f"        {address_of(generation)} {NAME}\n"
        "        no_reverse\n"
        "    }\n"
        "}\n"
        "example.net:0 {\n"
        "    bind 127.0.0.1\n"
        "    hosts /dev/null {\n"
        f"        {STATIC_ADDRESS} {STATIC}\n"
        "    }\n"
        "}\n"
        f"{optional}{extra_block}"
    )


def source(text: str) -> CorefileSource:
    return CorefileSource(text, "Corefile")


# --- measuring the process -------------------------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as file:
        for line in file:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise AssertionError("no free port")


def udp_port_bound(port: int) -> bool:
    """True when some socket holds UDP 127.0.0.1:port (a bind without SO_REUSEADDR fails)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


@contextlib.contextmanager
def taken_port() -> Iterator[int]:
    """A port whose UDP and TCP sides are held by the test, so the server cannot bind it."""
    with contextlib.ExitStack() as stack:
        for _ in range(50):
            udp = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            tcp = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            try:  # the TCP side of that port may be in use (a client's, in TIME_WAIT)
                tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
            tcp.listen(1)
            break
        else:
            raise AssertionError("no port free for both UDP and TCP")
        yield port


# --- the load --------------------------------------------------------------------------------


@dataclass
class Generations:
    """Which Corefile generation may be serving: the last reload that completed (certainly
    serving) and the last one started (perhaps swapped in already)."""

    completed: int = 0
    started: int = 0


@dataclass
class Load:
    """UDP and TCP clients querying until stopped; every failure is recorded as text."""

    port: int
    generations: Generations
    #: a name whose answer never changes, and that answer
    fixed: tuple[str, str] = (STATIC, STATIC_ADDRESS)
    answered: dict[str, int] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    progress: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.answered.values())

    def start(self) -> None:
        workers = [
            ("udp", self._fresh(tcp=False)),
            ("udp", self._fresh(tcp=False)),
            ("udp", self._fresh(tcp=False)),
            ("tcp", self._fresh(tcp=True)),
            ("tcp-kept", self._kept(pipelined=1)),
            ("tcp-pipelined", self._kept(pipelined=4)),
        ]
        for name, coro in workers:
            self.answered.setdefault(name, 0)
            self.tasks.append(asyncio.create_task(coro, name=f"load {name}"))

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.wait_for(asyncio.gather(*self.tasks), QUERY_TIMEOUT_SECONDS * 3)

    async def answers(self, count: int) -> None:
        """Wait until ``count`` more answers came (the load is not stalled)."""
        target = self.total + count
        async with asyncio.timeout(STALL_TIMEOUT_SECONDS):
            while self.total < target:
                self.progress.clear()
                await self.progress.wait()

    def check(self, kind: str, name: str, reply: dns.message.Message, low: int) -> None:
        high = self.generations.started
        rcode = dns.rcode.to_text(reply.rcode())
        addresses = [r.address for rrset in reply.answer for r in rrset]
        if rcode != "NOERROR" or len(addresses) != 1:
            self.failures.append(f"{kind} {name}: {rcode} {addresses}")
        elif name == self.fixed[0]:
            if addresses != [self.fixed[1]]:
                self.failures.append(f"{kind} {name}: {addresses}")
        else:
            generation = generation_of(addresses[0])
            if generation is None or not low <= generation <= high:
                self.failures.append(
                    f"{kind} {name}: {addresses[0]} (generation {generation}) while "
                    f"generations {low}..{high} could serve"
                )
            else:
                self.seen.add(generation)
        self.answered[kind] += 1
        self.progress.set()

    async def _fresh(self, *, tcp: bool) -> None:
        kind = "tcp" if tcp else "udp"
        count = 0
        while not self.stop.is_set():
            count += 1
            name = self.fixed[0] if count % 5 == 0 else NAME
            low = self.generations.completed
            try:
                reply = await query(self.port, name, "A", tcp=tcp, timeout=QUERY_TIMEOUT_SECONDS)
            except Exception as exc:  # a timeout or a refused connection is a lost query
                self.failures.append(f"{kind} {name}: {exc!r}")
                continue
            self.check(kind, name, reply, low)

    async def _kept(self, *, pipelined: int) -> None:
        """Queries on one TCP connection kept for the whole storm, ``pipelined`` at a time."""
        kind = "tcp-kept" if pipelined == 1 else "tcp-pipelined"
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            while not self.stop.is_set():
                low = self.generations.completed
                sent: dict[int, str] = {}
                frames = []
                for index in range(pipelined):
                    name = self.fixed[0] if index == 3 else NAME
                    message = dns.message.make_query(name, "A")
                    sent[message.id] = name
                    wire = message.to_wire()
                    frames.append(struct.pack("!H", len(wire)) + wire)
                writer.write(b"".join(frames))
                try:
                    async with asyncio.timeout(QUERY_TIMEOUT_SECONDS):
                        await writer.drain()
                        for _ in range(len(sent)):
                            (length,) = struct.unpack("!H", await reader.readexactly(2))
                            reply = dns.message.from_wire(await reader.readexactly(length))
                            name = sent.pop(reply.id)
                            self.check(kind, name, reply, low)
                except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, KeyError) as exc:
                    self.failures.append(f"{kind}: {exc!r}; unanswered {sorted(sent.values())}")
                    return  # the connection is no good any more
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


# --- the runtime -----------------------------------------------------------------------------


class Instances:
    """Every Instance built while active, held weakly, to count the ones still alive."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.built: weakref.WeakSet[Instance] = weakref.WeakSet()
        original = instance_module.build

        def build(*args, **kwargs):  # type: ignore[no-untyped-def]
            instance = original(*args, **kwargs)
            self.built.add(instance)
            return instance

        monkeypatch.setattr("clusterdns.server.runtime.build", build)

    def alive(self) -> int:
        gc.collect()
        return len(self.built)


@asynccontextmanager
async def serving(text: str, *, freeze_heap: bool = False) -> AsyncIterator[Runtime]:
    runtime = Runtime(lambda: source(text), default_port="0", out=io.StringIO(), freeze_heap=freeze_heap)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()
        if freeze_heap:
            gc.unfreeze()  # the test process is not the server's alone


async def settled_tasks(until: Until, bound: int) -> None:
    """Wait until no more than ``bound`` tasks exist (in-flight queries finish first)."""

    async def few() -> bool:
        return len(asyncio.all_tasks()) <= bound

    try:
        await until(few, timeout=5.0)
    except AssertionError:
        names = sorted(t.get_name() + " " + repr(t.get_coro()) for t in asyncio.all_tasks())
        raise AssertionError(f"{len(names)} tasks remain, bound {bound}:\n" + "\n".join(names))


def broken_corefiles(generation: int, taken: int) -> list[tuple[str, str]]:
    """A Corefile failing at each step of a reload; each would serve 10.99.x.x if it ran."""
    bad_answer = f"10.99.0.{generation % 250 + 1} {NAME}"
    good = corefile(generation)
    return [
        ("parse", good.replace("    bind 127.0.0.1\n", "    bind 127.0.0.1\n    nosuchplugin\n", 1)),
        (
            "setup",
            good.replace(address_of(generation), "10.99.0.1").replace(
                "health 127.0.0.1:0\n", "health 127.0.0.1:0 {\n        lameduck soon\n    }\n"
            ),
        ),
        ("startup hook", corefile(generation, health=f"127.0.0.1:{taken}").replace(f"{address_of(generation)} {NAME}", bad_answer)),
        (
            "listener",
            corefile(generation, extra_block=f"taken.test:{taken} {{\n    bind 127.0.0.1\n    whoami\n}}\n").replace(
                f"{address_of(generation)} {NAME}", bad_answer
            ),
        ),
    ]


# --- the tests -------------------------------------------------------------------------------


async def test_100_reloads_under_udp_and_tcp_load_lose_no_query_and_leak_nothing(
    monkeypatch: pytest.MonkeyPatch, until: Until
) -> None:
    instances = Instances(monkeypatch)
    generations = Generations()
    async with serving(corefile(0)) as runtime:
        port = runtime.port()
        health_port = runtime.http.port("127.0.0.1:0")

        async def reload_to(generation: int) -> None:
            generations.started = generation
            await runtime.reload(source(corefile(generation)))
            generations.completed = generation

        # warm up (allocator, caches, imports) before taking the baseline
        warm = Load(port, generations)
        warm.start()
        for generation in range(1, WARMUP_RELOADS + 1):
            await warm.answers(ANSWERS_BETWEEN_RELOADS)
            await reload_to(generation)
        await warm.finish()
        assert warm.failures == []
        await settled_tasks(until, bound=len(asyncio.all_tasks()) + 50)
        gc.collect()
        baseline_tasks = len(asyncio.all_tasks())
        baseline_fds = open_fds()
        baseline_rss = rss_bytes()

        load = Load(port, generations)
        load.start()
        broken_attempts: list[str] = []
        with taken_port() as taken:
            for step in range(1, RELOADS + 1):
                await load.answers(ANSWERS_BETWEEN_RELOADS)
                generation = WARMUP_RELOADS + step
                await reload_to(generation)
                if step % 10 == 5:  # a failing reload now and then, of every kind in turn
                    kind, text = broken_corefiles(generation, taken)[(step // 10) % 4]
                    with pytest.raises((ClusterDNSError, OSError)):
                        await runtime.reload(source(text))
                    broken_attempts.append(kind)
                    assert runtime.instance is not None
                    assert runtime.instance.source.text == corefile(generation)
        await load.answers(ANSWERS_BETWEEN_RELOADS)
        await load.finish()

        assert load.failures == [], f"{len(load.failures)} failed queries:\n" + "\n".join(
            load.failures[:20]
        )
        assert all(count > 0 for count in load.answered.values()), load.answered
        assert sorted(set(broken_attempts)) == ["listener", "parse", "setup", "startup hook"]
        # the answers followed the reloads (not one stale configuration throughout)
        assert len(load.seen) >= RELOADS // 2, sorted(load.seen)
        assert runtime.port() == port
        assert runtime.http.port("127.0.0.1:0") == health_port

        await settled_tasks(until, bound=baseline_tasks)
        assert open_fds() <= baseline_fds + FD_SLACK
        assert instances.alive() <= 2  # the one serving (and at most the one it replaced)
        growth = rss_bytes() - baseline_rss
        assert growth < RSS_GROWTH_BOUND_BYTES, f"RSS grew by {growth / 2**20:.1f} MiB"


@pytest.mark.parametrize("kind", ["parse", "setup", "startup hook", "listener"])
async def test_a_reload_to_a_broken_corefile_keeps_serving_under_load(kind: str, until: Until) -> None:
    generations = Generations()
    async with serving(corefile(0)) as runtime:
        port = runtime.port()
        health_port = runtime.http.port("127.0.0.1:0")
        load = Load(port, generations)
        load.start()
        await load.answers(ANSWERS_BETWEEN_RELOADS)
        with taken_port() as taken:
            text = dict(broken_corefiles(0, taken))[kind]
            for _ in range(3):  # the same broken file again: still refused, still serving
                with pytest.raises((ClusterDNSError, OSError)):
                    await runtime.reload(source(text))
                await load.answers(ANSWERS_BETWEEN_RELOADS)
        assert list(runtime.listeners) == list(runtime.instance.muxes)  # type: ignore[union-attr]
        assert runtime.http.port("127.0.0.1:0") == health_port
        # and the runtime is not wedged: a good Corefile still reloads
        generations.started = 1
        await runtime.reload(source(corefile(1)))
        generations.completed = 1
        await load.answers(ANSWERS_BETWEEN_RELOADS)
        await load.finish()
        assert load.failures == [], "\n".join(load.failures[:20])
        assert load.seen == {0, 1}


async def test_a_reload_that_changes_the_listen_port_moves_serving_to_the_new_port() -> None:
    async with serving(corefile(0)) as runtime:
        old_port = runtime.port()
        reader, writer = await asyncio.open_connection("127.0.0.1", old_port)  # a kept client
        new_port = free_port()
        await runtime.reload(source(corefile(1).replace(".:0 {", f".:{new_port} {{", 1)))

        # the new port answers over both transports, with the new configuration
        for tcp in (False, True):
            reply = await query(new_port, NAME, tcp=tcp)
            assert [r.address for rrset in reply.answer for r in rrset] == [address_of(1)]
        # example.net, still on port 0, kept the old listener (and the old port)
        assert [r.address for rrset in (await query(old_port, STATIC)).answer for r in rrset] == [
            STATIC_ADDRESS
        ]
        # with every block moved to the new port, the old port is closed
        await runtime.reload(
            source(corefile(2).replace(":0 {", f":{new_port} {{"))
        )
        assert runtime.port() == new_port
        assert not udp_port_bound(old_port), "the old UDP socket is still open"
        with pytest.raises(ConnectionRefusedError):
            await asyncio.wait_for(asyncio.open_connection("127.0.0.1", old_port), 2.0)
        # the client connected to the old port was closed, not left hanging
        assert await asyncio.wait_for(reader.read(), 2.0) == b""
        writer.close()
        for tcp in (False, True):
            reply = await query(new_port, STATIC, tcp=tcp)
            assert [r.address for rrset in reply.answer for r in rrset] == [STATIC_ADDRESS]


async def test_concurrent_reloads_are_applied_one_at_a_time_under_load(until: Until) -> None:
    """SIGUSR1 and the reload plugin may ask at the same moment: the reloads queue, each one
    completes, and the last one asked for is what serves."""
    generations = Generations()
    async with serving(corefile(0)) as runtime:
        baseline_tasks = len(asyncio.all_tasks())
        load = Load(runtime.port(), generations)
        load.start()
        await load.answers(ANSWERS_BETWEEN_RELOADS)
        generations.started = 20
        done = await asyncio.wait_for(
            asyncio.gather(*(runtime.reload(source(corefile(g))) for g in range(1, 21))), 10.0
        )
        generations.completed = 20
        assert [i.source.text for i in done] == [corefile(g) for g in range(1, 21)]
        assert runtime.instance is done[-1]
        await load.answers(ANSWERS_BETWEEN_RELOADS)
        await load.finish()
        assert load.failures == [], "\n".join(load.failures[:20])
        assert 20 in load.seen
        assert list(runtime.listeners) == list(runtime.instance.muxes)
        await settled_tasks(until, bound=baseline_tasks)


def kubernetes_corefile(generation: int, url: str) -> str:
    """``corefile(generation)`` plus a kubernetes block reading the fake API server; the
    block's TTL changes with the generation so that its configuration changes too."""
    return corefile(generation) + (
        "cluster.local:0 {\n"
        "    bind 127.0.0.1\n"
        "    kubernetes cluster.local {\n"
        f"        endpoint {url}\n"
        f"        ttl {5 + generation % 2}\n"
        "    }\n"
        "}\n"
    )


async def test_reloads_with_the_kubernetes_plugin_lose_no_cluster_answer_and_no_watch(
    until: Until,
) -> None:
    """Each reload swaps in a new instance (sharing the running informers, as its API options
    are unchanged) and stops the old one: no cluster name goes unanswered in between, and the
    API server is left with the watches of one instance, not of every instance ever started."""
    service = "svc-a.default.svc.cluster.local."
    async with FakeAPIServer() as api:
        api.load(
            [
                fakeapi.namespace("default"),
                fakeapi.service("default", "svc-a", "10.96.0.10"),
                fakeapi.endpoint_slice("default", "svc-a-1", "svc-a", ["10.244.0.5"]),
            ]
        )
        generations = Generations()
        async with serving(kubernetes_corefile(0, api.url)) as runtime:
            await until(lambda: _true(api.watches() > 0), timeout=5.0)
            watches = api.watches()
            load = Load(runtime.port(), generations, fixed=(service, "10.96.0.10"))
            load.start()
            baseline_tasks = 0
            for generation in range(1, KUBERNETES_RELOADS + 1):
                await load.answers(ANSWERS_BETWEEN_RELOADS)
                generations.started = generation
                await asyncio.wait_for(
                    runtime.reload(source(kubernetes_corefile(generation, api.url))), 10.0
                )
                generations.completed = generation
                if generation == 1:
                    baseline_tasks = len(asyncio.all_tasks())
            await load.answers(ANSWERS_BETWEEN_RELOADS)
            await load.finish()
            assert load.failures == [], "\n".join(load.failures[:20])
            await until(lambda: _true(api.watches() == watches), timeout=5.0)
            await settled_tasks(until, bound=baseline_tasks)


async def _true(value: bool) -> bool:
    return value


def list_requests(api: FakeAPIServer) -> int:
    return sum(1 for r in api.requests if r.method == "GET" and not r.watch)


async def test_a_reload_that_keeps_the_api_options_shares_the_informers_and_lists_nothing(
    until: Until,
) -> None:
    """A reload that changes only serving options (here ``ttl``) starts from the data the
    running informers hold: the API server sees no new list or watch, and the new instance
    answers a name at once."""
    async with FakeAPIServer() as api:
        api.load(
            [
                fakeapi.namespace("default"),
                fakeapi.service("default", "svc-a", "10.96.0.10"),
            ]
        )
        async with serving(kubernetes_corefile(0, api.url)) as runtime:
            await until(lambda: _true(api.watches() == 3), timeout=5.0)
            lists = list_requests(api)
            requests = len(api.requests)
            await asyncio.wait_for(runtime.reload(source(kubernetes_corefile(1, api.url))), 5.0)
            reply = await query(runtime.port(), "svc-a.default.svc.cluster.local.")
            assert [rr.to_text() for rr in reply.answer] == [
                "svc-a.default.svc.cluster.local. 6 IN A 10.96.0.10"
            ]
            assert list_requests(api) == lists
            assert len(api.requests) == requests
            assert api.watches() == 3


async def test_the_shared_index_keeps_the_change_listeners_of_the_running_instance_only(
    until: Until,
) -> None:
    """Regression: with the informers shared, every reload's cache added a change listener to
    the index and none was ever removed, so the index held every replaced instance's."""
    async with FakeAPIServer() as api:
        api.load([fakeapi.namespace("default"), fakeapi.service("default", "svc-a", "10.96.0.10")])
        text = kubernetes_corefile(0, api.url).replace("    kubernetes", "    cache 30\n    kubernetes")
        async with serving(text) as runtime:
            await until(lambda: _true(api.watches() == 3), timeout=5.0)
            (controller,) = [v for k, v in runtime.shared.items() if k[0] == "kubernetes"]
            listeners = len(controller.index.listeners)
            for generation in range(1, 6):
                await runtime.reload(source(text.replace("ttl 5", f"ttl {5 + generation}")))
            assert len(controller.index.listeners) == listeners


async def test_a_reload_that_changes_the_api_options_lists_again_and_stops_the_old_watches(
    until: Until,
) -> None:
    """A reload that changes what is watched (a ``labels`` selector) builds new informers,
    which list before the new instance serves, and the old ones stop their watches."""
    async with FakeAPIServer() as api:
        api.load(
            [
                fakeapi.namespace("default"),
                fakeapi.service("default", "svc-a", "10.96.0.10"),
            ]
        )
        async with serving(kubernetes_corefile(0, api.url)) as runtime:
            await until(lambda: _true(api.watches() == 3), timeout=5.0)
            lists = list_requests(api)
            labelled = kubernetes_corefile(0, api.url).replace(
                "        ttl", "        labels environment notin (test)\n        ttl"
            )
            await asyncio.wait_for(runtime.reload(source(labelled)), 5.0)
            assert list_requests(api) == lists + 3
            assert any(r.query.get("labelSelector") == "environment notin (test)" for r in api.requests)
            await until(lambda: _true(api.watches() == 3), timeout=5.0)


@pytest.mark.parametrize("freeze_heap", [False, True], ids=["library", "command line (frozen heap)"])
async def test_replaced_instances_are_freed_soon_after_a_reload_not_at_a_rare_full_collection(
    until: Until, freeze_heap: bool
) -> None:
    """Regression: the soak's RSS rose by about 0.33 MiB at every reload and never came down.
    A replaced instance is a web of reference cycles (chains, closures, its tasks), so only a
    full run of Python's cyclic collector frees it, and those are rare: 21 to 49 replaced
    instances, each with its own copy of the cluster index, were alive at any time over 120
    reloads of the shipped Corefile. They must be gone within seconds of being replaced."""
    async with FakeAPIServer() as api:
        api.load(
            [
                fakeapi.namespace("default"),
                fakeapi.service("default", "svc-a", "10.96.0.10"),
                fakeapi.endpoint_slice("default", "svc-a-1", "svc-a", ["10.244.0.5"]),
            ]
        )
        replaced: list[weakref.ref[BlockConfig]] = []
        async with serving(kubernetes_corefile(0, api.url), freeze_heap=freeze_heap) as runtime:
            for generation in range(1, 11):
                assert runtime.instance is not None
                replaced.extend(weakref.ref(block) for block in runtime.instance.blocks)
                await runtime.reload(source(kubernetes_corefile(generation, api.url)))

            def alive() -> int:
                return sum(1 for ref in replaced if ref() is not None)

            await until(lambda: _true(alive() == 0), timeout=5.0)
