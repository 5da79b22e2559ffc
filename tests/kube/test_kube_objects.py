"""Parsing API JSON into the slim objects: real-looking objects as the API server returns them.

Covers dual-stack and headless Services, ExternalName, unnamed ports, LoadBalancer ingress,
EndpointSlice ``ready`` unset/true/false, hostnames, targetRefs, IPv6 and FQDN slices, pods
(terminating, without an IP) and namespaces; and that clusterdns.kube imports nothing of DNS.
Index behaviour is not covered here.
"""

from __future__ import annotations

import json

import pytest

from clusterdns.kube.objects import (
    Endpoint,
    Port,
    endpoint_slice_from_json,
    namespace_from_json,
    pod_from_json,
    service_from_json,
)
from clusterdns.testing import fakeapi

#: A dual-stack Service as ``kubectl get svc -o json`` prints it (trimmed of managedFields).
DUAL_STACK_SERVICE = json.loads("""
{
  "apiVersion": "v1",
  "kind": "Service",
  "metadata": {
    "creationTimestamp": "2024-05-02T10:11:12Z",
    "labels": {"app.kubernetes.io/name": "web"},
    "name": "web",
    "namespace": "shop",
    "resourceVersion": "48213",
    "uid": "7c1e0a3e-8d3b-4a4b-9d55-0b5f0a6f2a11"
  },
  "spec": {
    "clusterIP": "10.96.12.34",
    "clusterIPs": ["10.96.12.34", "fd00:10:96::1234"],
    "internalTrafficPolicy": "Cluster",
    "ipFamilies": ["IPv4", "IPv6"],
    "ipFamilyPolicy": "PreferDualStack",
    "ports": [
      {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
      {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 5353}
    ],
    "selector": {"app.kubernetes.io/name": "web"},
    "sessionAffinity": "None",
    "type": "ClusterIP"
  },
  "status": {"loadBalancer": {}}
}
""")

#: An EndpointSlice of a headless StatefulSet service, from ``kubectl get endpointslice -o json``.
STATEFUL_SLICE = json.loads("""
{
  "addressType": "IPv4",
  "apiVersion": "discovery.k8s.io/v1",
  "endpoints": [
    {
      "addresses": ["10.244.1.7"],
      "conditions": {"ready": true, "serving": true, "terminating": false},
      "hostname": "db-0",
      "nodeName": "worker-1",
      "targetRef": {"kind": "Pod", "name": "db-0", "namespace": "shop", "uid": "a1"},
      "zone": "zone-a"
    },
    {
      "addresses": ["10.244.2.9"],
      "conditions": {"ready": false, "serving": false, "terminating": true},
      "hostname": "db-1",
      "nodeName": "worker-2",
      "targetRef": {"kind": "Pod", "name": "db-1", "namespace": "shop", "uid": "a2"}
    },
    {
      "addresses": ["10.244.3.4"],
      "conditions": {},
      "nodeName": "worker-3"
    }
  ],
  "kind": "EndpointSlice",
  "metadata": {
    "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2024-05-02T10:11:40Z"},
    "generateName": "db-",
    "labels": {
      "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
      "kubernetes.io/service-name": "db",
      "service.kubernetes.io/headless": ""
    },
    "name": "db-7xk2p",
    "namespace": "shop",
    "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": "db", "uid": "b1"}],
    "resourceVersion": "48300"
  },
  "ports": [{"name": "", "port": 5432, "protocol": "TCP"}]
}
""")


def test_dual_stack_service_keeps_both_cluster_ips_and_named_ports() -> None:
    svc = service_from_json(DUAL_STACK_SERVICE)
    assert (svc.namespace, svc.name, svc.type) == ("shop", "web", "ClusterIP")
    assert svc.cluster_ips == ("10.96.12.34", "fd00:10:96::1234")
    assert not svc.headless and svc.external_name == ""
    assert svc.ports == (Port("http", 80, "TCP"), Port("dns", 53, "UDP"))


def test_headless_service_has_no_cluster_ips() -> None:
    svc = service_from_json(fakeapi.service("shop", "db", None, [("pg", 5432)]))
    assert svc.headless and svc.cluster_ips == ()
    assert svc.ports == (Port("pg", 5432, "TCP"),)


def test_external_name_service() -> None:
    svc = service_from_json(fakeapi.service("shop", "search", external_name="search.example.com"))
    assert svc.type == "ExternalName"
    assert svc.external_name == "search.example.com"
    assert svc.cluster_ips == () and not svc.headless


def test_unnamed_port_and_protocol_default() -> None:
    raw = fakeapi.service("shop", "plain", "10.96.0.50", [8080, {"port": 9090}])
    svc = service_from_json(raw)
    assert svc.ports == (Port("", 8080, "TCP"), Port("", 9090, "TCP"))


def test_load_balancer_external_ips_and_ingress() -> None:
    raw = fakeapi.service(
        "shop",
        "edge",
        "10.96.0.60",
        type="LoadBalancer",
        external_ips=["192.0.2.1"],
        ingress_ips=["198.51.100.7"],
    )
    svc = service_from_json(raw)
    assert svc.type == "LoadBalancer"
    assert svc.external_ips == ("192.0.2.1", "198.51.100.7")


