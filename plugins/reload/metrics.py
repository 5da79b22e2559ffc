"""The *reload* metric families, named and labelled as CoreDNS's ``plugin/reload/metrics.go``."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge

from clusterdns.metrics import NAMESPACE, REGISTRY

FAILED: Final = Counter(
    "failed_total",
    "Counter of the number of failed reload attempts.",
    namespace=NAMESPACE,
    subsystem="reload",
    registry=REGISTRY,
)
#: One series, for the configuration now running: ``{hash="sha512", value="<hex>"} 1``.
VERSION_INFO: Final = Gauge(
    "version_info",
    "A metric with a constant '1' value labeled by hash, and value which type of hash generated.",
    ["hash", "value"],
    namespace=NAMESPACE,
    subsystem="reload",
    registry=REGISTRY,
)
