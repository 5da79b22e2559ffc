"""The Kubernetes DNS specification (k8s-dns-spec.md S-1 ... S-19) and every row of
coredns-features.md 5.1.2 - 5.1.6 and section 8, against one small cluster served through a
real Mux. Test ids name the item or row they check.
"""

from __future__ import annotations

import pytest
from k8s_harness import (
    SERIAL,
    Stub,
    check_exact,
    check_flags,
    endpoint,
    endpoint_slice,
    http,
    index_of,
    make_server,
    service,
    soa,
)

from clusterdns.kube.index import ClusterIndex
from clusterdns.kube.objects import Namespace, Pod, Port, endpoint_slice_from_json
from clusterdns.plugins.kubernetes.options import KubernetesOptions, parse_label_selector
from clusterdns.testing import Case, check

SOA = soa()
DNS_PORT = Port("dns", 53, "UDP")
DNS_TCP_PORT = Port("dns-tcp", 53, "TCP")
UNNAMED = Port("", 8080, "TCP")
ZONES = ("cluster.local.", "in-addr.arpa.", "ip6.arpa.")


def world() -> ClusterIndex:
    """A cluster with every kind of service the spec names."""
    services = [
        service("default", "kubernetes", ["10.96.0.1"], ports=[Port("https", 443, "TCP")]),
        service("kube-system", "kube-dns", ["10.96.0.10"], ports=[DNS_PORT, DNS_TCP_PORT]),
        service("shop", "web", ["10.96.1.1"], ports=[http(), UNNAMED]),
        service("shop", "web6", ["fd00:96::1"], ports=[http()]),
        service("shop", "dual", ["10.96.1.2", "fd00:96::2"], ports=[http()]),
        service("shop", "noports", ["10.96.1.3"]),
        service("shop", "db", headless=True, ports=[Port("pg", 5432, "TCP")]),
        service("shop", "db6", headless=True),
        service("shop", "empty", headless=True),
        service("shop", "notready", headless=True),
        service("shop", "three", headless=True),
        service("shop", "ext", external_name="api.example.com"),
        service("shop", "ext-upper", external_name="API.Example.COM."),
        service("shop", "ext-quiet", external_name="quiet.example.com"),
        service("shop", "ext-silent", external_name="silent.example.net"),
        service("shop", "ext-in-zone", external_name="web.shop.svc.cluster.local"),
        service("shop", "ext-chain", external_name="ext-in-zone.shop.svc.cluster.local"),
        service("shop", "ext-nothing", external_name="missing.shop.svc.cluster.local"),
        service("shop", "ext-ip", external_name="10.1.2.3"),
        service("shop", "ext-self", external_name="ext-self.shop.svc.cluster.local"),
        service("shop", "com", external_name="com"),
    ]
    slices = [
        endpoint_slice("kube-system", "kube-dns", "kube-dns-a", [endpoint("10.244.0.5")], ports=[DNS_PORT, DNS_TCP_PORT]),
        endpoint_slice("shop", "web", "web-a", [endpoint("10.244.1.1"), endpoint("10.244.1.2", ready=False)], ports=[http(), UNNAMED]),
        endpoint_slice(
            "shop", "db", "db-a",
            [endpoint("10.244.2.1", hostname="db-0"), endpoint("10.244.2.2", hostname="db-1")],
            ports=[Port("pg", 5432, "TCP"), Port("metrics", 9187, "TCP")],
        ),
        endpoint_slice("shop", "db", "db-b", [endpoint("10.244.2.2", hostname="db-1"), endpoint("10.244.2.3")], ports=[Port("pg", 5432, "TCP")]),
        endpoint_slice(
            "shop", "db6", "db6-a", [endpoint("fd00:244::1"), endpoint("fd00:244::")],
            address_type="IPv6", ports=[http()],
        ),
        endpoint_slice("shop", "notready", "notready-a", [endpoint("10.244.3.1", ready=False)], ports=[http()]),
        endpoint_slice(
            "shop", "three", "three-a",
            [endpoint(f"10.244.4.{i}", pod=f"three-pod-{i}") for i in (1, 2, 3)], ports=[http()],
        ),
        endpoint_slice_from_json(
            {
                "metadata": {"namespace": "shop", "name": "web6-a", "labels": {"kubernetes.io/service-name": "web6"}},
                "addressType": "IPv6",
                "endpoints": [{"addresses": ["fd00:244::9"]}],  # conditions.ready unset
                "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
            }
        ),
    ]  # fmt: skip
    namespaces = [
        Namespace("default"), Namespace("kube-system"), Namespace("shop", (("team", "web"),)),
        Namespace("hidden", (("team", "secret"),)),
    ]  # fmt: skip
    pods = [Pod("shop", "api-1", "10.244.9.9"), Pod("shop", "v6", "fd00:244::99")]
    services.append(service("hidden", "vault", ["10.96.9.9"], ports=[http()]))
    return index_of(services, slices, namespaces, pods)


UPSTREAM = {
    ("api.example.com.", "A"): ["api.example.com. 300 IN A 93.184.216.34"],
    ("api.example.com.", "AAAA"): ["api.example.com. 300 IN AAAA 2606:2800:220:1::1"],
}


def serve(options: KubernetesOptions | None = None, *, synced: bool = True, local_ips: list[str] | None = None):  # type: ignore[no-untyped-def]
    options = options or KubernetesOptions(zones=ZONES)
    return make_server(
        world(),
        options,
        synced=synced,
        local_ips=local_ips,
        others={"example.com.": Stub(UPSTREAM)},
    )


async def ask(case: Case, options: KubernetesOptions | None = None, **kwargs: object) -> None:
    reply = await serve(options, **kwargs).ask(case.qname, case.qtype)  # type: ignore[arg-type]
    check(reply, case)
    check_flags(reply)


S = "svc.cluster.local."


def cases(*items: tuple[str, Case]) -> object:
    return pytest.mark.parametrize("case", [c for _, c in items], ids=[i for i, _ in items])


# --- Part 1: the specification --------------------------------------------------------------


