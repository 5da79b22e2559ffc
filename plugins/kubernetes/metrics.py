"""The kubernetes plugin's metrics: CoreDNS's programming duration, and informer health.

``coredns_kubernetes_dns_programming_duration_seconds`` has CoreDNS's name, label and buckets.
The ``clusterdns_kubernetes_*`` families are ours: how often the informers had to relist or
restart a watch, and how long ago each last completed a list, so an operator can alert on a
cache that has stopped following the API server.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from clusterdns.metrics import REGISTRY

if TYPE_CHECKING:
    from .controller import Controller

PROGRAMMING_DURATION: Final = Histogram(
    "dns_programming_duration_seconds",
    "Histogram of the time (in seconds) it took to program a dns instance.",
    ["service_kind"],
    buckets=tuple(0.001 * 2**k for k in range(20)),
    namespace="coredns",
    subsystem="kubernetes",
    registry=REGISTRY,
)

#: The controllers of the running instance(s), read at scrape time.
SOURCES: Final[weakref.WeakSet[Controller]] = weakref.WeakSet()


class InformerCollector(Collector):
    """Reads the informers' stats when Prometheus scrapes."""

    def collect(self) -> Iterator[Any]:
        relists = CounterMetricFamily(
            "clusterdns_kubernetes_informer_relists",
            "Lists after the first (410 Gone or a lost position), per resource.",
            labels=["resource"],
        )
        restarts = CounterMetricFamily(
            "clusterdns_kubernetes_informer_watch_restarts",
            "Watches resumed from a resourceVersion, per resource.",
            labels=["resource"],
        )
        age = GaugeMetricFamily(
            "clusterdns_kubernetes_informer_last_sync_age_seconds",
            "Seconds since the informer last completed a list, per resource.",
            labels=["resource"],
        )
        # Several instances can run informers at once (a kubernetes stanza in two blocks, or
        # the old and the new instance during a reload): one series per resource, summed,
        # with the age of the stalest cache.
        now = time.time()
        relisted: dict[str, int] = {}
        restarted: dict[str, int] = {}
        ages: dict[str, float] = {}
        for controller in list(SOURCES):
            for informer in getattr(controller.source, "informers", ()):
                stats, kind = informer.stats, informer.kind
                relisted[kind] = relisted.get(kind, 0) + stats.relists
                restarted[kind] = restarted.get(kind, 0) + stats.watch_restarts
                if stats.last_sync_time is not None:
                    ages[kind] = max(ages.get(kind, 0.0), now - stats.last_sync_time)
        for kind, count in relisted.items():
            relists.add_metric([kind], count)
        for kind, count in restarted.items():
            restarts.add_metric([kind], count)
        for kind, seconds in ages.items():
            age.add_metric([kind], seconds)
        yield relists
        yield restarts
        yield age

    def describe(self) -> Iterator[Any]:
        return iter(())


REGISTRY.register(InformerCollector())
