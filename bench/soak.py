"""Soak: clusterdns under mixed load for a long time while the cluster churns and the Corefile
is reloaded; every answer checked against what was true at that moment. Not run in CI.

    .venv/bin/python bench/soak.py [--duration 600] [--qps 1500] [--churn-interval 0.3]
                                   [--reload-interval 30] [--dnsperf auto|on|off]
                                   [--dnsperf-qps 1000] [--upstream auto|dnsmasq|python]
                                   [--report FILE] [--keep]

Everything listens on and targets 127.0.0.1 only. The pieces, each in its own process unless
said otherwise:

- **clusterdns** (``python -m clusterdns -conf COREFILE``) with the shipped ConfigMap's
  Corefile (deploy/configmap.yaml: errors, health with a 5 s lameduck, ready, kubernetes with
  ``pods insecure`` and fallthrough for the reverse zones, prometheus, forward with
  ``max_concurrent 1000``, cache 30 with the cluster zone excluded, loop, reload,
  loadbalance), moved to loopback addresses, with ``reload 2s 1s``, plus a ``soak.test``
  block whose one hosts entry names the Corefile's generation. Its output goes to
  ``server.log``.
- **a fake Kubernetes API server** (clusterdns.testing.fakeapi, in this process): namespaces,
  stable Services (ClusterIP and headless, with EndpointSlices) that never change, and a pool
  of churned Services created, updated (new ClusterIP) and deleted, one change every
  ``--churn-interval`` seconds. Each change is kept with the time it was made.
- **an upstream** for external names: dnsmasq when installed (``--local`` for its domain, so
  unknown names are NXDOMAIN), else clusterdns.testing.upstream.Upstream in this process.
- **the load generator** (this script with ``--load-worker``): UDP clients and TCP clients on
  kept connections, at ``--qps`` in total, asking a mix of cluster names (A, SRV, PTR,
  headless, pod), misses as a pod's search path makes them (NXDOMAIN), external names through
  forward (hits and NXDOMAIN), churned names and the generation name. Static answers are
  checked in the generator; churned names and the generation name are reported back with
  their send and receive times and checked here against the history: an answer is *wrong*
  unless it is a state the name really had at some moment between ``PROPAGATION_SECONDS``
  before the query was sent and when its answer came back (for the generation name: the
  reload plugin's interval and jitter plus the new instance's sync, ``RELOAD_WINDOW_SECONDS``).
  A query with no answer within ``QUERY_TIMEOUT_SECONDS`` is *unanswered*.
- **dnsperf** when installed (``--dnsperf auto``): a second, unchecked load of the static names
  at ``--dnsperf-qps``, for throughput and the loss dnsperf itself sees on loopback.

Every ``--reload-interval`` seconds the Corefile is rewritten (atomically, as kubelet updates
a ConfigMap volume) with the next generation; the *reload* plugin (``reload 2s 1s``) picks it
up. Every ``SAMPLE_SECONDS`` the server's VmRSS, VmHWM, threads and open file descriptors are
sampled from /proc. At the end the churn stops, every churned name is asked once more and must
answer the API server's final state, the metrics are scraped, the server gets SIGTERM and must
exit 0, and the report lists queries sent, answered, wrong and unanswered (by kind and
transport), latency, dnsperf's figures, reloads applied and how fast, RSS over time, every
``[ERROR]`` line the server logged, the sockets the server listens on (only the Corefile's
addresses are allowed) and the requests it made to the API server (only GET list/watch). The
verdict (exit status 0) asks for all of that plus RSS growth after the first minute below
``RSS_GROWTH_LIMIT_BYTES``. The run stops by itself: each step has a deadline, and the whole
run one more.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from clusterdns.testing.sockets import free_dns_port  # noqa: E402

HOST: Final = "127.0.0.1"
QUERY_TIMEOUT_SECONDS: Final = 2.0
#: How old an answer about a churned Service may be: the documented propagation window.
PROPAGATION_SECONDS: Final = 1.0
#: How long a Corefile edit may take to serve: reload's 2 s interval + 0.5 s jitter, the new
#: instance's sync, and slack.
RELOAD_WINDOW_SECONDS: Final = 5.0
SAMPLE_SECONDS: Final = 10.0
STATS_SECONDS: Final = 10.0
STARTUP_TIMEOUT_SECONDS: Final = 30.0
EXIT_TIMEOUT_SECONDS: Final = 15.0
#: Flat RSS: after the first minute it may not grow by more than this.
RSS_GROWTH_LIMIT_BYTES: Final = 32 * 2**20

ZONE: Final = "cluster.local"
STABLE_SERVICES: Final = 20
CHURN_POOL: Final = 40
EXTERNAL_DOMAIN: Final = "example.com"
EXTERNAL_NAMES: Final = 10
UDP_WORKERS: Final = 24
TCP_WORKERS: Final = 6


# --- the scenario: names and their answers ---------------------------------------------------


def stable_ip(i: int) -> str:
    return f"10.96.0.{10 + i}"


def endpoint_ip(i: int, j: int) -> str:
    return f"10.244.{i}.{j + 1}"


def external_ip(i: int) -> str:
    return f"192.0.2.{i + 1}"


def generation_ip(generation: int) -> str:
    return f"10.255.{generation // 250}.{generation % 250 + 1}"


def generation_of(ip: str) -> int | None:
    parts = ip.split(".")
    if len(parts) != 4 or parts[:2] != ["10", "255"]:
        return None
    return int(parts[2]) * 250 + int(parts[3]) - 1


def svc(name: str, namespace: str) -> str:
    return f"{name}.{namespace}.svc.{ZONE}."


def reverse(ip: str) -> str:
    return ".".join(reversed(ip.split("."))) + ".in-addr.arpa."


def scenario() -> dict[str, Any]:
    """Every name the load asks, with its weight and what its answer must be.

    ``check`` is ``a`` (exactly these addresses), ``nx`` (NXDOMAIN), ``srv`` (an SRV with this
    target and port), ``ptr`` (this target), or ``churn``/``generation`` (reported back and
    checked against the history).
    """
    cases: list[dict[str, Any]] = []

    def add(kind: str, name: str, qtype: str, check: str, expected: Any, weight: float) -> None:
        cases.append(
            {"kind": kind, "name": name, "qtype": qtype, "check": check, "expected": expected,
             "weight": weight}
        )  # fmt: skip

    for i in range(STABLE_SERVICES):
        name = svc(f"stable-{i}", "stable")
        add("cluster hit", name, "A", "a", [stable_ip(i)], 35 / STABLE_SERVICES)
        add("cluster SRV", f"_http._tcp.{name}", "SRV", "srv", [name, 80], 4 / STABLE_SERVICES)
        add("cluster PTR", reverse(stable_ip(i)), "PTR", "ptr", name, 4 / STABLE_SERVICES)
        # a pod in namespace "churn" resolving "stable-i.stable" walks its search path first
        add("miss (search path)", f"stable-{i}.stable.churn.svc.{ZONE}.", "A", "nx", None, 4 / STABLE_SERVICES)
        add("miss (search path)", f"stable-{i}.stable.svc.{ZONE}.svc.{ZONE}.", "A", "nx", None, 2 / STABLE_SERVICES)
    for h in range(2):
        add("cluster headless", svc(f"headless-{h}", "stable"), "A", "a",
            sorted(endpoint_ip(100 + h, j) for j in range(3)), 2.5)  # fmt: skip
    add("cluster pod", f"10-244-7-7.stable.pod.{ZONE}.", "A", "a", ["10.244.7.7"], 1)
    add("miss", svc("never-there", "stable"), "A", "nx", None, 2)
    for e in range(EXTERNAL_NAMES):
        name = f"ext-{e}.{EXTERNAL_DOMAIN}."
        add("external hit", name, "A", "a", [external_ip(e)], 12 / EXTERNAL_NAMES)
        # and the search-path candidates a pod in "churn" tries before it (ndots 5)
        for suffix in (f"churn.svc.{ZONE}", f"svc.{ZONE}", ZONE):
            add("miss (search path)", f"ext-{e}.{EXTERNAL_DOMAIN}.{suffix}.", "A", "nx", None, 3 / EXTERNAL_NAMES)
    for e in range(EXTERNAL_NAMES):
        add("external NXDOMAIN", f"nope-{e}.{EXTERNAL_DOMAIN}.", "A", "nx", None, 3 / EXTERNAL_NAMES)
    for c in range(CHURN_POOL):
        add("churned", svc(f"churn-{c}", "churn"), "A", "churn", c, 15 / CHURN_POOL)
    add("generation", "generation.soak.test.", "A", "generation", None, 3)
    return {"cases": cases}


def cluster_objects() -> tuple[list[dict[str, Any]], dict[int, str | None]]:
    """The API server's initial objects, and the initial state of the churned pool."""
    from clusterdns.testing import fakeapi

    objects = [fakeapi.namespace(n) for n in ("default", "kube-system", "stable", "churn")]
    objects.append(fakeapi.service("default", "kubernetes", "10.96.0.1", [("https", 443)]))
    objects.append(fakeapi.service("kube-system", "kube-dns", "10.96.0.2", [("dns", 53, "UDP")]))
    for i in range(STABLE_SERVICES):
        name = f"stable-{i}"
        objects.append(fakeapi.service("stable", name, stable_ip(i), [("http", 80)]))
        objects.append(
            fakeapi.endpoint_slice("stable", f"{name}-x1", name, [endpoint_ip(i, j) for j in range(2)])
        )
    for h in range(2):
        name = f"headless-{h}"
        objects.append(fakeapi.service("stable", name, None, [("http", 80)]))
        objects.append(
            fakeapi.endpoint_slice(
                "stable", f"{name}-x1", name, [endpoint_ip(100 + h, j) for j in range(3)]
            )
        )
    state: dict[int, str | None] = {}
    rng = random.Random(1)
    for c in range(CHURN_POOL):
        if c % 2 == 0:
            ip = f"10.97.{rng.randrange(1, 250)}.{rng.randrange(1, 250)}"
            objects.append(fakeapi.service("churn", f"churn-{c}", ip))
            objects.append(fakeapi.endpoint_slice("churn", f"churn-{c}-x1", f"churn-{c}", ["10.245.0.1"]))
            state[c] = ip
        else:
            state[c] = None
    return objects, state


