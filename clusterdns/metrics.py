"""The process-wide metric registry and CoreDNS's core metric families.

Dashboards and alerts written for CoreDNS must work unchanged, so names, labels, types and
buckets are CoreDNS's (``plugin/metrics/vars/vars.go``; coredns-features.md section 6). Metrics
live for the whole process: a reload builds new plugin instances but the counters go on.
Plugins define their own families in their ``metrics.py`` against ``REGISTRY``.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Iterator
from typing import Any, Final

import prometheus_client
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.registry import Collector

from . import __version__

prometheus_client.disable_created_metrics()  # Go's client has no *_created series

REGISTRY: Final = CollectorRegistry(auto_describe=True)
#: Called before every collection (a scrape, or a test reading a sample): replayed answers
#: are counted in batches (server/replay.py) and added to their series here.
BEFORE_COLLECT: Final[list[Callable[[], None]]] = []


class _Flush(Collector):
    """Registered first, so pending counts are in place before any family is read."""

    def collect(self) -> Iterator[Any]:
        for hook in BEFORE_COLLECT:
            hook()
        return iter(())

    def describe(self) -> Iterator[Any]:
        return iter(())


REGISTRY.register(_Flush())
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

NAMESPACE: Final = "coredns"
DROPPED_ZONE: Final = "dropped"

#: Request duration buckets: 0.25 ms doubling to 8.192 s (CoreDNS ``plugin.TimeBuckets``).
TIME_BUCKETS: Final = tuple(0.00025 * 2**k for k in range(16))
#: Request and response size buckets (CoreDNS ``plugin.SizeBuckets``).
SIZE_BUCKETS: Final = (0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16e3, 32e3, 48e3, 64e3)
#: Query types that get their own ``type`` label value; everything else is ``other``.
MONITORED_TYPES: Final = frozenset(
    "A AAAA CNAME DNSKEY DS MX NSEC3 NSEC NS PTR RRSIG SOA SRV TXT HTTPS SVCB IXFR AXFR ANY".split()
)

BUILD_INFO: Final = Gauge(
    "build_info", "A metric with a constant '1' value labeled by version, revision, and goversion from which CoreDNS was built.",
    ["version", "revision", "goversion"], namespace=NAMESPACE, registry=REGISTRY,
)
BUILD_INFO.labels(__version__, "", f"python{platform.python_version()}").set(1)

PANICS: Final = Counter(
    "panics", "A metrics that counts the number of panics.",
    namespace=NAMESPACE, registry=REGISTRY,
)
REQUESTS: Final = Counter(
    "requests", "Counter of DNS requests made per zone, protocol and family.",
    ["server", "zone", "view", "proto", "family", "type"],
    namespace=NAMESPACE, subsystem="dns", registry=REGISTRY,
)
REQUEST_DURATION: Final = Histogram(
    "request_duration_seconds", "Histogram of the time (in seconds) each request took per zone.",
    ["server", "zone", "view"], buckets=TIME_BUCKETS,
    namespace=NAMESPACE, subsystem="dns", registry=REGISTRY,
)
REQUEST_SIZE: Final = Histogram(
    "request_size_bytes", "Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol.",
    ["server", "zone", "view", "proto"], buckets=SIZE_BUCKETS,
    namespace=NAMESPACE, subsystem="dns", registry=REGISTRY,
)
DO_REQUESTS: Final = Counter(
    "do_requests", "Counter of DNS requests with DO bit set per zone.",
    ["server", "zone", "view"], namespace=NAMESPACE, subsystem="dns", registry=REGISTRY,
)
RESPONSE_SIZE: Final = Histogram(
    "response_size_bytes", "Size of the returned response in bytes.",
    ["server", "zone", "view", "proto"], buckets=SIZE_BUCKETS,
    namespace=NAMESPACE, subsystem="dns", registry=REGISTRY,
)
RESPONSES: Final = Counter(
    "responses", "Counter of response status codes.",
    ["server", "zone", "view", "rcode", "plugin"],
    namespace=NAMESPACE, subsystem="dns", registry=REGISTRY,
)
PLUGIN_ENABLED: Final = Gauge(
    "plugin_enabled", "A metric that indicates whether a plugin is enabled on per server and zone basis.",
    ["server", "zone", "view", "name"], namespace=NAMESPACE, registry=REGISTRY,
)


def type_label(type_name: str) -> str:
    """The ``type`` label value of a query type."""
    return type_name if type_name in MONITORED_TYPES else "other"


#: The labelled series of each combination of label values seen, so that a query costs one
#: dictionary lookup instead of six ``labels()`` calls (a quarter of a cache hit's time).
#: ``do_requests`` is left out: its series must not exist before the first DO query.
_series: dict[tuple[str, ...], tuple[Any, ...]] = {}


def _series_for(
    server: str, zone: str, view: str, proto: str, family: int, type_name: str, rcode: str, plugin: str
) -> tuple[Any, ...]:
    key = (server, zone, view, proto, str(family), type_label(type_name), rcode, plugin)
    found = _series.get(key)
    if found is None:
        found = _series[key] = (
            REQUESTS.labels(server, zone, view, proto, key[4], key[5]),
            REQUEST_DURATION.labels(server, zone, view),
            REQUEST_SIZE.labels(server, zone, view, proto),
            RESPONSE_SIZE.labels(server, zone, view, proto),
            RESPONSES.labels(server, zone, view, rcode, plugin),
        )
    return found


def report(*, started: float, **labels: Any) -> None:
    """Record one answered query in the core families (CoreDNS ``vars.Report``); ``labels``
    are ``replayer``'s arguments."""
    replayer(**labels)(1, time.perf_counter() - started)


def _observe_many(histogram: Any, count: int, total: float, value: float) -> None:
    """``count`` observations summing to ``total``, all in the bucket of ``value``: what
    ``observe`` does ``count`` times, in one step (prometheus-client keeps per-bucket counts
    and the sum; it has no bulk observe)."""
    if count == 1:
        histogram.observe(total)
        return
    histogram._raise_if_not_observable()
    histogram._sum.inc(total)
    for index, bound in enumerate(histogram._upper_bounds):
        if value <= bound:
            histogram._buckets[index].inc(count)
            return


def replayer(
    *,
    server: str,
    zone: str,
    proto: str,
    family: int,
    type_name: str,
    do: bool,
    request_size: int,
    rcode: str,
    plugin: str,
    response_size: int,
    view: str = "",
) -> Callable[[int, float], None]:
    """What ``report`` records, as a function of how many answers and their total duration:
    called once by ``report``, and kept for the replays of the answer (server/replay.py)."""
    requests, duration, request_sizes, response_sizes, responses = _series_for(
        server, zone, view, proto, family, type_name, rcode, plugin
    )
    do_requests = DO_REQUESTS.labels(server, zone, view) if do else None

    def replayed(count: int, seconds: float) -> None:
        """Record ``count`` answers taking ``seconds`` in all (each in the first duration
        bucket when ``count`` > 1)."""
        requests.inc(count)
        if do_requests is not None:
            do_requests.inc(count)
        _observe_many(duration, count, seconds, TIME_BUCKETS[0])
        _observe_many(request_sizes, count, request_size * count, request_size)
        _observe_many(response_sizes, count, response_size * count, response_size)
        responses.inc(count)

    return replayed


def exposition() -> bytes:
    """The registry in Prometheus text format."""
    return prometheus_client.generate_latest(REGISTRY)
