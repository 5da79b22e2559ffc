"""TCP abuse against a running server: hangs, huge frames, clients that never read, many idle
connections and slow writers. Afterwards the server still answers, leaks no task, and its RSS
stayed within a stated bound.

Issue 8, "Hostile and malformed input". The timeouts are CoreDNS's (miekg/dns ``serveTCPConn``,
``clusterdns.server.tcp``): the first query, and every query once its first octet arrived,
must arrive whole within the read timeout (3 s), a connection with no query for the idle
timeout (10 s) is closed, a client that does not read its answers for the write timeout (5 s)
is dropped, and at most ``MAX_PIPELINED_PER_CONNECTION`` queries of one connection are served
at once. The tests patch the timeouts down to fractions of a second; each wait has a deadline.

The single-query cases of framing (zero-length frame, a single 65,535-octet frame, a query cut
short) are in tests/server/test_malformed.py; here they are repeated at volume or combined.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Final

import dns.flags
import dns.message
import dns.rcode
import pytest
from robustness_support import (
    PROBE_ADDRESS,
    PROBE_NAME,
    TIMEOUT_SECONDS,
    assert_serving,
    cluster_corefile,
    eventually,
    frame,
    header_id,
    listener_of,
    open_files_at_least,
    padded_query,
    query_wire,
    rss_bytes,
    tasks_settle,
    tcp_connection_count,
)

from clusterdns.server import tcp as tcp_module
from clusterdns.server.mux import Mux
from clusterdns.testing import RunningServer, query, run_corefile

#: Measured: at most +5 MB for every test here, except the never-reading pipeliners before the
#: in-flight cap was enforced within a read (+31..70 MB; +1 MB with it).
RSS_GROWTH_LIMIT_BYTES: Final = 30 * 1024 * 1024
PIPELINERS_RSS_LIMIT_BYTES: Final = 15 * 1024 * 1024
READ_SECONDS: Final = 0.3  # the patched read timeout, where a test needs it short
CLOSE_MARGIN_SECONDS: Final = 3.0  # how late after its timeout a close may come on a busy CI
IDLE_CONNECTIONS: Final = 1000

QR, TC = 0x8000, 0x0200


@dataclass
class Health:
    """What the server looked like before the abuse, to compare with after it."""

    tasks: int
    rss: int
    peak_rss: int = 0


@pytest.fixture
async def srv() -> AsyncIterator[RunningServer]:
    async with run_corefile(cluster_corefile()) as running:
        await assert_serving(running.port)  # warm: every code path of a normal query ran once
        yield running


@contextlib.asynccontextmanager
async def watched(srv: RunningServer, rss_limit: int = RSS_GROWTH_LIMIT_BYTES) -> AsyncIterator[Health]:
    """Sample RSS while the block runs; afterwards check the server is healthy.

    After the block: no TCP connection left open, a normal query answered right over UDP and
    TCP, the loop back to its number of tasks, and RSS (at its peak during the block too)
    within ``rss_limit`` of where it started.
    """
    health = Health(tasks=len(asyncio.all_tasks()), rss=rss_bytes())
    health.peak_rss = health.rss

    async def sample() -> None:
        while True:
            health.peak_rss = max(health.peak_rss, rss_bytes())
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample())
    try:
        yield health
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    await eventually(
        lambda: tcp_connection_count(srv) == 0, timeout=CLOSE_MARGIN_SECONDS, what="connections closed"
    )
    await assert_serving(srv.port)
    await tasks_settle(health.tasks)
    growth = max(health.peak_rss, rss_bytes()) - health.rss
    print(f"RSS {health.rss / 2**20:.1f} MiB, peak growth +{growth / 2**20:.1f} MiB")
    assert growth <= rss_limit, f"RSS grew by {growth / 2**20:.1f} MiB (limit {rss_limit / 2**20:.0f} MiB)"


class Client:
    """One raw TCP connection (asyncio streams)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> Client:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT_SECONDS)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), TIMEOUT_SECONDS)

    async def recv(self, timeout: float = TIMEOUT_SECONDS) -> bytes:
        length = struct.unpack("!H", await asyncio.wait_for(self.reader.readexactly(2), timeout))[0]
        return await asyncio.wait_for(self.reader.readexactly(length), timeout)

    async def closed_within(self, timeout: float) -> bool:
        """True when the server closes the connection (EOF or reset) within ``timeout``."""
        try:
            data = await asyncio.wait_for(self.reader.read(1), timeout)
        except TimeoutError:
            return False
        except ConnectionError:
            return True
        assert data == b"", f"unexpected data from the server: {data!r}"
        return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), TIMEOUT_SECONDS)