@cases(
    ("S-1-a-record", Case(f"web.shop.{S}", "A", answer=[f"web.shop.{S} 5 IN A 10.96.1.1"])),
    ("S-1-srv-record", Case(f"_http._tcp.web.shop.{S}", "SRV", answer=[f"_http._tcp.web.shop.{S} 5 IN SRV 0 100 80 web.shop.{S}"], extra=[f"web.shop.{S} 5 IN A 10.96.1.1"])),
    ("S-1-ptr-record", Case("1.1.96.10.in-addr.arpa.", "PTR", answer=[f"1.1.96.10.in-addr.arpa. 5 IN PTR web.shop.{S}"])),
    ("S-3-case-insensitive", Case(f"KUBERNETES.Default.{S}", "A", answer=[f"kubernetes.default.{S} 5 IN A 10.96.0.1"])),
    ("S-4-hostname-field", Case(f"db-0.db.shop.{S}", "A", answer=[f"db-0.db.shop.{S} 5 IN A 10.244.2.1"])),
    ("S-4-dashed-ip-without-hostname", Case(f"10-244-2-3.db.shop.{S}", "A", answer=[f"10-244-2-3.db.shop.{S} 5 IN A 10.244.2.3"])),
    ("S-4-dashed-ipv6-trailing-zero", Case(f"fd00-244--0.db6.shop.{S}", "AAAA", answer=[f"fd00-244--0.db6.shop.{S} 5 IN AAAA fd00:244::"])),
    ("S-5-not-ready-excluded", Case(f"web.shop.{S}", "SRV", answer=[f"web.shop.{S} 5 IN SRV 0 50 80 web.shop.{S}", f"web.shop.{S} 5 IN SRV 0 50 8080 web.shop.{S}"], extra=[f"web.shop.{S} 5 IN A 10.96.1.1"])),
    ("S-5-not-ready-endpoint-name", Case(f"10-244-1-2.web.shop.{S}", "A", rcode="NXDOMAIN", ns=[SOA])),
    ("S-5-ready-endpoint-name", Case(f"10-244-1-1.web.shop.{S}", "A", answer=[f"10-244-1-1.web.shop.{S} 5 IN A 10.244.1.1"])),
    ("S-5-ready-unset-is-ready", Case(f"fd00-244--9.web6.shop.{S}", "AAAA", answer=[f"fd00-244--9.web6.shop.{S} 5 IN AAAA fd00:244::9"])),
    ("S-6-dns-version", Case("dns-version.cluster.local.", "TXT", answer=['dns-version.cluster.local. 28800 IN TXT "1.1.0"'])),
    ("S-6-txt-on-existing-name-nodata", Case(f"web.shop.{S}", "TXT", ns=[SOA])),
    ("S-6-txt-on-missing-name-nxdomain", Case(f"nope.shop.{S}", "TXT", rcode="NXDOMAIN", ns=[SOA])),
    ("S-7-clusterip-a", Case(f"kube-dns.kube-system.{S}", "A", answer=[f"kube-dns.kube-system.{S} 5 IN A 10.96.0.10"])),
    ("S-8-clusterip-aaaa", Case(f"web6.shop.{S}", "AAAA", answer=[f"web6.shop.{S} 5 IN AAAA fd00:96::1"])),
    ("S-8-dual-stack-a", Case(f"dual.shop.{S}", "A", answer=[f"dual.shop.{S} 5 IN A 10.96.1.2"])),
    ("S-8-dual-stack-aaaa", Case(f"dual.shop.{S}", "AAAA", answer=[f"dual.shop.{S} 5 IN AAAA fd00:96::2"])),
    ("S-8-aaaa-on-v4-only-nodata", Case(f"web.shop.{S}", "AAAA", ns=[SOA])),
    ("S-9-named-port-srv", Case(f"_dns._udp.kube-dns.kube-system.{S}", "SRV", answer=[f"_dns._udp.kube-dns.kube-system.{S} 5 IN SRV 0 100 53 kube-dns.kube-system.{S}"], extra=[f"kube-dns.kube-system.{S} 5 IN A 10.96.0.10"])),
    ("S-9-protocol-is-matched", Case(f"_dns._tcp.kube-dns.kube-system.{S}", "SRV", rcode="NXDOMAIN", ns=[SOA])),
    ("S-9-protocol-case-insensitive", Case(f"_dns-tcp._TCP.kube-dns.kube-system.{S}", "SRV", answer=[f"_dns-tcp._TCP.kube-dns.kube-system.{S} 5 IN SRV 0 100 53 kube-dns.kube-system.{S}"], extra=[f"kube-dns.kube-system.{S} 5 IN A 10.96.0.10"])),
    ("S-9-unnamed-port-not-in-named-srv", Case(f"_http._tcp.web.shop.{S}", "SRV", answer=[f"_http._tcp.web.shop.{S} 5 IN SRV 0 100 80 web.shop.{S}"], extra=[f"web.shop.{S} 5 IN A 10.96.1.1"])),
    # a bare "_" strips to an empty port name, which CoreDNS reads as "any port"
    ("S-9-bare-underscore-port-is-any-port", Case(f"_._tcp.web.shop.{S}", "SRV", answer=[f"_._tcp.web.shop.{S} 5 IN SRV 0 50 80 web.shop.{S}", f"_._tcp.web.shop.{S} 5 IN SRV 0 50 8080 web.shop.{S}"], extra=[f"web.shop.{S} 5 IN A 10.96.1.1"])),
    ("S-10-srv-additional-and-weight", Case(f"_http._tcp.three.shop.{S}", "SRV", answer=[f"_http._tcp.three.shop.{S} 5 IN SRV 0 33 80 10-244-4-{i}.three.shop.{S}" for i in (1, 2, 3)], extra=[f"10-244-4-{i}.three.shop.{S} 5 IN A 10.244.4.{i}" for i in (1, 2, 3)])),
    ("S-11-ipv4-ptr", Case("10.0.96.10.in-addr.arpa.", "PTR", answer=[f"10.0.96.10.in-addr.arpa. 5 IN PTR kube-dns.kube-system.{S}"])),
    ("S-12-ipv6-ptr", Case("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa.", "PTR", answer=[f"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa. 5 IN PTR web6.shop.{S}"])),
    ("S-13-headless-a-per-ready-endpoint", Case(f"db.shop.{S}", "A", answer=[f"db.shop.{S} 5 IN A 10.244.2.{i}" for i in (1, 2, 3)])),
    ("S-14-headless-aaaa", Case(f"db6.shop.{S}", "AAAA", answer=[f"db6.shop.{S} 5 IN AAAA fd00:244::1", f"db6.shop.{S} 5 IN AAAA fd00:244::"])),
    ("S-14-headless-a-on-v6-only-nodata", Case(f"db6.shop.{S}", "A", ns=[SOA])),
    ("S-15-headless-no-ready-endpoints", Case(f"notready.shop.{S}", "A", rcode="NXDOMAIN", ns=[SOA])),
    ("S-15-headless-no-endpoints-aaaa", Case(f"empty.shop.{S}", "AAAA", rcode="NXDOMAIN", ns=[SOA])),
    ("S-15-headless-no-endpoints-srv", Case(f"empty.shop.{S}", "SRV", rcode="NXDOMAIN", ns=[SOA])),
    ("S-16-statefulset-pod-0", Case(f"db-1.db.shop.{S}", "A", answer=[f"db-1.db.shop.{S} 5 IN A 10.244.2.2"])),
    ("S-17-srv-n-by-m", Case(f"db.shop.{S}", "SRV", answer=[
        f"db.shop.{S} 5 IN SRV 0 16 5432 db-0.db.shop.{S}",
        f"db.shop.{S} 5 IN SRV 0 16 9187 db-0.db.shop.{S}",
        f"db.shop.{S} 5 IN SRV 0 16 5432 db-1.db.shop.{S}",
        f"db.shop.{S} 5 IN SRV 0 16 9187 db-1.db.shop.{S}",
        f"db.shop.{S} 5 IN SRV 0 16 5432 10-244-2-3.db.shop.{S}",
    ], extra=[
        f"db-0.db.shop.{S} 5 IN A 10.244.2.1",
        f"db-1.db.shop.{S} 5 IN A 10.244.2.2",
        f"10-244-2-3.db.shop.{S} 5 IN A 10.244.2.3",
    ])),
    ("S-17-srv-named-port", Case(f"_pg._tcp.db.shop.{S}", "SRV", answer=[
        f"_pg._tcp.db.shop.{S} 5 IN SRV 0 25 5432 db-0.db.shop.{S}",
        f"_pg._tcp.db.shop.{S} 5 IN SRV 0 25 5432 db-1.db.shop.{S}",
        f"_pg._tcp.db.shop.{S} 5 IN SRV 0 25 5432 10-244-2-3.db.shop.{S}",
    ], extra=[
        f"db-0.db.shop.{S} 5 IN A 10.244.2.1",
        f"db-1.db.shop.{S} 5 IN A 10.244.2.2",
        f"10-244-2-3.db.shop.{S} 5 IN A 10.244.2.3",
    ])),
    ("S-18-endpoint-ptr-hostname", Case("1.2.244.10.in-addr.arpa.", "PTR", answer=[f"1.2.244.10.in-addr.arpa. 5 IN PTR db-0.db.shop.{S}"])),
    ("S-18-endpoint-ptr-dashed", Case("3.2.244.10.in-addr.arpa.", "PTR", answer=[f"3.2.244.10.in-addr.arpa. 5 IN PTR 10-244-2-3.db.shop.{S}"])),
    ("S-18-clusterip-service-endpoint-ptr", Case("1.1.244.10.in-addr.arpa.", "PTR", answer=[f"1.1.244.10.in-addr.arpa. 5 IN PTR 10-244-1-1.web.shop.{S}"])),
    ("S-18-not-ready-no-ptr", Case("2.1.244.10.in-addr.arpa.", "PTR", rcode="NXDOMAIN", ns=[soa("in-addr.arpa.")])),
    ("S-18-pod-without-service-no-ptr", Case("9.9.244.10.in-addr.arpa.", "PTR", rcode="NXDOMAIN", ns=[soa("in-addr.arpa.")])),
    ("S-19-externalname-a", Case(f"ext.shop.{S}", "A", answer=[f"ext.shop.{S} 5 IN CNAME api.example.com.", "api.example.com. 300 IN A 93.184.216.34"])),
    ("S-19-externalname-aaaa", Case(f"ext.shop.{S}", "AAAA", answer=[f"ext.shop.{S} 5 IN CNAME api.example.com.", "api.example.com. 300 IN AAAA 2606:2800:220:1::1"])),
    ("S-19-externalname-cname", Case(f"ext.shop.{S}", "CNAME", answer=[f"ext.shop.{S} 5 IN CNAME api.example.com."])),
    ("S-19-externalname-srv-nodata", Case(f"ext.shop.{S}", "SRV", ns=[SOA])),
    ("S-19-below-externalname-nxdomain", Case(f"www.google.com.shop.{S}", "A", rcode="NXDOMAIN", ns=[SOA])),
    ("S-19-endpoint-of-externalname-nxdomain", Case(f"x.ext.shop.{S}", "A", rcode="NXDOMAIN", ns=[SOA])),
    ("S-19-port-of-externalname-nxdomain", Case(f"_http._tcp.ext.shop.{S}", "SRV", rcode="NXDOMAIN", ns=[SOA])),
    ("S-19-ip-externalname-nxdomain", Case(f"ext-ip.shop.{S}", "A", rcode="NXDOMAIN", ns=[SOA])),
)  # fmt: skip
async def test_spec(case: Case) -> None:
    await ask(case)


