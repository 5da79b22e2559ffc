"""The cluster as DNS reads it: services, their merged endpoints, namespaces and pods, by key
and by IP.

One ``ClusterIndex`` is fed by informers (or by manifest files) and read by the kubernetes
plugin. It is changed only on the event loop and never across an ``await``, so readers see a
consistent state without locks. A relist replaces a kind's objects with one call that builds
the new indexes aside and swaps them in, so a lookup never sees a half-replaced cluster.

A Service with many EndpointSlices (a 5,000-replica StatefulSet has 50 or more) is read as the
merge of all its slices; the merge is computed once per change of those slices, not per query,
and an update to one slice replaces only that slice, so no name vanishes while it is applied.

``serial`` is the Unix time of the last change that matters to DNS (CoreDNS's SOA serial;
namespace changes do not move it); ``version`` counts every change, for caches of answers;
``listeners`` are called after each change.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .objects import Endpoint, EndpointSlice, Namespace, Pod, Port, Service

#: Pod phases CoreDNS excludes from its pod watch (``pods verified``).
INACTIVE_POD_PHASES = frozenset({"Succeeded", "Failed", "Unknown"})

Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class ServiceEndpoints:
    """The merged view of every EndpointSlice of one Service."""

    slices: tuple[EndpointSlice, ...]

    def endpoints(self) -> Iterable[tuple[Endpoint, EndpointSlice]]:
        """Every endpoint with the slice it came from (slices in name order)."""
        for endpoint_slice in self.slices:
            for endpoint in endpoint_slice.endpoints:
                yield endpoint, endpoint_slice

    @property
    def ready_addresses(self) -> tuple[str, ...]:
        """Ready endpoint addresses across slices, deduplicated, in slice order."""
        seen: dict[str, None] = {}
        for endpoint, _ in self.endpoints():
            if endpoint.ready:
                for address in endpoint.addresses:
                    seen[address] = None
        return tuple(seen)


EMPTY_ENDPOINTS = ServiceEndpoints(())


class ClusterIndex:
    """Services, endpoints, namespaces and pods, indexed for DNS lookups."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.services: dict[Key, Service] = {}
        self.slices: dict[Key, EndpointSlice] = {}
        self.namespaces: dict[str, Namespace] = {}
        self.pods: dict[Key, Pod] = {}
        # derived indexes
        self._slices_by_service: dict[Key, dict[str, EndpointSlice]] = {}
        self._merged: dict[Key, ServiceEndpoints] = {}
        # by-IP indexes hold the one owner itself, or a list when an IP has several (rare)
        self._services_by_ip: dict[str, Any] = {}
        self._endpoint_services_by_ip: dict[str, Any] = {}
        self._pods_by_ip: dict[str, Any] = {}
        self.serial = 0
        self.version = 0
        self.listeners: list[Callable[[], None]] = []

    # --- reading --------------------------------------------------------------------------
    def service(self, namespace: str, name: str) -> Service | None:
        return self.services.get((namespace, name))

    def services_in(self, namespace: str) -> list[Service]:
        return [s for (ns, _), s in self.services.items() if ns == namespace]

    def endpoints(self, namespace: str, name: str) -> ServiceEndpoints:
        """The merged endpoints of a service (empty when it has no slices)."""
        key = (namespace, name)
        merged = self._merged.get(key)
        if merged is None:
            slices = self._slices_by_service.get(key)
            if not slices:
                return EMPTY_ENDPOINTS
            merged = ServiceEndpoints(tuple(slices[n] for n in sorted(slices)))
            self._merged[key] = merged
        return merged

    def has_namespace(self, name: str) -> bool:
        return name in self.namespaces

    def services_by_cluster_ip(self, ip: str) -> list[Service]:
        keys = _values(self._services_by_ip, ip)
        return [self.services[k] for k in keys if k in self.services]

    def services_by_endpoint_ip(self, ip: str) -> list[Service]:
        """Services with an endpoint (ready or not) at ``ip``, each once."""
        keys = dict.fromkeys(_values(self._endpoint_services_by_ip, ip))
        return [self.services[k] for k in keys if k in self.services]

    def pods_by_ip(self, ip: str) -> list[Pod]:
        return _values(self._pods_by_ip, ip)

    # --- changing -------------------------------------------------------------------------
    def _changed(self, relevant: bool) -> None:
        self.version += 1
        if relevant:
            self.serial = int(self.clock())
        for listener in self.listeners:
            listener()

    def upsert_service(self, service: Service) -> None:
        old = self.services.get(service.key)
        if old == service:
            return
        if old is not None:
            self._unindex_service(old)
        self.services[service.key] = service
        self._index_service(service)
        self._changed(relevant=old is None or _dns_fields(old) != _dns_fields(service))

    def delete_service(self, namespace: str, name: str) -> None:
        old = self.services.pop((namespace, name), None)
        if old is not None:
            self._unindex_service(old)
            self._changed(relevant=True)

    def upsert_slice(self, endpoint_slice: EndpointSlice) -> None:
        old = self.slices.get(endpoint_slice.key)
        if old == endpoint_slice:
            return
        if old is not None:
            self._unindex_slice(old)
        self.slices[endpoint_slice.key] = endpoint_slice
        self._index_slice(endpoint_slice)
        self._changed(relevant=old is None or not old.same_for_dns(endpoint_slice))

    def delete_slice(self, namespace: str, name: str) -> None:
        old = self.slices.pop((namespace, name), None)
        if old is not None:
            self._unindex_slice(old)
            self._changed(relevant=True)

    def upsert_namespace(self, namespace: Namespace) -> None:
        if self.namespaces.get(namespace.name) == namespace:
            return
        self.namespaces[namespace.name] = namespace
        self._changed(relevant=False)

    def delete_namespace(self, name: str) -> None:
        if self.namespaces.pop(name, None) is not None:
            self._changed(relevant=False)

    def upsert_pod(self, pod: Pod) -> None:
        if pod.phase in INACTIVE_POD_PHASES:
            self.delete_pod(pod.namespace, pod.name)
            return
        old = self.pods.get(pod.key)
        if old == pod:
            return
        if old is not None and old.deleting and pod.deleting:
            return  # CoreDNS ignores updates to terminating pods
        if old is not None:
            self._unindex_pod(old)
        self.pods[pod.key] = pod
        self._index_pod(pod)
        self._changed(relevant=old is None or old.ip != pod.ip)

    def delete_pod(self, namespace: str, name: str) -> None:
        old = self.pods.pop((namespace, name), None)
        if old is not None:
            self._unindex_pod(old)
            self._changed(relevant=True)

    # --- relist: replace one kind wholesale -----------------------------------------------
    def replace_services(self, services: Iterable[Service]) -> None:
        new = {s.key: s for s in services}
        by_ip: dict[str, Any] = {}
        for service in new.values():
            for ip in service.cluster_ips:
                _add(by_ip, ip, service.key)
        old = self.services
        relevant = new.keys() != old.keys() or any(
            v is not old[k] and _dns_fields(v) != _dns_fields(old[k]) for k, v in new.items()
        )
        self.services, self._services_by_ip = new, by_ip
        self._changed(relevant=relevant)

    def replace_slices(self, slices: Iterable[EndpointSlice]) -> None:
        new = {s.key: s for s in slices}
        by_service: dict[Key, dict[str, EndpointSlice]] = {}
        by_ip: dict[str, Any] = {}
        for endpoint_slice in new.values():
            service_key = (endpoint_slice.namespace, endpoint_slice.service_name)
            by_service.setdefault(service_key, {})[endpoint_slice.name] = endpoint_slice
            for endpoint in endpoint_slice.endpoints:
                for address in endpoint.addresses:
                    _add(by_ip, address, service_key)
        old = self.slices
        relevant = new.keys() != old.keys() or any(
            v is not old[k] and not old[k].same_for_dns(v) for k, v in new.items()
        )
        self.slices, self._slices_by_service, self._endpoint_services_by_ip = new, by_service, by_ip
        self._merged = {}
        self._changed(relevant=relevant)

    def replace_namespaces(self, namespaces: Iterable[Namespace]) -> None:
        self.namespaces = {n.name: n for n in namespaces}
        self._changed(relevant=False)

    def replace_pods(self, pods: Iterable[Pod]) -> None:
        new = {p.key: p for p in pods if p.phase not in INACTIVE_POD_PHASES}
        by_ip: dict[str, Any] = {}
        for pod in new.values():
            if pod.ip:
                _add(by_ip, pod.ip, pod)
        old = self.pods
        relevant = new.keys() != old.keys() or any(
            v is not old[k] and v.ip != old[k].ip for k, v in new.items()
        )
        self.pods, self._pods_by_ip = new, by_ip
        self._changed(relevant=relevant)

    # --- derived-index upkeep -------------------------------------------------------------
    def _index_service(self, service: Service) -> None:
        for ip in service.cluster_ips:
            _add(self._services_by_ip, ip, service.key)

    def _unindex_service(self, service: Service) -> None:
        for ip in service.cluster_ips:
            _remove(self._services_by_ip, ip, service.key)

    def _index_slice(self, endpoint_slice: EndpointSlice) -> None:
        service_key = (endpoint_slice.namespace, endpoint_slice.service_name)
        self._slices_by_service.setdefault(service_key, {})[endpoint_slice.name] = endpoint_slice
        self._merged.pop(service_key, None)
        for endpoint in endpoint_slice.endpoints:
            for address in endpoint.addresses:
                _add(self._endpoint_services_by_ip, address, service_key)

    def _unindex_slice(self, endpoint_slice: EndpointSlice) -> None:
        service_key = (endpoint_slice.namespace, endpoint_slice.service_name)
        slices = self._slices_by_service.get(service_key)
        if slices is not None:
            slices.pop(endpoint_slice.name, None)
            if not slices:
                del self._slices_by_service[service_key]
        self._merged.pop(service_key, None)
        for endpoint in endpoint_slice.endpoints:
            for address in endpoint.addresses:
                _remove(self._endpoint_services_by_ip, address, service_key)

    def _index_pod(self, pod: Pod) -> None:
        if pod.ip:
            _add(self._pods_by_ip, pod.ip, pod)

    def _unindex_pod(self, pod: Pod) -> None:
        if pod.ip:
            _remove(self._pods_by_ip, pod.ip, pod)


def _add(index: dict[str, Any], key: str, value: object) -> None:
    """Add ``value`` under ``key``: stored bare while alone, in a list once there are two."""
    current = index.get(key)
    if current is None:
        index[key] = value
    elif type(current) is list:
        current.append(value)
    else:
        index[key] = [current, value]


def _values(index: dict[str, Any], key: str) -> list[Any]:
    current = index.get(key)
    if current is None:
        return []
    return list(current) if type(current) is list else [current]


def _remove(index: dict[str, Any], key: str, value: object) -> None:
    current = index.get(key)
    if current is None:
        return
    if type(current) is not list:
        if current == value:
            del index[key]
        return
    try:
        current.remove(value)
    except ValueError:
        return
    if len(current) == 1:
        index[key] = current[0]


def _dns_fields(service: Service) -> tuple[object, ...]:
    """The fields whose change moves CoreDNS's serial (external IPs only move k8s_external's)."""
    return (service.type, service.cluster_ips, service.headless, service.external_name, service.ports)


__all__ = ["ClusterIndex", "EMPTY_ENDPOINTS", "Port", "ServiceEndpoints"]