# --- the load generator (a separate process) -------------------------------------------------


class _Latencies:
    """Latencies in 0.1 ms buckets up to 2 s (bounded memory, percentiles)."""

    def __init__(self) -> None:
        self.counts: Counter[int] = Counter()
        self.total = 0
        self.max = 0.0

    def add(self, seconds: float) -> None:
        self.counts[min(int(seconds * 10_000), 20_000)] += 1
        self.total += 1
        self.max = max(self.max, seconds)

    def percentile(self, fraction: float) -> float:
        target = fraction * self.total
        seen = 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen >= target:
                return (bucket + 1) / 10_000
        return 0.0


class _UDPClient:
    """One UDP socket, one query in flight; replies matched by ID (late ones counted)."""

    def __init__(self) -> None:
        self.waiting: dict[bytes, asyncio.Future[bytes]] = {}
        self.late = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        future = self.waiting.pop(data[:2], None)
        if future is None or future.done():
            self.late += 1
        else:
            future.set_result(data)

    def error_received(self, exc: Exception) -> None:
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        pass


async def load_worker(spec_path: str) -> None:
    import dns.message
    import dns.rcode
    import dns.rdatatype

    spec = json.loads(Path(spec_path).read_text())
    port = spec["port"]
    deadline = time.monotonic() + spec["duration"]
    cases = spec["cases"]
    weights = [c["weight"] for c in cases]
    out = sys.stdout
    counts: dict[str, Counter[str]] = defaultdict(Counter)  # kind -> sent/answered/wrong/...
    by_proto: dict[str, Counter[str]] = defaultdict(Counter)
    latency = {"udp": _Latencies(), "tcp": _Latencies()}
    failures: list[str] = []
    extra: Counter[str] = Counter()

    def emit(record: dict[str, Any]) -> None:
        out.write(json.dumps(record, separators=(",", ":")) + "\n")

    def judge(case: dict[str, Any], proto: str, sent: float, received: float, wire: bytes) -> None:
        kind = case["kind"]
        try:
            reply = dns.message.from_wire(wire)
        except Exception as exc:
            counts[kind]["wrong"] += 1
            by_proto[proto]["wrong"] += 1
            failures.append(f"{case['name']} {case['qtype']} {proto}: unparsable reply {exc!r}")
            return
        rcode = dns.rcode.to_text(reply.rcode())
        check = case["check"]
        if check in ("churn", "generation"):
            found = [r.address for rrset in reply.answer if rrset.rdtype == dns.rdatatype.A for r in rrset]
            emit({"k": check, "c": case["expected"], "s": sent, "r": received, "rc": rcode, "a": found,
                  "p": proto})  # fmt: skip
            return  # judged by the orchestrator, which counts it
        ok = False
        if check == "nx":
            ok = rcode == "NXDOMAIN"
        elif rcode == "NOERROR":
            if check == "a":
                found = sorted(r.address for rrset in reply.answer if rrset.rdtype == dns.rdatatype.A for r in rrset)
                ok = found == case["expected"]
            elif check == "srv":
                target, srv_port = case["expected"]
                ok = any(
                    r.target.to_text().lower() == target and r.port == srv_port
                    for rrset in reply.answer if rrset.rdtype == dns.rdatatype.SRV for r in rrset
                )  # fmt: skip
            elif check == "ptr":
                ok = [r.target.to_text().lower() for rrset in reply.answer for r in rrset] == [case["expected"]]
        if ok:
            counts[kind]["right"] += 1
            by_proto[proto]["right"] += 1
        else:
            counts[kind]["wrong"] += 1
            by_proto[proto]["wrong"] += 1
            if len(failures) < 200:
                failures.append(f"{case['name']} {case['qtype']} {proto}: {rcode} {reply.answer}")

    def pick(rng: random.Random) -> dict[str, Any]:
        return rng.choices(cases, weights)[0]

    def pace(state: list[float], interval: float) -> float:
        """Seconds to sleep to keep this client at its rate (no catching up after a stall)."""
        now = time.monotonic()
        state[0] = max(state[0] + interval, now - interval)
        return max(0.0, state[0] - now)

    total_workers = UDP_WORKERS + TCP_WORKERS
    interval = total_workers / spec["qps"]
    loop = asyncio.get_running_loop()

    async def udp_worker(number: int) -> None:
        rng = random.Random(number)
        transport, client = await loop.create_datagram_endpoint(
            _UDPClient, remote_addr=(HOST, port), family=socket.AF_INET
        )
        schedule = [time.monotonic()]
        try:
            while time.monotonic() < deadline:
                case = pick(rng)
                message = dns.message.make_query(case["name"], case["qtype"])
                wire = message.to_wire()
                future: asyncio.Future[bytes] = loop.create_future()
                client.waiting[wire[:2]] = future
                counts[case["kind"]]["sent"] += 1
                by_proto["udp"]["sent"] += 1
                sent = time.monotonic()
                transport.sendto(wire)
                try:
                    data = await asyncio.wait_for(future, QUERY_TIMEOUT_SECONDS)
                except TimeoutError:
                    client.waiting.pop(wire[:2], None)
                    counts[case["kind"]]["unanswered"] += 1
                    by_proto["udp"]["unanswered"] += 1
                    if len(failures) < 200:
                        failures.append(f"{case['name']} {case['qtype']} udp: no answer at +{sent:.3f}")
                else:
                    received = time.monotonic()
                    latency["udp"].add(received - sent)
                    judge(case, "udp", sent, received, data)
                await asyncio.sleep(pace(schedule, interval))
        finally:
            extra["udp late replies"] += client.late
            transport.close()

    async def tcp_worker(number: int) -> None:
        rng = random.Random(1000 + number)
        schedule = [time.monotonic()]
        reader = writer = None
        while time.monotonic() < deadline:
            if writer is None:
                try:
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_connection(HOST, port), QUERY_TIMEOUT_SECONDS
                    )
                except (OSError, TimeoutError) as exc:
                    extra["tcp connect failures"] += 1
                    if len(failures) < 200:
                        failures.append(f"tcp connect: {exc!r}")
                    await asyncio.sleep(0.1)
                    continue
                extra["tcp connections"] += 1
            assert reader is not None
            case = pick(rng)
            message = dns.message.make_query(case["name"], case["qtype"])
            wire = message.to_wire()
            counts[case["kind"]]["sent"] += 1
            by_proto["tcp"]["sent"] += 1
            sent = time.monotonic()
            try:
                writer.write(struct.pack("!H", len(wire)) + wire)
                async with asyncio.timeout(QUERY_TIMEOUT_SECONDS):
                    await writer.drain()
                    while True:
                        (length,) = struct.unpack("!H", await reader.readexactly(2))
                        data = await reader.readexactly(length)
                        if data[:2] == wire[:2]:
                            break
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                counts[case["kind"]]["unanswered"] += 1
                by_proto["tcp"]["unanswered"] += 1
                if len(failures) < 200:
                    failures.append(f"{case['name']} {case['qtype']} tcp: {exc!r} at +{sent:.3f}")
                writer.close()
                reader = writer = None
                continue
            received = time.monotonic()
            latency["tcp"].add(received - sent)
            judge(case, "tcp", sent, received, data)
            # now and then a client closes its connection and opens a new one
            if rng.random() < 0.01:
                writer.close()
                reader = writer = None
            await asyncio.sleep(pace(schedule, interval))
        if writer is not None:
            writer.close()

    def summary(final: bool) -> dict[str, Any]:
        return {
            "k": "done" if final else "stats",
            "t": time.monotonic(),
            "counts": {k: dict(v) for k, v in counts.items()},
            "by_proto": {k: dict(v) for k, v in by_proto.items()},
            "latency": {
                p: {"p50": l.percentile(0.5), "p99": l.percentile(0.99), "max": l.max, "n": l.total}
                for p, l in latency.items()
            },
            "extra": dict(extra),
            "failures": failures[:50] if final else failures[-3:],
        }

    async def report() -> None:
        while True:
            await asyncio.sleep(STATS_SECONDS)
            emit(summary(False))
            out.flush()

    async def flusher() -> None:
        while True:
            await asyncio.sleep(0.2)
            out.flush()

    reporters = [asyncio.create_task(report()), asyncio.create_task(flusher())]
    workers = [udp_worker(n) for n in range(UDP_WORKERS)] + [tcp_worker(n) for n in range(TCP_WORKERS)]
    await asyncio.gather(*workers)
    for task in reporters:
        task.cancel()
    emit(summary(True))
    out.flush()


