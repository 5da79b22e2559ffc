"""From a parsed name to the cluster objects that answer it (CoreDNS ``kubernetes.go``,
``reverse.go``, ``ns.go``), and the few records every answer shares.

``Finder`` reads the ``ClusterIndex`` and yields ``Record`` values, CoreDNS's ``msg.Service``:
an address or a target name (``host``), a port, the owner name an SRV record would point at
(``key``) and a TTL. The handler turns them into A/AAAA/SRV/CNAME/PTR records. A name that does
not exist raises ``NameNotFound`` (CoreDNS's ``errNoItems``, ``errNsNotExposed`` and
``errInvalidRequest``); an existing name without records is an empty list (NODATA).

What ``Finder`` reproduces, from the Go code rather than the README where they differ:

* a namespace is exposed when ``namespaces`` lists it (or is empty) **and** it exists, and,
  with ``namespace_labels``, its labels match;
* only ready endpoints (``conditions.ready`` true or unset) exist; a slice without ports counts
  as one port ``-1`` (so its addresses answer A but no SRV), as does a service without ports;
* ``ignore empty_service`` hides a ClusterIP-kind service with no ready address;
* an ExternalName service is a CNAME target, never below a name (``x.ext.ns.svc``) and never
  with a port (``_p._t.ext.ns.svc``); an ExternalName that parses as an IP does not exist;
* pod names ``a-b-c-d`` (exactly three dashes, no ``--``) are IPv4, anything else has every
  dash read as a colon;
* reverse lookups try service ClusterIPs first (the first exposed one wins), then every ready
  endpoint address, one name per slice entry; the namespace filter applies to them only when
  ``namespaces`` is set.

Per query this is a handful of dictionary lookups in the index plus a walk of one service's
endpoints; nothing scans all services.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Final, NamedTuple

from dnslib import AAAA, RD, RR, SOA, A, DNSLabel

from clusterdns.kube.index import EMPTY_ENDPOINTS, ClusterIndex, ServiceEndpoints
from clusterdns.kube.objects import Endpoint, EndpointSlice, Port, Service

from .names import POD, SVC, RecordRequest, parse_request
from .options import POD_MODE_DISABLED, POD_MODE_INSECURE, KubernetesOptions, is_reverse

TYPE_A: Final = 1
TYPE_NS: Final = 2
TYPE_CNAME: Final = 5
TYPE_SOA: Final = 6
TYPE_PTR: Final = 12
TYPE_MX: Final = 15
TYPE_TXT: Final = 16
TYPE_AAAA: Final = 28
TYPE_SRV: Final = 33
TYPE_IXFR: Final = 251
TYPE_AXFR: Final = 252
CLASS_IN: Final = 1

#: The schema version of the Kubernetes DNS specification served at ``dns-version.<zone>``.
DNS_SCHEMA_VERSION: Final = "1.1.0"
DNS_SCHEMA_VERSION_TTL_SECONDS: Final = 28800
#: SOA timers (``plugin/backend_lookup.go`` ``SOA``).
SOA_REFRESH_SECONDS: Final = 7200
SOA_RETRY_SECONDS: Final = 1800
SOA_EXPIRE_SECONDS: Final = 86400
SOA_MAX_TTL_SECONDS: Final = 300
#: The name of the plugin's own NS when it is not found behind a service.
DEFAULT_NS_LABELS: Final = (b"ns", b"dns")
#: The service type answered with a CNAME.
EXTERNAL_NAME: Final = "ExternalName"
#: Port of a service or slice that declares none (CoreDNS's sentinel).
NO_PORT: Final = Port(name="", port=-1, protocol="")
_NO_PORTS: Final = (NO_PORT,)


class NameNotFound(Exception):
    """The name does not exist: NXDOMAIN, fallthrough, or SERVFAIL before sync.

    Raised as a class (a fresh instance each time): re-raising one shared instance would
    grow its traceback on every query."""


class NoItems(NameNotFound):
    """CoreDNS ``errNoItems``: no such service, endpoint, pod or address."""


class NamespaceNotExposed(NameNotFound):
    """CoreDNS ``errNsNotExposed``: the namespace is filtered out or does not exist."""


class InvalidRequest(NameNotFound):
    """CoreDNS ``errInvalidRequest``: the name does not follow the grammar."""


class Record(NamedTuple):
    """CoreDNS ``msg.Service``: one address or target, and where an SRV would point."""

    host: str  # an IP address, or a name (ExternalName target, PTR target)
    port: int = 0
    key: tuple[bytes, ...] = ()  # owner name of this record as an SRV target, wire labels
    ttl: int = 0
    text: str = ""  # TXT data


@lru_cache(maxsize=65536)
def address(host: str) -> tuple[int, RD] | None:
    """``(TYPE_A, A)`` or ``(TYPE_AAAA, AAAA)`` when ``host`` is an IP (Go ``net.ParseIP``
    rules: no zone, IPv4-mapped IPv6 is IPv4), else None."""
    if "%" in host:
        return None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if ip.version == 6:
        mapped = ip.ipv4_mapped  # type: ignore[union-attr]
        if mapped is None:
            return TYPE_AAAA, AAAA(ip.compressed)
        ip = mapped
    return TYPE_A, A(str(ip))


def host_type(record: Record) -> int:
    """CoreDNS ``Service.HostType``: A, AAAA, TXT (a name with text) or CNAME (a name)."""
    found = address(record.host)
    if found is not None:
        return found[0]
    return TYPE_TXT if record.text else TYPE_CNAME


def go_ip_string(host: str) -> str:
    """Go's ``net.ParseIP(host).String()``, '' when it does not parse."""
    found = address(host)
    if found is None:
        return ""
    return str(found[1])