def assert_probe_answer(data: bytes, qid: int) -> None:
    reply = dns.message.from_wire(data)
    assert reply.id == qid and reply.rcode() == dns.rcode.NOERROR, reply
    assert [r.address for rrset in reply.answer for r in rrset] == [PROBE_ADDRESS], reply


# --- a length prefix with no body ------------------------------------------------------------


@pytest.mark.parametrize(
    "prelude",
    [
        pytest.param(b"", id="first-frame"),
        pytest.param(frame(query_wire(0x0101)), id="after-an-answered-query"),
    ],
)
@pytest.mark.parametrize(
    "hang",
    [
        pytest.param(b"\x00\x40", id="prefix-only"),
        pytest.param(b"\xff\xff" + bytes(1000), id="65535-prefix-1000-octets"),
        pytest.param(b"\x00", id="half-a-prefix"),
    ],
)
async def test_length_prefix_without_body_is_closed_after_the_read_timeout(
    srv: RunningServer, monkeypatch: pytest.MonkeyPatch, prelude: bytes, hang: bytes
) -> None:
    monkeypatch.setattr(tcp_module, "READ_TIMEOUT_SECONDS", READ_SECONDS)
    monkeypatch.setattr(tcp_module, "IDLE_TIMEOUT_SECONDS", 60.0)  # only the read timeout may close it
    async with watched(srv):
        client = await Client.connect(srv.port)
        try:
            if prelude:
                await client.send(prelude)
                assert_probe_answer(await client.recv(), 0x0101)
            await client.send(hang)
            started = time.monotonic()
            assert await client.closed_within(READ_SECONDS + CLOSE_MARGIN_SECONDS)
            assert time.monotonic() - started >= READ_SECONDS * 0.9
        finally:
            await client.close()


# --- 65,535-octet frames ------------------------------------------------------------------------


async def test_pipelined_65535_octet_frames_are_answered_and_the_connection_stays_usable(
    srv: RunningServer,
) -> None:
    """Three kinds of maximum-size frame, eight of each, pipelined on one connection.

    0xff everywhere (a response: no reply), a header then 0xff (a pointer chain: header-only
    FORMERR) and a valid query padded to 65,535 octets (a 65,535-octet reply with TC, every
    record cut to keep the echoed Padding). Then a normal query on the same connection.
    """
    frames: list[tuple[bytes, int | None]] = []
    for index in range(8):
        frames.append((b"\xff" * 65535, None))
        formerr_id = 0x1000 + index
        frames.append((struct.pack("!6H", formerr_id, 0, 1, 0, 0, 0) + b"\xff" * (65535 - 12), formerr_id))
        padded_id = 0x2000 + index
        frames.append((padded_query(padded_id, 65535), padded_id))
    expected = {qid for _, qid in frames if qid is not None}
    async with watched(srv):
        client = await Client.connect(srv.port)
        try:

            async def write_all() -> None:
                for data, _ in frames:
                    await client.send(frame(data))

            writer = asyncio.create_task(write_all())
            replies = {}
            for _ in expected:
                data = await client.recv()
                replies[header_id(data)] = data
            await asyncio.wait_for(writer, TIMEOUT_SECONDS)
            assert replies.keys() == expected
            for qid, data in replies.items():
                if qid < 0x2000:
                    assert data == struct.pack("!6H", qid, QR | 1, 0, 0, 0, 0)  # FORMERR, no question
                else:
                    reply = dns.message.from_wire(data)
                    assert len(data) == 65535 and reply.flags & dns.flags.TC and not reply.answer
            await client.send(frame(query_wire(0x3000)))
            assert_probe_answer(await client.recv(), 0x3000)
        finally:
            await client.close()


