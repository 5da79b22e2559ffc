"""The *cache* metric families, named and labelled as CoreDNS's ``plugin/cache/metrics.go``.

Every family carries ``server``, ``zones`` (the cache's zones joined with ``,``) and ``view``
(always empty: there is no *view* plugin); entries, hits and evictions also carry ``type``
(``success`` or ``denial``). ``Series`` holds the children for one server so that a query
touches no label lookup.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge

from clusterdns.metrics import NAMESPACE, REGISTRY

SUCCESS: Final = "success"
DENIAL: Final = "denial"
VIEW: Final = ""

ENTRIES: Final = Gauge(
    "entries", "The number of elements in the cache.",
    ["server", "type", "zones", "view"], namespace=NAMESPACE, subsystem="cache", registry=REGISTRY,
)
REQUESTS: Final = Counter(
    "requests", "The count of cache requests.",
    ["server", "zones", "view"], namespace=NAMESPACE, subsystem="cache", registry=REGISTRY,
)
HITS: Final = Counter(
    "hits", "The count of cache hits.",
    ["server", "type", "zones", "view"], namespace=NAMESPACE, subsystem="cache", registry=REGISTRY,
)
MISSES: Final = Counter(
    "misses", "The count of cache misses. Deprecated, derive misses from cache hits/requests counters.",
    ["server", "zones", "view"], namespace=NAMESPACE, subsystem="cache", registry=REGISTRY,
)
PREFETCHES: Final = Counter(
    "prefetch", "The number of times the cache has prefetched a cached item.",
    ["server", "zones", "view"], namespace=NAMESPACE, subsystem="cache", registry=REGISTRY,
)
DROPS: Final = Counter(
    "drops", "The number responses that are not cached, because the reply is malformed.",
    ["server", "zones", "view"], namespace=NAMESPACE, subsystem="cache", registry=REGISTRY,
)
SERVED_STALE: Final = Counter(
    "served_stale", "The number of requests served from stale cache entries.",
    ["server", "zones", "view"], namespace=NAMESPACE, subsystem="cache", registry=REGISTRY,
)
EVICTIONS: Final = Counter(
    "evictions", "The count of cache evictions.",
    ["server", "type", "zones", "view"], namespace=NAMESPACE, subsystem="cache", registry=REGISTRY,
)  # fmt: skip


class Series:
    """The children of every family for one (server, zones) pair."""

    __slots__ = (
        "entries_success", "entries_denial", "requests", "hits_success", "hits_denial",
        "misses", "prefetches", "drops", "served_stale", "evictions_success", "evictions_denial",
    )  # fmt: skip

    def __init__(self, server: str, zones: str) -> None:
        self.entries_success = ENTRIES.labels(server, SUCCESS, zones, VIEW)
        self.entries_denial = ENTRIES.labels(server, DENIAL, zones, VIEW)
        self.requests = REQUESTS.labels(server, zones, VIEW)
        self.hits_success = HITS.labels(server, SUCCESS, zones, VIEW)
        self.hits_denial = HITS.labels(server, DENIAL, zones, VIEW)
        self.misses = MISSES.labels(server, zones, VIEW)
        self.prefetches = PREFETCHES.labels(server, zones, VIEW)
        self.drops = DROPS.labels(server, zones, VIEW)
        self.served_stale = SERVED_STALE.labels(server, zones, VIEW)
        self.evictions_success = EVICTIONS.labels(server, SUCCESS, zones, VIEW)
        self.evictions_denial = EVICTIONS.labels(server, DENIAL, zones, VIEW)
