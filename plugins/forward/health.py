"""Health checks of one upstream (CoreDNS ``plugin/pkg/proxy/health.go`` and ``pkg/up``).

Checks are not run on a timer: a failed exchange starts the checker, which probes at once and
then every ``health_check`` interval until a probe succeeds. Each failed probe adds one to the
upstream's fail count (and to ``coredns_proxy_healthcheck_failures_total``); a success resets
it to zero. At most one checker runs per upstream; it is a supervised task, cancelled when the
server instance shuts down.

The probe is ``<domain> IN NS`` (``.`` by default) with RD set unless ``no_rec``, over UDP
(TCP with ``force_tcp``, TLS for ``tls://``) on a fresh socket, with 1 s to answer. Any reply
with the probe's ID is healthy, whatever its rcode: only the network path is judged.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
from typing import TYPE_CHECKING, Final

from dnslib import DNSLabel

from clusterdns.log import plugin_logger

from . import metrics
from .transport import UpstreamError, open_stream, stream_exchange, udp_exchange

if TYPE_CHECKING:
    from .proxy import Proxy

log = plugin_logger("forward")

#: Read (and write) timeout of one probe (CoreDNS ``defaultTimeout`` of the health checker).
CHECK_TIMEOUT_SECONDS: Final = 1.0
#: Dial timeout of a TCP/TLS probe (miekg/dns client default).
CHECK_DIAL_TIMEOUT_SECONDS: Final = 2.0
#: ``health_check 0`` would spin the event loop against a refusing upstream; keep a floor.
MIN_INTERVAL_SECONDS: Final = 0.001
_TYPE_NS: Final = 2
_CLASS_IN: Final = 1


def probe_message(domain: str, recursion_desired: bool) -> bytes:
    """The probe: a random ID, RD as configured, one question ``domain IN NS``."""
    flags = 0x0100 if recursion_desired else 0
    name = b"".join(
        bytes((len(label),)) + label for label in DNSLabel(domain).label
    ) + b"\x00"
    header = os.urandom(2) + struct.pack("!5H", flags, 1, 0, 0, 0)
    return header + name + struct.pack("!HH", _TYPE_NS, _CLASS_IN)


class HealthChecker:
    """Runs the probe loop of one upstream."""

    def __init__(
        self,
        proxy: Proxy,
        *,
        interval: float,
        domain: str,
        recursion_desired: bool,
        proto: str,
    ) -> None:
        self.proxy = proxy
        self.interval = max(interval, MIN_INTERVAL_SECONDS)
        self.domain = domain
        self.recursion_desired = recursion_desired
        self.proto = proto  # "udp", "tcp" or "tcp-tls"
        self.task: asyncio.Task[None] | None = None
        self.stopped = False

    @property
    def running(self) -> bool:
        return self.task is not None

    def start(self) -> None:
        """Start probing unless a probe loop already runs (or the checker was stopped)."""
        if self.task is not None or self.stopped:
            return
        self.task = asyncio.get_running_loop().create_task(
            self._loop(), name=f"forward health check {self.proxy.addr}"
        )
        self.task.add_done_callback(self._done)

    async def _loop(self) -> None:
        while not await self.check():
            await asyncio.sleep(self.interval)

    def _done(self, task: asyncio.Task[None]) -> None:
        if self.task is task:
            self.task = None
        if not task.cancelled() and task.exception() is not None:
            log.error("health check of %s stopped: %s", self.proxy.addr, task.exception())

    async def check(self) -> bool:
        """One probe; counts a failure or resets the count. True when healthy."""
        proxy = self.proxy
        try:
            await self._send()
        except UpstreamError:
            metrics.HEALTHCHECK_FAILURES.labels("forward", proxy.addr).inc()
            proxy.fails += 1
            return False
        proxy.fails = 0
        return True

    async def _send(self) -> None:
        proxy = self.proxy
        message = probe_message(self.domain, self.recursion_desired)
        loop = asyncio.get_running_loop()
        if self.proto == "udp":
            await udp_exchange(
                proxy.host,
                proxy.port,
                message,
                deadline=loop.time() + CHECK_TIMEOUT_SECONDS,
                source=proxy.source,
            )
            return
        start = loop.time()
        reader, writer, local = await open_stream(
            proxy.host,
            proxy.port,
            deadline=start + CHECK_DIAL_TIMEOUT_SECONDS,
            timeout=CHECK_DIAL_TIMEOUT_SECONDS,
            source=proxy.source,
            ssl_context=proxy.ssl_context if self.proto == "tcp-tls" else None,
            server_name=proxy.server_name,
        )
        try:
            await stream_exchange(
                reader,
                writer,
                message,
                deadline=loop.time() + CHECK_TIMEOUT_SECONDS,
                local=local,
                remote=proxy.addr,
            )
        finally:
            writer.close()

    async def stop(self) -> None:
        """Cancel the probe loop and accept no new start."""
        self.stopped = True
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