async def test_s2_zone_is_configurable() -> None:
    options = KubernetesOptions(zones=("corp.example.",))
    await ask(Case("web.shop.svc.corp.example.", "A", answer=["web.shop.svc.corp.example. 5 IN A 10.96.1.1"]), options)
    reply = await serve(options).ask("web.shop.svc.cluster.local.", "A")
    assert dns_rcode(reply) == "REFUSED"  # no block serves cluster.local here


async def test_s3_answer_keeps_query_case() -> None:
    reply = await serve().ask(f"KUBERNETES.Default.SVC.Cluster.Local.", "A")
    check_exact(reply, Case("", answer=["KUBERNETES.Default.SVC.Cluster.Local. 5 IN A 10.96.0.1"]))


async def test_s19_externalname_case_of_target_kept() -> None:
    reply = await serve().ask(f"ext-upper.shop.{S}", "CNAME")
    check_exact(reply, Case("", answer=[f"ext-upper.shop.{S} 5 IN CNAME API.Example.COM."]))


# --- 5.1.2 the name grammar ---------------------------------------------------------------------


@cases(
    ("5.1.2-apex-nodata", Case("cluster.local.", "A", ns=[SOA])),
    ("5.1.2-svc-nodata", Case("svc.cluster.local.", "AAAA", ns=[SOA])),
    ("5.1.2-pod-nodata", Case("pod.cluster.local.", "SRV", ns=[SOA])),
    ("5.1.2-last-label-invalid", Case("foo.cluster.local.", "A", rcode="NXDOMAIN", ns=[SOA])),
    ("5.1.2-dns-version-a-nxdomain", Case("dns-version.cluster.local.", "A", rcode="NXDOMAIN", ns=[SOA])),
    ("5.1.2-namespace-exists-nodata", Case(f"shop.{S}", "A", ns=[SOA])),
    ("5.1.2-namespace-missing-nxdomain", Case(f"nope.{S}", "A", rcode="NXDOMAIN", ns=[SOA])),
    ("5.1.2-namespace-pod-with-pods-disabled-nxdomain", Case("shop.pod.cluster.local.", "A", rcode="NXDOMAIN", ns=[SOA])),
    ("5.1.2-port-protocol-without-underscore", Case(f"http.tcp.web.shop.{S}", "SRV", answer=[f"http.tcp.web.shop.{S} 5 IN SRV 0 100 80 web.shop.{S}"], extra=[f"web.shop.{S} 5 IN A 10.96.1.1"])),
    ("5.1.2-port-protocol-a-answers-clusterip", Case(f"_http._tcp.web.shop.{S}", "A", answer=[f"_http._tcp.web.shop.{S} 5 IN A 10.96.1.1"])),
    ("5.1.2-unknown-port-nxdomain", Case(f"_grpc._tcp.web.shop.{S}", "A", rcode="NXDOMAIN", ns=[SOA])),
    ("5.1.2-too-long-nxdomain", Case(f"a.b.c.web.shop.{S}", "A", rcode="NXDOMAIN", ns=[SOA])),
    ("5.1.2-star-is-not-a-wildcard", Case(f"*.shop.{S}", "A", rcode="NXDOMAIN", ns=[SOA])),
    ("5.1.2-any-is-not-a-wildcard", Case(f"any.shop.{S}", "A", rcode="NXDOMAIN", ns=[SOA])),
)  # fmt: skip
async def test_grammar(case: Case) -> None:
    await ask(case)


