"""One upstream: its exchanges, its TCP/TLS connection cache and its health state.

This is CoreDNS's ``plugin/pkg/proxy`` ``Proxy`` and ``Transport``. Per exchange the query goes
out byte for byte as the client sent it, with a fresh random ID restored in the reply, and the
reply is decoded for the handler; its duration goes to
``coredns_proxy_request_duration_seconds``. UDP never reuses a socket (transport.py); TCP and
TLS connections are cached and reused oldest first, and closed once idle longer than
``expire`` (or older than ``max_age``), counted in ``coredns_proxy_conn_cache_{hits,misses}``.
A failed exchange starts the health checker (health.py); the upstream is down while more than
``max_fails`` probes in a row have failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import struct
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from dnslib import DNSHeader, DNSQuestion, DNSRecord

from clusterdns import wire
from clusterdns.log import plugin_logger

from . import health, metrics
from .options import DEFAULT_EXPIRE_SECONDS, ForwardOptions, UpstreamAddress
from .transport import (
    MAX_UDP_DATAGRAM,
    UpstreamError,
    open_stream,
    stream_exchange,
    udp_exchange,
)

log = plugin_logger("forward")

PROXY_NAME: Final = "forward"
#: The adaptive TCP dial timeout: twice the running average, within these bounds.
MIN_DIAL_TIMEOUT_SECONDS: Final = 1.0
MAX_DIAL_TIMEOUT_SECONDS: Final = 30.0
_DIAL_AVERAGE_WEIGHT: Final = 4
_LENGTH = struct.Struct("!H")
_MIN_SWEEP_SECONDS: Final = 0.05

#: miekg/dns ``RcodeToString``: the ``rcode`` label of the request duration histogram.
RCODE_LABELS: Final = {
    0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
    6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE", 11: "DSOTYPENI",
    16: "BADSIG", 17: "BADKEY", 18: "BADTIME", 19: "BADMODE", 20: "BADNAME", 21: "BADALG",
    22: "BADTRUNC", 23: "BADCOOKIE",
}  # fmt: skip


def full_rcode(reply: DNSRecord) -> int:
    """The reply's rcode with the OPT record's extended bits (as miekg's ``Msg.Rcode``)."""
    rcode = reply.header.rcode
    for rr in reply.ar:
        if rr.rtype == wire.TYPE_OPT:
            return ((rr.ttl >> 24) & 0xFF) << 4 | rcode
    return rcode


def decode_reply(data: bytes, bufsize: int) -> DNSRecord:
    """Decode an upstream's reply, as miekg/dns does for CoreDNS.

    A UDP reply longer than our read buffer, or a truncated one that does not decode, becomes
    an empty reply with TC set (header and question kept), which sends the client to TCP.
    """
    if len(data) > bufsize:
        return _truncated(data)
    try:
        return wire.parse_message(data)
    except Exception as exc:  # dnslib raises DNSError and a few others on bad input
        if _LENGTH.unpack_from(data, 2)[0] & wire.FLAG_TC:
            return _truncated(data)
        raise UpstreamError(f"dns: {exc}") from None


def _truncated(data: bytes) -> DNSRecord:
    """An empty reply with TC set: the header and, when it parses, the question."""
    qid, flags = struct.unpack_from("!HH", data)
    header = DNSHeader(id=qid, bitmap=flags | wire.FLAG_TC)
    # The core's question parser reads queries: present the reply as one (QR and opcode
    # cleared, one question, no records).
    as_query = data[:2] + _LENGTH.pack(flags & 0x07FF) + b"\x00\x01" + bytes(6) + data[12:]
    parsed = wire.parse_query(as_query)
    if not isinstance(parsed, wire.Query):
        return DNSRecord(header)
    question = DNSQuestion(wire.question_label(parsed.qname_labels), parsed.qtype, parsed.qclass)
    return DNSRecord(header, [question])


@dataclass(eq=False, slots=True)
class _Conn:
    """A cached stream connection to an upstream."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    created: float
    used: float
    local: str

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()

    def unusable(self) -> bool:
        return self.reader.at_eof() or self.writer.is_closing()


class Proxy:
    """One upstream of a ``forward`` line: exchanges, connection cache, health."""

    def __init__(
        self,
        upstream: UpstreamAddress,
        options: ForwardOptions,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.upstream = upstream
        self.addr = upstream.addr  # the ``to`` label
        self.host = upstream.host
        self.port = upstream.port
        self.tls = upstream.transport == "tls"
        self.ssl_context = ssl_context
        self.server_name = ""
        if self.tls:
            self.server_name = (options.tls.server_name if options.tls else "") or (
                upstream.server_name
            )
        self.read_timeout = options.read_timeout_seconds
        self.expire = options.expire_seconds
        self.max_age = options.max_age_seconds
        self.max_idle = options.max_idle_conns
        self.source = options.source_address
        self.fails = 0
        self.stream_proto = "tcp-tls" if self.tls else "tcp"
        self.checker = health.HealthChecker(
            self,
            interval=options.health_check_seconds,
            domain=options.health_check_domain,
            recursion_desired=options.health_check_recursion_desired,
            proto="tcp-tls" if self.tls else ("tcp" if options.force_tcp else "udp"),
        )
        self._pool: deque[_Conn] = deque()
        self._avg_dial = MAX_DIAL_TIMEOUT_SECONDS / 2
        self._stopped = False
        self._durations: dict[int, object] = {}
        self._cache_counters: dict[tuple[bool, str], object] = {}

    def _count_cache(self, hit: bool, proto: str) -> None:
        """Count a connection cache hit or miss (the series appears on first use, as in Go)."""
        counter = self._cache_counters.get((hit, proto))
        if counter is None:
            family = metrics.CONN_CACHE_HITS if hit else metrics.CONN_CACHE_MISSES
            counter = self._cache_counters[hit, proto] = family.labels(PROXY_NAME, self.addr, proto)
        counter.inc()  # type: ignore[attr-defined]

    # --- health ----------------------------------------------------------------------------

    def down(self, max_fails: int) -> bool:
        """Down when more than ``max_fails`` health checks failed in a row (never with 0)."""
        return max_fails != 0 and self.fails > max_fails

    def healthcheck(self) -> None:
        """Start the health checker unless it runs already (CoreDNS ``Proxy.Healthcheck``)."""
        if not self._stopped:
            self.checker.start()

    # --- exchanges -------------------------------------------------------------------------

    async def exchange(self, data: bytes, proto: str, bufsize: int, deadline: float) -> DNSRecord:
        """Send the client's query ``data`` (its own ID restored in the reply); raise
        UpstreamError (or CachedClosed) when no usable reply came."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        message = os.urandom(2) + data[2:]  # a fresh unpredictable ID (miekg uses crypto/rand)
        if self.tls or proto != "udp":
            raw = await self._stream_exchange(message, deadline)
            reply = decode_reply(raw, MAX_UDP_DATAGRAM)
        else:
            self._count_cache(False, "udp")  # a fresh socket per exchange: never a hit
            raw = await udp_exchange(
                self.host,
                self.port,
                message,
                deadline=min(start + self.read_timeout, deadline),
                source=self.source,
            )
            reply = decode_reply(raw, max(bufsize, wire.MIN_UDP_SIZE))
        reply.header.id = _LENGTH.unpack_from(data)[0]
        rcode = full_rcode(reply)
        histogram = self._durations.get(rcode)
        if histogram is None:
            label = RCODE_LABELS.get(rcode, str(rcode))
            histogram = self._durations[rcode] = metrics.REQUEST_DURATION.labels(
                PROXY_NAME, self.addr, label
            )
        histogram.observe(loop.time() - start)  # type: ignore[attr-defined]
        return reply

    async def _stream_exchange(self, message: bytes, deadline: float) -> bytes:
        conn, cached = await self._dial(deadline)
        read_deadline = min(asyncio.get_running_loop().time() + self.read_timeout, deadline)
        try:
            data = await stream_exchange(
                conn.reader,
                conn.writer,
                message,
                deadline=read_deadline,
                local=conn.local,
                remote=self.addr,
                cached=cached,
            )
        except BaseException:
            conn.close()
            raise
        self._yield(conn)
        return data

    async def _dial(self, deadline: float) -> tuple[_Conn, bool]:
        """A cached connection (oldest first) or a new one (CoreDNS ``Transport.Dial``)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        pool = self._pool
        proto = self.stream_proto
        while pool:
            conn = pool.popleft()
            if self._expired(conn, now) or conn.unusable():
                conn.close()
                continue
            self._count_cache(True, proto)
            return conn, True
        self._count_cache(False, proto)
        timeout = self._dial_timeout()
        try:
            reader, writer, local = await open_stream(
                self.host,
                self.port,
                deadline=deadline,
                timeout=timeout,
                source=self.source,
                ssl_context=self.ssl_context if self.tls else None,
                server_name=self.server_name,
            )
        finally:
            elapsed = loop.time() - now
            self._avg_dial += (elapsed - self._avg_dial) / _DIAL_AVERAGE_WEIGHT
        now = loop.time()
        return _Conn(reader, writer, now, now, local), False

    def _dial_timeout(self) -> float:
        average = self._avg_dial
        if average < MIN_DIAL_TIMEOUT_SECONDS:
            return MIN_DIAL_TIMEOUT_SECONDS
        if average < MAX_DIAL_TIMEOUT_SECONDS / 2:
            return 2 * average
        return MAX_DIAL_TIMEOUT_SECONDS

    def _expired(self, conn: _Conn, now: float) -> bool:
        if now - conn.used > self.expire:
            return True
        return self.max_age > 0 and now - conn.created > self.max_age

    def _yield(self, conn: _Conn) -> None:
        """Give a connection back for reuse (CoreDNS ``Transport.Yield``)."""
        if self._stopped or conn.unusable():
            conn.close()
            return
        if self.max_idle > 0 and len(self._pool) >= self.max_idle:
            conn.close()
            return
        conn.used = asyncio.get_running_loop().time()
        self._pool.append(conn)

    def sweep(self, now: float) -> None:
        """Close cached connections idle longer than ``expire`` (or older than ``max_age``)."""
        if not any(self._expired(conn, now) for conn in self._pool):
            return
        keep: deque[_Conn] = deque()
        for conn in self._pool:
            if self._expired(conn, now):
                conn.close()
            else:
                keep.append(conn)
        self._pool = keep

    async def stop(self) -> None:
        """Stop health checking and close every cached connection."""
        self._stopped = True
        await self.checker.stop()
        pool, self._pool = self._pool, deque()
        for conn in pool:
            conn.close()


class Sweeper:
    """Closes expired cached connections of every proxy of a block, and stops them on
    shutdown (one supervised task per block instead of one per upstream)."""

    def __init__(self) -> None:
        self.proxies: list[Proxy] = []
        self.interval = DEFAULT_EXPIRE_SECONDS
        self.task: asyncio.Task[None] | None = None

    def add(self, proxies: Iterable[Proxy], expire_seconds: float) -> None:
        self.proxies.extend(proxies)
        # CoreDNS sweeps every 10 s whatever ``expire`` is; a shorter expire is swept at its
        # own pace so connections do not outlive it by much.
        self.interval = max(min(self.interval, expire_seconds), _MIN_SWEEP_SECONDS)

    async def start(self) -> None:
        if self.proxies:
            self.task = asyncio.create_task(self._run(), name="forward connection sweeper")
            self.task.add_done_callback(self._died)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.interval)
            now = loop.time()
            for proxy in self.proxies:
                proxy.sweep(now)

    def _died(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("connection sweeper stopped: %s", task.exception())

    async def stop(self) -> None:
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for proxy in self.proxies:
            await proxy.stop()
