"""EndpointSlices a cluster's controllers would write, derived from the objects in manifest files.

A manifest set rarely contains EndpointSlices: in a cluster the EndpointSlice controller writes
them from the Pods a Service selects, and the EndpointSlice mirroring controller copies the
Endpoints of a selectorless Service. Without those controllers a headless Service would have no
records, so when the files hold no slice for a Service this module computes the slices the
controllers would have written, in the same JSON shape the API returns, for
``clusterdns.kube.objects.endpoint_slice_from_json`` to read like any other.

The rules follow Kubernetes' ``staging/src/k8s.io/endpointslice`` (``reconciler.go``,
``utils.go``, ``util/controller_utils.go``) and ``pkg/controller/endpointslicemirroring``:

* a Service gets controller slices only if it has a non-empty ``spec.selector`` (a nil selector
  selects nothing; an empty one cannot survive the API server's storage) and is not ExternalName;
* the address types are the Service's ``ipFamilies``; without them, the family of its
  ``clusterIP``; for a headless Service without them, both;
* a Pod is an endpoint when it is in the Service's namespace, its labels match the selector, it
  is not terminal (phase Succeeded or Failed) and it has an IP; terminating Pods
  (``deletionTimestamp``) stay, not ready;
* ``ready`` = ``publishNotReadyAddresses`` or (Pod condition Ready is "True" and not
  terminating); ``serving`` = the Ready condition; ``terminating`` = deletionTimestamp set;
* ``hostname`` = ``spec.hostname`` when ``spec.subdomain`` names the Service (StatefulSet Pods);
* ports: each Service port whose ``targetPort`` resolves for the Pod (a number; or a name found
  in the Pod's containers, or sidecar init containers, with the same protocol; default = port);
  Pods whose resolved ports differ go to different slices; at most 100 endpoints per slice;
* slices carry the Service's labels plus ``kubernetes.io/service-name``, ``managed-by`` and, for
  headless Services, ``service.kubernetes.io/headless`` (a ``labels`` selector sees them as the
  API server would serve them).

What the controllers do and this does not: Pods whose Node object is missing are kept (manifest
sets rarely list Nodes), no zone or hints are filled in, no placeholder slice is written for a
Service without endpoints (it makes no difference to DNS), and names are deterministic
(``<service>-ipv4``, ``<service>-ipv6-2``...) instead of generated.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from clusterdns.kube.objects import SERVICE_NAME_LABEL

Json = dict[str, Any]

#: Label naming the controller that manages a slice.
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
#: Value of MANAGED_BY_LABEL on slices the EndpointSlice controller writes.
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
#: Value of MANAGED_BY_LABEL on slices the mirroring controller writes.
MIRRORING_CONTROLLER_NAME = "endpointslicemirroring-controller.k8s.io"
#: Label the controller puts on the slices of a headless Service.
HEADLESS_LABEL = "service.kubernetes.io/headless"
#: An Endpoints object with this label set to "true" is not mirrored.
SKIP_MIRROR_LABEL = "endpointslice.kubernetes.io/skip-mirror"
#: kube-controller-manager's --max-endpoints-per-slice default.
MAX_ENDPOINTS_PER_SLICE = 100
#: The mirroring controller's limit of addresses per Endpoints subset.
MAX_ENDPOINTS_PER_SUBSET = 1000

IPV4 = "IPv4"
IPV6 = "IPv6"
_TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})


# --- small readers of API JSON (tolerant: a wrong type reads as absent) ----------------------


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    """``metadata.labels`` as strings (YAML may have read ``version: 1`` as a number)."""
    labels = _dict(_dict(obj.get("metadata")).get("labels"))
    return {str(k): _label_text(v) for k, v in labels.items()}


def _label_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _meta(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = _dict(obj.get("metadata"))
    return _str(meta.get("namespace")) or "default", _str(meta.get("name"))


def _family(text: str) -> str | None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return IPV6
    return IPV4


def _canonical(text: str) -> tuple[str, str] | None:
    """(address type, canonical text) of an IP, as the controllers re-stringify it."""
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return IPV4, str(ip.ipv4_mapped)
        return IPV6, str(ip)
    return IPV4, str(ip)


# --- Services -------------------------------------------------------------------------------


def selector_of(service: Mapping[str, Any]) -> dict[str, str]:
    """The Service's ``spec.selector`` ({} when absent: such Services select no Pods)."""
    selector = _dict(_dict(service.get("spec")).get("selector"))
    return {str(k): _label_text(v) for k, v in selector.items()}