# --- the orchestrator ------------------------------------------------------------------------


@dataclass
class Ports:
    dns: int = field(default_factory=free_dns_port)
    health: int = field(default_factory=free_dns_port)
    ready: int = field(default_factory=free_dns_port)
    metrics: int = field(default_factory=free_dns_port)
    upstream: int = field(default_factory=free_dns_port)


def corefile(ports: Ports, api_url: str, generation: int) -> str:
    """The shipped ConfigMap's Corefile (deploy/configmap.yaml) on loopback: addresses and
    the API server given explicitly, ``reload 2s 1s`` instead of 30 s, and a ``soak.test``
    block naming the generation."""
    return f"""\
.:{ports.dns} {{
    bind {HOST}
    errors
    health {HOST}:{ports.health} {{
       lameduck 5s
    }}
    ready {HOST}:{ports.ready}
    kubernetes {ZONE} in-addr.arpa ip6.arpa {{
       endpoint {api_url}
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }}
    prometheus {HOST}:{ports.metrics}
    forward . {HOST}:{ports.upstream} {{
       max_concurrent 1000
    }}
    cache 30 {{
       disable success {ZONE}
       disable denial {ZONE}
    }}
    loop
    reload 2s 1s
    loadbalance
}}
soak.test:{ports.dns} {{
    bind {HOST}
    hosts /dev/null {{
        {generation_ip(generation)} generation.soak.test
    }}
}}
"""


