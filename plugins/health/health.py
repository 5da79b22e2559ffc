"""The *health* endpoint: ``/health`` answers ``200 OK`` for as long as the process runs.

It is a liveness probe, not a readiness one: it never looks at plugins. What it adds is the
shutdown behaviour Kubernetes relies on (CoreDNS ``plugin/health/health.go``): on final shutdown
it can stay in *lameduck* mode for a while, still answering DNS and ``/health``, so that
endpoints controllers and kube-proxy stop sending traffic before the sockets close. On a reload
nothing of that happens; the new instance has already mounted its route on the same listener.

While mounted it probes itself once a second (``overloaded.go``): a GET of its own ``/health``
with a 3 s timeout, timed into ``coredns_health_request_duration_seconds``. A slow answer means
the event loop is too busy to keep up with its queries.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Final

from clusterdns.controller import Controller
from clusterdns.httpserver import Response
from clusterdns.log import plugin_logger

from clusterdns.duration import format_duration
from .metrics import HEALTH_DURATION, HEALTH_FAILURES

SELF_CHECK_INTERVAL_SECONDS: Final = 1.0
SELF_CHECK_TIMEOUT_SECONDS: Final = 3.0
#: A local probe slower than this is logged (CoreDNS: "1s is pretty random").
SELF_CHECK_SLOW_SECONDS: Final = 1.0
_TASK_STOP_TIMEOUT_SECONDS: Final = 5.0
_OK: Final[Response] = (200, b"OK", "text/plain; charset=utf-8")
_MAX_RESPONSE_BYTES: Final = 65536
log = plugin_logger("health")


class HealthCheckError(Exception):
    """The self-check got no usable HTTP answer."""


async def _get(host: str, port: int, path: str) -> int:
    """One HTTP/1.1 GET; the status code (any status is an answer, as with Go's client)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        response = await reader.read(_MAX_RESPONSE_BYTES)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    status_line = response.split(b"\r\n", 1)[0].split(b" ")
    if (
        len(status_line) < 2
        or not status_line[0].startswith(b"HTTP/")
        or not status_line[1].isdigit()
    ):
        raise HealthCheckError(f"malformed HTTP response {response[:40]!r}")
    return int(status_line[1])


class Health:
    """One ``health`` directive of one instance: its route, self-check and lameduck."""

    def __init__(self, c: Controller, *, address: str, lameduck_ns: int) -> None:
        self.http = c.process.http
        self.address = address
        self.lameduck_ns = lameduck_ns
        self._task: asyncio.Task[None] | None = None
        self._probe_port = 0
        host = address.rpartition(":")[0]
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        # While we can listen on every interface we have to pick one to poll (CoreDNS).
        self.probe_host = host or "localhost"

    @property
    def url(self) -> str:
        """The self-check's URL as CoreDNS logs it: the configured address, not the bound one."""
        return f"http://{self.address}/health"

    async def route(self) -> Response:
        return _OK  # always healthy: the process answers, so it is alive

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        await self.http.mount(self.address, "/health", self.route, self)
        if not self.http.enabled:  # an extra -workers process: the first one serves /health
            return
        self._probe_port = self.http.port(self.address)  # the bound port, for port 0 too
        self._task = asyncio.create_task(
            self._supervise(), name=f"health self-check {self.address}"
        )

    async def stop(self) -> None:
        """Stop probing and unmount; safe to call twice (shutdown after final shutdown)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task], timeout=_TASK_STOP_TIMEOUT_SECONDS)
        await self.http.unmount(self)

    async def final_shutdown(self) -> None:
        """Lameduck: keep /health (and DNS) up for the configured time, then stop."""
        if self.lameduck_ns > 0:
            log.info("Going into lameduck mode for %s", format_duration(self.lameduck_ns))
            await asyncio.sleep(self.lameduck_ns / 1e9)
        await self.stop()

    # --- self-check ---------------------------------------------------------------------
    async def _supervise(self) -> None:
        """Run the self-check loop; a bug in it is logged and the loop restarted."""
        while True:
            try:
                await self._self_check_loop()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # supervised: never let the probe die silently
                log.error("Self-check stopped unexpectedly, restarting: %r", exc)
                await asyncio.sleep(SELF_CHECK_INTERVAL_SECONDS)

    async def _self_check_loop(self) -> None:
        """Probe once per interval; as with Go's ticker a slow probe skips ticks, never bunches."""
        loop = asyncio.get_running_loop()
        origin = loop.time()
        while True:
            elapsed = loop.time() - origin
            await asyncio.sleep(SELF_CHECK_INTERVAL_SECONDS - elapsed % SELF_CHECK_INTERVAL_SECONDS)
            await self.check_once()

    async def check_once(self) -> None:
        """One probe of our own /health, recorded in the metrics."""
        started = time.perf_counter()
        try:
            await asyncio.wait_for(
                _get(self.probe_host, self._probe_port, "/health"), SELF_CHECK_TIMEOUT_SECONDS
            )
        except (OSError, TimeoutError, HealthCheckError) as exc:
            HEALTH_DURATION.observe(time.perf_counter() - started)
            HEALTH_FAILURES.inc()
            reason = "timeout" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
            log.warning('Local health request to "%s" failed: %s', self.url, reason)
            return
        elapsed = time.perf_counter() - started
        HEALTH_DURATION.observe(elapsed)
        if elapsed > SELF_CHECK_SLOW_SECONDS:
            log.warning(
                'Local health request to "%s" took more than 1s: %s',
                self.url,
                format_duration(int(elapsed * 1e9)),
            )
