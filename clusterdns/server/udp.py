"""UDP transport: datagrams in, datagrams out. No DNS policy lives here.

Each datagram becomes one task running the listener's current mux; the mux is looked up per
datagram so a reload that swaps it takes effect for the very next packet while queries already
in flight finish on the chain they started with. The number of queries in flight is capped so
a flood cannot grow memory without bound; past the cap datagrams are dropped (and counted), as
a kernel drops them when a socket buffer is full.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Final

from ..log import core_logger

if TYPE_CHECKING:
    from .listener import Listener

MAX_IN_FLIGHT: Final = 10_000
log = core_logger()


class UDPProtocol(asyncio.DatagramProtocol):
    """Feeds datagrams of one socket to its listener's mux."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.transport: asyncio.DatagramTransport | None = None
        self.local: tuple = ("", 0)
        self.in_flight: set[asyncio.Task[None]] = set()
        self.dropped = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sockname = transport.get_extra_info("sockname")
        self.local = (sockname[0], sockname[1])

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        transport = self.transport
        assert transport is not None
        mux = self.listener.mux
        replayed = mux.replay(data, "udp", addr)
        if replayed is not None:  # a kept reply: no task, no chain (replay.py)
            if not transport.is_closing():
                transport.sendto(replayed, addr)
            return
        if len(self.in_flight) >= MAX_IN_FLIGHT:
            self.dropped += 1
            return

        def send(reply: bytes) -> None:
            if not transport.is_closing():
                transport.sendto(reply, addr)

        task = asyncio.get_running_loop().create_task(mux.serve(data, "udp", addr, self.local, send))
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)

    def error_received(self, exc: Exception) -> None:  # ICMP errors from earlier sends
        log.debug("udp error on %s: %s", self.local, exc)


async def open_udp(listener: Listener, sock: socket.socket) -> tuple[asyncio.DatagramTransport, UDPProtocol]:
    """Serve a bound UDP socket."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(lambda: UDPProtocol(listener), sock=sock)
    return transport, protocol