# --- 5.1.3 services and endpoints ---------------------------------------------------------------


@cases(
    ("5.1.3-clusterip-srv-all-ports", Case(f"web.shop.{S}", "SRV", answer=[f"web.shop.{S} 5 IN SRV 0 50 80 web.shop.{S}", f"web.shop.{S} 5 IN SRV 0 50 8080 web.shop.{S}"], extra=[f"web.shop.{S} 5 IN A 10.96.1.1"])),
    ("5.1.3-clusterip-other-type-nodata", Case(f"web.shop.{S}", "MX", ns=[SOA])),
    ("5.1.3-no-ports-a", Case(f"noports.shop.{S}", "A", answer=[f"noports.shop.{S} 5 IN A 10.96.1.3"])),
    ("5.1.3-no-ports-srv-nodata", Case(f"noports.shop.{S}", "SRV", ns=[SOA])),
    ("5.1.3-no-ready-endpoints-clusterip-answers", Case(f"dual.shop.{S}", "A", answer=[f"dual.shop.{S} 5 IN A 10.96.1.2"])),
    ("5.1.3-dual-stack-srv-weight-50", Case(f"_http._tcp.dual.shop.{S}", "SRV", answer=[f"_http._tcp.dual.shop.{S} 5 IN SRV 0 50 80 dual.shop.{S}"], extra=[f"dual.shop.{S} 5 IN A 10.96.1.2", f"dual.shop.{S} 5 IN AAAA fd00:96::2"])),
    ("5.1.3-headless-dedup-across-slices", Case(f"db-1.db.shop.{S}", "A", answer=[f"db-1.db.shop.{S} 5 IN A 10.244.2.2"])),
    ("5.1.3-endpoint-name-of-clusterip-service", Case(f"10-244-0-5.kube-dns.kube-system.{S}", "A", answer=[f"10-244-0-5.kube-dns.kube-system.{S} 5 IN A 10.244.0.5"])),
    ("5.1.3-headless-other-type-nodata", Case(f"db.shop.{S}", "TXT", ns=[SOA])),
    ("5.1.3-unknown-service-nxdomain", Case(f"nope.shop.{S}", "A", rcode="NXDOMAIN", ns=[SOA])),
    ("5.1.3-externalname-txt-nodata", Case(f"ext.shop.{S}", "TXT", ns=[SOA])),
    ("5.1.3-externalname-in-zone", Case(f"ext-in-zone.shop.{S}", "A", answer=[f"ext-in-zone.shop.{S} 5 IN CNAME web.shop.svc.cluster.local.", f"web.shop.{S} 5 IN A 10.96.1.1"])),
    ("5.1.3-externalname-in-zone-chain", Case(f"ext-chain.shop.{S}", "A", answer=[f"ext-chain.shop.{S} 5 IN CNAME ext-in-zone.shop.svc.cluster.local.", f"ext-in-zone.shop.{S} 5 IN CNAME web.shop.svc.cluster.local.", f"web.shop.{S} 5 IN A 10.96.1.1"])),
    ("5.1.3-externalname-in-zone-nothing-nodata", Case(f"ext-nothing.shop.{S}", "A", ns=[SOA])),
    ("5.1.3-externalname-in-zone-aaaa-nothing-nodata", Case(f"ext-in-zone.shop.{S}", "AAAA", ns=[SOA])),
    ("5.1.3-externalname-target-no-answer-cname-alone", Case(f"ext-quiet.shop.{S}", "A", answer=[f"ext-quiet.shop.{S} 5 IN CNAME quiet.example.com."])),
    ("5.1.3-externalname-no-reply-nodata", Case(f"ext-silent.shop.{S}", "A", ns=[SOA])),
    ("5.1.3-externalname-to-itself-nodata", Case(f"ext-self.shop.{S}", "A", ns=[SOA])),
)  # fmt: skip
async def test_services(case: Case) -> None:
    await ask(case)