def listening(pid: int) -> list[str]:
    """The sockets ``pid`` listens on: TCP in LISTEN, UDP not connected (``proto host:port``)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/net/{proto}", encoding="ascii") as file:
            next(file)
            for line in file:
                fields = line.split()
                local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
                if inode not in inodes:
                    continue
                if proto.startswith("tcp") and state != "0A":
                    continue
                if proto.startswith("udp") and int(remote.split(":")[1], 16) != 0:
                    continue  # a connected socket (an exchange with an upstream)
                address, port = local.split(":")
                if len(address) == 8:
                    host = socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1])
                else:
                    raw = bytes.fromhex(address)
                    host = socket.inet_ntop(
                        socket.AF_INET6, b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                    )
                found.append(f"{proto.rstrip('6')} {host}:{int(port, 16)}")
    return sorted(found)


def write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".new")
    temporary.write_text(text)
    os.replace(temporary, path)


class History:
    """States over time: ``at(t)`` and every state held during [earliest, latest]."""

    def __init__(self, initial: Any) -> None:
        self.times: list[float] = [float("-inf")]
        self.states: list[Any] = [initial]

    def change(self, moment: float, state: Any) -> None:
        self.times.append(moment)
        self.states.append(state)

    def during(self, earliest: float, latest: float) -> list[Any]:
        first = max(0, bisect.bisect_right(self.times, earliest) - 1)
        last = bisect.bisect_right(self.times, latest)
        return self.states[first:last]

    @property
    def current(self) -> Any:
        return self.states[-1]


@dataclass
class Checks:
    """What the orchestrator judges: churned names and the generation name."""

    churn: dict[int, History]
    generations: History
    counts: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    by_proto: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    failures: list[str] = field(default_factory=list)
    generation_seen: dict[int, float] = field(default_factory=dict)

    def judge(self, record: dict[str, Any]) -> None:
        sent, received, rcode, found = record["s"], record["r"], record["rc"], record["a"]
        if record["k"] == "churn":
            kind = "churned"
            number = record["c"]
            allowed = self.churn[number].during(sent - PROPAGATION_SECONDS, received)
            got = None if rcode == "NXDOMAIN" else (found[0] if rcode == "NOERROR" and len(found) == 1 else "?")
            ok = got in allowed
            what = f"churn-{number}: {rcode} {found}, allowed {allowed}"
        else:
            kind = "generation"
            allowed = self.generations.during(sent - RELOAD_WINDOW_SECONDS, received)
            generation = generation_of(found[0]) if rcode == "NOERROR" and len(found) == 1 else None
            ok = generation in allowed
            if ok and generation is not None and generation not in self.generation_seen:
                self.generation_seen[generation] = received
            what = f"generation: {rcode} {found}, allowed {allowed}"
        proto = record["p"]
        self.counts[kind]["sent"] += 1
        self.by_proto[proto]["sent"] += 1
        if ok:
            self.counts[kind]["right"] += 1
            self.by_proto[proto]["right"] += 1
        else:
            self.counts[kind]["wrong"] += 1
            self.by_proto[proto]["wrong"] += 1
            if len(self.failures) < 100:
                self.failures.append(f"+{sent:.3f}..+{received:.3f} {proto} {what}")


def proc_status(pid: int) -> dict[str, int]:
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as file:
        for line in file:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
            elif key == "Threads":
                values[key] = int(rest)
    values["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return values


async def http_get(port: int, path: str) -> tuple[int, str]:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 5)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
        raw = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body.decode(errors="replace")


def metric_sum(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {"):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def start_upstream(choice: str, port: int, workdir: Path) -> tuple[str, Any]:
    """dnsmasq (a process) or the Python Upstream (in this loop), answering the externals."""
    dnsmasq = shutil.which("dnsmasq")
    if choice == "dnsmasq" or (choice == "auto" and dnsmasq):
        if not dnsmasq:
            raise SystemExit("dnsmasq is not installed")
        args = [
            dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", f"--port={port}",
            f"--listen-address={HOST}", "--bind-interfaces", "--no-resolv", "--no-hosts",
            "--no-poll", f"--local=/{EXTERNAL_DOMAIN}/", "--cache-size=0",
            f"--pid-file={workdir / 'dnsmasq.pid'}",
        ]  # fmt: skip
        args += [f"--host-record=ext-{e}.{EXTERNAL_DOMAIN},{external_ip(e)}" for e in range(EXTERNAL_NAMES)]
        log = open(workdir / "dnsmasq.log", "wb")
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        await _wait_port(port, process)
        return "dnsmasq", process
    from clusterdns.testing.upstream import Upstream

    upstream = Upstream()
    await upstream.__aenter__()
    # the Python upstream binds a port of its own choosing
    for e in range(EXTERNAL_NAMES):
        upstream.add(f"ext-{e}.{EXTERNAL_DOMAIN}", "A", external_ip(e))
    upstream.add(f"{EXTERNAL_DOMAIN}", "SOA", f"ns.{EXTERNAL_DOMAIN}. h.{EXTERNAL_DOMAIN}. 1 2 3 4 5")
    return "python", upstream


async def _wait_port(port: int, process: subprocess.Popen[bytes]) -> None:
    import dns.asyncquery
    import dns.message

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the upstream exited with {process.returncode}")
        with contextlib.suppress(Exception):
            await dns.asyncquery.udp(
                dns.message.make_query(f"ext-0.{EXTERNAL_DOMAIN}", "A"), HOST, port=port, timeout=0.5
            )
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("the upstream did not answer")


def parse_dnsperf(text: str) -> dict[str, str]:
    wanted = {
        "Queries sent": "sent", "Queries completed": "completed", "Queries lost": "lost",
        "Response codes": "rcodes", "Queries per second": "qps", "Average Latency (s)": "latency",
        "Run time (s)": "run time",
    }  # fmt: skip
    found = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(":")
        if key in wanted:
            found[wanted[key]] = value.strip()
    return found


async def terminate(process: asyncio.subprocess.Process | subprocess.Popen[bytes] | None) -> None:
    """End a child this script started (by its pid), waiting at most a few seconds."""
    if process is None or process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    for _ in range(50):
        if (process.poll() if isinstance(process, subprocess.Popen) else process.returncode) is not None:
            return
        await asyncio.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        process.kill()


async def soak(args: argparse.Namespace) -> int:
    import dns.asyncquery
    import dns.message
    import dns.rcode

    from clusterdns.testing import fakeapi
    from clusterdns.testing.fakeapi import FakeAPIServer

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="clusterdns-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    report_lines: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        report_lines.append(line)

    ports = Ports()
    objects, initial = cluster_objects()
    api = FakeAPIServer()
    api.load(objects)
    await api.start()
    upstream_kind, upstream = await start_upstream(args.upstream, ports.upstream, workdir)
    if upstream_kind == "python":
        ports.upstream = upstream.port
    generation = 0
    generations = History(0)
    path = workdir / "Corefile"
    write_atomically(path, corefile(ports, api.url, generation))

    server_log = open(workdir / "server.log", "wb")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "clusterdns", "-conf", str(path),
        stdout=server_log, stderr=subprocess.STDOUT, cwd=str(workdir), env=env,
    )  # fmt: skip
    worker: asyncio.subprocess.Process | None = None
    dnsperf: asyncio.subprocess.Process | None = None
    tasks: list[asyncio.Task[Any]] = []
    exit_code: int | None = None
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while b"clusterdns-" not in (workdir / "server.log").read_bytes():
            if server.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError("clusterdns did not start:\n" + (workdir / "server.log").read_text())
            await asyncio.sleep(0.1)
        while (await http_get(ports.ready, "/ready"))[0] != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("clusterdns did not become ready")
            await asyncio.sleep(0.1)

        expected_listening = sorted(
            [f"tcp {HOST}:{p}" for p in (ports.dns, ports.health, ports.ready, ports.metrics)]
            + [f"udp {HOST}:{ports.dns}"]
        )
        listening_at_start = listening(server.pid)
        started = time.monotonic()
        end = started + args.duration
        say(f"clusterdns soak: {args.duration:.0f} s from {time.strftime('%Y-%m-%d %H:%M:%S')}, "
            f"pid {server.pid}, work directory {workdir}")  # fmt: skip
        say(f"  load: {args.qps:.0f} q/s from a Python generator ({UDP_WORKERS} UDP clients, "
            f"{TCP_WORKERS} TCP clients on kept connections)"
            + (f" + dnsperf at {args.dnsperf_qps:.0f} q/s" if args.dnsperf != "off" and shutil.which("dnsperf") else ""))  # fmt: skip
        say(f"  churn: one Service change every {args.churn_interval} s over a pool of {CHURN_POOL}; "
            f"Corefile rewritten every {args.reload_interval:.0f} s (reload 2s 1s); upstream: {upstream_kind}")  # fmt: skip

        # the churn and its history
        churn = {c: History(initial[c]) for c in range(CHURN_POOL)}
        checks = Checks(churn, generations)
        churn_stop = asyncio.Event()
        churn_count = Counter[str]()

        async def churner() -> None:
            rng = random.Random(2)
            while not churn_stop.is_set():
                c = rng.randrange(CHURN_POOL)
                name = f"churn-{c}"
                before = time.monotonic()
                if churn[c].current is None:
                    ip = f"10.97.{rng.randrange(1, 250)}.{rng.randrange(1, 250)}"
                    await api.create(fakeapi.service("churn", name, ip))
                    await api.create(fakeapi.endpoint_slice("churn", f"{name}-x1", name, [f"10.245.{c}.1"]))
                    churn_count["created"] += 1
                elif rng.random() < 0.5:
                    ip = f"10.97.{rng.randrange(1, 250)}.{rng.randrange(1, 250)}"
                    await api.update(fakeapi.service("churn", name, ip))
                    await api.update(
                        fakeapi.endpoint_slice("churn", f"{name}-x1", name, [f"10.245.{c}.{rng.randrange(2, 250)}"])
                    )
                    churn_count["updated"] += 1
                else:
                    ip = None
                    await api.delete("services", "churn", name)
                    await api.delete("endpointslices", "churn", f"{name}-x1")
                    churn_count["deleted"] += 1
                churn[c].change(before, ip)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(churn_stop.wait(), args.churn_interval)

        async def reloader() -> None:
            nonlocal generation
            while True:
                await asyncio.sleep(args.reload_interval)
                if time.monotonic() + RELOAD_WINDOW_SECONDS > end:
                    return  # too late to see it served before the load ends
                generation += 1
                generations.change(time.monotonic(), generation)
                write_atomically(path, corefile(ports, api.url, generation))

        samples: list[tuple[float, dict[str, int]]] = []

        async def sampler() -> None:
            while True:
                with contextlib.suppress(OSError):
                    samples.append((time.monotonic() - started, proc_status(server.pid)))
                await asyncio.sleep(SAMPLE_SECONDS)

        spec = scenario()
        spec.update(port=ports.dns, duration=args.duration, qps=args.qps)
        (workdir / "spec.json").write_text(json.dumps(spec))
        worker = await asyncio.create_subprocess_exec(
            sys.executable, str(Path(__file__).resolve()), "--load-worker", str(workdir / "spec.json"),
            stdout=asyncio.subprocess.PIPE, env=env, limit=2**20,
        )  # fmt: skip
        if args.dnsperf != "off" and shutil.which("dnsperf"):
            static = [c for c in spec["cases"] if c["check"] in ("a", "nx", "srv", "ptr")]
            (workdir / "dnsperf.txt").write_text(
                "".join(f"{c['name']} {c['qtype']}\n" for c in static)
            )
            dnsperf = await asyncio.create_subprocess_exec(
                "dnsperf", "-s", HOST, "-p", str(ports.dns), "-d", str(workdir / "dnsperf.txt"),
                "-l", str(int(args.duration)), "-Q", str(int(args.dnsperf_qps)), "-c", "20",
                "-t", str(int(QUERY_TIMEOUT_SECONDS)),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        elif args.dnsperf == "on":
            raise SystemExit("dnsperf is not installed")

        tasks = [asyncio.create_task(f()) for f in (churner, reloader, sampler)]
        final: dict[str, Any] | None = None
        last_stats: dict[str, Any] | None = None
        assert worker.stdout is not None
        while True:
            remaining = end + 60 - time.monotonic()
            if remaining <= 0:
                raise RuntimeError("the load generator did not finish in time")
            line = await asyncio.wait_for(worker.stdout.readline(), remaining)
            if not line:
                break
            record = json.loads(line)
            if record["k"] in ("churn", "generation"):
                checks.judge(record)
            elif record["k"] == "stats":
                last_stats = record
                elapsed = record["t"] - started
                sent = sum(v.get("sent", 0) for v in record["counts"].values())
                wrong = sum(v.get("wrong", 0) for v in record["counts"].values())
                wrong += sum(c["wrong"] for c in checks.counts.values())
                unanswered = sum(v.get("unanswered", 0) for v in record["counts"].values())
                rss = samples[-1][1]["VmRSS"] / 2**20 if samples else 0
                print(f"  +{elapsed:5.0f}s sent {sent} wrong {wrong} unanswered {unanswered} "
                      f"rss {rss:.1f} MiB generation {generation}", flush=True)  # fmt: skip
            elif record["k"] == "done":
                final = record
        await asyncio.wait_for(worker.wait(), 30)
        churn_stop.set()
        await asyncio.wait_for(tasks[0], 10)
        dnsperf_out = ""
        if dnsperf is not None:
            assert dnsperf.stdout is not None
            dnsperf_out = (await asyncio.wait_for(dnsperf.stdout.read(), 60)).decode(errors="replace")
            await asyncio.wait_for(dnsperf.wait(), 10)
            (workdir / "dnsperf.out").write_text(dnsperf_out)
        ran = time.monotonic() - started
        if final is None:
            raise RuntimeError(f"the load generator ended without a summary (last: {last_stats})")

        # the final state: every churned name answers what the API server holds now
        await asyncio.sleep(PROPAGATION_SECONDS + 0.5)
        final_wrong: list[str] = []
        for c in range(CHURN_POOL):
            reply = await dns.asyncquery.udp(
                dns.message.make_query(svc(f"churn-{c}", "churn"), "A"), HOST, port=ports.dns, timeout=2
            )
            found = [r.address for rrset in reply.answer for r in rrset]
            expected_ip = churn[c].current
            if (expected_ip is None and reply.rcode() != dns.rcode.NXDOMAIN) or (
                expected_ip is not None and found != [expected_ip]
            ):
                final_wrong.append(f"churn-{c}: {dns.rcode.to_text(reply.rcode())} {found}, API has {expected_ip}")
        api_ips = {
            s["metadata"]["name"]: s["spec"]["clusterIP"]
            for s in api.objects("services") if s["metadata"]["namespace"] == "churn"
        }  # fmt: skip
        history_ips = {f"churn-{c}": churn[c].current for c in range(CHURN_POOL) if churn[c].current}
        assert api_ips == history_ips, "the soak's own history disagrees with the API server"

        listening_at_end = listening(server.pid)
        api_requests = Counter(
            f"{r.method} {'watch' if r.watch else 'list'} {r.path}" for r in api.requests
        )
        metrics_text = ""
        with contextlib.suppress(Exception):
            metrics_text = (await http_get(ports.metrics, "/metrics"))[1]
        with contextlib.suppress(OSError):
            samples.append((time.monotonic() - started, proc_status(server.pid)))
        for task in tasks[1:]:
            task.cancel()

        # stop the server as Kubernetes does
        server.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        try:
            exit_code = await asyncio.wait_for(server.wait(), EXIT_TIMEOUT_SECONDS)
        except TimeoutError:
            exit_code = None
        stop_seconds = time.monotonic() - stopping

        # --- the report --------------------------------------------------------------------
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for kind, values in final["counts"].items():
            counts[kind].update(values)
        for kind, values in checks.counts.items():
            counts[kind].update(values)
        # the orchestrator judged what the worker reported as answered
        by_proto: dict[str, Counter[str]] = defaultdict(Counter)
        for proto, values in final["by_proto"].items():
            by_proto[proto].update(values)
        for proto, values in checks.by_proto.items():
            by_proto[proto].update({k: v for k, v in values.items() if k != "sent"})
        for kind in ("churned", "generation"):
            counts[kind]["sent"] = final["counts"].get(kind, {}).get("sent", 0)
            counts[kind]["unanswered"] = final["counts"].get(kind, {}).get("unanswered", 0)
        total = Counter[str]()
        for values in counts.values():
            total.update(values)
        answered = total["right"] + total["wrong"]

        say()
        say(f"ran {ran:.0f} s; load generator: sent {total['sent']}, answered {answered}, "
            f"wrong {total['wrong']}, unanswered {total['unanswered']} "
            f"({total['sent'] / ran:.0f} q/s)")  # fmt: skip
        say(f"  {'kind':<22}{'sent':>9}{'answered':>10}{'wrong':>7}{'unanswered':>12}")
        for kind in sorted(counts):
            v = counts[kind]
            say(f"  {kind:<22}{v['sent']:>9}{v['right'] + v['wrong']:>10}{v['wrong']:>7}{v['unanswered']:>12}")
        for proto in sorted(by_proto):
            v = by_proto[proto]
            lat = final["latency"][proto]
            say(f"  {proto}: sent {v['sent']}, answered {v['right'] + v['wrong']}, wrong {v['wrong']}, "
                f"unanswered {v['unanswered']}; latency p50 {lat['p50'] * 1000:.1f} ms, "
                f"p99 {lat['p99'] * 1000:.1f} ms, max {lat['max'] * 1000:.1f} ms")  # fmt: skip
        extra = final["extra"]
        say(f"  TCP connections opened {extra.get('tcp connections', 0)}, connect failures "
            f"{extra.get('tcp connect failures', 0)}; late UDP replies {extra.get('udp late replies', 0)}")  # fmt: skip
        failures = final["failures"] + checks.failures
        if failures:
            say(f"  first wrong or unanswered ({len(failures)} kept):")
            for line in failures[:20]:
                say(f"    {line}")
        if dnsperf is not None:
            perf = parse_dnsperf(dnsperf_out)
            say(f"dnsperf (UDP, unchecked): sent {perf.get('sent')}, completed {perf.get('completed')}, "
                f"lost {perf.get('lost')}; {perf.get('qps')} q/s; average latency {perf.get('latency')} s")  # fmt: skip
            say(f"  response codes: {perf.get('rcodes')}")
        say(f"churn: {sum(churn_count.values())} changes ({dict(churn_count)}); final state: "
            + ("every churned name answers the API server's state" if not final_wrong
               else f"{len(final_wrong)} names differ: {final_wrong[:5]}"))  # fmt: skip
        delays = [
            checks.generation_seen[g] - generations.times[g]
            for g in range(1, generation + 1) if g in checks.generation_seen
        ]  # fmt: skip
        say(f"reloads: {generation} Corefile edits, {len(delays)} seen served"
            + (f" after {min(delays):.1f}..{max(delays):.1f} s (mean {sum(delays) / len(delays):.1f} s)" if delays else ""))  # fmt: skip
        if metrics_text:
            say(f"server metrics: coredns_dns_requests_total {metric_sum(metrics_text, 'coredns_dns_requests_total'):.0f}, "
                f"coredns_reload_failed_total {metric_sum(metrics_text, 'coredns_reload_failed_total'):.0f}, "
                f"coredns_panics_total {metric_sum(metrics_text, 'coredns_panics_total'):.0f}, "
                f"coredns_forward_max_concurrent_rejects_total {metric_sum(metrics_text, 'coredns_forward_max_concurrent_rejects_total'):.0f}")  # fmt: skip
        say("server process over time (every %.0f s):" % SAMPLE_SECONDS)
        say(f"  {'t (s)':>7}{'RSS MiB':>9}{'HWM MiB':>9}{'threads':>9}{'fds':>6}")
        for moment, values in samples:
            say(f"  {moment:>7.0f}{values['VmRSS'] / 2**20:>9.1f}{values['VmHWM'] / 2**20:>9.1f}"
                f"{values['Threads']:>9}{values['fds']:>6}")  # fmt: skip
        after_warmup = [v["VmRSS"] for t, v in samples if t >= min(60.0, ran / 2)]
        growth = (after_warmup[-1] - after_warmup[0]) if len(after_warmup) >= 2 else 0
        say(f"  RSS from {min(60.0, ran / 2):.0f} s to the end: {after_warmup[0] / 2**20 if after_warmup else 0:.1f} -> "
            f"{after_warmup[-1] / 2**20 if after_warmup else 0:.1f} MiB (growth {growth / 2**20:+.1f} MiB, "
            f"max {max(after_warmup) / 2**20 if after_warmup else 0:.1f} MiB)")  # fmt: skip
        log_text = (workdir / "server.log").read_text(errors="replace")
        errors = [line for line in log_text.splitlines() if line.startswith("[ERROR]")]
        warnings = Counter(
            re.sub(r"\d+", "N", line)[:100] for line in log_text.splitlines() if line.startswith("[WARNING]")
        )
        say(f"server log: {len(errors)} [ERROR] lines, {sum(warnings.values())} [WARNING] lines")
        for line in errors[:20]:
            say(f"  {line}")
        for line, count in warnings.most_common(5):
            say(f"  {count} x {line}")
        unexpected = sorted(set(listening_at_start + listening_at_end) - set(expected_listening))
        say(f"listening sockets of the server (start and end): {listening_at_end}; "
            + ("only the Corefile's addresses" if not unexpected else f"UNEXPECTED: {unexpected}"))  # fmt: skip
        verbs = sorted(api_requests)
        say(f"API requests: {sum(api_requests.values())}, of {len(verbs)} kinds: {verbs}")
        say(f"SIGTERM: exit code {exit_code} after {stop_seconds:.1f} s (lameduck 5s)")

        passed = (
            total["wrong"] == 0
            and total["unanswered"] == 0
            and not final_wrong
            and not errors
            and exit_code == 0
            and growth < RSS_GROWTH_LIMIT_BYTES
            and len(delays) == generation
            and not unexpected
            and all(v.startswith("GET ") for v in verbs)
        )
        say(f"verdict: {'PASS' if passed else 'FAIL'} (0 wrong, 0 unanswered, final state right, "
            f"no [ERROR] line, every reload served, only the Corefile's listeners, only GET list/watch, exit 0, RSS growth < {RSS_GROWTH_LIMIT_BYTES // 2**20} MiB)")  # fmt: skip
        report = "\n".join(report_lines) + "\n"
        (workdir / "report.txt").write_text(report)
        if args.report:
            Path(args.report).write_text(report)
        return 0 if passed else 1
    finally:
        for task in tasks:
            task.cancel()
        await terminate(worker)
        await terminate(dnsperf)
        if exit_code is None:
            await terminate(server)
        if upstream_kind == "dnsmasq":
            await terminate(upstream)
        else:
            await upstream.close()
        await api.stop()
        server_log.close()
        if not args.keep and args.workdir is None and exit_code == 0:
            shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load (default 600)")
    parser.add_argument("--qps", type=float, default=1500.0, help="the checked load, queries/s")
    parser.add_argument("--churn-interval", type=float, default=0.3, help="seconds between Service changes")
    parser.add_argument("--reload-interval", type=float, default=30.0, help="seconds between Corefile edits")
    parser.add_argument("--dnsperf", choices=["auto", "on", "off"], default="auto")
    parser.add_argument("--dnsperf-qps", type=float, default=1000.0)
    parser.add_argument("--upstream", choices=["auto", "dnsmasq", "python"], default="auto")
    parser.add_argument("--workdir", help="where the Corefile, logs and report go (default: a temporary directory)")
    parser.add_argument("--report", help="also write the report here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--load-worker", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_worker:
        runner = asyncio.run
        with contextlib.suppress(ImportError):
            import uvloop

            runner = uvloop.run
        runner(load_worker(args.load_worker))
        return
    sys.exit(asyncio.run(run(args)))


async def run(args: argparse.Namespace) -> int:
    """The soak within a deadline of its own: it stops by itself, its children with it."""
    limit = args.duration + STARTUP_TIMEOUT_SECONDS + 240
    try:
        return await asyncio.wait_for(soak(args), limit)
    except TimeoutError:
        print(f"soak: gave up after {limit:.0f} s", file=sys.stderr, flush=True)
        return 3


if __name__ == "__main__":
    main()
