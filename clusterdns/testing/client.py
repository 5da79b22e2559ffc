"""DNS clients for tests: dnspython for parsed answers, raw sockets for malformed input."""

from __future__ import annotations

import asyncio
import socket
import struct

import dns.asyncquery
import dns.message
import dns.rdataclass
import dns.rdatatype

TIMEOUT_SECONDS = 2.0


async def query(
    port: int,
    name: str,
    rdtype: str | int = "A",
    *,
    tcp: bool = False,
    host: str = "127.0.0.1",
    use_edns: int | bool = False,
    payload: int = 1232,
    want_dnssec: bool = False,
    rdclass: str | int = "IN",
    timeout: float = TIMEOUT_SECONDS,
) -> dns.message.Message:
    """Send one query with dnspython and return the parsed reply (TC replies are kept)."""
    message = dns.message.make_query(
        name,
        rdtype,
        rdclass,
        use_edns=0 if use_edns is True else use_edns,
        payload=payload,
        want_dnssec=want_dnssec,
    )
    if tcp:
        return await dns.asyncquery.tcp(message, host, port=port, timeout=timeout)
    return await dns.asyncquery.udp(
        message, host, port=port, timeout=timeout, ignore_trailing=False, raise_on_truncation=False
    )


class _Collector(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.replies.put_nowait(data)


async def query_raw_udp(
    port: int, payload: bytes, *, host: str = "127.0.0.1", timeout: float = TIMEOUT_SECONDS
) -> bytes | None:
    """Send raw bytes over UDP; return the reply, or None if none came within ``timeout``."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        _Collector, remote_addr=(host, port), family=socket.AF_INET
    )
    try:
        transport.sendto(payload)
        try:
            return await asyncio.wait_for(protocol.replies.get(), timeout)
        except TimeoutError:
            return None
    finally:
        transport.close()


async def query_raw_tcp(
    port: int,
    frames: list[bytes],
    *,
    expect: int,
    host: str = "127.0.0.1",
    timeout: float = TIMEOUT_SECONDS,
) -> list[bytes]:
    """Send length-prefixed ``frames`` on one connection; read ``expect`` replies."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        writer.write(b"".join(struct.pack("!H", len(f)) + f for f in frames))
        await writer.drain()
        replies = []
        for _ in range(expect):
            length = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), timeout))[0]
            replies.append(await asyncio.wait_for(reader.readexactly(length), timeout))
        return replies
    finally:
        writer.close()