async def test_srv_weight_floor_and_minimum_one() -> None:
    # 5.1.3: weight = floor(100 / N) counted before duplicates, at least 1
    many = [endpoint(f"10.1.{i // 250}.{i % 250 + 1}") for i in range(150)]
    index = index_of(
        [service("shop", "big", headless=True)],
        [endpoint_slice("shop", "big", "big-a", many, ports=[http()])],
        ["shop"],
    )
    reply = await make_server(index).ask(f"big.shop.{S}", "SRV")
    assert {rr.weight for rrset in reply.answer for rr in rrset} == {1}
    assert sum(len(rrset) for rrset in reply.answer) == 150


async def test_externalname_upstream_lookup_goes_through_the_server() -> None:
    stub = Stub(UPSTREAM)
    srv = make_server(world(), KubernetesOptions(), others={"example.com.": stub})
    await srv.ask(f"ext.shop.{S}", "AAAA")
    assert stub.asked == [("api.example.com.", 28)]


async def test_externalname_below_com_does_not_capture_search_walks() -> None:
    # coredns/coredns#6161: an ExternalName called "com" and www.google.com.<ns>.svc.<zone>
    await ask(Case(f"www.google.com.shop.{S}", "A", rcode="NXDOMAIN", ns=[SOA]))
    await ask(Case(f"com.shop.{S}", "CNAME", answer=[f"com.shop.{S} 5 IN CNAME com."]))


@cases(
    ("5.1.3-endpoint-pod-names-a", Case(f"three-pod-2.three.shop.{S}", "A", answer=[f"three-pod-2.three.shop.{S} 5 IN A 10.244.4.2"])),
    ("5.1.3-endpoint-pod-names-srv-targets", Case(f"_http._tcp.three.shop.{S}", "SRV", answer=[f"_http._tcp.three.shop.{S} 5 IN SRV 0 33 80 three-pod-{i}.three.shop.{S}" for i in (1, 2, 3)], extra=[f"three-pod-{i}.three.shop.{S} 5 IN A 10.244.4.{i}" for i in (1, 2, 3)])),
    ("5.1.3-endpoint-pod-names-hostname-wins", Case(f"db-0.db.shop.{S}", "A", answer=[f"db-0.db.shop.{S} 5 IN A 10.244.2.1"])),
    ("5.1.3-endpoint-pod-names-dashed-ip-gone", Case(f"10-244-4-2.three.shop.{S}", "A", rcode="NXDOMAIN", ns=[SOA])),
    ("5.1.5-endpoint-pod-names-ptr", Case("2.4.244.10.in-addr.arpa.", "PTR", answer=[f"2.4.244.10.in-addr.arpa. 5 IN PTR three-pod-2.three.shop.{S}"])),
)  # fmt: skip
async def test_endpoint_pod_names(case: Case) -> None:
    await ask(case, KubernetesOptions(zones=ZONES, endpoint_pod_names=True))


@cases(
    ("noendpoints-headless-nxdomain", Case(f"db.shop.{S}", "A", rcode="NXDOMAIN", ns=[SOA])),
    ("noendpoints-endpoint-name-nxdomain", Case(f"db-0.db.shop.{S}", "A", rcode="NXDOMAIN", ns=[SOA])),
    ("noendpoints-clusterip-answers", Case(f"web.shop.{S}", "A", answer=[f"web.shop.{S} 5 IN A 10.96.1.1"])),
    ("noendpoints-no-endpoint-ptr", Case("1.2.244.10.in-addr.arpa.", "PTR", rcode="NXDOMAIN", ns=[soa("in-addr.arpa.")])),
    ("noendpoints-ns-falls-back-to-local-ip", Case("cluster.local.", "NS", answer=["cluster.local. 5 IN NS ns.dns.cluster.local."], extra=["ns.dns.cluster.local. 5 IN A 10.244.0.5"])),
)  # fmt: skip
async def test_noendpoints(case: Case) -> None:
    await ask(case, KubernetesOptions(zones=ZONES, noendpoints=True), local_ips=["10.244.0.5"])


@cases(
    ("ignore-empty-service-no-ready-endpoints", Case(f"dual.shop.{S}", "A", rcode="NXDOMAIN", ns=[SOA])),
    ("ignore-empty-service-with-endpoints", Case(f"web.shop.{S}", "A", answer=[f"web.shop.{S} 5 IN A 10.96.1.1"])),
    ("ignore-empty-service-headless-unaffected", Case(f"empty.shop.{S}", "A", rcode="NXDOMAIN", ns=[SOA])),
    ("ignore-empty-service-externalname-unaffected", Case(f"ext.shop.{S}", "CNAME", answer=[f"ext.shop.{S} 5 IN CNAME api.example.com."])),
)  # fmt: skip
async def test_ignore_empty_service(case: Case) -> None:
    await ask(case, KubernetesOptions(zones=ZONES, ignore_empty_service=True))