def test_dual_stack_builder_matches_the_real_shape() -> None:
    raw = fakeapi.service("shop", "web", "10.96.12.34", cluster_ips=["10.96.12.34", "fd00::1"])
    assert raw["spec"]["ipFamilies"] == ["IPv4", "IPv6"]
    assert service_from_json(raw).cluster_ips == ("10.96.12.34", "fd00::1")


def test_endpoint_slice_ready_hostname_and_target_ref() -> None:
    eps = endpoint_slice_from_json(STATEFUL_SLICE)
    assert (eps.namespace, eps.name, eps.service_name, eps.address_type) == (
        "shop",
        "db-7xk2p",
        "db",
        "IPv4",
    )
    assert eps.endpoints == (
        Endpoint(
            ("10.244.1.7",), ready=True, hostname="db-0", target_pod="db-0", node_name="worker-1"
        ),
        Endpoint(
            ("10.244.2.9",), ready=False, hostname="db-1", target_pod="db-1", node_name="worker-2"
        ),
        Endpoint(("10.244.3.4",), ready=True, node_name="worker-3"),  # ready unset counts as ready
    )
    assert eps.ports == (Port("", 5432, "TCP"),)
    assert eps.trigger_time is not None


@pytest.mark.parametrize(
    ("ready", "expected"),
    [(True, True), (False, False), (None, True)],
    ids=["ready-true", "ready-false", "ready-unset"],
)
def test_endpoint_ready_condition(ready: bool | None, expected: bool) -> None:
    raw = fakeapi.endpoint_slice("ns", "s-1", "s", ["10.0.0.1"], ready=ready)
    assert endpoint_slice_from_json(raw).endpoints[0].ready is expected


def test_target_ref_to_something_other_than_a_pod_is_ignored() -> None:
    raw = fakeapi.endpoint_slice("ns", "s-1", "s", ["10.0.0.1"])
    raw["endpoints"][0]["targetRef"] = {"kind": "Node", "name": "worker-1"}
    assert endpoint_slice_from_json(raw).endpoints[0].target_pod == ""


def test_ipv6_and_fqdn_slices() -> None:
    v6 = endpoint_slice_from_json(fakeapi.endpoint_slice("ns", "s-v6", "s", ["fd00::7"]))
    assert v6.address_type == "IPv6" and v6.endpoints[0].addresses == ("fd00::7",)
    fqdn = endpoint_slice_from_json(
        fakeapi.endpoint_slice("ns", "s-f", "s", ["db.example.com"], address_type="FQDN")
    )
    assert fqdn.address_type == "FQDN"


def test_slice_without_service_label_and_without_endpoints() -> None:
    raw = fakeapi.endpoint_slice("ns", "orphan", "s")
    del raw["metadata"]["labels"]
    raw["endpoints"] = None
    eps = endpoint_slice_from_json(raw)
    assert eps.service_name == "" and eps.endpoints == ()


def test_trigger_time_does_not_matter_for_dns() -> None:
    a = endpoint_slice_from_json(
        fakeapi.endpoint_slice("ns", "s-1", "s", ["10.0.0.1"], trigger_time="2024-01-01T00:00:00Z")
    )
    b = endpoint_slice_from_json(
        fakeapi.endpoint_slice("ns", "s-1", "s", ["10.0.0.1"], trigger_time="2024-01-01T00:00:09Z")
    )
    assert a != b and a.same_for_dns(b)


def test_pods() -> None:
    running = pod_from_json(fakeapi.pod("shop", "web-1", "10.244.1.3"))
    assert (running.namespace, running.name, running.ip, running.phase) == (
        "shop",
        "web-1",
        "10.244.1.3",
        "Running",
    )
    assert not running.deleting
    pending = pod_from_json(fakeapi.pod("shop", "web-2", None, "Pending"))
    assert pending.ip == "" and pending.phase == "Pending"
    terminating = pod_from_json(fakeapi.pod("shop", "web-3", "10.244.1.4", deleting=True))
    assert terminating.deleting


def test_namespace_labels_are_sorted_pairs() -> None:
    ns = namespace_from_json(fakeapi.namespace("shop", {"team": "a", "env": "prod"}))
    assert ns.name == "shop"
    assert ns.labels == (("env", "prod"), ("kubernetes.io/metadata.name", "shop"), ("team", "a"))


def test_repeated_strings_are_interned() -> None:
    a = service_from_json(fakeapi.service("".join(["sh", "op"]), "a", "10.0.0.1"))
    b = service_from_json(fakeapi.service("".join(["s", "hop"]), "b", "10.0.0.2"))
    assert a.namespace is b.namespace


def test_the_kube_package_imports_nothing_dns() -> None:
    """clusterdns.kube is DNS-agnostic (DESIGN.md): no dnslib, no wire, plugin or server."""
    import subprocess
    import sys

    script = (
        "import sys, clusterdns.kube.client, clusterdns.kube.informer, clusterdns.kube.errors, "
        "clusterdns.kube.index, clusterdns.kube.objects\n"
        "bad = [m for m in sys.modules if m == 'dnslib' or m.startswith(('dnslib.', 'dns.', "
        "'clusterdns.wire', 'clusterdns.plugin', 'clusterdns.server', 'clusterdns.plugins'))]\n"
        "print(bad)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stderr
