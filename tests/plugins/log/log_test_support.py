"""Shared by the log tests: queries from a known port, a chain driver. Captured log lines are
the ``lines`` fixture of tests/conftest.py (``clusterdns.testing.LogLines``)."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable

import dns.message
from dnslib import DNSRecord

from clusterdns.plugin import Handler, ResponseWriter
from clusterdns.request import Request
from clusterdns.server.config import BlockConfig, ListenAddress
from clusterdns.server.instance import CorefileSource, Instance
from clusterdns.server.mux import Mux
from clusterdns.server.runtime import Runtime

WAIT_SECONDS = 3.0


def build(corefile: str) -> Instance:
    """Parse and set up a Corefile without opening sockets."""
    runtime = Runtime(lambda: CorefileSource(corefile, "Corefile"), default_port="0")
    return runtime.build()


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple) -> None:  # type: ignore[type-arg]
        self.replies.put_nowait(data)


async def exchange_udp(
    port: int, message: dns.message.Message, *, host: str = "127.0.0.1"
) -> tuple[bytes, int]:
    """Send ``message`` from a port of our own; return the reply's bytes and that port."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        _Receiver, local_addr=(host, 0), remote_addr=(host, port)
    )
    try:
        source_port = transport.get_extra_info("sockname")[1]
        transport.sendto(message.to_wire())
        return await asyncio.wait_for(protocol.replies.get(), WAIT_SECONDS), source_port
    finally:
        transport.close()


async def exchange_tcp(
    port: int, message: dns.message.Message, *, host: str = "127.0.0.1"
) -> tuple[bytes, int]:
    """As ``exchange_udp``, over one TCP connection."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), WAIT_SECONDS)
    try:
        source_port = writer.get_extra_info("sockname")[1]
        wire = message.to_wire()
        writer.write(struct.pack("!H", len(wire)) + wire)
        await writer.drain()
        length = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), WAIT_SECONDS))[0]
        return await asyncio.wait_for(reader.readexactly(length), WAIT_SECONDS), source_port
    finally:
        writer.close()


class Stub(Handler):
    """The end of a test chain: answers with ``build(req)``, or returns ``rcode`` unwritten."""

    name = "stub"

    def __init__(
        self, next: Handler | None = None, *, build: Callable[[Request], DNSRecord] | None = None, rcode: int = 0
    ) -> None:
        super().__init__(next)
        self.build = build
        self.rcode = rcode

    async def serve_dns(self, req: Request, w: ResponseWriter) -> int:
        if self.build is None:
            return self.rcode
        reply = self.build(req)
        w.write_msg(reply)
        return reply.header.rcode


async def serve_through(chain: Handler, message: dns.message.Message, proto: str = "udp") -> bytes | None:
    """Run one query through ``chain`` behind the real server mux (no sockets)."""
    config = BlockConfig(index=0, zones=[])
    config.chain = chain
    mux = Mux(ListenAddress("dns", "", 53), {".": config})
    sent: list[bytes] = []
    await mux.serve(message.to_wire(), proto, ("192.0.2.7", 40000), ("192.0.2.1", 53), sent.append)
    return sent[0] if sent else None