@cases(
    ("namespaces-listed", Case(f"web.shop.{S}", "A", answer=[f"web.shop.{S} 5 IN A 10.96.1.1"])),
    ("namespaces-unlisted-nxdomain", Case(f"kubernetes.default.{S}", "A", rcode="NXDOMAIN", ns=[SOA])),
    ("namespaces-unlisted-namespace-name-nxdomain", Case(f"default.{S}", "A", rcode="NXDOMAIN", ns=[SOA])),
    ("namespaces-listed-but-missing-nxdomain", Case(f"x.ghost.{S}", "A", rcode="NXDOMAIN", ns=[SOA])),
    ("namespaces-listed-but-missing-namespace-name", Case(f"ghost.{S}", "A", rcode="NXDOMAIN", ns=[SOA])),
)  # fmt: skip
async def test_namespaces(case: Case) -> None:
    await ask(case, KubernetesOptions(zones=ZONES, namespaces=("shop", "ghost")))


@cases(
    ("namespace-labels-match", Case(f"web.shop.{S}", "A", answer=[f"web.shop.{S} 5 IN A 10.96.1.1"])),
    ("namespace-labels-no-match", Case(f"vault.hidden.{S}", "A", rcode="NXDOMAIN", ns=[SOA])),
    ("namespace-labels-no-labels", Case(f"kubernetes.default.{S}", "A", rcode="NXDOMAIN", ns=[SOA])),
)  # fmt: skip
async def test_namespace_labels(case: Case) -> None:
    await ask(case, KubernetesOptions(zones=ZONES, namespace_labels=parse_label_selector("team=web")))


# --- 5.1.4 pods ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "case"),
    [
        ("disabled", Case("10-244-9-9.shop.pod.cluster.local.", "A", rcode="NXDOMAIN", ns=[SOA])),
        ("insecure", Case("10-1-2-3.shop.pod.cluster.local.", "A", answer=["10-1-2-3.shop.pod.cluster.local. 5 IN A 10.1.2.3"])),
        ("insecure", Case("10-1-2-3.nope.pod.cluster.local.", "A", rcode="NXDOMAIN", ns=[SOA])),
        ("insecure", Case("fd00--1.shop.pod.cluster.local.", "AAAA", answer=["fd00--1.shop.pod.cluster.local. 5 IN AAAA fd00::1"])),
        ("insecure", Case("fd00--1.shop.pod.cluster.local.", "A", ns=[SOA])),
        ("insecure", Case("10-1-2-3.shop.pod.cluster.local.", "AAAA", ns=[SOA])),
        ("insecure", Case("10-1-2.shop.pod.cluster.local.", "A", rcode="NXDOMAIN", ns=[SOA])),
        ("insecure", Case("010-1-2-3.shop.pod.cluster.local.", "A", rcode="NXDOMAIN", ns=[SOA])),
        ("insecure", Case("10-1-2-3.shop.pod.cluster.local.", "MX", ns=[SOA])),
        ("insecure", Case("10-1-2-3.shop.pod.cluster.local.", "SRV", answer=["10-1-2-3.shop.pod.cluster.local. 5 IN SRV 0 100 0 10-1-2-3.shop.pod.cluster.local."], extra=["10-1-2-3.shop.pod.cluster.local. 5 IN A 10.1.2.3"])),
        ("verified", Case("10-244-9-9.shop.pod.cluster.local.", "A", answer=["10-244-9-9.shop.pod.cluster.local. 5 IN A 10.244.9.9"])),
        ("verified", Case("fd00-244--99.shop.pod.cluster.local.", "AAAA", answer=["fd00-244--99.shop.pod.cluster.local. 5 IN AAAA fd00:244::99"])),
        ("verified", Case("10-244-9-9.default.pod.cluster.local.", "A", rcode="NXDOMAIN", ns=[SOA])),
        ("verified", Case("10-1-2-3.shop.pod.cluster.local.", "A", rcode="NXDOMAIN", ns=[SOA])),
        ("verified", Case("shop.pod.cluster.local.", "A", ns=[SOA])),
        ("insecure", Case("shop.pod.cluster.local.", "A", ns=[SOA])),
        ("insecure", Case("x.10-1-2-3.shop.pod.cluster.local.", "A", answer=["x.10-1-2-3.shop.pod.cluster.local. 5 IN A 10.1.2.3"])),
    ],
    ids=[
        "5.1.4-disabled", "5.1.4-insecure-any-ip", "5.1.4-insecure-namespace-must-exist",
        "5.1.4-insecure-ipv6-dashes", "5.1.4-insecure-wrong-family-a-nodata",
        "5.1.4-insecure-wrong-family-aaaa-nodata", "5.1.4-insecure-not-an-ip",
        "5.1.4-insecure-leading-zero-not-an-ip", "5.1.4-insecure-other-type-nodata",
        "5.1.4-insecure-srv-port-0", "5.1.4-verified-pod-ip", "5.1.4-verified-ipv6",
        "5.1.4-verified-other-namespace", "5.1.4-verified-unknown-ip", "5.1.4-verified-namespace-nodata",
        "5.1.4-insecure-namespace-nodata", "5.1.4-insecure-label-left-of-pod-ignored",
    ],
)  # fmt: skip
async def test_pods(mode: str, case: Case) -> None:
    await ask(case, KubernetesOptions(zones=ZONES, pods=mode))


# --- 5.1.6 apex, NS, SOA, TXT, other types --------------------------------------------------------


