"""EndpointSlice derivation: the slices the EndpointSlice (and mirroring) controller would write.

Tables of Pods and Services in API JSON shape, checked against the rules of Kubernetes'
``staging/src/k8s.io/endpointslice`` (readiness, terminating, phases, hostname/subdomain,
targetPort resolution, address families, slice size) and the mirroring controller.
"""

from __future__ import annotations

from typing import Any

import pytest

from clusterdns.kube.objects import endpoint_slice_from_json
from clusterdns.plugins.kubernetes.derive import (
    CONTROLLER_NAME,
    HEADLESS_LABEL,
    MANAGED_BY_LABEL,
    MAX_ENDPOINTS_PER_SLICE,
    MIRRORING_CONTROLLER_NAME,
    SKIP_MIRROR_LABEL,
    address_types,
    derive_service_slices,
    derive_slices,
    find_port,
    mirror_endpoints,
)

Json = dict[str, Any]


def service(
    name: str = "web",
    namespace: str = "ns",
    *,
    selector: dict[str, str] | None = None,
    cluster_ip: str = "10.96.0.5",
    ports: list[Json] | None = None,
    **spec: Any,
) -> Json:
    body: Json = {"clusterIP": cluster_ip, **spec}
    if selector is not None:
        body["selector"] = selector
    body["ports"] = [{"name": "http", "port": 80, "targetPort": 8080}] if ports is None else ports
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": body,
    }


def pod(
    name: str,
    ips: list[str] | str = "10.244.0.1",
    *,
    namespace: str = "ns",
    labels: dict[str, str] | None = None,
    ready: bool | None = True,
    phase: str = "Running",
    deleting: bool = False,
    hostname: str = "",
    subdomain: str = "",
    node: str = "node-1",
    container_ports: list[Json] | None = None,
    init_containers: list[Json] | None = None,
) -> Json:
    status: Json = {"phase": phase}
    if isinstance(ips, str):
        if ips:
            status["podIP"] = ips
    else:
        status["podIP"] = ips[0]
        status["podIPs"] = [{"ip": ip} for ip in ips]
    if ready is not None:
        status["conditions"] = [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "True" if ready else "False"},
        ]
    spec: Json = {"nodeName": node, "containers": [{"name": "c", "ports": container_ports or []}]}
    if hostname:
        spec["hostname"] = hostname
    if subdomain:
        spec["subdomain"] = subdomain
    if init_containers is not None:
        spec["initContainers"] = init_containers
    meta: Json = {"name": name, "namespace": namespace, "labels": labels or {"app": "web"}}
    if deleting:
        meta["deletionTimestamp"] = "2024-05-01T10:00:00Z"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def endpoints_of(slices: list[Json]) -> list[tuple[str, tuple[str, ...], bool, str]]:
    """(slice address type, addresses, ready, hostname) per endpoint, through the real parser."""
    rows = []
    for raw in slices:
        parsed = endpoint_slice_from_json(raw)
        for endpoint in parsed.endpoints:
            rows.append(
                (parsed.address_type, endpoint.addresses, endpoint.ready, endpoint.hostname)
            )
    return rows


SELECT = {"app": "web"}


# --- readiness, phases, terminating -----------------------------------------------------------


@pytest.mark.parametrize(
    ("pod_kwargs", "publish", "expected"),
    [
        pytest.param({"ready": True}, False, [True], id="ready"),
        pytest.param({"ready": False}, False, [False], id="not-ready"),
        pytest.param({"ready": None}, False, [False], id="no-ready-condition-is-not-ready"),
        pytest.param({"ready": False}, True, [True], id="publishNotReadyAddresses"),
        pytest.param({"ready": True, "deleting": True}, False, [False], id="terminating"),
        pytest.param(
            {"ready": True, "deleting": True}, True, [True], id="terminating-published"
        ),
        pytest.param({"phase": "Succeeded"}, False, [], id="succeeded-not-an-endpoint"),
        pytest.param({"phase": "Failed"}, True, [], id="failed-not-an-endpoint"),
        pytest.param({"phase": "Pending", "ips": ""}, True, [], id="no-ip-not-an-endpoint"),
        pytest.param({"phase": "Pending", "ready": False}, False, [False], id="pending-with-ip"),
        pytest.param({"phase": "Unknown", "ready": True}, False, [True], id="unknown-phase-kept"),
    ],
)
def test_readiness(pod_kwargs: dict[str, Any], publish: bool, expected: list[bool]) -> None:
    svc = service(selector=SELECT, publishNotReadyAddresses=publish, ipFamilies=["IPv4"])
    slices = derive_service_slices(svc, [pod("p", **pod_kwargs)])
    assert [ready for _, _, ready, _ in endpoints_of(slices)] == expected


