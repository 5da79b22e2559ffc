"""Failing dependencies under query load: what the per-fault tests leave out.

The API server's and the upstreams' failures are each tested elsewhere, one fault and a few
queries at a time (tests/kube/test_kube_informer_faults.py, tests/plugins/kubernetes/
test_k8s_api_{sync,follow}.py, tests/plugins/forward/). These tests add what only shows under
a continuous load of DNS queries, with a real clusterdns and real loopback dependencies:

* **API server not even listening at startup** (connection refused, not slow lists): every
  name is SERVFAIL after ``startup_timeout``, never NXDOMAIN, then right once it comes up.
* **A run of API server faults while services churn and queries flow**: restarts (with the
  history compacted during the outage or not), storms of 410 Gone, watches cut in the middle
  of an event, 500s, slow relists. Throughout, names that never change are answered right,
  every time (never SERVFAIL, never NXDOMAIN): the last known state serves. Churned names are
  answered with a state they really had, no older than the fault or the propagation window;
  after each fault the plugin's index equals the API server's objects (no lost update, no
  resurrected object) and every churned name answers the API server's state.
* **Upstreams that are silent, slow, SERVFAIL, truncating, answering with wrong IDs, wrong
  questions or garbage, or not listening**, under many concurrent clients: every client gets an
  answer within the forward's bound, and afterwards no task, socket or slot is left behind and
  the RSS has not grown; ``max_concurrent`` holds under load as seen from the upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import os
import random
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import dns.asyncquery
import dns.flags
import dns.message
import dns.rcode
import pytest

from clusterdns.errors import ClusterDNSError
from clusterdns.kube.objects import endpoint_slice_from_json, namespace_from_json, service_from_json
from clusterdns.server.instance import CorefileSource
from clusterdns.server.runtime import Runtime
from clusterdns.testing import fakeapi, query
from clusterdns.testing.fakeapi import FakeAPIServer
from clusterdns.testing.upstream import Upstream

Until = Callable[..., Awaitable[None]]
S: Final = "svc.cluster.local."
QUERY_TIMEOUT_SECONDS: Final = 3.0
#: How long a change made through the API may take to be answered (the documented window).
PROPAGATION_SECONDS: Final = 1.0
#: How long the informers may take to recover from a fault (real backoff: 0.8 s doubling,
#: full jitter).
RECOVER_SECONDS: Final = 15.0
STABLE: Final = {f"stable-{i}": f"10.96.0.{10 + i}" for i in range(4)}
CHURNED: Final = [f"churn-{i}" for i in range(8)]
MISSING: Final = f"never-there.stable.{S}"


def rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as file:
        for line in file:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def addresses(reply: dns.message.Message) -> list[str]:
    return sorted(r.address for rrset in reply.answer for r in rrset if hasattr(r, "address"))


@asynccontextmanager
async def serving(text: str) -> AsyncIterator[Runtime]:
    runtime = Runtime(lambda: CorefileSource(text, "Corefile"), default_port="0", out=io.StringIO())
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


def kubernetes_corefile(url: str, stanza: str = "") -> str:
    return (
        "cluster.local:0 {\n"
        "    bind 127.0.0.1\n"
        "    kubernetes cluster.local {\n"
        f"        endpoint {url}\n"
        f"        {stanza}\n"
        "    }\n"
        "}\n"
    )


def kubernetes_of(runtime: Runtime) -> Any:
    assert runtime.instance is not None
    (handler,) = runtime.instance.handlers("kubernetes")
    return handler


def index_state(runtime: Runtime) -> dict[str, dict[Any, Any]]:
    index = kubernetes_of(runtime).index
    return {
        "services": dict(index.services),
        "slices": dict(index.slices),
        "namespaces": dict(index.namespaces),
    }


def api_state(api: FakeAPIServer) -> dict[str, dict[Any, Any]]:
    return {
        "services": {s.key: s for s in map(service_from_json, api.objects("services"))},
        "slices": {s.key: s for s in map(endpoint_slice_from_json, api.objects("endpointslices"))},
        "namespaces": {n.name: n for n in map(namespace_from_json, api.objects("namespaces"))},
    }


async def in_step(runtime: Runtime, api: FakeAPIServer, until: Until) -> None:
    async def equal() -> bool:
        return index_state(runtime) == api_state(api)

    await until(equal, timeout=RECOVER_SECONDS)


def cluster_objects() -> list[dict[str, Any]]:
    objects = [fakeapi.namespace("stable"), fakeapi.namespace("churn")]
    for name, ip in STABLE.items():
        objects.append(fakeapi.service("stable", name, ip))
        objects.append(fakeapi.endpoint_slice("stable", f"{name}-1", name, [ip.replace("10.96", "10.244")]))
    return objects


# --- API server down at startup --------------------------------------------------------------


async def test_api_server_not_listening_at_startup_is_servfail_never_nxdomain_until_it_comes_up(
    until: Until,
) -> None:
    api = FakeAPIServer()
    api.load(cluster_objects())
    await api.start()
    await api.stop()  # its port is known and nothing listens there: connections are refused
    try:
        text = kubernetes_corefile(api.url, "startup_timeout 200ms")
        async with serving(text) as runtime:
            port = runtime.port()
            stable = f"stable-0.stable.{S}"
            for name in (stable, MISSING):
                for tcp in (False, True):
                    reply = await query(port, name, tcp=tcp)
                    assert dns.rcode.to_text(reply.rcode()) == "SERVFAIL", reply.to_text()
            rcodes: set[str] = set()
            stop = asyncio.Event()

            async def ask_all_along() -> None:
                while not stop.is_set():
                    for name in (stable, MISSING):
                        reply = await query(port, name, timeout=QUERY_TIMEOUT_SECONDS)
                        rcode = dns.rcode.to_text(reply.rcode())
                        rcodes.add(f"{name} {rcode} {addresses(reply)}")
                    await asyncio.sleep(0.005)

            asker = asyncio.create_task(ask_all_along())
            await api.start()
            await in_step(runtime, api, until)
            stop.set()
            await asyncio.wait_for(asker, QUERY_TIMEOUT_SECONDS * 2)
            assert dns.rcode.to_text((await query(port, MISSING)).rcode()) == "NXDOMAIN"
            assert addresses(await query(port, stable)) == [STABLE["stable-0"]]
            # in between: SERVFAIL, then the right answers; never NXDOMAIN for what exists,
            # never an answer for what does not
            assert rcodes <= {
                f"{stable} SERVFAIL []",
                f"{stable} NOERROR {[STABLE['stable-0']]}",
                f"{MISSING} SERVFAIL []",
                f"{MISSING} NXDOMAIN []",
            }, rcodes
    finally:
        await api.stop()


# --- API server faults under churn and load --------------------------------------------------


@dataclass
class Churn:
    """Creates, updates and deletes the CHURNED services every few ms, keeping the history of
    every name's state (its ClusterIP, or None when absent) with the time it took effect."""

    api: FakeAPIServer
    history: dict[str, list[tuple[float, str | None]]] = field(default_factory=dict)
    running: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    changes: int = 0

    def __post_init__(self) -> None:
        for name in CHURNED:
            self.history[name] = [(0.0, None)]

    async def run(self) -> None:
        rng = random.Random(8)
        while not self.stop.is_set():
            await self.running.wait()
            name = rng.choice(CHURNED)
            current = self.history[name][-1][1]
            if current is None:
                ip = f"10.96.{rng.randrange(1, 250)}.{rng.randrange(1, 250)}"
                await self.api.create(fakeapi.service("churn", name, ip))
            elif rng.random() < 0.5:
                ip = f"10.96.{rng.randrange(1, 250)}.{rng.randrange(1, 250)}"
                await self.api.update(fakeapi.service("churn", name, ip))
            else:
                ip = None
                await self.api.delete("services", "churn", name)
            self.history[name].append((time.monotonic(), ip))
            self.changes += 1
            await asyncio.sleep(0.01)

    def states_between(self, name: str, earliest: float, latest: float) -> set[str | None]:
        """Every state ``name`` had at some moment in [earliest, latest]."""
        states: set[str | None] = set()
        entries = self.history[name]
        for position, (moment, state) in enumerate(entries):
            ends = entries[position + 1][0] if position + 1 < len(entries) else float("inf")
            if moment <= latest and ends >= earliest:
                states.add(state)
        return states


