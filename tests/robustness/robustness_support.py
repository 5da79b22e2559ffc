"""Shared helpers of the robustness tests: the sample-cluster server, probes and raw clients.

The fuzz, TCP-abuse and amplification tests all run the same realistic server (the kubeadm
chain over the sample cluster in ``examples/cluster``) in this process, so the probes here look
at it from both sides: through the network (dnspython and raw sockets on loopback) and from
inside (the process's RSS, the event loop's tasks, the listener's connections and in-flight
queries). Every wait polls with a deadline; nothing sleeps to synchronise.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import resource
import socket
import struct
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Final

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from clusterdns.server.listener import Listener
from clusterdns.testing import RunningServer, query

ROOT: Final = Path(__file__).resolve().parents[2]
CLUSTER_MANIFESTS: Final = ROOT / "examples" / "cluster"
HOSTS_FILE: Final = ROOT / "examples" / "hosts"
TIMEOUT_SECONDS: Final = 3.0  # every single network wait
SETTLE_SECONDS: Final = 5.0  # in-flight work finishing after a burst
POLL_SECONDS: Final = 0.01

#: A name of the sample cluster and the only address it resolves to (the health probe).
PROBE_NAME: Final = "web.demo.svc.cluster.local."
PROBE_ADDRESS: Final = "10.96.100.10"


def cluster_corefile(*extra_manifests: Path, any_plugin: bool = True) -> str:
    """The example's chain (kubeadm's with the sample cluster as data), on port 0, no HTTP.

    As in ``Corefile.example``, *hosts* answers ``example.com`` and falls through. Where
    kubeadm forwards every other name to the node's resolvers, here such names reach the end of
    the chain: SERVFAIL, "no next plugin found" (the fake upstream of ``clusterdns.testing``
    stays silent to queries dnspython cannot read, so under fuzzing forward would only wait for
    timeouts). *errors* consolidates those lines so a flood of them does not fill the log; every
    other error is logged as it happens.
    """
    manifests = " ".join(str(path) for path in (CLUSTER_MANIFESTS, *extra_manifests))
    any_line = "    any\n" if any_plugin else ""
    return (
        ".:0 {\n"
        "    errors {\n"
        "        consolidate 5m \".*no next plugin found$\"\n"
        "    }\n"
        f"{any_line}"
        "    kubernetes cluster.local in-addr.arpa ip6.arpa {\n"
        f"        manifests {manifests}\n"
        "        pods insecure\n"
        "        fallthrough in-addr.arpa ip6.arpa\n"
        "        ttl 30\n"
        "    }\n"
        f"    hosts {HOSTS_FILE} example.com {{\n"
        "        fallthrough\n"
        "    }\n"
        "    cache 30\n"
        "    loadbalance\n"
        "}\n"
    )


# --- looking inside the server --------------------------------------------------------------


def rss_bytes() -> int:
    """This process's resident set size (the server runs in-process)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def listener_of(srv: RunningServer) -> Listener:
    """The one listener of a single-block server."""
    (listener,) = srv.runtime.listeners.values()
    return listener


def udp_in_flight(srv: RunningServer) -> int:
    protocol = listener_of(srv).udp_protocol
    assert protocol is not None
    return len(protocol.in_flight)


def tcp_connection_count(srv: RunningServer) -> int:
    return len(listener_of(srv).tcp_connections)