def test_conditions_written_like_the_controller() -> None:
    svc = service(selector=SELECT, ipFamilies=["IPv4"])
    [raw] = derive_service_slices(svc, [pod("p", ready=True, deleting=True)])
    endpoint = raw["endpoints"][0]
    assert endpoint["conditions"] == {"ready": False, "serving": True, "terminating": True}
    assert endpoint["targetRef"] == {"kind": "Pod", "namespace": "ns", "name": "p"}
    assert endpoint["nodeName"] == "node-1"


# --- which pods -------------------------------------------------------------------------------


def test_only_selected_pods_of_the_same_namespace() -> None:
    svc = service(selector={"app": "web", "tier": "front"}, ipFamilies=["IPv4"])
    pods = [
        pod("match", "10.244.0.1", labels={"app": "web", "tier": "front", "extra": "x"}),
        pod("partial", "10.244.0.2", labels={"app": "web"}),
        pod("other-ns", "10.244.0.3", namespace="other", labels={"app": "web", "tier": "front"}),
    ]
    assert [a for _, a, _, _ in endpoints_of(derive_service_slices(svc, pods))] == [
        ("10.244.0.1",)
    ]


@pytest.mark.parametrize(
    "svc",
    [
        pytest.param(service(), id="no-selector"),
        pytest.param(service(selector={}), id="empty-selector"),
        pytest.param(
            service(selector=SELECT, type="ExternalName", externalName="x.example."),
            id="external-name",
        ),
    ],
)
def test_services_the_controller_leaves_alone(svc: Json) -> None:
    assert derive_service_slices(svc, [pod("p")]) == []


def test_pods_sorted_by_name_and_podip_alone_is_enough() -> None:
    svc = service(selector=SELECT, ipFamilies=["IPv4"])
    pods = [pod("b", "10.244.0.2"), pod("a", "10.244.0.1")]
    [raw] = derive_service_slices(svc, pods)
    assert [e["targetRef"]["name"] for e in raw["endpoints"]] == ["a", "b"]


# --- hostname ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hostname", "subdomain", "expected"),
    [
        pytest.param("web-0", "web", "web-0", id="statefulset-pod"),
        pytest.param("web-0", "other", "", id="subdomain-names-another-service"),
        pytest.param("web-0", "", "", id="hostname-without-subdomain"),
        pytest.param("", "web", "", id="subdomain-without-hostname"),
    ],
)
def test_hostname_needs_subdomain_equal_to_the_service(
    hostname: str, subdomain: str, expected: str
) -> None:
    svc = service(selector=SELECT, cluster_ip="None", ipFamilies=["IPv4"])
    slices = derive_service_slices(svc, [pod("p", hostname=hostname, subdomain=subdomain)])
    assert [h for _, _, _, h in endpoints_of(slices)] == [expected]


# --- ports ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service_port", "container_ports", "expected"),
    [
        pytest.param({"port": 80, "targetPort": 8080}, [], 8080, id="numeric"),
        pytest.param({"port": 80}, [], 80, id="default-is-port"),
        pytest.param({"port": 80, "targetPort": "8081"}, [], 8081, id="digit-string"),
        pytest.param(
            {"port": 80, "targetPort": "http"},
            [{"name": "http", "containerPort": 9000}],
            9000,
            id="named",
        ),
        pytest.param(
            {"port": 53, "protocol": "UDP", "targetPort": "dns"},
            [
                {"name": "dns", "containerPort": 5353, "protocol": "TCP"},
                {"name": "dns", "containerPort": 5354, "protocol": "UDP"},
            ],
            5354,
            id="named-same-protocol",
        ),
        pytest.param(
            {"port": 80, "protocol": "UDP", "targetPort": "http"},
            [{"name": "http", "containerPort": 9000}],
            None,
            id="named-protocol-mismatch",
        ),
        pytest.param({"port": 80, "targetPort": "missing"}, [], None, id="named-unknown"),
    ],
)
def test_find_port(
    service_port: Json, container_ports: list[Json], expected: int | None
) -> None:
    assert find_port(pod("p", container_ports=container_ports), service_port) == expected


def test_find_port_in_sidecar_init_containers_only() -> None:
    ports = [{"name": "m", "containerPort": 9}]
    sidecar = [{"name": "s", "restartPolicy": "Always", "ports": ports}]
    plain = [{"name": "i", "ports": ports}]
    assert find_port(pod("p", init_containers=sidecar), {"port": 1, "targetPort": "m"}) == 9
    assert find_port(pod("p", init_containers=plain), {"port": 1, "targetPort": "m"}) is None