# --- clients that never read ----------------------------------------------------------------------


async def _send_until_stopped(sock: socket.socket, data: bytes, stop: Callable[[], bool]) -> str:
    """Send ``data`` over and over until the server drops us or ``stop()`` holds."""
    loop = asyncio.get_running_loop()
    while not stop():
        try:
            await asyncio.wait_for(loop.sock_sendall(sock, data), 0.5)
        except TimeoutError:  # the server stopped reading: keep pushing until it drops us
            continue
        except OSError as exc:  # reset or broken pipe: dropped
            return type(exc).__name__
    return "stopped"


def _non_reading_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
    sock.setblocking(False)
    return sock


async def test_client_that_never_reads_is_dropped_after_the_write_timeout(
    srv: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Padded queries (65,535-octet answers) pipelined by a client that reads nothing.

    The kernel's buffers fill, the server stops reading the client's queries, and after the
    write timeout it drops the connection; what it buffered meanwhile stays bounded.
    """
    write_seconds = 0.5
    monkeypatch.setattr(tcp_module, "WRITE_TIMEOUT_SECONDS", write_seconds)
    monkeypatch.setattr(tcp_module, "IDLE_TIMEOUT_SECONDS", 60.0)
    monkeypatch.setattr(tcp_module, "READ_TIMEOUT_SECONDS", 60.0)
    loop = asyncio.get_running_loop()
    data = b"".join(frame(padded_query(0x4000 + i, 65535)) for i in range(8))
    async with watched(srv):
        sock = _non_reading_socket()
        dropped = asyncio.Event()
        sender: asyncio.Task[str] | None = None
        try:
            await asyncio.wait_for(loop.sock_connect(sock, srv.addr), TIMEOUT_SECONDS)
            await eventually(lambda: tcp_connection_count(srv) == 1, timeout=TIMEOUT_SECONDS, what="accepted")
            (connection,) = listener_of(srv).tcp_connections
            sender = asyncio.create_task(_send_until_stopped(sock, data, dropped.is_set))
            await eventually(lambda: connection.writing_paused, timeout=10.0, what="server's writes back up")
            paused_at = loop.time()
            await eventually(
                lambda: tcp_connection_count(srv) == 0,
                timeout=write_seconds + CLOSE_MARGIN_SECONDS,
                what="client dropped after the write timeout",
            )
            assert loop.time() - paused_at >= write_seconds * 0.9
            dropped.set()
            assert await asyncio.wait_for(sender, TIMEOUT_SECONDS) in {
                "ConnectionResetError", "BrokenPipeError", "stopped",
            }
        finally:
            dropped.set()
            if sender is not None and not sender.done():
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender
            sock.close()


async def test_pipelining_clients_that_never_read_keep_memory_bounded(
    srv: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten clients pipeline 30,000 small queries each (1.3 MB) and read nothing.

    Every 256 KB the server reads holds about 5,700 queries; each must not become a task at
    once (see the regression test below), or ten such clients take tens of MB.
    """
    monkeypatch.setattr(tcp_module, "WRITE_TIMEOUT_SECONDS", 0.5)
    loop = asyncio.get_running_loop()
    data = b"".join(frame(query_wire(i)) for i in range(30_000))
    async with watched(srv, PIPELINERS_RSS_LIMIT_BYTES):
        socks = [_non_reading_socket() for _ in range(10)]
        try:
            for sock in socks:
                await asyncio.wait_for(loop.sock_connect(sock, srv.addr), TIMEOUT_SECONDS)

            async def push(sock: socket.socket) -> None:
                with contextlib.suppress(TimeoutError, OSError):
                    await asyncio.wait_for(loop.sock_sendall(sock, data), 3.0)

            await asyncio.gather(*(push(sock) for sock in socks))
        finally:
            for sock in socks:
                sock.close()


class HoldingMux:
    """The listener's mux, holding every query until released, counting those held at once."""

    def __init__(self, inner: Mux) -> None:
        self.inner = inner
        self.release = asyncio.Event()
        self.held = 0
        self.peak = 0
        self.served = 0

    async def serve(
        self, data: bytes, proto: str, remote: tuple, local: tuple, send: Callable[[bytes], None]
    ) -> None:
        self.held += 1
        self.peak = max(self.peak, self.held)
        try:
            await asyncio.wait_for(self.release.wait(), 10.0)
        finally:
            self.held -= 1
        await self.inner.serve(data, proto, remote, local, send)
        self.served += 1

    def replay(self, data: bytes, proto: str, remote: tuple) -> None:
        """Never a kept reply: every query is held (server/replay.py)."""
        return None

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


async def test_regression_pipelined_queries_in_one_read_exceed_the_in_flight_cap(srv: RunningServer) -> None:
    """1,000 queries in one write: at most MAX_PIPELINED_PER_CONNECTION are served at once.

    Found by the test above: ``data_received`` made a task of every whole query in the buffer
    and only then checked the cap, so one 256 KB read started ~5,700 tasks (+7 MB RSS per
    client). The queries past the cap must still all be answered, in time, once the first ones
    are done.
    """
    cap = tcp_module.MAX_PIPELINED_PER_CONNECTION
    listener = listener_of(srv)
    holding = HoldingMux(listener.mux)
    listener.mux = holding  # type: ignore[assignment]
    count = 1000
    try:
        async with watched(srv):
            client = await Client.connect(srv.port)
            try:
                await client.send(b"".join(frame(query_wire(i)) for i in range(count)))
                await eventually(lambda: holding.held >= cap, timeout=TIMEOUT_SECONDS, what="queries held")
                # The server has read everything it will read while the queries are held.
                connections = listener.tcp_connections
                await eventually(
                    lambda: all(not c.transport.is_reading() for c in connections)  # type: ignore[union-attr]
                    or holding.held >= count,
                    timeout=TIMEOUT_SECONDS,
                    what="reading paused",
                )
                assert holding.peak <= cap, f"{holding.peak} queries of one connection in flight (cap {cap})"
                holding.release.set()
                answered = set()
                for _ in range(count):
                    answered.add(header_id(await client.recv()))
                assert answered == set(range(count))
            finally:
                holding.release.set()
                await client.close()
    finally:
        listener.mux = holding.inner


# --- many idle connections ------------------------------------------------------------------------


async def test_1000_idle_connections_leave_the_server_responsive_and_are_closed(
    srv: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    timeout = 2.0  # long enough to open them all; they send nothing, so the read timeout applies
    monkeypatch.setattr(tcp_module, "READ_TIMEOUT_SECONDS", timeout)
    monkeypatch.setattr(tcp_module, "IDLE_TIMEOUT_SECONDS", timeout)
    with open_files_at_least(2 * IDLE_CONNECTIONS + 256):
        async with watched(srv):
            clients: list[Client] = []
            try:
                started = time.monotonic()
                for _ in range(IDLE_CONNECTIONS // 100):
                    clients += await asyncio.gather(*(Client.connect(srv.port) for _ in range(100)))
                await eventually(
                    lambda: tcp_connection_count(srv) == IDLE_CONNECTIONS,
                    timeout=timeout,
                    what="all accepted",
                )
                opened = time.monotonic() - started
                for tcp in (False, True):  # answered at once while they are all open
                    asked = time.monotonic()
                    reply = await query(srv.port, PROBE_NAME, "A", tcp=tcp, timeout=1.0)
                    assert [r.address for rrset in reply.answer for r in rrset] == [PROBE_ADDRESS]
                    assert time.monotonic() - asked < 1.0
                assert tcp_connection_count(srv) >= IDLE_CONNECTIONS, "closed before their timeout"
                print(f"{IDLE_CONNECTIONS} connections opened in {opened:.2f}s")
                wait = timeout + CLOSE_MARGIN_SECONDS
                closed = await asyncio.gather(*(c.closed_within(wait) for c in clients))
                assert all(closed), f"{closed.count(False)} connections still open"
                assert time.monotonic() - started >= timeout * 0.9
            finally:
                await asyncio.gather(*(c.close() for c in clients))


# --- slow writers -------------------------------------------------------------------------------


async def _dribble(client: Client, data: bytes, gap: float) -> tuple[int, bytes | None]:
    """Send ``data`` one octet every ``gap`` seconds, listening in the gaps.

    Returns how many octets went out before the server closed the connection (``len(data)``
    if it never did) and the reply, if one came.
    """
    for sent in range(len(data)):
        try:
            await client.send(data[sent : sent + 1])
        except ConnectionError:
            return sent, None
        try:
            head = await asyncio.wait_for(client.reader.read(1), gap)
        except TimeoutError:
            continue
        except ConnectionError:
            return sent + 1, None
        if head == b"":
            return sent + 1, None
        rest = await asyncio.wait_for(client.reader.readexactly(1), TIMEOUT_SECONDS)
        length = struct.unpack("!H", head + rest)[0]
        return sent + 1, await asyncio.wait_for(client.reader.readexactly(length), TIMEOUT_SECONDS)
    return len(data), await client.recv()


async def test_query_dribbled_within_the_read_timeout_is_answered(
    srv: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tcp_module, "READ_TIMEOUT_SECONDS", 2.0)
    data = frame(query_wire(0x5001))  # 46 octets, 10 ms apart: about 0.5 s in all
    async with watched(srv):
        client = await Client.connect(srv.port)
        try:
            sent, reply = await _dribble(client, data, 0.01)
            assert sent == len(data) and reply is not None
            assert_probe_answer(reply, 0x5001)
        finally:
            await client.close()


async def test_query_dribbled_with_gaps_longer_than_the_read_timeout_is_dropped(
    srv: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tcp_module, "READ_TIMEOUT_SECONDS", READ_SECONDS)
    async with watched(srv):
        client = await Client.connect(srv.port)
        try:
            gap = READ_SECONDS + CLOSE_MARGIN_SECONDS
            sent, reply = await _dribble(client, frame(query_wire(0x5002)), gap)
            assert reply is None and sent == 1  # closed in the first gap
        finally:
            await client.close()


async def test_regression_read_timeout_rearmed_by_every_octet(
    srv: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A query dribbled an octet every READ/3 seconds never completes within the read timeout.

    miekg/dns sets the read deadline once per message (and tcp.py's docstring says "a query
    must arrive whole within 3 s of its first byte"), so such a slow writer is dropped about
    READ seconds after its first octet. Found here: ``data_received`` re-armed the read timer
    on every chunk, so one octet every 2.9 s held a connection (and its slot of the 4,096)
    forever.
    """
    monkeypatch.setattr(tcp_module, "READ_TIMEOUT_SECONDS", READ_SECONDS)
    monkeypatch.setattr(tcp_module, "IDLE_TIMEOUT_SECONDS", 60.0)
    data = frame(query_wire(0x5003, "."))  # 19 octets: 1.9 s at one per 0.1 s
    gap = READ_SECONDS / 3
    async with watched(srv):
        client = await Client.connect(srv.port)
        try:
            sent, reply = await _dribble(client, data, gap)
            assert reply is None, "a query dribbled over 6x the read timeout was answered"
            assert sent < len(data)
        finally:
            await client.close()