async def eventually(predicate: Callable[[], bool], *, timeout: float, what: str) -> float:
    """Poll ``predicate`` until true; return how long it took; fail after ``timeout``."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not predicate():
        if loop.time() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout}s")
        await asyncio.sleep(POLL_SECONDS)
    return loop.time() - started


async def tasks_settle(baseline: int, *, timeout: float = SETTLE_SECONDS) -> int:
    """Wait until the loop has no more tasks than ``baseline``; return the final count.

    Fails with the names of the extra tasks when in-flight work does not finish in time.
    """
    try:
        await eventually(lambda: len(asyncio.all_tasks()) <= baseline, timeout=timeout, what="tasks")
    except AssertionError:
        extra = sorted(repr(task.get_coro()) for task in asyncio.all_tasks())
        raise AssertionError(
            f"{len(extra)} tasks still alive after {timeout}s (baseline {baseline}): {extra[:20]}"
        ) from None
    return len(asyncio.all_tasks())


async def assert_serving(port: int) -> None:
    """A normal cluster query gets the right answer over UDP and over TCP."""
    for tcp in (False, True):
        reply = await query(port, PROBE_NAME, "A", tcp=tcp, timeout=TIMEOUT_SECONDS)
        assert reply.rcode() == dns.rcode.NOERROR, reply
        answer = [(rrset.name.to_text(), rrset.rdtype, [r.address for r in rrset]) for rrset in reply.answer]
        assert answer == [(PROBE_NAME, dns.rdatatype.A, [PROBE_ADDRESS])], reply


@contextlib.contextmanager
def open_files_at_least(needed: int) -> Iterator[int]:
    """Raise the soft RLIMIT_NOFILE to ``needed`` for the test (skip if the hard limit is lower)."""
    import pytest

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        yield soft
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {needed}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    try:
        yield needed
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# --- raw clients ------------------------------------------------------------------------------


class RawUdpClient:
    """A connected loopback UDP socket that sends any bytes (even none) and keeps every reply.

    asyncio's datagram transport silently skips empty datagrams, so the fuzzer uses the socket
    itself; replies are read by a reader callback on the running loop.
    """

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self.sock.setblocking(False)
        self.sock.connect(("127.0.0.1", port))
        self.replies: list[bytes] = []
        self.send_errors = 0
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(self.sock.fileno(), self._readable)

    def send(self, data: bytes) -> None:
        try:
            self.sock.send(data)
        except OSError:  # a full send buffer or an ICMP error from an earlier datagram
            self.send_errors += 1

    def _readable(self) -> None:
        while True:
            try:
                self.replies.append(self.sock.recv(65535))
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # ICMP port unreachable and the like: nothing to read
                return

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


@contextlib.asynccontextmanager
async def udp_clients(port: int, count: int) -> AsyncIterator[list[RawUdpClient]]:
    clients = [RawUdpClient(port) for _ in range(count)]
    try:
        yield clients
    finally:
        for client in clients:
            client.close()


async def quiet(counter: Callable[[], int], *, idle: float, timeout: float) -> None:
    """Wait until ``counter()`` has not changed for ``idle`` seconds (at most ``timeout``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last, last_change = counter(), loop.time()
    while loop.time() < deadline:
        await asyncio.sleep(POLL_SECONDS)
        now = counter()
        if now != last:
            last, last_change = now, loop.time()
        elif loop.time() - last_change >= idle:
            return


def frame(message: bytes) -> bytes:
    """A TCP DNS message: two-octet length, then the message."""
    return struct.pack("!H", len(message)) + message


def short_hex(data: bytes, limit: int = 80) -> str:
    """Bytes in hex for a failure message, cut after ``limit`` octets."""
    text = data[:limit].hex()
    return text if len(data) <= limit else f"{text}... ({len(data)} octets)"


def header_id(data: bytes) -> int:
    return struct.unpack_from("!H", data)[0]


#: Replies accepted although dnspython rejects them: they only echo an EDNS option of the query
#: that dnspython rejects in the query too (a COOKIE of the wrong length: CoreDNS echoes it).
ECHOED_BAD_OPTIONS: list[str] = []


def _echoing_the_query_s_bad_option(query_wire: bytes | None, reply: bytes) -> dns.message.Message | None:
    """The reply read leniently, when its one defect is an EDNS option copied from the query.

    CoreDNS echoes some options (cookie, padding, ...) as the client sent them, so a client
    that sends a malformed one gets it back; dnspython refuses such a reply. The defect is
    tolerated when the reply's OPT data (its last record) are bytes of the query.
    """
    if query_wire is None:
        return None
    rdata = _trailing_opt_rdata(reply)
    if rdata is None or rdata not in query_wire:
        return None
    try:
        message = dns.message.from_wire(reply, continue_on_error=True)
    except Exception:  # noqa: BLE001 - not the one tolerated defect
        return None
    if len(message.errors) != 1 or message.edns >= 0:  # the OPT, and only it, was dropped
        return None
    ECHOED_BAD_OPTIONS.append(short_hex(reply))
    return message


def _trailing_opt_rdata(reply: bytes) -> bytes | None:
    """The RDATA of an OPT record ending the reply, if one does."""
    start = reply.rfind(b"\x00\x00\x29")
    while start >= 0:
        if start + 11 <= len(reply) and start + 11 + int.from_bytes(reply[start + 9 : start + 11], "big") == len(reply):
            return reply[start + 11 :]
        start = reply.rfind(b"\x00\x00\x29", 0, start)
    return None


def reply_errors(query_wire: bytes | None, reply: bytes) -> list[str]:
    """What is wrong with ``reply`` as the answer to ``query_wire`` (empty when nothing).

    The reply must be a DNS message dnspython reads, a response, and, when dnspython reads the
    query too, carry its question (if it carries one) and fit the client's buffer.
    """
    problems = []
    try:
        message = dns.message.from_wire(reply)
    except Exception as exc:  # noqa: BLE001 - any failure to parse is the finding
        message = _echoing_the_query_s_bad_option(query_wire, reply)
        if message is None:
            return [f"reply does not parse: {type(exc).__name__}: {exc}"]
    if not message.flags & 0x8000:
        problems.append("reply has QR clear")
    if query_wire is None:
        return problems
    if header_id(reply) != header_id(query_wire):
        problems.append(f"reply id {header_id(reply):#x} != query id {header_id(query_wire):#x}")
    try:
        asked = dns.message.from_wire(query_wire, ignore_trailing=True)
    except Exception:  # noqa: BLE001 - a query dnspython cannot read: nothing more to compare
        return problems
    if len(asked.question) == 1 and message.question:
        got = [(q.name, q.rdtype, q.rdclass) for q in message.question]
        want = [(q.name, q.rdtype, q.rdclass) for q in asked.question]
        if got != want:
            problems.append(f"reply question {got} != query question {want}")
    limit = 512 if asked.edns < 0 else max(512, asked.payload)
    if len(reply) > limit:
        problems.append(f"{len(reply)}-octet reply over UDP to a client with a {limit}-octet buffer")
    return problems


def query_wire(qid: int, name: str = PROBE_NAME, rdtype: str | int = "A") -> bytes:
    """A plain query (RD set, no EDNS) as dnspython writes it, with a chosen ID."""
    message = dns.message.make_query(name, rdtype, use_edns=False)
    message.id = qid
    return message.to_wire()


def padded_query(qid: int, size: int, name: str = PROBE_NAME) -> bytes:
    """A valid query of exactly ``size`` octets: an OPT whose Padding option takes the rest.

    The server echoes the Padding option, so the reply is at least as large as the query.
    """
    question = dns.name.from_text(name).to_wire() + b"\x00\x01\x00\x01"
    head = struct.pack("!6H", qid, 0x0100, 1, 0, 0, 1) + question
    padding = size - len(head) - 11 - 4
    assert padding >= 0, size
    option = struct.pack("!HH", 12, padding) + bytes(padding)
    return head + b"\x00" + struct.pack("!HHIH", 41, 4096, 0, len(option)) + option


async def exchange_udp(
    port: int, queries: list[bytes], *, sockets: int = 4, window: int = 50
) -> list[tuple[bytes, bytes | None]]:
    """Send every query over UDP, ``window`` at a time per socket; (query as sent, reply) pairs.

    Each query is sent with an ID unique on its socket (the caller's ID is replaced), so
    replies are matched by ID; a query with no reply within ``TIMEOUT_SECONDS`` of its batch
    gets None.
    """
    assert len(queries) <= sockets * 0x10000
    sent = [struct.pack("!H", (index // sockets) & 0xFFFF) + data[2:] for index, data in enumerate(queries)]
    replies: list[bytes | None] = [None] * len(queries)
    async with udp_clients(port, sockets) as clients:
        for start in range(0, len(sent), window * sockets):
            batch = range(start, min(start + window * sockets, len(sent)))
            counts = [len(client.replies) for client in clients]
            for index in batch:
                clients[index % sockets].send(sent[index])
            expected = [sum(1 for i in batch if i % sockets == n) for n in range(sockets)]
            with contextlib.suppress(AssertionError):  # missing replies are reported as None
                await eventually(
                    lambda: all(len(c.replies) - counts[n] >= expected[n] for n, c in enumerate(clients)),
                    timeout=TIMEOUT_SECONDS,
                    what="replies",
                )
        for socket_index, client in enumerate(clients):
            for reply in client.replies:
                if len(reply) >= 2:
                    index = header_id(reply) * sockets + socket_index
                    if index < len(sent):
                        replies[index] = reply
    return list(zip(sent, replies, strict=True))


# --- fuzz packets ----------------------------------------------------------------------------------
# Random bytes and valid queries mutated the ways attackers and broken clients mutate them.

FUZZ_NAMES: Final = [
    "web.demo.svc.cluster.local.", "www.demo.svc.cluster.local.", "api.shop.svc.cluster.local.",
    "db.shop.svc.cluster.local.", "db-0.db.shop.svc.cluster.local.", "cache.shop.svc.cluster.local.",
    "_http._tcp.api.shop.svc.cluster.local.", "_postgres._tcp.db.shop.svc.cluster.local.",
    "search.shop.svc.cluster.local.", "kubernetes.default.svc.cluster.local.",
    "10-244-1-20.shop.pod.cluster.local.", "dns-version.cluster.local.", "cluster.local.",
    "10.100.96.10.in-addr.arpa.", "20.1.244.10.in-addr.arpa.", "shop.svc.cluster.local.",
    "missing.shop.svc.cluster.local.", "www.example.com.", "nowhere.example.", ".",
    "*.shop.svc.cluster.local.", "a.b.c.d.e.web.demo.svc.cluster.local.", "svc.cluster.local.",
]
FUZZ_QTYPES: Final = [1, 28, 33, 12, 16, 2, 6, 5, 15, 255, 0, 41, 251, 252, 65, 64, 99, 65535]
OPT_TYPE: Final = 41
EDNS_PADDING: Final = 12
EDNS_NSID: Final = 3


def _opt(udp: int, ttl: int = 0, options: bytes = b"", rdlength: int | None = None) -> bytes:
    length = len(options) if rdlength is None else rdlength
    return b"\x00" + struct.pack("!HHIH", OPT_TYPE, udp, ttl, length) + options


def _option(code: int, data: bytes, length: int | None = None) -> bytes:
    return struct.pack("!HH", code, len(data) if length is None else length) + data


def _name(rng: random.Random) -> bytes:
    if rng.random() < 0.7:
        return dns.name.from_text(rng.choice(FUZZ_NAMES)).to_wire()
    labels = [
        bytes(rng.randrange(256) for _ in range(rng.randrange(1, 20))) for _ in range(rng.randrange(0, 5))
    ]
    return b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"


def valid_query(rng: random.Random) -> tuple[bytearray, int]:
    """A well-formed query, and the offset where its question ends."""
    flags = 0x0100 if rng.random() < 0.8 else rng.randrange(0x0800) & ~0x8000
    name = _name(rng)
    qclass = 1 if rng.random() < 0.9 else rng.randrange(65536)
    question = name + struct.pack("!HH", rng.choice(FUZZ_QTYPES), qclass)
    additional = b""
    arcount = 0
    if rng.random() < 0.5:
        arcount = 1
        udp = rng.choice([512, 1232, 4096, 65535, 0, 1, 511, rng.randrange(65536)])
        ttl = rng.choice([0, 0x8000, 0x00010000, rng.randrange(1 << 32)])
        options = rng.choice(
            [b"", _option(10, b"clientck"), _option(3, b""), _option(8, b"\x00\x01\x18\x00\x0a")]
        )
        additional = _opt(udp, ttl, options)
    data = bytearray(struct.pack("!6H", 0, flags, 1, 0, 0, arcount) + question + additional)
    return data, 12 + len(question)


def _set_counts(data: bytearray, rng: random.Random) -> None:
    counts = [rng.choice([0, 1, 2, 3, 0xFFFF, rng.randrange(65536)]) for _ in range(4)]
    data[4:12] = struct.pack("!4H", *counts)


def _pointer_loop(data: bytearray, rng: random.Random, end: int) -> bytearray:
    """Replace the question name with a compression-pointer loop or an overlong chain."""
    tail = bytes(data[end - 4 :])
    kind = rng.randrange(4)
    if kind == 0:  # a pointer to itself
        name = b"\xc0\x0c"
    elif kind == 1:  # a label, then a pointer back to the label
        name = b"\x01a\xc0\x0c"
    elif kind == 2:  # two names pointing at each other, after the question
        name = struct.pack("!H", 0xC000 | (12 + 2 + 4))
        tail += struct.pack("!H", 0xC000 | (12 + 2 + 4 + 2)) + struct.pack("!H", 0xC000 | (12 + 2 + 4))
    else:  # a chain of 100..300 pointers, each to the one before, ending in a real name
        hops = rng.randrange(100, 300)
        start = 12 + 2 + 4
        chain = bytearray(b"\x03web\x00")
        previous = start
        for _ in range(hops):
            here = start + len(chain)
            chain += struct.pack("!H", 0xC000 | previous)
            previous = here
        name = struct.pack("!H", 0xC000 | previous)
        tail += bytes(chain)
    return bytearray(data[:12] + name + tail)


def _long_label(data: bytearray, rng: random.Random, end: int) -> bytearray:
    """A label length above 63: the reserved 0x40/0x80 label types, or 63+ octets misread."""
    length = rng.randrange(64, 192)
    label = bytes([length]) + bytes(rng.randrange(97, 123) for _ in range(length))
    return bytearray(data[:12] + label + data[12:])


def _long_name(data: bytearray, rng: random.Random, end: int) -> bytearray:
    labels = rng.randrange(5, 9)
    name = b"".join(b"\x3f" + b"x" * 63 for _ in range(labels)) + b"\x00"  # 321..513 octets
    return bytearray(data[:12] + name + data[end - 4 :])


def _opt_twice(data: bytearray, rng: random.Random, end: int) -> bytearray:
    data = bytearray(data[:end])
    data[10:12] = struct.pack("!H", 2)
    return data + _opt(rng.choice([512, 4096, 65535])) + _opt(rng.choice([0, 1232, 65535]), 0x8000)


def _huge_edns(data: bytearray, rng: random.Random, end: int) -> bytearray:
    data = bytearray(data[:end])
    data[10:12] = struct.pack("!H", 1)
    version = rng.choice([0, 0, 1, 255])
    return data + _opt(rng.choice([65535, 65535, 0, 1, 4097, 32768]), (version << 16) | 0x8000)


def _bad_opt_options(data: bytearray, rng: random.Random, end: int) -> bytearray:
    """OPT options cut short, overrunning the record, or the record overrunning the packet."""
    data = bytearray(data[:end])
    data[10:12] = struct.pack("!H", 1)
    kind = rng.randrange(4)
    if kind == 0:
        opt = _opt(4096, 0, _option(10, b"12345678", length=200))
    elif kind == 1:
        opt = _opt(4096, 0, b"\x00\x0a\x00")
    elif kind == 2:
        opt = _opt(4096, 0, _option(10, b"12345678"), rdlength=300)
    else:
        opt = _opt(4096, 0, _option(10, b"12345678"))[: rng.randrange(1, 20)]
    return data + opt


def _padded(data: bytearray, rng: random.Random, end: int) -> bytearray:
    """A Padding or NSID option (both are echoed) of up to 1,400 octets, with a small EDNS size."""
    data = bytearray(data[:end])
    data[10:12] = struct.pack("!H", 1)
    size = rng.randrange(0, 1400)
    code = rng.choice([EDNS_PADDING, EDNS_PADDING, EDNS_NSID])
    return data + _opt(rng.choice([512, 1232]), 0, _option(code, bytes(size)))


def _flip(data: bytearray, rng: random.Random, end: int) -> bytearray:
    for _ in range(rng.randrange(1, 9)):
        bit = rng.randrange(len(data) * 8)
        data[bit // 8] ^= 1 << (bit % 8)
    return data


def _cut(data: bytearray, rng: random.Random, end: int) -> bytearray:
    return data[: rng.randrange(len(data) + 1)]


def _trailing(data: bytearray, rng: random.Random, end: int) -> bytearray:
    return data + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))


def _header_bits(data: bytearray, rng: random.Random, end: int) -> bytearray:
    flags = rng.randrange(65536) if rng.random() < 0.5 else (rng.randrange(16) << 11) | 0x0100
    data[2:4] = struct.pack("!H", flags)
    return data


def _counts(data: bytearray, rng: random.Random, end: int) -> bytearray:
    _set_counts(data, rng)
    return data


Mutation = Callable[[bytearray, random.Random, int], bytearray]
MUTATIONS: Final[list[Mutation]] = [
    _flip, _flip, _flip, _counts, _pointer_loop, _long_label, _long_name, _opt_twice,
    _huge_edns, _bad_opt_options, _padded, _cut, _trailing, _header_bits,
]


def packet(rng: random.Random) -> bytes:
    """One fuzz packet: a fifth random bytes, the rest mutated valid queries."""
    if rng.random() < 0.2:
        return bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 2, 11, 12, 13, rng.randrange(600)])))
    data, end = valid_query(rng)
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        data = rng.choice(MUTATIONS)(data, rng, end)
        end = min(end, len(data)) if len(data) >= 16 else len(data)
        if len(data) < 16:
            break
    return bytes(data)


def with_id(data: bytes, qid: int) -> bytes:
    """Give the packet a known ID, so its reply can be matched (when it has an ID at all)."""
    if len(data) < 2:
        return data
    return struct.pack("!H", qid) + data[2:]
