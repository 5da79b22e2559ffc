"""The HTTP side of *prometheus*: ``/metrics`` and ``coredns_plugin_enabled``.

``/metrics`` serves the process-wide registry (clusterdns.metrics) in Prometheus text format;
blocks naming the same address share one listener, as CoreDNS's do. Metrics live for the whole
process: a reload keeps every counter.

``coredns_plugin_enabled`` says which handlers each block runs. CoreDNS sets it in a startup
hook from the *first key* of each block that loads *prometheus* (setup only runs for that key),
once per listen host, and resets the family on reload. Here a reload starts the new instance
before the old one stops, so instead of a reset the old instance removes, when it stops, the
series the instance now serving does not have.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from prometheus_client import CONTENT_TYPE_LATEST

from clusterdns import metrics
from clusterdns.controller import Controller
from clusterdns.httpserver import Response
from clusterdns.log import core_logger
from clusterdns.server.config import BlockConfig, ListenAddress

if TYPE_CHECKING:
    from clusterdns.server.instance import Instance

METRICS_PATH: Final = "/metrics"
DIRECTIVE: Final = "prometheus"
log = core_logger()

Series = tuple[str, str, str, str]  # server, zone, view, name


def enabled_series(config: BlockConfig) -> set[Series]:
    """The ``coredns_plugin_enabled`` label sets of one block (CoreDNS: its first key only)."""
    if not config.zones:
        return set()
    zone = config.zones[0]
    series = set()
    for host in config.listen_hosts:
        server = str(ListenAddress(zone.transport, host, int(zone.port)))
        for name in config.handlers:
            series.add((server, zone.zone, "", name))
    return series


def _instance_series(instance: Instance) -> set[Series]:
    """Every ``coredns_plugin_enabled`` label set an instance exports."""
    series: set[Series] = set()
    for config in instance.blocks:
        if DIRECTIVE in config.handlers:
            series |= enabled_series(config)
    return series


async def _scrape() -> Response:
    return 200, metrics.exposition(), CONTENT_TYPE_LATEST


class Exporter:
    """One ``prometheus`` directive of one block: its /metrics mount and enabled-plugin series."""

    def __init__(self, c: Controller, *, address: str) -> None:
        self.process = c.process
        self.instance = c.instance
        self.config = c.config
        self.address = address

    async def start(self) -> None:
        for labels in enabled_series(self.config):
            metrics.PLUGIN_ENABLED.labels(*labels).set(1)
        try:
            await self.process.http.mount(self.address, METRICS_PATH, _scrape, self)
        except OSError as exc:
            log.error("Failed to start metrics handler: %s", exc)
            raise

    async def stop(self) -> None:
        await self.process.http.unmount(self)
        serving = self.process.instance
        if serving is self.instance:
            return  # final shutdown: the process is going away, leave the series
        keep = _instance_series(serving) if serving is not None else set()
        for labels in enabled_series(self.config) - keep:
            metrics.PLUGIN_ENABLED.remove(*labels)