def address_types(service: Mapping[str, Any]) -> tuple[str, ...]:
    """The slice address types of a Service (``getAddressTypesForService``), IPv4 first."""
    spec = _dict(service.get("spec"))
    families = {f for f in _list(spec.get("ipFamilies")) if f in (IPV4, IPV6)}
    if not families:
        cluster_ip = _str(spec.get("clusterIP"))
        if cluster_ip and cluster_ip != "None":
            families = {_family(cluster_ip) or IPV4}
        else:
            families = {IPV4, IPV6}
    return tuple(f for f in (IPV4, IPV6) if f in families)


def is_headless(service: Mapping[str, Any]) -> bool:
    """No cluster IP set (``isServiceIPSet`` false): "None", or not allocated."""
    cluster_ip = _str(_dict(service.get("spec")).get("clusterIP"))
    return cluster_ip in ("", "None")


def slice_labels(service: Mapping[str, Any], controller: str = CONTROLLER_NAME) -> dict[str, str]:
    """The labels the controller gives a Service's slices (``setEndpointSliceLabels``)."""
    reserved = (SERVICE_NAME_LABEL, MANAGED_BY_LABEL, HEADLESS_LABEL)
    labels = {k: v for k, v in labels_of(service).items() if k not in reserved}
    if is_headless(service):
        labels[HEADLESS_LABEL] = ""
    labels[SERVICE_NAME_LABEL] = _meta(service)[1]
    labels[MANAGED_BY_LABEL] = controller
    return labels


# --- Pods -----------------------------------------------------------------------------------


def pod_ips(pod: Mapping[str, Any]) -> list[str]:
    """``status.podIPs`` (the API server fills it from ``podIP``; manifests may give either)."""
    status = _dict(pod.get("status"))
    ips = [_str(_dict(item).get("ip")) for item in _list(status.get("podIPs"))]
    ips = [ip for ip in ips if ip]
    if not ips and _str(status.get("podIP")):
        ips = [_str(status.get("podIP"))]
    return ips


def pod_is_ready(pod: Mapping[str, Any]) -> bool:
    """The Pod's Ready condition is "True" (``IsPodReady``); no condition means not ready."""
    for condition in _list(_dict(pod.get("status")).get("conditions")):
        condition = _dict(condition)
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def pod_is_endpoint(pod: Mapping[str, Any]) -> bool:
    """``ShouldPodBeInEndpoints(pod, includeTerminating=true)``: not terminal, has an IP."""
    phase = _str(_dict(pod.get("status")).get("phase"))
    return phase not in _TERMINAL_PHASES and bool(pod_ips(pod))


def find_port(pod: Mapping[str, Any], service_port: Mapping[str, Any]) -> int | None:
    """The Pod port a Service port targets (``FindPort``); None when it does not resolve.

    A digit-only string targetPort (which the API server would reject) reads as a number.
    """
    target = service_port.get("targetPort")
    if target is None or target == "" or target == 0:
        target = service_port.get("port")
    if isinstance(target, bool):
        return None
    if isinstance(target, int):
        return target
    if not isinstance(target, str):
        return None
    if target.isdigit():
        return int(target)
    protocol = _str(service_port.get("protocol")) or "TCP"
    spec = _dict(pod.get("spec"))
    containers = [_dict(c) for c in _list(spec.get("containers"))]
    containers += [
        _dict(c)
        for c in _list(spec.get("initContainers"))
        if _dict(c).get("restartPolicy") == "Always"  # sidecars
    ]
    for container in containers:
        for port in _list(container.get("ports")):
            port = _dict(port)
            if port.get("name") == target and (_str(port.get("protocol")) or "TCP") == protocol:
                number = port.get("containerPort")
                return number if isinstance(number, int) and not isinstance(number, bool) else None
    return None


def endpoint_ports(service: Mapping[str, Any], pod: Mapping[str, Any]) -> list[Json]:
    """The slice ports for one Pod (``getEndpointPorts``): unresolvable ports are left out."""
    spec = _dict(service.get("spec"))
    ports: list[Json] = []
    for item in _list(spec.get("ports")):
        item = _dict(item)
        number = find_port(pod, item)
        if number is None:
            continue
        port: Json = {
            "name": _str(item.get("name")),
            "port": number,
            "protocol": _str(item.get("protocol")) or "TCP",
        }
        if _str(item.get("appProtocol")):
            port["appProtocol"] = item["appProtocol"]
        ports.append(port)
    return ports