def test_slice_ports_from_service_ports() -> None:
    svc = service(
        selector=SELECT,
        ipFamilies=["IPv4"],
        ports=[
            {"name": "http", "port": 80, "targetPort": "http"},
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 5353},
            {"name": "gone", "port": 81, "targetPort": "nothing"},
        ],
    )
    [raw] = derive_service_slices(
        svc, [pod("p", container_ports=[{"name": "http", "containerPort": 8080}])]
    )
    assert raw["ports"] == [
        {"name": "http", "port": 8080, "protocol": "TCP"},
        {"name": "dns", "port": 5353, "protocol": "UDP"},
    ]


def test_pods_with_different_resolved_ports_get_different_slices() -> None:
    svc = service(
        selector=SELECT, ipFamilies=["IPv4"], ports=[{"name": "h", "port": 80, "targetPort": "h"}]
    )
    pods = [
        pod("a", "10.244.0.1", container_ports=[{"name": "h", "containerPort": 8080}]),
        pod("b", "10.244.0.2", container_ports=[{"name": "h", "containerPort": 9090}]),
        pod("c", "10.244.0.3", container_ports=[{"name": "h", "containerPort": 8080}]),
    ]
    slices = derive_service_slices(svc, pods)
    rows = [
        (s["metadata"]["name"], [p["port"] for p in s["ports"]], len(s["endpoints"]))
        for s in slices
    ]
    assert rows == [
        ("web-ipv4", [8080], 2),
        ("web-ipv4-2", [9090], 1),
    ]


def test_headless_without_ports_has_no_slice_ports() -> None:
    svc = service(selector=SELECT, cluster_ip="None", ipFamilies=["IPv4"], ports=[])
    [raw] = derive_service_slices(svc, [pod("p")])
    assert raw["ports"] == []


# --- address families -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({"ipFamilies": ["IPv4"]}, ("IPv4",), id="ipv4"),
        pytest.param({"ipFamilies": ["IPv6"]}, ("IPv6",), id="ipv6"),
        pytest.param({"ipFamilies": ["IPv6", "IPv4"]}, ("IPv4", "IPv6"), id="dual"),
        pytest.param({"clusterIP": "fd00:10:96::1"}, ("IPv6",), id="family-of-cluster-ip"),
        pytest.param({"clusterIP": "10.96.0.1"}, ("IPv4",), id="family-of-cluster-ip-v4"),
        pytest.param({"clusterIP": "None"}, ("IPv4", "IPv6"), id="headless-without-families"),
        pytest.param({}, ("IPv4", "IPv6"), id="unallocated-without-families"),
    ],
)
def test_address_types(spec: Json, expected: tuple[str, ...]) -> None:
    assert address_types({"spec": spec}) == expected


def test_dual_stack_pods_split_by_family() -> None:
    svc = service(
        selector=SELECT,
        cluster_ip="10.96.0.5",
        clusterIPs=["10.96.0.5", "fd00:10:96::5"],
        ipFamilies=["IPv4", "IPv6"],
    )
    pods = [
        pod("a", ["10.244.0.1", "fd00:10:244::1"]),
        pod("b", ["10.244.0.2"]),  # a single-stack pod appears in the IPv4 slice only
        pod("c", ["FD00:10:244:0:0::3", "10.244.0.3"]),  # re-stringified like the controller
    ]
    slices = derive_service_slices(svc, pods)
    assert [(s["metadata"]["name"], s["addressType"]) for s in slices] == [
        ("web-ipv4", "IPv4"),
        ("web-ipv6", "IPv6"),
    ]
    assert [(t, a) for t, a, _, _ in endpoints_of(slices)] == [
        ("IPv4", ("10.244.0.1",)),
        ("IPv4", ("10.244.0.2",)),
        ("IPv4", ("10.244.0.3",)),
        ("IPv6", ("fd00:10:244::1",)),
        ("IPv6", ("fd00:10:244::3",)),
    ]


def test_single_stack_service_ignores_the_other_family() -> None:
    svc = service(selector=SELECT, ipFamilies=["IPv6"], cluster_ip="fd00:10:96::5")
    pods = [pod("a", ["10.244.0.1", "fd00:10:244::1"]), pod("b", "10.244.0.2")]
    slices = derive_service_slices(svc, pods)
    assert [(t, a) for t, a, _, _ in endpoints_of(slices)] == [("IPv6", ("fd00:10:244::1",))]


# --- slices -----------------------------------------------------------------------------------


