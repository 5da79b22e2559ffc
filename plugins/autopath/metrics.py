"""The *autopath* metric family, named and labelled as CoreDNS's ``plugin/autopath/metrics.go``."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter

from clusterdns.metrics import NAMESPACE, REGISTRY

#: Queries answered with a reply found by walking the search path (the first non-NXDOMAIN).
SUCCESS: Final = Counter(
    "success",
    "Counter of requests that did autopath.",
    ["server"],
    namespace=NAMESPACE,
    subsystem="autopath",
    registry=REGISTRY,
)