@cases(
    ("5.1.6-apex-soa", Case("cluster.local.", "SOA", answer=[SOA])),
    ("5.1.6-soa-below-apex-missing-name-nodata", Case(f"nope.shop.{S}", "SOA", ns=[SOA])),
    ("5.1.6-soa-below-apex-invalid-name-nodata", Case("foo.cluster.local.", "SOA", ns=[SOA])),
    ("5.1.6-ns-below-apex-existing-nodata", Case(f"web.shop.{S}", "NS", ns=[SOA])),
    ("5.1.6-ns-below-apex-missing-nxdomain", Case(f"nope.shop.{S}", "NS", rcode="NXDOMAIN", ns=[SOA])),
    ("5.1.6-txt-apex-nxdomain-as-coredns-code", Case("cluster.local.", "TXT", rcode="NXDOMAIN", ns=[SOA])),
    ("5.1.6-txt-namespace-nxdomain-as-coredns-code", Case(f"shop.{S}", "TXT", rcode="NXDOMAIN", ns=[SOA])),
    ("5.1.6-apex-mx-nodata", Case("cluster.local.", "MX", ns=[SOA])),
    ("5.1.6-other-type-existing-nodata-https", Case(f"web.shop.{S}", "HTTPS", ns=[SOA])),
    ("5.1.6-other-type-existing-nodata-any", Case(f"web.shop.{S}", "ANY", ns=[SOA])),
    ("5.1.6-other-type-missing-nxdomain", Case(f"nope.shop.{S}", "HTTPS", rcode="NXDOMAIN", ns=[SOA])),
    ("5.1.6-cname-on-ip-backed-name-nodata", Case(f"web.shop.{S}", "CNAME", ns=[SOA])),
    ("5.1.6-cname-on-missing-name-nxdomain", Case(f"nope.shop.{S}", "CNAME", rcode="NXDOMAIN", ns=[SOA])),
    ("5.1.6-ptr-on-forward-name-nodata", Case(f"web.shop.{S}", "PTR", ns=[SOA])),
    ("5.1.6-ns-dns-a", Case("ns.dns.cluster.local.", "A", answer=["ns.dns.cluster.local. 5 IN A 10.0.0.53"])),
    ("5.1.6-ns-dns-aaaa-nodata", Case("ns.dns.cluster.local.", "AAAA", ns=[SOA])),
    ("5.1.6-ns-dns-txt-nxdomain", Case("ns.dns.cluster.local.", "TXT", rcode="NXDOMAIN", ns=[SOA])),
    ("5.1.6-apex-ns-outside-cluster", Case("cluster.local.", "NS", answer=["cluster.local. 5 IN NS ns.dns.cluster.local."], extra=["ns.dns.cluster.local. 5 IN A 10.0.0.53"])),
)  # fmt: skip
async def test_apex_and_types(case: Case) -> None:
    await ask(case)


async def test_apex_ns_inside_the_cluster_is_the_kube_dns_service() -> None:
    await ask(
        Case(
            "cluster.local.",
            "NS",
            answer=[f"cluster.local. 5 IN NS kube-dns.kube-system.{S}"],
            extra=[f"kube-dns.kube-system.{S} 5 IN A 10.96.0.10"],
        ),
        local_ips=["10.244.0.5"],
    )


@pytest.mark.parametrize("qtype", ["AXFR", "IXFR"])
async def test_transfers_are_refused(qtype: str) -> None:
    srv = serve()
    reply = await srv.ask("cluster.local.", qtype)
    assert reply.rcode() == 5  # REFUSED, written by the server
    assert not reply.answer and not reply.authority
    assert srv.terminal.seen == []


async def test_dns_version_ttl_ignores_the_ttl_option() -> None:
    await ask(
        Case("dns-version.cluster.local.", "TXT", answer=['dns-version.cluster.local. 28800 IN TXT "1.1.0"']),
        KubernetesOptions(ttl_seconds=30),
    )


@pytest.mark.parametrize(("ttl", "soa_ttl"), [(0, 0), (5, 5), (30, 30), (300, 300), (3600, 300)])
async def test_soa_ttl_is_min_ttl_300_and_minimum_is_ttl(ttl: int, soa_ttl: int) -> None:
    reply = await serve(KubernetesOptions(ttl_seconds=ttl)).ask(f"nope.shop.{S}", "A")
    (rrset,) = reply.authority
    assert rrset.ttl == soa_ttl
    assert rrset[0].minimum == ttl
    answer = await serve(KubernetesOptions(ttl_seconds=ttl)).ask(f"web.shop.{S}", "A")
    assert answer.answer[0].ttl == ttl


async def test_soa_serial_follows_the_index() -> None:
    index = world()
    srv = make_server(index)
    reply = await srv.ask("cluster.local.", "SOA")
    assert reply.answer[0][0].serial == SERIAL
    index.clock = lambda: 1717171717.0
    index.delete_service("shop", "web")
    reply = await srv.ask("cluster.local.", "SOA")
    assert reply.answer[0][0].serial == 1717171717


async def test_negative_answer_soa_in_query_case() -> None:
    reply = await serve().ask("NOPE.Shop.SVC.Cluster.LOCAL.", "A")
    check_exact(
        reply,
        Case(
            "",
            rcode="NXDOMAIN",
            ns=[f"Cluster.LOCAL. 5 IN SOA ns.dns.Cluster.LOCAL. hostmaster.Cluster.LOCAL. {SERIAL} 7200 1800 86400 5"],
        ),
    )


async def test_ns_dns_with_upper_case_zone_is_nxdomain_like_coredns() -> None:
    # isDefaultNS compares the lower-cased name with the zone as the query wrote it
    reply = await serve().ask("ns.dns.Cluster.Local.", "A")
    assert dns_rcode(reply) == "NXDOMAIN"
    reply = await serve().ask("NS.DNS.cluster.local.", "A")
    check_exact(reply, Case("", answer=["NS.DNS.cluster.local. 5 IN A 10.0.0.53"]))


async def test_apex_ns_with_upper_case_zone_is_nodata_like_coredns() -> None:
    reply = await serve().ask("Cluster.Local.", "NS")
    check_exact(reply, Case("", ns=[f"Cluster.Local. 5 IN SOA ns.dns.Cluster.Local. hostmaster.Cluster.Local. {SERIAL} 7200 1800 86400 5"]))


def dns_rcode(reply) -> str:  # type: ignore[no-untyped-def]
    import dns.rcode

    return dns.rcode.to_text(reply.rcode())


# --- section 8 and 5.1.7: sync, fallthrough, flags, chain ----------------------------------------


