"""A small real DNS server on loopback, for testing plugins that talk to upstreams (forward).

It listens on 127.0.0.1 with UDP and TCP on the same random port and answers from a table
(``add(name, type, rdata...)``): names in the table with another type get NOERROR and no
answer, names not in it NXDOMAIN. Each test sets how it misbehaves, and may change that at any
time:

* ``mode = "answer"`` (default): answer normally;
* ``mode = "silent"``: never answer;
* ``mode = "truncate"``: over UDP answer with TC set and no records, over TCP answer fully;
* ``mode = "wrong_id"``: first send the reply with a wrong ID, then the right one;
* ``mode = "wrong_question"``: answer with the right ID for another question;
* ``mode = "garbage"``: answer with the right ID and bytes that are no DNS message;
* ``rcode = N``: answer every query with rcode N (SERVFAIL, REFUSED, ...) and no records;
* ``delay = seconds``: answer slowly; ``hold()`` / ``release()``: keep every answer until
  released (bounded by ``MAX_HOLD_SECONDS``), for tests that need queries in flight;
* ``await pause()`` / ``await resume()``: stop listening (queries are refused by the kernel)
  and listen again on the same port.

With ``Upstream(tls=context)`` it also serves DNS over TLS on a port of its own (``tls_addr``,
queries recorded with proto ``"tls"``).

It records every query it got (``received``; ``count(proto=..., name=...)``) and the TCP
connections it accepted, and ``await wait_until(predicate)`` waits, with a deadline, until
a predicate over its state holds. It is dnspython on the wire, sharing no code with the
server under test. Use it as ``async with Upstream() as up: ... up.addr``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import ssl
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

MAX_HOLD_SECONDS: Final = 10.0
WAIT_TIMEOUT_SECONDS: Final = 3.0
_BIND_ATTEMPTS: Final = 20
_LENGTH = struct.Struct("!H")


@dataclass(frozen=True)
class Received:
    """One query the upstream got."""

    proto: str  # "udp" or "tcp"
    data: bytes  # the bytes as received
    message: dns.message.Message | None  # None when it did not parse

    @property
    def name(self) -> str:
        if self.message is None or not self.message.question:
            return ""
        return self.message.question[0].name.to_text().lower()


class _UDP(asyncio.DatagramProtocol):
    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:  # type: ignore[type-arg]
        transport = self.transport
        if transport is None:
            return

        def send(reply: bytes) -> None:
            if not transport.is_closing():
                transport.sendto(reply, addr)

        self.upstream._handle(data, "udp", send)


class Upstream:
    """A scriptable DNS server on 127.0.0.1 (UDP and TCP, one port)."""

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.tls_port = 0
        self._tls_server: asyncio.Server | None = None
        self.mode = "answer"
        self.rcode: int | None = None
        self.delay = 0.0
        self.records: dict[tuple[str, int], list[str]] = {}
        self.ttl = 300
        self.received: list[Received] = []
        self.tcp_connections = 0
        self.open_tcp_connections = 0
        self.port = 0
        self._gate: asyncio.Event | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._connections: set[asyncio.Task[None]] = set()
        self._changed: asyncio.Condition | None = None

    # --- configuration ---------------------------------------------------------------------

    def add(self, name: str, rdtype: str, *rdata: str) -> None:
        """Answer ``name``/``rdtype`` with these records (presentation format rdata)."""
        key = (dns.name.from_text(name).to_text().lower(), dns.rdatatype.from_text(rdtype))
        self.records.setdefault(key, []).extend(rdata)

    def hold(self) -> None:
        """Keep every answer until ``release()``."""
        self._gate = asyncio.Event()

    def release(self) -> None:
        if self._gate is not None:
            self._gate.set()
            self._gate = None

    @property
    def addr(self) -> str:
        """``127.0.0.1:PORT``, as a forward TO."""
        return f"127.0.0.1:{self.port}"

    @property
    def tls_addr(self) -> str:
        """``127.0.0.1:PORT`` of the TLS listener."""
        return f"127.0.0.1:{self.tls_port}"

    # --- observation -----------------------------------------------------------------------

    def count(self, *, proto: str | None = None, name: str | None = None) -> int:
        """How many queries arrived, optionally only over ``proto`` or for ``name``."""
        wanted = dns.name.from_text(name).to_text().lower() if name is not None else None
        return sum(
            1
            for r in self.received
            if (proto is None or r.proto == proto) and (wanted is None or r.name == wanted)
        )

    async def wait_until(
        self, predicate: Callable[[], bool], *, timeout: float = WAIT_TIMEOUT_SECONDS
    ) -> None:
        """Wait until ``predicate()`` holds; raise TimeoutError after ``timeout`` seconds."""
        assert self._changed is not None
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(predicate)

    # --- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Upstream:
        self._changed = asyncio.Condition()
        await self._listen(0)
        if self.tls is not None:
            self._tls_server = await asyncio.start_server(
                functools.partial(self._serve_tcp, proto="tls"), "127.0.0.1", 0, ssl=self.tls
            )
            self.tls_port = self._tls_server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _listen(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        last_error: OSError | None = None
        for _ in range(_BIND_ATTEMPTS if port == 0 else 1):
            udp, _ = await loop.create_datagram_endpoint(
                lambda: _UDP(self), local_addr=("127.0.0.1", port), family=socket.AF_INET
            )
            bound = udp.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(
                    self._serve_tcp, "127.0.0.1", bound, reuse_address=True
                )
            except OSError as exc:  # the TCP side of this port is taken: try another port
                udp.close()
                last_error = exc
                continue
            self._udp = udp
            self.port = bound
            return
        raise OSError(f"no free port for UDP and TCP: {last_error}")

    async def pause(self) -> None:
        """Stop listening; queries to the port are refused until ``resume()``."""
        await self._stop_listening()

    async def resume(self) -> None:
        """Listen again on the same port."""
        await self._listen(self.port)

    async def _stop_listening(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            await self._close_server(self._tcp)
            self._tcp = None

    async def _close_server(self, server: asyncio.Server) -> None:
        server.close()
        for writer in list(self._writers):
            writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(WAIT_TIMEOUT_SECONDS):
                await server.wait_closed()
                # Connection handlers end on their own once their sockets are closed.
                if self._connections:
                    await asyncio.wait(list(self._connections))

    async def close(self) -> None:
        self.release()
        await self._stop_listening()
        if self._tls_server is not None:
            await self._close_server(self._tls_server)
            self._tls_server = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # --- serving ---------------------------------------------------------------------------

    def _notify(self) -> None:
        changed = self._changed
        if changed is None:
            return

        async def notify() -> None:
            async with changed:
                changed.notify_all()

        self._spawn(notify())

    def _spawn(self, coro) -> None:  # type: ignore[no-untyped-def]
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _handle(self, data: bytes, proto: str, send: Callable[[bytes], None]) -> None:
        try:
            message: dns.message.Message | None = dns.message.from_wire(data)
        except Exception:
            message = None
        self.received.append(Received(proto, data, message))
        self._notify()
        if message is None or self.mode == "silent":
            return
        self._spawn(self._answer(message, proto, send))

    async def _answer(
        self, query: dns.message.Message, proto: str, send: Callable[[bytes], None]
    ) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        gate = self._gate
        if gate is not None:
            try:
                async with asyncio.timeout(MAX_HOLD_SECONDS):
                    await gate.wait()
            except TimeoutError:
                return
        for reply in self._replies(query, proto):
            send(reply)

    def _replies(self, query: dns.message.Message, proto: str) -> list[bytes]:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        question = query.question[0] if query.question else None
        if self.rcode is not None:
            response.set_rcode(self.rcode)
        elif self.mode == "truncate" and proto == "udp":
            response.flags |= dns.flags.TC
        elif question is not None:
            key = (question.name.to_text().lower(), question.rdtype)
            rdatas = self.records.get(key)
            if rdatas:
                rrset = dns.rrset.from_text_list(
                    question.name, self.ttl, question.rdclass, question.rdtype, rdatas
                )
                response.answer.append(rrset)
            elif not any(name == key[0] for name, _ in self.records):
                response.set_rcode(dns.rcode.NXDOMAIN)
        if self.mode == "wrong_question" and question is not None:
            other = dns.name.from_text("mismatch.invalid.")
            response.question = [dns.rrset.RRset(other, question.rdclass, question.rdtype)]
        wire = response.to_wire(max_size=65535)
        if self.mode == "garbage":
            return [wire[:2] + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\xff\xff"]
        if self.mode == "wrong_id":
            wrong = _LENGTH.pack(query.id ^ 0x5A5A) + wire[2:]
            return [wrong, wire]
        return [wire]

    async def _serve_tcp(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, proto: str = "tcp"
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        self.tcp_connections += 1
        self.open_tcp_connections += 1
        self._writers.add(writer)
        self._notify()

        def send(reply: bytes) -> None:
            if not writer.is_closing():
                writer.write(_LENGTH.pack(len(reply)) + reply)

        try:
            while True:
                length = _LENGTH.unpack(await reader.readexactly(2))[0]
                self._handle(await reader.readexactly(length), proto, send)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            self.open_tcp_connections -= 1
            self._writers.discard(writer)
            self._connections.discard(task)
            writer.close()
            self._notify()