def endpoint_hostname(ip: str, endpoint: Endpoint, pod_names: bool) -> str:
    """CoreDNS ``endpointHostname``: hostname, else (``endpoint_pod_names``) the target pod's
    name if shorter than 64 characters, else the dashed IP (IPv6 ``fd00::`` -> ``fd00--0``)."""
    if endpoint.hostname:
        return endpoint.hostname
    if pod_names and endpoint.target_pod and len(endpoint.target_pod) < 64:
        return endpoint.target_pod
    if "." in ip:
        return ip.replace(".", "-")
    if ":" in ip:
        dashed = ip.replace(":", "-")
        return dashed + "0" if dashed.endswith("-") else dashed
    return ""


def address_from_reverse(name: str) -> str:
    """CoreDNS ``dnsutil.ExtractAddressFromReverse`` of a lower-cased name; '' if not an IP."""
    if name.endswith(".in-addr.arpa."):
        labels = name[: -len(".in-addr.arpa.")].split(".")
        labels.reverse()
        text = ".".join(labels)
        found = address(text)
        if found is None or found[0] != TYPE_A:
            return ""
        return str(found[1])
    if name.endswith(".ip6.arpa."):
        labels = name[: -len(".ip6.arpa.")].split(".")
        labels.reverse()
        groups = ["".join(labels[i * 4 : i * 4 + 4]) for i in range(len(labels) // 4)]
        return go_ip_string(":".join(groups))
    return ""


def soa_record(zone: tuple[bytes, ...], ttl: int, serial: int) -> RR:
    """The zone's SOA: ``ns.dns.<zone> hostmaster.<zone>``, TTL min(ttl, 300), minimum ttl."""
    return RR(
        DNSLabel(list(zone)),
        rtype=TYPE_SOA,
        rclass=CLASS_IN,
        ttl=min(ttl, SOA_MAX_TTL_SECONDS),
        rdata=SOA(
            DNSLabel([*DEFAULT_NS_LABELS, *zone]),
            DNSLabel([b"hostmaster", *zone]),
            (
                serial & 0xFFFFFFFF,
                SOA_REFRESH_SECONDS,
                SOA_RETRY_SECONDS,
                SOA_EXPIRE_SECONDS,
                ttl,
            ),
        ),
    )


def _match_port(request: RecordRequest, port: Port) -> bool:
    """CoreDNS ``matchPortAndProtocol``: empty request parts are wildcards, case-insensitive."""
    if request.port and request.port != port.name.lower():
        return False
    return not request.protocol or request.protocol == port.protocol.lower()


class Finder:
    """The record lookups of one kubernetes plugin instance over a ``ClusterIndex``."""

    def __init__(
        self,
        options: KubernetesOptions,
        index: ClusterIndex,
        local_ips: Callable[[], list[str]],
    ) -> None:
        self.index = index
        self.local_ips = local_ips
        self.ttl = options.ttl_seconds
        self.namespaces = frozenset(options.namespaces)
        self.namespace_labels = options.namespace_labels
        self.pod_mode = options.pods
        self.pod_names = options.endpoint_pod_names
        self.noendpoints = options.noendpoints
        self.ignore_empty_service = options.ignore_empty_service
        self.primary_zone = options.primary_zone

    # --- namespaces --------------------------------------------------------------------
    def namespace_exposed(self, namespace: str) -> bool:
        """Listed by ``namespaces`` (or no list), existing, and matching ``namespace_labels``."""
        if self.namespaces and namespace not in self.namespaces:
            return False
        found = self.index.namespaces.get(namespace)
        if found is None:
            return False
        selector = self.namespace_labels
        return selector is None or selector.matches(dict(found.labels))

    def endpoints(self, namespace: str, name: str) -> ServiceEndpoints:
        """A service's merged slices; none at all with ``noendpoints`` (no slice watch)."""
        if self.noendpoints:
            return EMPTY_ENDPOINTS
        return self.index.endpoints(namespace, name)

    # --- forward names -----------------------------------------------------------------
    def records(self, name: str, left: list[str], zone: tuple[bytes, ...]) -> list[Record]:
        """CoreDNS ``Records``: the records of a name, [] for NODATA, NameNotFound else."""
        request = parse_request(left)
        if request is None:
            raise InvalidRequest
        if not request.pod_or_svc:
            return []
        if is_reverse(name):
            raise NoItems
        if not self.namespace_exposed(request.namespace):
            raise NamespaceNotExposed
        if request.pod_or_svc == POD:
            return self.find_pods(request, zone)
        return self.find_services(request, zone)

    def find_pods(self, request: RecordRequest, zone: tuple[bytes, ...]) -> list[Record]:
        """CoreDNS ``findPods``: ``a-b-c-d.ns.pod`` per the ``pods`` mode."""
        if self.pod_mode == POD_MODE_DISABLED:
            raise NoItems
        namespace = request.namespace
        if not self.namespace_exposed(namespace):
            raise NoItems
        label = request.service
        if not label:
            return []  # ns.pod.<zone>: NODATA
        if label.count("-") == 3 and "--" not in label:
            ip = label.replace("-", ".")
        else:
            ip = label.replace("-", ":")
        key = (label.encode(), namespace.encode(), POD.encode(), *zone)
        if self.pod_mode == POD_MODE_INSECURE:
            if address(ip) is None:
                raise NoItems
            return [Record(ip, 0, key, self.ttl)]
        pods = [
            Record(ip, 0, key, self.ttl)
            for pod in self.index.pods_by_ip(ip)
            if pod.ip == ip and pod.namespace.lower() == namespace
        ]
        if not pods:
            raise NoItems
        return pods

    def find_services(self, request: RecordRequest, zone: tuple[bytes, ...]) -> list[Record]:
        """CoreDNS ``findServices``: a service, its ports, or its endpoints."""
        if not request.service:
            return []  # ns.svc.<zone>: NODATA (the namespace is exposed)
        service = self.index.service(request.namespace, request.service)
        if service is None:
            raise NoItems
        if (
            self.ignore_empty_service
            and service.type != EXTERNAL_NAME
            and not service.headless
            and not self._has_ready_address(service)
        ):
            raise NoItems
        base = (service.name.encode(), service.namespace.encode(), SVC.encode(), *zone)
        if service.type == EXTERNAL_NAME:
            if request.endpoint or request.port or request.protocol:
                raise NoItems
            if address(service.external_name) is not None:
                raise NoItems  # an IP is not a CNAME target
            return [Record(service.external_name, 0, base, self.ttl)]
        if service.headless or request.endpoint:
            records = list(self._endpoint_records(service, request, base))
            if not records:
                raise NoItems
            return records
        records = []
        matched = False
        for port in service.ports or _NO_PORTS:
            if not _match_port(request, port):
                continue
            matched = True
            for ip in service.cluster_ips:
                records.append(Record(ip, port.port, base, self.ttl))
        if not matched:
            raise NoItems
        return records

    def _has_ready_address(self, service: Service) -> bool:
        for endpoint, _ in self.endpoints(service.namespace, service.name).endpoints():
            if endpoint.ready and endpoint.addresses:
                return True
        return False

    def _endpoint_records(
        self, service: Service, request: RecordRequest, base: tuple[bytes, ...]
    ) -> Iterator[Record]:
        wanted = request.endpoint
        pod_names = self.pod_names
        ttl = self.ttl
        for endpoint, endpoint_slice in self.endpoints(service.namespace, service.name).endpoints():
            if not endpoint.ready:
                continue
            ports = endpoint_slice.ports or _NO_PORTS
            for ip in endpoint.addresses:
                hostname = endpoint_hostname(ip, endpoint, pod_names)
                if wanted and wanted != hostname.lower():
                    continue
                key = (hostname.encode(), *base)
                for port in ports:
                    if _match_port(request, port):
                        yield Record(ip, port.port, key, ttl)

    # --- reverse -----------------------------------------------------------------------
    def reverse(self, ip: str) -> list[Record]:
        """CoreDNS ``serviceRecordForIP``: PTR targets for an address (first ClusterIP match,
        else one per ready endpoint entry)."""
        filtered = bool(self.namespaces)
        for service in self.index.services_by_cluster_ip(ip):
            if filtered and not self.namespace_exposed(service.namespace):
                continue
            return [Record(f"{service.name}.{service.namespace}.{SVC}.{self.primary_zone}", ttl=self.ttl)]
        records = []
        for service, endpoint_slice in self._slices_with(ip):
            if filtered and not self.namespace_exposed(endpoint_slice.namespace):
                continue
            suffix = f"{service.name}.{endpoint_slice.namespace}.{SVC}.{self.primary_zone}"
            for endpoint in endpoint_slice.endpoints:
                if endpoint.ready and ip in endpoint.addresses:
                    hostname = endpoint_hostname(ip, endpoint, self.pod_names)
                    records.append(Record(f"{hostname}.{suffix}", ttl=self.ttl))
        return records

    def _slices_with(self, ip: str) -> Iterator[tuple[Service, EndpointSlice]]:
        """Each slice with a ready endpoint at ``ip``, with its service (EpIndexReverse)."""
        if self.noendpoints:
            return
        for service in self.index.services_by_endpoint_ip(ip):
            for endpoint_slice in self.index.endpoints(service.namespace, service.name).slices:
                for endpoint in endpoint_slice.endpoints:
                    if endpoint.ready and ip in endpoint.addresses:
                        yield service, endpoint_slice
                        break

    # --- the plugin's own name servers -----------------------------------------------------
    def ns_addresses(self, zone: str) -> list[tuple[str, str]]:
        """CoreDNS ``nsAddrs``: (name, ip) of the services whose endpoints hold a local IP,
        else ``ns.dns.<zone>`` with each local IP. ``zone`` is in the query's case."""
        names: list[tuple[str, str]] = []
        found = False
        local_ips = self.local_ips()
        for local_ip in local_ips:
            for service, endpoint_slice in self._slices_with(local_ip):
                found = True
                service_name = f"{service.name}.{service.namespace}.{SVC}.{zone}"
                if service.headless:
                    for endpoint in endpoint_slice.endpoints:
                        if not endpoint.ready:
                            continue
                        for ip in endpoint.addresses:
                            hostname = endpoint_hostname(ip, endpoint, self.pod_names)
                            names.append((f"{hostname}.{service_name}", ip))
                else:
                    names.extend((service_name, ip) for ip in service.cluster_ips)
        if not found:
            default = "ns.dns." + zone if zone != "." else "ns.dns."
            names = [(default, ip) for ip in local_ips]
        return [(name, ip) for name, ip in names if address(ip) is not None]


__all__ = [
    "CLASS_IN",
    "DNS_SCHEMA_VERSION",
    "DNS_SCHEMA_VERSION_TTL_SECONDS",
    "Finder",
    "InvalidRequest",
    "NameNotFound",
    "NamespaceNotExposed",
    "NoItems",
    "Record",
    "address",
    "address_from_reverse",
    "endpoint_hostname",
    "host_type",
    "soa_record",
]
