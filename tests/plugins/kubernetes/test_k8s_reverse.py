"""PTR records (CoreDNS ``reverse_test.go``; coredns-features.md 5.1.5) and the apex NS with
its glue (``ns_test.go`` ``TestNsAddrs``, ``kubernetes_test.go`` ``TestServicesAuthority``;
5.1.6), served through a real Mux."""

from __future__ import annotations

import pytest
from k8s_harness import (
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
from clusterdns.plugins.kubernetes.options import KubernetesOptions
from clusterdns.testing import Case, check

REVERSE_ZONES = (
    "cluster.local.",
    "0.10.in-addr.arpa.",
    "168.192.in-addr.arpa.",
    "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa.",
    "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.7.7.0.0.0.0.d.f.ip6.arpa.",
)


def reverse_world() -> ClusterIndex:
    """reverse_test.go ``APIConnReverseTest``. svc2 exists as a Service here: the index finds
    endpoint addresses through their Service (CoreDNS reads bare slices)."""
    return index_of(
        services=[
            service("testns", "svc1", ["192.168.1.100"], ports=[http()]),
            service("testns", "svc2", headless=True),
        ],
        slices=[
            endpoint_slice(
                "testns", "svc1", "svc1-slice1",
                [endpoint("10.0.0.100", hostname="ep1a"), endpoint("10.0.0.99", hostname="double-ep")],
                ports=[http()],
            ),
            endpoint_slice(
                "testns", "svc1", "svc1-slice2",
                [
                    endpoint("1234:abcd::1", hostname="ep1b"),
                    endpoint("fd00:77:30::a", hostname="ip6svc1ex"),
                    endpoint("fd00:77:30::2:9ba6", hostname="ip6svc1in"),
                ],
                ports=[http()], address_type="IPv6",
            ),
            endpoint_slice(
                "testns", "svc1", "svc1-ccccc", [endpoint("10.0.0.100", hostname="ep1a")], ports=[http()]
            ),
            endpoint_slice(
                "testns", "svc2", "svc2-slice1", [endpoint("10.0.0.99", hostname="double-ep")], ports=[http()]
            ),
        ],
        namespaces=["testns"],
    )  # fmt: skip


REVERSE = [
    Case("100.0.0.10.in-addr.arpa.", "PTR", answer=["100.0.0.10.in-addr.arpa. 5 IN PTR ep1a.svc1.testns.svc.cluster.local."]),
    Case("100.1.168.192.in-addr.arpa.", "PTR", answer=["100.1.168.192.in-addr.arpa. 5 IN PTR svc1.testns.svc.cluster.local."]),
    Case(
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa.", "PTR",
        answer=["1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa. 5 IN PTR ep1b.svc1.testns.svc.cluster.local."],
    ),
    Case(
        "a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.7.7.0.0.0.0.d.f.ip6.arpa.", "PTR",
        answer=["a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.7.7.0.0.0.0.d.f.ip6.arpa. 5 IN PTR ip6svc1ex.svc1.testns.svc.cluster.local."],
    ),
    Case(
        "6.a.b.9.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.7.7.0.0.0.0.d.f.ip6.arpa.", "PTR",
        answer=["6.a.b.9.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.7.7.0.0.0.0.d.f.ip6.arpa. 5 IN PTR ip6svc1in.svc1.testns.svc.cluster.local."],
    ),
    Case("101.0.0.10.in-addr.arpa.", "PTR", rcode="NXDOMAIN", ns=[soa("0.10.in-addr.arpa.")]),
    Case("example.org.cluster.local.", "PTR", rcode="NXDOMAIN", ns=[soa()]),
    Case("svc1.testns.svc.cluster.local.", "PTR", ns=[soa()]),
    Case("svc1.testns.svc.0.10.in-addr.arpa.", "A", rcode="NXDOMAIN", ns=[soa("0.10.in-addr.arpa.")]),
    Case("100.0.0.10.cluster.local.", "PTR", rcode="NXDOMAIN", ns=[soa()]),
    Case(
        "99.0.0.10.in-addr.arpa.", "PTR",
        answer=[
            "99.0.0.10.in-addr.arpa. 5 IN PTR double-ep.svc1.testns.svc.cluster.local.",
            "99.0.0.10.in-addr.arpa. 5 IN PTR double-ep.svc2.testns.svc.cluster.local.",
        ],
    ),
    # 5.1.5: names in a reverse zone that are not whole addresses
    Case("0.10.in-addr.arpa.", "PTR", ns=[soa("0.10.in-addr.arpa.")]),
    Case("1.0.10.in-addr.arpa.", "PTR", rcode="NXDOMAIN", ns=[soa("0.10.in-addr.arpa.")]),
]  # fmt: skip


@pytest.mark.parametrize("case", REVERSE, ids=lambda c: f"{c.qname}-{c.qtype}")
async def test_reverse(case: Case) -> None:
    srv = make_server(reverse_world(), KubernetesOptions(zones=REVERSE_ZONES))
    reply = await srv.ask(case.qname, case.qtype)
    check(reply, case)
    check_flags(reply)


async def test_reverse_ptr_targets_use_the_primary_zone() -> None:
    options = KubernetesOptions(zones=("10.in-addr.arpa.", "example.org.", "cluster.local."), primary_zone_index=1)
    srv = make_server(reverse_world(), options)
    reply = await srv.ask("100.0.0.10.in-addr.arpa.", "PTR")
    check(reply, Case("100.0.0.10.in-addr.arpa.", "PTR", answer=["100.0.0.10.in-addr.arpa. 5 IN PTR ep1a.svc1.testns.svc.example.org."]))


async def test_reverse_not_ready_endpoint_has_no_ptr() -> None:
    index = index_of(
        services=[service("testns", "web", headless=True)],
        slices=[endpoint_slice("testns", "web", "web-1", [endpoint("10.0.0.7", ready=False)], ports=[http()])],
        namespaces=["testns"],
    )
    srv = make_server(index, KubernetesOptions(zones=("cluster.local.", "10.in-addr.arpa.")))
    reply = await srv.ask("7.0.0.10.in-addr.arpa.", "PTR")
    check(reply, Case("7.0.0.10.in-addr.arpa.", "PTR", rcode="NXDOMAIN", ns=[soa("10.in-addr.arpa.")]))


@pytest.mark.parametrize(
    ("options", "rcode"),
    [
        (KubernetesOptions(zones=("cluster.local.", "10.in-addr.arpa."), namespaces=("other",)), "NXDOMAIN"),
        (KubernetesOptions(zones=("cluster.local.", "10.in-addr.arpa."), namespaces=("testns",)), "NOERROR"),
    ],
    ids=["namespaces-hides", "namespaces-shows"],
)
async def test_reverse_namespace_filter(options: KubernetesOptions, rcode: str) -> None:
    srv = make_server(reverse_world(), options)
    reply = await srv.ask("100.0.0.10.in-addr.arpa.", "PTR")
    assert reply.rcode() == {"NXDOMAIN": 3, "NOERROR": 0}[rcode]


async def test_reverse_ignores_namespace_labels_without_namespaces() -> None:
    # 5.1.5: the namespace filter applies to reverse lookups only when `namespaces` is set
    from clusterdns.plugins.kubernetes.options import parse_label_selector

    options = KubernetesOptions(
        zones=("cluster.local.", "10.in-addr.arpa."), namespace_labels=parse_label_selector("team=dns")
    )
    srv = make_server(reverse_world(), options)
    reply = await srv.ask("100.0.0.10.in-addr.arpa.", "PTR")
    check(reply, Case("100.0.0.10.in-addr.arpa.", "PTR", answer=["100.0.0.10.in-addr.arpa. 5 IN PTR ep1a.svc1.testns.svc.cluster.local."]))
    forward = await srv.ask("svc1.testns.svc.cluster.local.", "A")
    assert forward.rcode() == 3  # but forward names in that namespace are hidden


async def test_reverse_fallthrough_for_unknown_addresses_only() -> None:
    options = KubernetesOptions(
        zones=("cluster.local.", "in-addr.arpa."), fall_zones=("in-addr.arpa.", "ip6.arpa.")
    )
    srv = make_server(reverse_world(), options)
    unknown = await srv.ask("1.2.3.4.in-addr.arpa.", "PTR")
    assert srv.terminal.seen == ["1.2.3.4.in-addr.arpa."]
    assert [r.to_text() for r in unknown.answer] == ["1.2.3.4.in-addr.arpa. 1 IN A 192.0.2.53"]
    known = await srv.ask("100.0.0.10.in-addr.arpa.", "PTR")
    assert [r.to_text() for r in known.answer] == ["100.0.0.10.in-addr.arpa. 5 IN PTR ep1a.svc1.testns.svc.cluster.local."]
    missing = await srv.ask("svc0.testns.svc.cluster.local.", "A")
    assert missing.rcode() == 3  # cluster.local is not a fallthrough zone


# --- NS (ns_test.go) ------------------------------------------------------------------------


def ns_world() -> ClusterIndex:
    """ns_test.go ``APIConnTest``: three services each with the local IP 10.244.0.20."""
    return index_of(
        services=[
            service("kube-system", "dns-service", ["10.0.0.111"]),
            service("kube-system", "hdls-dns-service", headless=True),
            service("kube-system", "dns6-service", ["10::111"]),
        ],
        slices=[
            endpoint_slice("kube-system", name, f"{name}-slice1", [endpoint("10.244.0.20")])
            for name in ("dns-service", "hdls-dns-service", "dns6-service")
        ],
        namespaces=["kube-system"],
    )


async def test_ns_addrs() -> None:
    srv = make_server(ns_world(), KubernetesOptions(zones=("inter.webs.test.",)), local_ips=["10.244.0.20"])
    reply = await srv.ask("inter.webs.test.", "NS")
    check(
        reply,
        Case(
            "inter.webs.test.",
            "NS",
            answer=[
                "inter.webs.test. 5 IN NS dns-service.kube-system.svc.inter.webs.test.",
                "inter.webs.test. 5 IN NS 10-244-0-20.hdls-dns-service.kube-system.svc.inter.webs.test.",
                "inter.webs.test. 5 IN NS dns6-service.kube-system.svc.inter.webs.test.",
            ],
            extra=[
                "dns-service.kube-system.svc.inter.webs.test. 5 IN A 10.0.0.111",
                "10-244-0-20.hdls-dns-service.kube-system.svc.inter.webs.test. 5 IN A 10.244.0.20",
                "dns6-service.kube-system.svc.inter.webs.test. 5 IN AAAA 10::111",
            ],
        ),
    )
    check_flags(reply)


async def test_kube_dns_service_is_the_ns() -> None:
    # 5.1.6: CoreDNS's pod IP behind kube-dns: NS kube-dns.kube-system.svc.<zone> with its ClusterIP
    index = index_of(
        services=[service("kube-system", "kube-dns", ["10.96.0.10"], ports=[])],
        slices=[endpoint_slice("kube-system", "kube-dns", "kube-dns-x", [endpoint("10.244.1.5"), endpoint("10.244.2.6")])],
        namespaces=["kube-system"],
    )
    srv = make_server(index, local_ips=["10.244.1.5"])
    reply = await srv.ask("cluster.local.", "NS")
    check(
        reply,
        Case(
            "cluster.local.",
            "NS",
            answer=["cluster.local. 5 IN NS kube-dns.kube-system.svc.cluster.local."],
            extra=["kube-dns.kube-system.svc.cluster.local. 5 IN A 10.96.0.10"],
        ),
    )
    a = await srv.ask("ns.dns.cluster.local.", "A")
    check(a, Case("ns.dns.cluster.local.", "A", answer=["ns.dns.cluster.local. 5 IN A 10.96.0.10"]))


@pytest.mark.parametrize(
    ("local_ips", "qname", "qtype", "case"),
    [
        (["1.2.3.4"], "ns.dns.interwebs.test.", "A", Case("ns.dns.interwebs.test.", "A", answer=["ns.dns.interwebs.test. 5 IN A 1.2.3.4"])),
        (["1.2.3.4"], "ns.dns.interwebs.test.", "AAAA", Case("ns.dns.interwebs.test.", "AAAA", ns=[soa("interwebs.test.")])),
        (["1:2::3:4"], "ns.dns.interwebs.test.", "A", Case("ns.dns.interwebs.test.", "A", ns=[soa("interwebs.test.")])),
        (["1:2::3:4"], "ns.dns.interwebs.test.", "AAAA", Case("ns.dns.interwebs.test.", "AAAA", answer=["ns.dns.interwebs.test. 5 IN AAAA 1:2::3:4"])),
        (
            ["1.2.3.4", "1:2::3:4"], "interwebs.test.", "NS",
            Case(
                "interwebs.test.", "NS",
                answer=["interwebs.test. 5 IN NS ns.dns.interwebs.test."],
                extra=["ns.dns.interwebs.test. 5 IN A 1.2.3.4", "ns.dns.interwebs.test. 5 IN AAAA 1:2::3:4"],
            ),
        ),
        ([], "interwebs.test.", "NS", Case("interwebs.test.", "NS", ns=[soa("interwebs.test.")])),
    ],
    ids=["ns-dns-a", "ns-dns-aaaa-nodata", "ns-dns-a-nodata-v6", "ns-dns-aaaa", "apex-ns-dual", "apex-ns-no-local-ips"],
)  # fmt: skip
async def test_services_authority(local_ips: list[str], qname: str, qtype: str, case: Case) -> None:
    # kubernetes_test.go TestServicesAuthority, through the handler
    srv = make_server(ns_world(), KubernetesOptions(zones=("interwebs.test.",)), local_ips=local_ips)
    reply = await srv.ask(qname, qtype)
    check(reply, case)
