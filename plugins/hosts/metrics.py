"""The *hosts* metric families, named and labelled as CoreDNS's ``plugin/hosts/metrics.go``."""

from __future__ import annotations

from typing import Final

from prometheus_client import Gauge

from clusterdns.metrics import NAMESPACE, REGISTRY

#: Entries in the file plus the inline ones (addresses and reverse names, as CoreDNS counts).
ENTRIES: Final = Gauge(
    "entries",
    "The combined number of entries in hosts and Corefile.",
    ["hostsfile"],
    namespace=NAMESPACE,
    subsystem="hosts",
    registry=REGISTRY,
)
#: Modification time of the hosts file when it was last parsed (CoreDNS records the file's
#: mtime here, not the time of the reload).
RELOAD_TIMESTAMP: Final = Gauge(
    "reload_timestamp_seconds",
    "The timestamp of the last reload of hosts file.",
    namespace=NAMESPACE,
    subsystem="hosts",
    registry=REGISTRY,
)