def pod_endpoint(pod: Mapping[str, Any], service: Mapping[str, Any], address_type: str) -> Json:
    """One slice endpoint for a Pod (``podToEndpoint``); its addresses may be empty."""
    namespace, name = _meta(pod)
    spec = _dict(pod.get("spec"))
    meta = _dict(pod.get("metadata"))
    publish_not_ready = _dict(service.get("spec")).get("publishNotReadyAddresses") is True
    serving = pod_is_ready(pod)
    terminating = bool(meta.get("deletionTimestamp"))
    ready = publish_not_ready or (serving and not terminating)
    addresses = []
    for ip in pod_ips(pod):
        parsed = _canonical(ip)
        if parsed is not None and parsed[0] == address_type:
            addresses.append(parsed[1])
    target: Json = {"kind": "Pod", "namespace": namespace, "name": name}
    if _str(meta.get("uid")):
        target["uid"] = meta["uid"]
    endpoint: Json = {
        "addresses": addresses,
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
        "targetRef": target,
    }
    if _str(spec.get("nodeName")):
        endpoint["nodeName"] = spec["nodeName"]
    hostname = _str(spec.get("hostname"))
    if hostname and _str(spec.get("subdomain")) == _meta(service)[1]:
        endpoint["hostname"] = hostname
    return endpoint


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Whether a Service selector (all keys equal) matches a Pod's labels."""
    return all(labels.get(k) == v for k, v in selector.items())


# --- the two controllers --------------------------------------------------------------------


def needs_controller_slices(service: Mapping[str, Any]) -> bool:
    """The EndpointSlice controller writes slices for this Service."""
    spec = _dict(service.get("spec"))
    return spec.get("type") != "ExternalName" and bool(selector_of(service))


def derive_service_slices(
    service: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]
) -> list[Json]:
    """The slices the EndpointSlice controller would write for ``service``.

    ``pods`` may hold Pods of any namespace; those the Service does not select are skipped.
    Returns [] for a Service the controller leaves alone (no selector, ExternalName).
    """
    if not needs_controller_slices(service):
        return []
    namespace, name = _meta(service)
    selector = selector_of(service)
    chosen = sorted(
        (
            pod
            for pod in pods
            if _meta(pod)[0] == namespace
            and pod_is_endpoint(pod)
            and selects(selector, labels_of(pod))
        ),
        key=lambda pod: _meta(pod)[1],
    )
    spec = _dict(service.get("spec"))
    headless_no_ports = not _list(spec.get("ports")) and _str(spec.get("clusterIP")) == "None"
    labels = slice_labels(service)
    slices: list[Json] = []
    for address_type in address_types(service):
        # group Pods by their resolved ports, in order of first appearance (reconcileByAddressType)
        groups: dict[tuple[tuple[str, int, str], ...], tuple[list[Json], list[Json]]] = {}
        for pod in chosen:
            ports = [] if headless_no_ports else endpoint_ports(service, pod)
            key = tuple((p["name"], p["port"], p["protocol"]) for p in ports)
            endpoint = pod_endpoint(pod, service, address_type)
            if not endpoint["addresses"]:
                continue
            groups.setdefault(key, (ports, []))[1].append(endpoint)
        count = 0
        for ports, endpoints in groups.values():
            for start in range(0, len(endpoints), MAX_ENDPOINTS_PER_SLICE):
                count += 1
                slices.append(
                    _slice(
                        namespace,
                        _slice_name(name, address_type, count),
                        labels,
                        address_type,
                        endpoints[start : start + MAX_ENDPOINTS_PER_SLICE],
                        ports,
                    )
                )
    return slices


