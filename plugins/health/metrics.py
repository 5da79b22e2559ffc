"""The self-check metrics of *health* (CoreDNS ``plugin/health/overloaded.go``).

They have no ``server`` label: a slow or failing local probe is a symptom of the whole process
being overloaded, not of one server block. Names, help and buckets are CoreDNS's.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Histogram

from clusterdns.metrics import NAMESPACE, REGISTRY

#: 0.25 ms to 2.5 s in factors of ten (CoreDNS ``plugin.SlimTimeBuckets``).
SLIM_TIME_BUCKETS: Final = (0.00025, 0.0025, 0.025, 0.25, 2.5)

HEALTH_DURATION: Final = Histogram(
    "request_duration_seconds", "Histogram of the time (in seconds) each request took.",
    buckets=SLIM_TIME_BUCKETS, namespace=NAMESPACE, subsystem="health", registry=REGISTRY,
)
HEALTH_FAILURES: Final = Counter(
    "request_failures_total", "The number of times the health check failed.",
    namespace=NAMESPACE, subsystem="health", registry=REGISTRY,
)
