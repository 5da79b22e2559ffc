"""The sample cluster in examples/cluster/ loads cleanly and holds what its files promise:
services of every kind, explicit and derived slices, StatefulSet hostnames, dual stack, a
not-ready pod, publishNotReadyAddresses, a completed pod and a mirrored Endpoints.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from clusterdns.kube.index import ClusterIndex
from clusterdns.plugins.kubernetes.manifests import ManifestSource

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "cluster"


@pytest.fixture
async def cluster(log_lines: list[str]) -> AsyncIterator[ClusterIndex]:
    index = ClusterIndex()
    src = ManifestSource([str(EXAMPLES)], index, watch_pods=True)
    await src.start()
    try:
        yield index
    finally:
        await src.stop()
    assert log_lines == []  # no file problem, no duplicate


def endpoint_rows(index: ClusterIndex, namespace: str, name: str) -> list[tuple[object, ...]]:
    return [
        (s.address_type, e.addresses, e.ready, e.hostname)
        for e, s in index.endpoints(namespace, name).endpoints()
    ]


async def test_counts(cluster: ClusterIndex) -> None:
    assert sorted(cluster.namespaces) == ["default", "demo", "kube-system", "shop"]
    assert len(cluster.services) == 10
    assert sorted(cluster.slices) == [
        ("default", "kubernetes"),  # explicit
        ("demo", "web-8xk2p"),  # explicit
        ("kube-system", "kube-dns-ipv4"),
        ("shop", "api-ipv4"),
        ("shop", "api-ipv6"),
        ("shop", "cache-ipv4"),
        ("shop", "cart-ipv4"),
        ("shop", "db-ipv4"),
        ("shop", "legacy-db-ipv4"),  # mirrored from Endpoints
    ]
    # 14 Pod objects; the Succeeded one is not kept
    assert len(cluster.pods) == 13
    assert ("demo", "report-28901234-x7k2q") not in cluster.pods


async def test_service_kinds(cluster: ClusterIndex) -> None:
    def get(namespace: str, name: str):  # type: ignore[no-untyped-def]
        found = cluster.service(namespace, name)
        assert found is not None
        return found

    kubernetes = get("default", "kubernetes")
    assert kubernetes.cluster_ips == ("10.96.0.1",)
    assert [(p.name, p.port, p.protocol) for p in kubernetes.ports] == [("https", 443, "TCP")]
    kube_dns = get("kube-system", "kube-dns")
    assert kube_dns.cluster_ips == ("10.96.0.10",)
    assert [(p.name, p.port, p.protocol) for p in kube_dns.ports] == [
        ("dns", 53, "UDP"),
        ("dns-tcp", 53, "TCP"),
        ("metrics", 9153, "TCP"),
    ]
    assert get("demo", "web").cluster_ips == ("10.96.100.10",)
    assert get("shop", "api").cluster_ips == ("10.96.200.20", "fd00:10:96::c8")
    assert get("shop", "db").headless
    assert get("shop", "cache").headless
    assert get("shop", "search").external_name == "www.example.com"
    assert get("demo", "www").external_name == "web.demo.svc.cluster.local"


async def test_kube_dns_slice_resolves_named_target_ports(cluster: ClusterIndex) -> None:
    endpoint_slice = cluster.slices[("kube-system", "kube-dns-ipv4")]
    assert [(p.name, p.port, p.protocol) for p in endpoint_slice.ports] == [
        ("dns", 53, "UDP"),
        ("dns-tcp", 53, "TCP"),
        ("metrics", 9153, "TCP"),
    ]
    assert cluster.endpoints("kube-system", "kube-dns").ready_addresses == (
        "10.244.0.2",
        "10.244.0.3",
    )


async def test_statefulset_pods_get_hostnames(cluster: ClusterIndex) -> None:
    assert endpoint_rows(cluster, "shop", "db") == [
        ("IPv4", ("10.244.1.20",), True, "db-0"),
        ("IPv4", ("10.244.2.21",), True, "db-1"),
        ("IPv4", ("10.244.1.22",), True, "db-2"),
    ]


async def test_dual_stack_service(cluster: ClusterIndex) -> None:
    assert endpoint_rows(cluster, "shop", "api") == [
        ("IPv4", ("10.244.1.40",), True, ""),
        ("IPv4", ("10.244.2.41",), True, ""),
        ("IPv6", ("fd00:10:244:1::28",), True, ""),
        ("IPv6", ("fd00:10:244:2::29",), True, ""),
    ]
    assert [p.port for p in cluster.slices[("shop", "api-ipv6")].ports] == [8080]


async def test_not_ready_and_publish_not_ready(cluster: ClusterIndex) -> None:
    assert endpoint_rows(cluster, "shop", "cart") == [
        ("IPv4", ("10.244.1.30",), True, ""),
        ("IPv4", ("10.244.2.31",), False, ""),
    ]
    assert cluster.endpoints("shop", "cart").ready_addresses == ("10.244.1.30",)
    assert endpoint_rows(cluster, "shop", "cache") == [
        ("IPv4", ("10.244.1.50",), True, "cache-0"),
        ("IPv4", ("10.244.2.51",), True, "cache-1"),  # not ready, published anyway
    ]


async def test_explicit_and_mirrored_slices(cluster: ClusterIndex) -> None:
    assert cluster.endpoints("default", "kubernetes").ready_addresses == ("172.18.0.2",)
    assert cluster.endpoints("demo", "web").ready_addresses == ("10.244.1.10", "10.244.2.11")
    assert cluster.endpoints("shop", "legacy-db").ready_addresses == ("192.0.2.50",)


async def test_pods_by_ip(cluster: ClusterIndex) -> None:
    [pod] = cluster.pods_by_ip("10.244.1.20")
    assert (pod.namespace, pod.name) == ("shop", "db-0")
    assert cluster.pods_by_ip("10.244.1.12") == []  # the completed job pod