@dataclass
class ClusterLoad:
    """UDP and TCP clients asking stable, churned and missing names; every wrong answer is
    recorded. ``stale_since`` is when the current fault began (None outside faults): answers
    may then reflect any state since then."""

    port: int
    churn: Churn
    failures: list[str] = field(default_factory=list)
    answered: int = 0
    stale_since: float | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self, workers: int = 4) -> None:
        for number in range(workers):
            self.tasks.append(asyncio.create_task(self._worker(number)))

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.wait_for(asyncio.gather(*self.tasks), QUERY_TIMEOUT_SECONDS * 2)

    async def _worker(self, number: int) -> None:
        rng = random.Random(number)
        tcp = number % 2 == 1
        while not self.stop.is_set():
            roll = rng.random()
            if roll < 0.4:
                stable = rng.choice(list(STABLE))
                name = f"{stable}.stable.{S}"
            elif roll < 0.9:
                churned = rng.choice(CHURNED)
                name = f"{churned}.churn.{S}"
            else:
                name = MISSING
            sent = time.monotonic()
            stale_since = self.stale_since
            try:
                reply = await query(self.port, name, tcp=tcp, timeout=QUERY_TIMEOUT_SECONDS)
            except Exception as exc:
                self.failures.append(f"{name}: {exc!r}")
                continue
            received = time.monotonic()
            rcode = dns.rcode.to_text(reply.rcode())
            found = addresses(reply)
            if name == MISSING:
                ok = rcode == "NXDOMAIN"
            elif name.endswith(f".stable.{S}"):
                ok = rcode == "NOERROR" and found == [STABLE[name.split(".")[0]]]
            else:
                earliest = min(sent, stale_since if stale_since is not None else sent)
                states = self.churn.states_between(
                    name.split(".")[0], earliest - PROPAGATION_SECONDS, received
                )
                got = None if rcode == "NXDOMAIN" else (found[0] if len(found) == 1 else "?")
                ok = rcode in ("NOERROR", "NXDOMAIN") and got in states
            if not ok:
                self.failures.append(
                    f"{name} at +{sent:.3f}: {rcode} {found}"
                    + ("" if name == MISSING or ".stable." in name else f" not in {states}")
                )
            self.answered += 1