def test_at_most_100_endpoints_per_slice() -> None:
    svc = service(selector=SELECT, ipFamilies=["IPv4"])
    count = MAX_ENDPOINTS_PER_SLICE + 5
    pods = [pod(f"p{i:03}", f"10.244.{i // 250}.{i % 250 + 1}") for i in range(count)]
    slices = derive_service_slices(svc, pods)
    assert [(s["metadata"]["name"], len(s["endpoints"])) for s in slices] == [
        ("web-ipv4", 100),
        ("web-ipv4-2", 5),
    ]


def test_slice_labels_and_metadata() -> None:
    svc = service("db", selector={"app": "db"}, cluster_ip="None", ipFamilies=["IPv4"])
    svc["metadata"]["labels"] = {"app": "db", "kubernetes.io/service-name": "spoof", "team": "x"}
    [raw] = derive_service_slices(svc, [pod("db-0", labels={"app": "db"})])
    assert raw["apiVersion"] == "discovery.k8s.io/v1"
    assert raw["kind"] == "EndpointSlice"
    assert raw["metadata"]["namespace"] == "ns"
    assert raw["metadata"]["labels"] == {
        "app": "db",
        "team": "x",
        HEADLESS_LABEL: "",
        "kubernetes.io/service-name": "db",
        MANAGED_BY_LABEL: CONTROLLER_NAME,
    }
    parsed = endpoint_slice_from_json(raw)
    assert parsed.service_name == "db"


def test_derive_slices_skips_services_with_slices_in_the_files() -> None:
    web = service("web", selector=SELECT, ipFamilies=["IPv4"])
    api = service("api", selector=SELECT, ipFamilies=["IPv4"])
    results = list(derive_slices([web, api], [pod("p")], existing=[("ns", "web")]))
    assert [svc["metadata"]["name"] for svc, _ in results] == ["api"]


def test_derive_slices_without_endpoints_yields_nothing() -> None:
    web = service("web", selector={"app": "nothing"}, ipFamilies=["IPv4"])
    assert list(derive_slices([web], [pod("p")])) == []


# --- mirroring Endpoints ----------------------------------------------------------------------


def endpoints_object(name: str = "ext", labels: dict[str, str] | None = None) -> Json:
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": name, "namespace": "ns", "labels": labels or {"src": "hand"}},
        "subsets": [
            {
                "addresses": [
                    {"ip": "192.0.2.1", "hostname": "one", "nodeName": "n1"},
                    {"ip": "2001:db8::1"},
                    {"ip": "not-an-ip"},
                ],
                "notReadyAddresses": [{"ip": "192.0.2.2"}],
                "ports": [{"name": "sql", "port": 3306}],
            }
        ],
    }


def test_mirror_endpoints_of_a_selectorless_service() -> None:
    slices = mirror_endpoints(service("ext"), endpoints_object())
    assert [(s["metadata"]["name"], s["addressType"]) for s in slices] == [
        ("ext-ipv4", "IPv4"),
        ("ext-ipv6", "IPv6"),
    ]
    assert endpoints_of(slices) == [
        ("IPv4", ("192.0.2.1",), True, "one"),
        ("IPv4", ("192.0.2.2",), False, ""),
        ("IPv6", ("2001:db8::1",), True, ""),
    ]
    assert slices[0]["ports"] == [{"name": "sql", "port": 3306, "protocol": "TCP"}]
    assert slices[0]["metadata"]["labels"] == {
        "src": "hand",
        "kubernetes.io/service-name": "ext",
        MANAGED_BY_LABEL: MIRRORING_CONTROLLER_NAME,
    }


@pytest.mark.parametrize(
    ("svc", "eps"),
    [
        pytest.param(
            service("ext", selector=SELECT), endpoints_object(), id="service-has-selector"
        ),
        pytest.param(
            service("ext"), endpoints_object(labels={SKIP_MIRROR_LABEL: "true"}), id="skip-mirror"
        ),
        pytest.param(service("other"), endpoints_object(), id="other-service"),
    ],
)
def test_endpoints_not_mirrored(svc: Json, eps: Json) -> None:
    assert mirror_endpoints(svc, eps) == []


def test_derive_slices_mirrors_only_without_selector() -> None:
    mirrored = service("ext")
    selected = service("web", selector=SELECT, ipFamilies=["IPv4"])
    results = list(
        derive_slices(
            [mirrored, selected], [pod("p")], [endpoints_object("ext"), endpoints_object("web")]
        )
    )
    managers = [
        (svc["metadata"]["name"], s["metadata"]["labels"][MANAGED_BY_LABEL])
        for svc, slices in results
        for s in slices
    ]
    assert managers == [
        ("ext", MIRRORING_CONTROLLER_NAME),
        ("ext", MIRRORING_CONTROLLER_NAME),
        ("web", CONTROLLER_NAME),
    ]
