"""A listener: the UDP and TCP sockets of one address:port, and the mux serving them.

CoreDNS serves UDP and TCP on every ``dns://`` address. A listener with host '' binds every
address (dual-stack where the machine has IPv6). With port 0 (tests) the kernel picks a port
for UDP and TCP binds the same one. A reload replaces ``mux`` and keeps the sockets, so no
query is lost or refused while the configuration changes.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from typing import Final

from .config import ListenAddress
from .mux import Mux
from .tcp import TCPProtocol, open_tcp
from .udp import UDPProtocol, open_udp

_PORT_RETRIES: Final = 20
_TCP_BACKLOG: Final = 1024


def _family_and_host(host: str) -> tuple[socket.AddressFamily, str, bool]:
    """Socket family, bind host and whether to accept IPv4 on an IPv6 socket."""
    if host == "":
        if socket.has_ipv6:
            return socket.AF_INET6, "::", True
        return socket.AF_INET, "0.0.0.0", False
    bare = host.split("%", 1)[0]
    if ":" in bare:
        return socket.AF_INET6, host, False
    return socket.AF_INET, host, False


def _bind(kind: socket.SocketKind, host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    family, bind_host, dual = _family_and_host(host)
    try:
        sock = socket.socket(family, kind)
    except OSError:
        if family != socket.AF_INET6 or host != "":
            raise
        family, bind_host, dual = socket.AF_INET, "0.0.0.0", False
        sock = socket.socket(family, kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:  # -workers N: the kernel spreads queries over the processes
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if dual else 1)
        sock.bind((bind_host, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(_TCP_BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class Listener:
    """The sockets of one listen address, served by the current ``mux``."""

    def __init__(self, address: ListenAddress, mux: Mux, *, reuse_port: bool = False) -> None:
        self.address = address
        self.mux = mux
        self.reuse_port = reuse_port
        self.port = address.port
        self.udp_transport: asyncio.DatagramTransport | None = None
        self.udp_protocol: UDPProtocol | None = None
        self.tcp_server: asyncio.Server | None = None
        self.tcp_connections: set[TCPProtocol] = set()

    def bind(self) -> tuple[socket.socket, socket.socket]:
        """Bind UDP then TCP on the same port (retrying when port 0 picked a taken TCP port)."""
        for _ in range(_PORT_RETRIES):
            udp = _bind(socket.SOCK_DGRAM, self.address.host, self.address.port, reuse_port=self.reuse_port)
            port = udp.getsockname()[1]
            try:
                tcp = _bind(socket.SOCK_STREAM, self.address.host, port, reuse_port=self.reuse_port)
            except OSError as exc:
                udp.close()
                if self.address.port == 0 and exc.errno == errno.EADDRINUSE:
                    continue
                raise
            self.port = port
            return udp, tcp
        raise OSError(errno.EADDRINUSE, f"no free port for {self.address}")

    async def open(self) -> None:
        udp, tcp = self.bind()
        try:
            self.udp_transport, self.udp_protocol = await open_udp(self, udp)
            self.tcp_server = await open_tcp(self, tcp, self.tcp_connections)
        except BaseException:
            udp.close()
            tcp.close()
            raise

    async def close(self) -> None:
        """Stop accepting; close every connection."""
        if self.udp_transport is not None:
            self.udp_transport.close()
        if self.tcp_server is not None:
            self.tcp_server.close()
            for connection in list(self.tcp_connections):
                connection.close()
            await self.tcp_server.wait_closed()