async def restart(api: FakeAPIServer, *, compact: bool = False) -> None:
    await api.stop()
    await asyncio.sleep(0.3)  # the outage; changes keep coming
    if compact:
        await api.compact()
    await api.start()


async def gone_storm(api: FakeAPIServer) -> None:
    for _ in range(10):
        await api.compact()
        await api.expire_watches()
        await asyncio.sleep(0.05)


async def cut_mid_event(api: FakeAPIServer) -> None:
    for _ in range(5):
        await api.close_watches(mid_event=True)
        await asyncio.sleep(0.05)


async def server_errors(api: FakeAPIServer) -> None:
    await api.fail_next(3, 500)
    await api.close_watches()
    await asyncio.sleep(0.3)


async def slow_relist(api: FakeAPIServer) -> None:
    await api.slow_list(1.0)
    await api.compact()
    await api.expire_watches()
    await asyncio.sleep(1.2)  # the relists are held back all this time
    await api.slow_list(0)


FAULTS: Final[list[tuple[str, Callable[[FakeAPIServer], Awaitable[None]]]]] = [
    ("restart", restart),
    ("410 storm", gone_storm),
    ("cut mid-event", cut_mid_event),
    ("500s", server_errors),
    ("slow relist after 410", slow_relist),
    ("restart with the history compacted", lambda api: restart(api, compact=True)),
]