def mirror_endpoints(service: Mapping[str, Any], endpoints: Mapping[str, Any]) -> list[Json]:
    """The slices the mirroring controller would write from a selectorless Service's Endpoints.

    Returns [] when it would not mirror: the Service has a selector, the Endpoints carries
    ``endpointslice.kubernetes.io/skip-mirror: "true"``, or names another Service.
    """
    if _meta(service) != _meta(endpoints) or selector_of(service):
        return []
    if _dict(service.get("spec")).get("type") == "ExternalName":
        return []
    endpoint_labels = labels_of(endpoints)
    if endpoint_labels.get(SKIP_MIRROR_LABEL) == "true":
        return []
    namespace, name = _meta(endpoints)
    labels = dict(endpoint_labels)
    labels[SERVICE_NAME_LABEL] = name
    labels[MANAGED_BY_LABEL] = MIRRORING_CONTROLLER_NAME
    groups: dict[tuple[str, tuple[tuple[str, int, str], ...]], tuple[list[Json], list[Json]]] = {}
    for subset in _list(endpoints.get("subsets")):
        subset = _dict(subset)
        ports: list[Json] = []
        for item in _list(subset.get("ports")):
            item = _dict(item)
            number = item.get("port")
            if isinstance(number, int) and not isinstance(number, bool):
                ports.append(
                    {
                        "name": _str(item.get("name")),
                        "port": number,
                        "protocol": _str(item.get("protocol")) or "TCP",
                    }
                )
        port_key = tuple((p["name"], p["port"], p["protocol"]) for p in ports)
        added = 0
        addresses = [(a, True) for a in _list(subset.get("addresses"))]
        addresses += [(a, False) for a in _list(subset.get("notReadyAddresses"))]
        for address, ready in addresses:
            if added >= MAX_ENDPOINTS_PER_SUBSET:
                break
            address = _dict(address)
            parsed = _canonical(_str(address.get("ip")))
            if parsed is None:
                continue  # the controller skips (and reports) invalid IPs
            added += 1
            endpoint: Json = {"addresses": [parsed[1]], "conditions": {"ready": ready}}
            target = _dict(address.get("targetRef"))
            if target:
                endpoint["targetRef"] = dict(target)
            if _str(address.get("nodeName")):
                endpoint["nodeName"] = address["nodeName"]
            if _str(address.get("hostname")):
                endpoint["hostname"] = address["hostname"]
            groups.setdefault((parsed[0], port_key), (ports, []))[1].append(endpoint)
    slices: list[Json] = []
    counts: dict[str, int] = {}
    for (address_type, _), (ports, group) in groups.items():
        counts[address_type] = counts.get(address_type, 0) + 1
        slices.append(
            _slice(
                namespace,
                _slice_name(name, address_type, counts[address_type]),
                labels,
                address_type,
                group,
                ports,
            )
        )
    return slices


def derive_slices(
    services: Iterable[Mapping[str, Any]],
    pods: Iterable[Mapping[str, Any]],
    endpoints: Iterable[Mapping[str, Any]] = (),
    *,
    existing: Iterable[tuple[str, str]] = (),
) -> Iterator[tuple[Mapping[str, Any], list[Json]]]:
    """For each Service without slices, the slices the controllers would write.

    ``existing`` holds (namespace, service name) pairs that already have an EndpointSlice in
    the files (by their ``kubernetes.io/service-name`` label); those Services are left alone.
    Yields (service, slices) for every Service that gets slices, in the order given.
    """
    have = set(existing)
    pods_by_namespace: dict[str, list[Mapping[str, Any]]] = {}
    for pod in pods:
        pods_by_namespace.setdefault(_meta(pod)[0], []).append(pod)
    endpoints_by_key = {_meta(e): e for e in endpoints}
    for service in services:
        key = _meta(service)
        if key in have:
            continue
        if needs_controller_slices(service):
            derived = derive_service_slices(service, pods_by_namespace.get(key[0], ()))
        elif key in endpoints_by_key:
            derived = mirror_endpoints(service, endpoints_by_key[key])
        else:
            continue
        if derived:
            yield service, derived


def _slice_name(service: str, address_type: str, count: int) -> str:
    base = f"{service}-{address_type.lower()}"
    return base if count == 1 else f"{base}-{count}"


def _slice(
    namespace: str,
    name: str,
    labels: Mapping[str, str],
    address_type: str,
    endpoints: list[Json],
    ports: list[Json],
) -> Json:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"namespace": namespace, "name": name, "labels": dict(labels)},
        "addressType": address_type,
        "endpoints": endpoints,
        "ports": [dict(p) for p in ports],
    }


__all__ = [
    "CONTROLLER_NAME",
    "HEADLESS_LABEL",
    "MANAGED_BY_LABEL",
    "MAX_ENDPOINTS_PER_SLICE",
    "MIRRORING_CONTROLLER_NAME",
    "SKIP_MIRROR_LABEL",
    "address_types",
    "derive_service_slices",
    "derive_slices",
    "endpoint_ports",
    "find_port",
    "mirror_endpoints",
    "pod_endpoint",
    "pod_ips",
    "pod_is_ready",
    "selector_of",
]
