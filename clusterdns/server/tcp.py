"""TCP transport: two-byte length framing, pipelining, timeouts and a connection cap.

Several queries may arrive on one connection before any answer is sent (NodeLocal DNSCache
keeps long-lived connections busy this way); each is served as its own task and answered as
soon as it is ready, so answers may come back out of order, as RFC 7766 allows. Each answer is
written with its length prefix in one call, so answers never interleave.

Limits follow CoreDNS/miekg defaults: a connection with no complete query for 10 s (idle) is
closed, a query must arrive whole within 3 s of its first byte (read), and a client that does
not read its answers for 5 s (write) is dropped; while its answers are unread we stop reading
its queries. A zero-length frame or one too short for a header is ignored, as miekg/dns does.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from .listener import Listener

IDLE_TIMEOUT_SECONDS: Final = 10.0
READ_TIMEOUT_SECONDS: Final = 3.0
WRITE_TIMEOUT_SECONDS: Final = 5.0
MAX_CONNECTIONS: Final = 4096
MAX_PIPELINED_PER_CONNECTION: Final = 128


class TCPProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(self, listener: Listener, connections: set[TCPProtocol]) -> None:
        self.listener = listener
        self.connections = connections
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.remote: tuple = ("", 0)
        self.local: tuple = ("", 0)
        self.in_flight: set[asyncio.Task[None]] = set()
        self.timer: asyncio.TimerHandle | None = None
        self.write_timer: asyncio.TimerHandle | None = None
        self.reading_paused = False
        self.writing_paused = False
        self.eof = False

    # --- connection lifecycle -----------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if len(self.connections) >= MAX_CONNECTIONS:
            transport.abort()
            return
        self.connections.add(self)
        peer = transport.get_extra_info("peername")
        sockname = transport.get_extra_info("sockname")
        self.remote = (peer[0], peer[1])
        self.local = (sockname[0], sockname[1])
        self._arm(READ_TIMEOUT_SECONDS)  # miekg waits for the first query with the read timeout

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self._disarm()
        if self.write_timer is not None:
            self.write_timer.cancel()
        for task in self.in_flight:
            task.cancel()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    # --- timers -------------------------------------------------------------------------
    def _arm(self, seconds: float) -> None:
        self._disarm()
        self.timer = asyncio.get_running_loop().call_later(seconds, self._timed_out)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _timed_out(self) -> None:
        if self.in_flight:  # answers still being computed: not idle yet
            self._arm(IDLE_TIMEOUT_SECONDS)
            return
        if self.transport is not None:
            self.transport.abort()

    # --- reading ------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        started_empty = not self.buffer
        self.buffer += data
        took = self._take_queries()
        if not self.buffer:
            self._arm(IDLE_TIMEOUT_SECONDS)
        elif started_empty or took:
            # A new query began: it must arrive whole within the read timeout of its first
            # byte (miekg sets the read deadline once per message, not once per read).
            self._arm(READ_TIMEOUT_SECONDS)

    def _take_queries(self) -> bool:
        """Serve the whole queries in the buffer, up to the cap; True if any was taken.

        Past the cap the rest waits in the buffer, and reading pauses, until answers are done.
        """
        buffer = self.buffer
        loop = asyncio.get_running_loop()
        took = False
        while len(buffer) >= 2 and len(self.in_flight) < MAX_PIPELINED_PER_CONNECTION:
            length = (buffer[0] << 8) | buffer[1]
            if len(buffer) < 2 + length:
                break
            message = bytes(buffer[2 : 2 + length])
            del buffer[: 2 + length]
            took = True
            if length < 12:  # miekg/dns lets such clients hang: no reply, keep reading
                continue
            mux = self.listener.mux
            replayed = mux.replay(message, "tcp", self.remote)
            if replayed is not None:  # a kept reply: no task, no chain (replay.py)
                self._send(replayed)
                continue
            task = loop.create_task(mux.serve(message, "tcp", self.remote, self.local, self._send))
            self.in_flight.add(task)
            task.add_done_callback(self._served)
        if len(self.in_flight) >= MAX_PIPELINED_PER_CONNECTION:
            self._pause_reading()
        return took

    def _has_whole_query(self) -> bool:
        buffer = self.buffer
        return len(buffer) >= 2 and len(buffer) >= 2 + ((buffer[0] << 8) | buffer[1])

    def _continue(self) -> None:
        """After answers: serve the queries waiting in the buffer, then read again."""
        if self.writing_paused or len(self.in_flight) >= MAX_PIPELINED_PER_CONNECTION // 2:
            return
        if self._take_queries() and not self.buffer:
            self._arm(IDLE_TIMEOUT_SECONDS)
        if len(self.in_flight) < MAX_PIPELINED_PER_CONNECTION:
            self._resume_reading()

    def _served(self, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        if self.transport is None or self.transport.is_closing():
            return
        self._continue()
        if self.eof and not self.in_flight and not self._has_whole_query():
            self.close()

    def _pause_reading(self) -> None:
        if not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self.reading_paused and self.transport is not None and not self.transport.is_closing():
            self.reading_paused = False
            self.transport.resume_reading()

    # --- writing ------------------------------------------------------------------------
    def _send(self, reply: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(len(reply).to_bytes(2, "big") + reply)

    def pause_writing(self) -> None:
        self.writing_paused = True
        self._pause_reading()
        loop = asyncio.get_running_loop()
        self.write_timer = loop.call_later(WRITE_TIMEOUT_SECONDS, self._write_timed_out)

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self.write_timer is not None:
            self.write_timer.cancel()
            self.write_timer = None
        self._continue()

    def _write_timed_out(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def eof_received(self) -> bool:
        # The client finished sending; keep the connection until its answers are written.
        self.eof = True
        if not self.in_flight and not self._has_whole_query():
            self.close()
        return True


async def open_tcp(listener: Listener, sock: socket.socket, connections: set[TCPProtocol]) -> asyncio.Server:
    """Serve a bound, listening TCP socket."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: TCPProtocol(listener, connections), sock=sock)