async def test_api_faults_under_churn_and_load_serve_the_last_known_state_and_converge(
    until: Until,
) -> None:
    async with FakeAPIServer() as api:
        api.load(cluster_objects())
        async with serving(kubernetes_corefile(api.url)) as runtime:
            await in_step(runtime, api, until)
            churn = Churn(api)
            churner = asyncio.create_task(churn.run())
            load = ClusterLoad(runtime.port(), churn)
            load.start()
            try:
                churn.running.set()
                for name, fault in FAULTS:
                    load.stale_since = time.monotonic()
                    await fault(api)
                    churn.running.clear()  # hold the churn so that "in step" can be seen
                    try:
                        await in_step(runtime, api, until)
                    except AssertionError as exc:
                        raise AssertionError(f"not in step after {name}") from exc
                    load.stale_since = None
                    for churned in CHURNED:  # and the answers show it
                        current = churn.history[churned][-1][1]
                        reply = await query(runtime.port(), f"{churned}.churn.{S}")
                        assert addresses(reply) == ([] if current is None else [current]), (
                            f"after {name}: {reply.to_text()}"
                        )
                    churn.running.set()
                    await asyncio.sleep(0.2)  # changes over the working watches
            finally:
                churn.stop.set()
                churn.running.set()
                await asyncio.wait_for(churner, 5.0)
                await load.finish()
            assert load.failures == [], f"{len(load.failures)} wrong answers:\n" + "\n".join(
                load.failures[:20]
            )
            assert load.answered > 500 and churn.changes > 50


async def test_a_reload_while_the_api_server_is_down_keeps_serving_the_last_known_state(
    until: Until,
) -> None:
    """Regression: a reload (a ConfigMap edit, SIGUSR1) while the API server is unreachable
    swapped in a new instance whose informers could not list: after ``startup_timeout`` it
    served with an empty index, so every cluster name became SERVFAIL until the API server
    came back, though the running instance had the whole cluster. The old configuration
    must keep serving (the reload fails, or the new one starts from the data already known).
    """
    async with FakeAPIServer() as api:
        api.load(cluster_objects())
        text = kubernetes_corefile(api.url, "startup_timeout 300ms")
        async with serving(text) as runtime:
            await in_step(runtime, api, until)
            churn = Churn(api)  # never started: the churned names stay absent
            load = ClusterLoad(runtime.port(), churn)
            load.start()
            await api.stop()
            load.stale_since = time.monotonic()
            with contextlib.suppress(ClusterDNSError):
                await asyncio.wait_for(
                    runtime.reload(CorefileSource(text.replace("startup_timeout", "ttl 7\n        startup_timeout"), "Corefile")),
                    10.0,
                )
            await asyncio.sleep(0.3)  # queries against whatever serves now
            answered = load.answered
            await api.start()
            await in_step(runtime, api, until)
            await api.create(fakeapi.service("stable", "after-outage", "10.96.9.9"))
            await until(
                lambda: _answers(runtime.port(), f"after-outage.stable.{S}", ["10.96.9.9"]),
                timeout=RECOVER_SECONDS,
            )
            await load.finish()
            assert answered > 20
            assert load.failures == [], f"{len(load.failures)} wrong answers:\n" + "\n".join(
                load.failures[:10]
            )


async def test_a_reload_that_needs_new_informers_while_the_api_server_is_down_fails_and_keeps_serving(
    until: Until,
) -> None:
    """A reload whose stanza watches something new (a ``labels`` selector) cannot share the
    running informers; if those cannot list within ``startup_timeout`` the reload fails with
    a clear error, and the running configuration keeps answering from its data."""
    async with FakeAPIServer() as api:
        api.load(cluster_objects())
        text = kubernetes_corefile(api.url, "startup_timeout 300ms")
        async with serving(text) as runtime:
            await in_step(runtime, api, until)
            await api.stop()
            labelled = text.replace("startup_timeout", "labels tier in (web)\n        startup_timeout")
            with pytest.raises(ClusterDNSError, match="plugin/kubernetes: not synced with the Kubernetes API within startup_timeout"):
                await asyncio.wait_for(runtime.reload(CorefileSource(labelled, "Corefile")), 10.0)
            for name, ip in STABLE.items():
                assert await _answers(runtime.port(), f"{name}.stable.{S}", [ip])
            await api.start()
            await api.create(fakeapi.service("stable", "after-outage", "10.96.9.9"))
            await until(
                lambda: _answers(runtime.port(), f"after-outage.stable.{S}", ["10.96.9.9"]),
                timeout=RECOVER_SECONDS,
            )


