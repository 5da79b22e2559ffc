"""Slim, frozen Kubernetes objects: only the fields cluster DNS answers from.

The API's JSON (or a manifest file's YAML) is parsed here field by field; the client's model
objects are never built or kept, because a 100,000-pod cluster held as models costs gigabytes.
Strings repeated across objects (namespaces, protocols, port names) are interned. Equality of
two versions of an object says whether a change matters to DNS (CoreDNS moves the SOA serial
only for such changes).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any

_intern = sys.intern
Json = dict[str, Any]

#: The label EndpointSlices carry to name their Service.
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
#: The annotation the EndpointSlice controller sets to when the last change was triggered.
TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"


@dataclass(frozen=True, slots=True)
class Port:
    """A Service or EndpointSlice port. ``name`` is '' for an unnamed port."""

    name: str
    port: int
    protocol: str  # "TCP", "UDP" or "SCTP", as the API writes it


@dataclass(frozen=True, slots=True)
class Service:
    namespace: str
    name: str
    type: str  # ClusterIP, NodePort, LoadBalancer or ExternalName
    cluster_ips: tuple[str, ...]  # IPv4 and/or IPv6; empty when headless or ExternalName
    headless: bool  # clusterIP "None"
    external_name: str  # target of an ExternalName service, else ''
    ports: tuple[Port, ...]
    external_ips: tuple[str, ...] = ()  # spec.externalIPs + LoadBalancer ingress IPs

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One endpoint of a slice: its addresses and what names it."""

    addresses: tuple[str, ...]
    ready: bool  # conditions.ready true or unset (CoreDNS endpointsliceReady)
    hostname: str = ""
    target_pod: str = ""  # targetRef.name when the target is a Pod
    node_name: str = ""


@dataclass(frozen=True, slots=True)
class EndpointSlice:
    namespace: str
    name: str
    service_name: str  # from the kubernetes.io/service-name label ('' if absent)
    address_type: str  # IPv4, IPv6 or FQDN
    endpoints: tuple[Endpoint, ...]
    ports: tuple[Port, ...]
    trigger_time: float | None = None  # last-change-trigger-time, seconds since the epoch

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    def same_for_dns(self, other: EndpointSlice) -> bool:
        """Whether two versions differ only in fields DNS ignores (the trigger time)."""
        return (
            self.service_name == other.service_name
            and self.address_type == other.address_type
            and self.endpoints == other.endpoints
            and self.ports == other.ports
        )


@dataclass(frozen=True, slots=True)
class Namespace:
    name: str
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return ("", self.name)


@dataclass(frozen=True, slots=True)
class Pod:
    namespace: str
    name: str
    ip: str  # status.podIP ('' while unassigned)
    deleting: bool = False  # metadata.deletionTimestamp set
    phase: str = "Running"

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


# --- parsing from API JSON ------------------------------------------------------------------


def _ports(items: list[Json] | None, *, service: bool) -> tuple[Port, ...]:
    ports = []
    for item in items or ():
        number = item.get("port")
        if number is None:
            continue
        ports.append(
            Port(
                name=_intern(item.get("name") or ""),
                port=int(number),
                protocol=_intern(item.get("protocol") or "TCP"),
            )
        )
    return tuple(ports)


def _trigger_time(annotations: Json) -> float | None:
    value = annotations.get(TRIGGER_TIME_ANNOTATION)
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def service_from_json(obj: Json) -> Service:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    kind = spec.get("type") or "ClusterIP"
    cluster_ip = spec.get("clusterIP") or ""
    cluster_ips = spec.get("clusterIPs") or ([cluster_ip] if cluster_ip else [])
    headless = cluster_ip == "None"
    ips: tuple[str, ...] = ()
    if kind != "ExternalName" and not headless:
        ips = tuple(dict.fromkeys(ip for ip in cluster_ips if ip and ip != "None"))
    ingress = (status.get("loadBalancer") or {}).get("ingress") or []
    external_ips = tuple(spec.get("externalIPs") or ()) + tuple(
        i["ip"] for i in ingress if i.get("ip")
    )
    return Service(
        namespace=_intern(meta.get("namespace") or "default"),
        name=meta.get("name") or "",
        type=_intern(kind),
        cluster_ips=ips,
        headless=headless,
        external_name=(spec.get("externalName") or "") if kind == "ExternalName" else "",
        ports=_ports(spec.get("ports"), service=True),
        external_ips=external_ips,
    )


def endpoint_slice_from_json(obj: Json) -> EndpointSlice:
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    endpoints = []
    for item in obj.get("endpoints") or ():
        conditions = item.get("conditions") or {}
        ready = conditions.get("ready")
        target = item.get("targetRef") or {}
        endpoints.append(
            Endpoint(
                addresses=tuple(item.get("addresses") or ()),
                ready=ready is None or bool(ready),
                hostname=item.get("hostname") or "",
                target_pod=(target.get("name") or "") if target.get("kind") == "Pod" else "",
                node_name=_intern(item.get("nodeName") or ""),
            )
        )
    return EndpointSlice(
        namespace=_intern(meta.get("namespace") or "default"),
        name=meta.get("name") or "",
        service_name=_intern(labels.get(SERVICE_NAME_LABEL) or ""),
        address_type=_intern(obj.get("addressType") or "IPv4"),
        endpoints=tuple(endpoints),
        ports=_ports(obj.get("ports"), service=False),
        trigger_time=_trigger_time(meta.get("annotations") or {}),
    )


def namespace_from_json(obj: Json) -> Namespace:
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    return Namespace(name=_intern(meta.get("name") or ""), labels=tuple(sorted(labels.items())))


def pod_from_json(obj: Json) -> Pod:
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    return Pod(
        namespace=_intern(meta.get("namespace") or "default"),
        name=meta.get("name") or "",
        ip=status.get("podIP") or "",
        deleting=bool(meta.get("deletionTimestamp")),
        phase=_intern(status.get("phase") or "Pending"),
    )
