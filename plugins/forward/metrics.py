"""The *forward* metric families, named and labelled as CoreDNS's.

``coredns_proxy_*`` come from CoreDNS's ``plugin/pkg/proxy/metrics.go`` (``proxy_name`` is
always ``forward`` here), ``coredns_forward_*`` from ``plugin/forward/metrics.go``. The health
check failure counter has no ``rcode`` label, whatever CoreDNS's README says.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Histogram

from clusterdns.metrics import NAMESPACE, REGISTRY, TIME_BUCKETS

REQUEST_DURATION: Final = Histogram(
    "request_duration_seconds",
    "Histogram of the time each request took.",
    ["proxy_name", "to", "rcode"],
    buckets=TIME_BUCKETS,
    namespace=NAMESPACE,
    subsystem="proxy",
    registry=REGISTRY,
)
HEALTHCHECK_FAILURES: Final = Counter(
    "healthcheck_failures",
    "Counter of the number of failed healthchecks.",
    ["proxy_name", "to"],
    namespace=NAMESPACE,
    subsystem="proxy",
    registry=REGISTRY,
)
CONN_CACHE_HITS: Final = Counter(
    "conn_cache_hits",
    "Counter of connection cache hits per upstream and protocol.",
    ["proxy_name", "to", "proto"],
    namespace=NAMESPACE,
    subsystem="proxy",
    registry=REGISTRY,
)
CONN_CACHE_MISSES: Final = Counter(
    "conn_cache_misses",
    "Counter of connection cache misses per upstream and protocol.",
    ["proxy_name", "to", "proto"],
    namespace=NAMESPACE,
    subsystem="proxy",
    registry=REGISTRY,
)
HEALTHCHECK_BROKEN: Final = Counter(
    "healthcheck_broken",
    "Counter of the number of complete failures of the healthchecks.",
    namespace=NAMESPACE,
    subsystem="forward",
    registry=REGISTRY,
)
MAX_CONCURRENT_REJECTS: Final = Counter(
    "max_concurrent_rejects",
    "Counter of the number of queries rejected because the concurrent queries were at maximum.",
    namespace=NAMESPACE,
    subsystem="forward",
    registry=REGISTRY,
)