async def test_a_reload_failing_in_another_plugin_leaves_the_shared_informers_running(
    until: Until,
) -> None:
    """The new instance shares the running informers; when its start fails later (here
    *health* cannot bind its port) its shutdown hooks run, and they must not stop the
    informers the running instance still uses: changes keep arriving."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with FakeAPIServer() as api:
            api.load(cluster_objects())
            text = kubernetes_corefile(api.url)
            async with serving(text) as runtime:
                await in_step(runtime, api, until)
                broken = text.replace("    bind 127.0.0.1\n", f"    bind 127.0.0.1\n    health 127.0.0.1:{port}\n")
                with pytest.raises((ClusterDNSError, OSError)):
                    await asyncio.wait_for(runtime.reload(CorefileSource(broken, "Corefile")), 10.0)
                await api.create(fakeapi.service("stable", "after-reload", "10.96.9.8"))
                await until(
                    lambda: _answers(runtime.port(), f"after-reload.stable.{S}", ["10.96.9.8"]),
                    timeout=RECOVER_SECONDS,
                )


async def _answers(port: int, name: str, expected: list[str]) -> bool:
    return addresses(await query(port, name)) == expected


# --- upstream faults under load --------------------------------------------------------------


class CountingUpstream(Upstream):
    """An Upstream that also records how many answers it was working on at once."""

    def __init__(self) -> None:
        super().__init__()
        self.busy = 0
        self.most_busy = 0

    async def _answer(self, *args: Any, **kwargs: Any) -> None:
        self.busy += 1
        self.most_busy = max(self.most_busy, self.busy)
        try:
            await super()._answer(*args, **kwargs)
        finally:
            self.busy -= 1


READ_TIMEOUT: Final = "200ms"
#: attempts x read_timeout, plus slack for a loaded event loop
LATENCY_BOUND_SECONDS: Final = 2 * 0.2 + 0.8
CLIENTS: Final = 40
ROUNDS: Final = 3

#: mode -> (how to set the upstream up, the rcode UDP clients get, the rcode TCP clients get)
UPSTREAM_FAULTS: Final[dict[str, tuple[Callable[[Upstream], Any], str, str]]] = {
    "silent": (lambda up: setattr(up, "mode", "silent"), "SERVFAIL", "SERVFAIL"),
    "slow": (lambda up: setattr(up, "delay", 0.05), "NOERROR", "NOERROR"),
    "too slow": (lambda up: setattr(up, "delay", 0.5), "SERVFAIL", "SERVFAIL"),
    "servfail": (lambda up: setattr(up, "rcode", 2), "SERVFAIL", "SERVFAIL"),
    "truncating": (lambda up: setattr(up, "mode", "truncate"), "NOERROR", "NOERROR"),
    "wrong id": (lambda up: setattr(up, "mode", "wrong_id"), "NOERROR", "NOERROR"),
    "wrong question": (lambda up: setattr(up, "mode", "wrong_question"), "FORMERR", "FORMERR"),
    "garbage": (lambda up: setattr(up, "mode", "garbage"), "SERVFAIL", "SERVFAIL"),
    "not listening": (lambda up: None, "SERVFAIL", "SERVFAIL"),
}


def forward_corefile(up: Upstream, options: str = "") -> str:
    return (
        ".:0 {\n"
        "    bind 127.0.0.1\n"
        f"    forward . {up.addr} {{\n"
        f"        read_timeout {READ_TIMEOUT}\n"
        f"        {options}\n"
        "    }\n"
        "}\n"
    )


async def burst(port: int, *, names: int = CLIENTS, tcp_every: int = 4) -> list[tuple[str, str, float]]:
    """``names`` clients at once, each one query; (proto, rcode or error, latency) each."""

    async def one(number: int) -> tuple[str, str, float]:
        tcp = number % tcp_every == 0
        started = time.monotonic()
        message = dns.message.make_query(f"q{number}.example.org", "A")
        timeout = LATENCY_BOUND_SECONDS * 3
        try:
            if tcp:
                reply = await dns.asyncquery.tcp(message, "127.0.0.1", port=port, timeout=timeout)
            else:
                # A late upstream reply may reach a client whose ephemeral port the kernel gave
                # out again after the forward's exchange socket closed (all of this is on one
                # loopback); a stub resolver ignores datagrams from other sources, so do we.
                reply = await dns.asyncquery.udp(
                    message, "127.0.0.1", port=port, timeout=timeout,
                    ignore_unexpected=True, raise_on_truncation=False,
                )  # fmt: skip
            outcome = dns.rcode.to_text(reply.rcode())
            if reply.flags & dns.flags.TC:
                outcome += " TC"
        except Exception as exc:
            outcome = repr(exc)
        return ("tcp" if tcp else "udp", outcome, time.monotonic() - started)

    return list(await asyncio.gather(*(one(n) for n in range(names))))


@pytest.mark.parametrize("mode", list(UPSTREAM_FAULTS))
async def test_a_failing_upstream_under_load_gives_bounded_answers_and_leaks_nothing(
    mode: str, until: Until
) -> None:
    configure, udp_rcode, tcp_rcode = UPSTREAM_FAULTS[mode]
    async with Upstream() as up:
        up.add("example.org", "A", "192.0.2.1")
        for number in range(CLIENTS):
            up.add(f"q{number}.example.org", "A", "192.0.2.1")
        configure(up)
        if mode == "not listening":
            await up.pause()
        async with serving(forward_corefile(up)) as runtime:
            port = runtime.port()
            (forward,) = runtime.instance.handlers("forward")  # type: ignore[union-attr]
            await burst(port)  # warm up: health checker, caches, allocator
            await until(lambda: _true(forward.concurrent == 0), timeout=5.0)
            gc.collect()
            tasks, fds, rss = len(asyncio.all_tasks()), open_fds(), rss_bytes()
            outcomes = []
            for _ in range(ROUNDS):
                outcomes += await burst(port)
            expected = {"udp": udp_rcode, "tcp": tcp_rcode}
            if mode == "truncating":
                expected["udp"] = "NOERROR TC"  # passed on as the upstream sent it
            wrong = [o for o in outcomes if o[1] != expected[o[0]]]
            assert wrong == [], wrong[:10]
            slowest = max(latency for _, _, latency in outcomes)
            assert slowest < LATENCY_BOUND_SECONDS, f"slowest answer took {slowest:.2f}s"
            await until(lambda: _true(forward.concurrent == 0), timeout=5.0)
            # the health checker may be running (one task), nothing else may remain
            await until(lambda: _true(len(asyncio.all_tasks()) <= tasks + 1), timeout=5.0)
            await until(lambda: _true(open_fds() <= fds + 2), timeout=5.0)
            growth = rss_bytes() - rss
            assert growth < 8 * 2**20, f"RSS grew by {growth / 2**20:.1f} MiB"


async def test_max_concurrent_holds_under_load_as_seen_by_the_upstream() -> None:
    async with CountingUpstream() as up:
        for number in range(CLIENTS * 2):
            up.add(f"q{number}.example.org", "A", "192.0.2.1")
        up.delay = 0.1
        async with serving(forward_corefile(up, "max_concurrent 5")) as runtime:
            outcomes = []
            for _ in range(3):
                outcomes += await burst(runtime.port(), names=CLIENTS * 2)
            (forward,) = runtime.instance.handlers("forward")  # type: ignore[union-attr]
            assert forward.concurrent == 0
    rcodes = {outcome for _, outcome, _ in outcomes}
    assert rcodes == {"NOERROR", "REFUSED"}, rcodes
    assert up.most_busy <= 5, f"the upstream had {up.most_busy} queries at once"
    answered = sum(1 for _, outcome, _ in outcomes if outcome == "NOERROR")
    assert answered >= 15  # five at a time were served, every burst


async def _true(value: bool) -> bool:
    return value
