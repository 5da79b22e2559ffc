"""Moving one DNS message to an upstream and its reply back: UDP, TCP and TLS.

Shared by the exchanges of queries (proxy.py) and the health probes (health.py). A UDP
exchange uses a fresh connected socket, so each one leaves from a new random source port; a
stream exchange runs on a connection the caller owns. Replies are matched by ID only (other
datagrams and frames are read past until the deadline). Failures raise ``UpstreamError`` whose
text is Go's, because CoreDNS hands these errors to *errors* as they come:
``read udp 127.0.0.1:40212->127.0.0.1:53: i/o timeout``.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import ssl
import struct
from typing import Final

from clusterdns import wire

#: How long a write may take (CoreDNS ``maxTimeout``).
WRITE_TIMEOUT_SECONDS: Final = 2.0
MAX_UDP_DATAGRAM: Final = 65535
_LENGTH = struct.Struct("!H")


class UpstreamError(Exception):
    """An exchange that gave no usable reply; ``str()`` is the text CoreDNS would log."""


class CachedClosed(UpstreamError):
    """A cached TCP connection turned out to be closed by the upstream; retry on another."""

    def __init__(self) -> None:
        super().__init__("cached connection was closed by peer")


def go_addr(address: tuple) -> str:  # type: ignore[type-arg]
    """A socket address as Go prints it: ``127.0.0.1:53``, ``[::1]:53``."""
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def os_reason(exc: OSError) -> str:
    """The errno text Go prints for a syscall error (``connection refused``)."""
    text = os.strerror(exc.errno) if exc.errno else str(exc)
    return text[:1].lower() + text[1:]


async def udp_exchange(
    host: str,
    port: int,
    message: bytes,
    *,
    deadline: float,
    source: str = "",
) -> bytes:
    """Send ``message`` over a fresh UDP socket; return the first datagram with its ID.

    Datagrams too short to be a message, or with another ID, are read past until
    ``deadline`` (event-loop time). Raises UpstreamError with Go's error text.
    """
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    remote = go_addr((host, port))
    try:
        sock = socket.socket(family, socket.SOCK_DGRAM)
    except OSError as exc:  # out of file descriptors
        raise UpstreamError(f"dial udp {remote}: socket: {os_reason(exc)}") from None
    try:
        sock.setblocking(False)
        try:
            if source:
                sock.bind((source, 0))
            sock.connect((host, port))
        except OSError as exc:
            raise UpstreamError(f"dial udp {remote}: connect: {os_reason(exc)}") from None
        local = go_addr(sock.getsockname())
        try:
            sock.send(message)
        except OSError as exc:
            raise UpstreamError(f"write udp {local}->{remote}: write: {os_reason(exc)}") from None
        qid = message[:2]
        try:
            async with asyncio.timeout_at(deadline):
                while True:
                    data = await loop.sock_recv(sock, MAX_UDP_DATAGRAM)
                    if len(data) >= wire.HEADER_SIZE and data[:2] == qid:
                        return data
        except TimeoutError:
            raise UpstreamError(f"read udp {local}->{remote}: i/o timeout") from None
        except OSError as exc:
            raise UpstreamError(f"read udp {local}->{remote}: read: {os_reason(exc)}") from None
    finally:
        sock.close()


async def open_stream(
    host: str,
    port: int,
    *,
    deadline: float,
    timeout: float,
    source: str = "",
    ssl_context: ssl.SSLContext | None = None,
    server_name: str = "",
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str]:
    """Connect over TCP (TLS with ``ssl_context``); return the streams and the local address."""
    loop = asyncio.get_running_loop()
    remote = go_addr((host, port))
    try:
        async with asyncio.timeout_at(min(loop.time() + timeout, deadline)):
            reader, writer = await asyncio.open_connection(
                host,
                port,
                local_addr=(source, 0) if source else None,
                ssl=ssl_context,
                server_hostname=(server_name or host) if ssl_context is not None else None,
            )
    except TimeoutError:
        raise UpstreamError(f"dial tcp {remote}: i/o timeout") from None
    except ssl.SSLCertVerificationError as exc:
        raise UpstreamError(f"tls: failed to verify certificate: {exc.verify_message}") from None
    except ssl.SSLError as exc:
        raise UpstreamError(f"tls: {exc.reason or exc}") from None
    except OSError as exc:
        raise UpstreamError(f"dial tcp {remote}: connect: {os_reason(exc)}") from None
    return reader, writer, go_addr(writer.get_extra_info("sockname"))


async def stream_exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    message: bytes,
    *,
    deadline: float,
    local: str,
    remote: str,
    cached: bool = False,
) -> bytes:
    """One framed exchange on an open stream; replies with another ID are read past.

    Raises CachedClosed when a cached connection was closed by the peer, else UpstreamError.
    """
    loop = asyncio.get_running_loop()
    try:
        writer.write(_LENGTH.pack(len(message)) + message)
        async with asyncio.timeout_at(min(loop.time() + WRITE_TIMEOUT_SECONDS, deadline)):
            await writer.drain()
    except TimeoutError:
        raise UpstreamError(f"write tcp {local}->{remote}: i/o timeout") from None
    except OSError as exc:
        if cached:
            raise CachedClosed() from None
        raise UpstreamError(f"write tcp {local}->{remote}: write: {os_reason(exc)}") from None
    qid = message[:2]
    try:
        async with asyncio.timeout_at(deadline):
            while True:
                length = _LENGTH.unpack(await reader.readexactly(2))[0]
                data = await reader.readexactly(length)
                if len(data) < wire.HEADER_SIZE:
                    raise UpstreamError("dns: short read")
                if data[:2] == qid:
                    return data
    except TimeoutError:
        raise UpstreamError(f"read tcp {local}->{remote}: i/o timeout") from None
    except asyncio.IncompleteReadError:
        if cached:
            raise CachedClosed() from None
        raise UpstreamError("EOF") from None
    except OSError as exc:
        if cached and exc.errno in (errno.ECONNRESET, errno.EPIPE):
            raise CachedClosed() from None
        raise UpstreamError(f"read tcp {local}->{remote}: read: {os_reason(exc)}") from None