@cases(
    ("before-sync-missing-service-servfail", Case(f"nope.shop.{S}", "A", rcode="SERVFAIL", ns=[SOA])),
    ("before-sync-missing-namespace-servfail", Case(f"x.nope.{S}", "AAAA", rcode="SERVFAIL", ns=[SOA])),
    ("before-sync-invalid-name-servfail", Case("foo.cluster.local.", "TXT", rcode="SERVFAIL", ns=[SOA])),
    ("before-sync-headless-empty-servfail", Case(f"empty.shop.{S}", "SRV", rcode="SERVFAIL", ns=[SOA])),
    ("before-sync-ptr-servfail", Case("9.9.9.9.in-addr.arpa.", "PTR", rcode="SERVFAIL", ns=[soa("in-addr.arpa.")])),
    ("before-sync-positive-served", Case(f"web.shop.{S}", "A", answer=[f"web.shop.{S} 5 IN A 10.96.1.1"])),
    ("before-sync-nodata-stays-nodata", Case(f"web.shop.{S}", "AAAA", ns=[SOA])),
    ("before-sync-soa-below-apex-nodata", Case(f"nope.shop.{S}", "SOA", ns=[SOA])),
)  # fmt: skip
async def test_before_sync(case: Case) -> None:
    await ask(case, synced=False)


async def test_fallthrough_is_checked_before_the_sync_rule() -> None:
    srv = serve(KubernetesOptions(zones=ZONES, fall_zones=(".",)), synced=False)
    reply = await srv.ask(f"nope.shop.{S}", "A")
    assert srv.terminal.seen == [f"nope.shop.{S}"]
    assert [r.to_text() for r in reply.answer] == [f"nope.shop.{S} 1 IN A 192.0.2.53"]


@pytest.mark.parametrize(
    ("qname", "qtype", "falls"),
    [
        (f"nope.shop.{S}", "A", True),
        ("foo.cluster.local.", "A", True),
        (f"x.nope.{S}", "A", True),
        (f"web.shop.{S}", "AAAA", False),
        (f"web.shop.{S}", "A", False),
        ("cluster.local.", "A", False),
    ],
    ids=["nxdomain-service", "nxdomain-invalid", "nxdomain-namespace", "nodata-never", "positive-never", "apex-never"],
)
async def test_fallthrough_only_on_name_errors(qname: str, qtype: str, falls: bool) -> None:
    srv = serve(KubernetesOptions(zones=ZONES, fall_zones=(".",)))
    reply = await srv.ask(qname, qtype)
    assert (srv.terminal.seen == [qname]) is falls, reply.to_text()


async def test_fallthrough_zones_limit_it() -> None:
    srv = serve(KubernetesOptions(zones=ZONES, fall_zones=("in-addr.arpa.",)))
    nx = await srv.ask(f"nope.shop.{S}", "A")
    assert dns_rcode(nx) == "NXDOMAIN" and srv.terminal.seen == []
    await srv.ask("9.9.9.9.in-addr.arpa.", "PTR")
    assert srv.terminal.seen == ["9.9.9.9.in-addr.arpa."]


async def test_names_outside_the_zones_go_to_the_next_plugin() -> None:
    options = KubernetesOptions(zones=("cluster.local.",))
    srv = make_server(world(), options)
    srv.mux.zones["."] = srv.mux.zones["cluster.local."]
    reply = await srv.ask("example.org.", "A")
    assert srv.terminal.seen == ["example.org."]
    assert not reply.flags & 0x0400


async def test_answers_are_authoritative_without_recursion_available() -> None:
    srv = serve()
    for qname, qtype in [(f"web.shop.{S}", "A"), (f"nope.shop.{S}", "A"), (f"web.shop.{S}", "AAAA"), ("cluster.local.", "SOA")]:
        reply = await srv.ask(qname, qtype)
        check_flags(reply)
        assert reply.flags & 0x0100  # RD copied from the query


async def test_udp_answer_the_same_as_tcp() -> None:
    srv = serve()
    udp = await srv.ask(f"web.shop.{S}", "A", proto="udp")
    check(udp, Case(f"web.shop.{S}", "A", answer=[f"web.shop.{S} 5 IN A 10.96.1.1"]))


async def test_ready_reports_sync() -> None:
    state = {"synced": False}
    srv = make_server(world(), synced=lambda: state["synced"])
    assert srv.handler.ready() is False
    state["synced"] = True
    assert srv.handler.ready() is True
    from clusterdns.plugin import Readiness

    assert isinstance(srv.handler, Readiness)


async def test_s16_one_hostname_with_several_ips_gives_one_record_per_ip() -> None:
    index = index_of(
        [service("shop", "cache", headless=True)],
        [
            endpoint_slice("shop", "cache", "cache-v4", [endpoint("10.5.0.1", hostname="node"), endpoint("10.5.0.2", hostname="node")], ports=[http()]),
            endpoint_slice("shop", "cache", "cache-v6", [endpoint("fd00:5::1", hostname="node")], ports=[http()], address_type="IPv6"),
        ],
        ["shop"],
    )  # fmt: skip
    srv = make_server(index)
    check(
        await srv.ask(f"node.cache.shop.{S}", "A"),
        Case("", answer=[f"node.cache.shop.{S} 5 IN A 10.5.0.1", f"node.cache.shop.{S} 5 IN A 10.5.0.2"]),
    )
    check(await srv.ask(f"node.cache.shop.{S}", "AAAA"), Case("", answer=[f"node.cache.shop.{S} 5 IN AAAA fd00:5::1"]))


async def test_5_1_5_clusterip_ptr_names_only_the_first_service() -> None:
    index = index_of(
        [service("shop", "a", ["10.96.7.7"], ports=[http()]), service("shop", "b", ["10.96.7.7"], ports=[http()])],
        [],
        ["shop"],
    )
    srv = make_server(index, KubernetesOptions(zones=ZONES))
    reply = await srv.ask("7.7.96.10.in-addr.arpa.", "PTR")
    check(reply, Case("", answer=[f"7.7.96.10.in-addr.arpa. 5 IN PTR a.shop.{S}"]))


async def test_escaped_dots_in_a_pod_label_are_not_an_address() -> None:
    import dns.name

    srv = serve(KubernetesOptions(zones=ZONES, pods="insecure"))
    name = dns.name.Name([b"10.1.2.3", b"shop", b"pod", b"cluster", b"local", b""])
    reply = await srv.ask(name.to_text(), "A")
    assert dns_rcode(reply) == "NXDOMAIN"
