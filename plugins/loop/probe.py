"""The startup probe of *loop*: send our own HINFO query to ourselves (CoreDNS ``setup.go``).

After startup a supervised task waits until its instance is the one serving (on a reload the
sockets are kept and the new chain is swapped in after the startup hooks), then sends
``HINFO <qname>`` over UDP to the block's first listen address and the port actually bound
(port 0 in tests). Each try has a 2 s timeout; a failed try resets the handler's count and is
retried 1 s later, for up to 30 s after startup. Any reply ends the probe. Either way the
handler is then disabled for good.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Final

from dnslib import DNSRecord

from clusterdns.log import plugin_logger
from clusterdns.server.config import BlockConfig

from .loop import Loop, join_host_port

if TYPE_CHECKING:
    from clusterdns.server.instance import Instance

PROBE_WINDOW_SECONDS: Final = 30.0
PROBE_TIMEOUT_SECONDS: Final = 2.0  # miekg/dns's default exchange timeout
PROBE_RETRY_SECONDS: Final = 1.0
_STOP_TIMEOUT_SECONDS: Final = 5.0
log = plugin_logger("loop")


class ProbeError(Exception):
    """The probe's exchange got no usable reply."""


class _Exchange(asyncio.DatagramProtocol):
    """Waits for the one reply carrying our query's ID."""

    def __init__(self, query_id: int) -> None:
        self.query_id = query_id
        self.reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple) -> None:  # type: ignore[type-arg]
        if (
            len(data) >= 12
            and int.from_bytes(data[:2], "big") == self.query_id
            and data[2] & 0x80
            and not self.reply.done()
        ):
            self.reply.set_result(data)

    def error_received(self, exc: Exception) -> None:  # e.g. ICMP port unreachable
        if not self.reply.done():
            self.reply.set_exception(exc)


def probe_host(listen_host: str) -> str:
    """Where to send the probe: the listen host, or loopback when it is every address."""
    if listen_host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if listen_host == "::":
        return "::1"
    return listen_host


async def exchange(host: str, port: int, qname: str, timeout: float) -> bytes:
    """One ``HINFO qname`` over UDP; the reply (any rcode), or raise on error or timeout."""
    query = DNSRecord.question(qname, "HINFO")
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _Exchange(query.header.id), remote_addr=(host, port), family=family
    )
    try:
        transport.sendto(query.pack())
        return await asyncio.wait_for(protocol.reply, timeout)
    finally:
        transport.close()
        if not protocol.reply.done():
            protocol.reply.cancel()
        elif not protocol.reply.cancelled():
            protocol.reply.exception()  # retrieved: no "never retrieved" report


class Probe:
    """The probe task of one ``loop`` handler, bound to its instance's lifecycle."""

    def __init__(self, handler: Loop, instance: Instance, config: BlockConfig) -> None:
        self.handler = handler
        self.instance = instance
        self.config = config
        self.tries = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Startup hook: run the probe in the background (the listeners are not open yet)."""
        self._task = asyncio.create_task(self._supervise(), name=f"loop probe {self.handler.zone}")

    async def stop(self) -> None:
        """Shutdown hook: stop probing; safe to call twice."""
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.wait([task], timeout=_STOP_TIMEOUT_SECONDS)

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PROBE_WINDOW_SECONDS
        try:
            port = await self._serving_port(deadline)
            if port is not None:
                await self._probe(port, deadline)
        finally:
            self.handler.disabled = True

    async def _serving_port(self, deadline: float) -> int | None:
        """The bound port of the block's first listen address, once this instance serves."""
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(self.instance.serving.wait(), max(0.0, deadline - loop.time()))
        except TimeoutError:
            return None
        listener = self.instance.process.listeners.get(self.config.listen_addresses()[0][0])
        return int(listener.port) if listener is not None else None

    async def _probe(self, port: int, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        listen_host = self.config.listen_hosts[0] if self.config.listen_hosts else ""
        self.handler.address = join_host_port(listen_host, port)
        host = probe_host(listen_host)
        while loop.time() < deadline:
            self.tries += 1
            try:
                await exchange(host, port, self.handler.qname, PROBE_TIMEOUT_SECONDS)
                return
            except (OSError, TimeoutError):
                pass
            except Exception as exc:  # supervised: a bug counts as a failed try, never kills us
                log.error("Probe failed unexpectedly: %r", exc)
            self.handler.reset()
            await asyncio.sleep(PROBE_RETRY_SECONDS)
