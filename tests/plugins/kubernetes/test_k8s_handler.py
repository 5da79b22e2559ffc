"""CoreDNS's kubernetes handler tables, transcribed: ``handler_test.go`` (commonDnsTestCases,
dnsTestCases, nsTestCases, notSyncedTestCases), ``handler_case_test.go``,
``kubernetes_apex_test.go``, ``handler_pod_*_test.go`` and
``handler_ignore_emptyservice_test.go``, served through a real Mux against the same world.

SOA serials are the world's fixed serial; CoreDNS's tables do not compare them, ours do.
"""

from __future__ import annotations

import pytest
from k8s_harness import SERIAL, Server, Stub, check_exact, check_flags, handler_world, make_server, soa

from clusterdns.plugins.kubernetes.options import KubernetesOptions
from clusterdns.testing import Case, check

SOA = soa()
UPSTREAM = {("ext.interwebs.test.", "A"): ["ext.interwebs.test. 5 IN A 1.2.3.4"]}


def server(options: KubernetesOptions, *, synced: bool = True, truncated: bool = False) -> Server:
    return make_server(
        handler_world(),
        options,
        synced=synced,
        others={"interwebs.test.": Stub(UPSTREAM, truncated=truncated)},
    )


COMMON = [
    Case("svc1.testns.svc.cluster.local.", "A", answer=["svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"]),
    Case("svcempty.testns.svc.cluster.local.", "A", answer=["svcempty.testns.svc.cluster.local. 5 IN A 10.0.0.1"]),
    Case(
        "svc1.testns.svc.cluster.local.", "SRV",
        answer=["svc1.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc1.testns.svc.cluster.local."],
        extra=["svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"],
    ),
    Case(
        "svcempty.testns.svc.cluster.local.", "SRV",
        answer=["svcempty.testns.svc.cluster.local. 5 IN SRV 0 100 80 svcempty.testns.svc.cluster.local."],
        extra=["svcempty.testns.svc.cluster.local. 5 IN A 10.0.0.1"],
    ),
    Case(
        "svc6.testns.svc.cluster.local.", "SRV",
        answer=["svc6.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc6.testns.svc.cluster.local."],
        extra=["svc6.testns.svc.cluster.local. 5 IN AAAA 1234:abcd::1"],
    ),
    Case(
        "_http._tcp.svc1.testns.svc.cluster.local.", "SRV",
        answer=["_http._tcp.svc1.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc1.testns.svc.cluster.local."],
        extra=["svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"],
    ),
    Case(
        "_http._tcp.svcempty.testns.svc.cluster.local.", "SRV",
        answer=["_http._tcp.svcempty.testns.svc.cluster.local. 5 IN SRV 0 100 80 svcempty.testns.svc.cluster.local."],
        extra=["svcempty.testns.svc.cluster.local. 5 IN A 10.0.0.1"],
    ),
    Case(
        "hdls1.testns.svc.cluster.local.", "A",
        answer=[f"hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.{i}" for i in (2, 3, 4, 5)],
    ),
    Case("hdlsprtls.testns.svc.cluster.local.", "A", answer=["hdlsprtls.testns.svc.cluster.local. 5 IN A 172.0.0.20"]),
    Case("svc1.testns.svc.cluster.local.", "AAAA", ns=[SOA]),
    Case("svc0.testns.svc.cluster.local.", "AAAA", rcode="NXDOMAIN", ns=[SOA]),
    Case("svc0.testns.svc.cluster.local.", "A", rcode="NXDOMAIN", ns=[SOA]),
    Case("svc0.svc-nons.svc.cluster.local.", "A", rcode="NXDOMAIN", ns=[SOA]),
    Case("dns-version.cluster.local.", "TXT", answer=['dns-version.cluster.local. 28800 IN TXT "1.1.0"']),
    Case("svc1.testns.svc.cluster.local.", "TXT", ns=[SOA]),
    Case("svc0.svc-nons.svc.cluster.local.", "TXT", rcode="NXDOMAIN", ns=[SOA]),
    Case("bogusendpoint.hdls1.testns.svc.cluster.local.", "A", rcode="NXDOMAIN", ns=[SOA]),
    Case("bogusendpoint.svc0.testns.svc.cluster.local.", "A", rcode="NXDOMAIN", ns=[SOA]),
    Case("svc6.testns.svc.cluster.local.", "AAAA", answer=["svc6.testns.svc.cluster.local. 5 IN AAAA 1234:abcd::1"]),
    Case(
        "_http._tcp.svc6.testns.svc.cluster.local.", "SRV",
        answer=["_http._tcp.svc6.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc6.testns.svc.cluster.local."],
        extra=["svc6.testns.svc.cluster.local. 5 IN AAAA 1234:abcd::1"],
    ),
    Case(
        "hdls1.testns.svc.cluster.local.", "AAAA",
        answer=[
            "hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1",
            "hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2",
        ],
    ),
    Case("svc.cluster.local.", "A", ns=[SOA]),
    Case("pod.cluster.local.", "A", ns=[SOA]),
    Case("testns.svc.cluster.local.", "A", ns=[SOA]),
    Case("svc.cluster.local.", "NS", ns=[SOA]),
    Case("testns.svc.cluster.local.", "NS", ns=[SOA]),
    Case("foo.cluster.local.", "NS", rcode="NXDOMAIN", ns=[SOA]),
    Case("foo.svc.cluster.local.", "NS", rcode="NXDOMAIN", ns=[SOA]),
    Case("svc-dual-stack.testns.svc.cluster.local.", "A", answer=["svc-dual-stack.testns.svc.cluster.local. 5 IN A 10.0.0.3"]),
    Case("svc-dual-stack.testns.svc.cluster.local.", "AAAA", answer=["svc-dual-stack.testns.svc.cluster.local. 5 IN AAAA 10::3"]),
    Case(
        "svc-dual-stack.testns.svc.cluster.local.", "SRV",
        answer=["svc-dual-stack.testns.svc.cluster.local. 5 IN SRV 0 50 80 svc-dual-stack.testns.svc.cluster.local."],
        extra=[
            "svc-dual-stack.testns.svc.cluster.local. 5 IN A 10.0.0.3",
            "svc-dual-stack.testns.svc.cluster.local. 5 IN AAAA 10::3",
        ],
    ),
    Case("svc1.testns.svc.cluster.local.", "SOA", ns=[SOA]),
    Case("endpoint.external.testns.svc.cluster.local.", "CNAME", rcode="NXDOMAIN", ns=[SOA]),
    Case("subdomain.subdomain.external.testns.svc.cluster.local.", "CNAME", rcode="NXDOMAIN", ns=[SOA]),
]  # fmt: skip

DNS_CASES = [
    Case(
        "_http._tcp.hdls1.testns.svc.cluster.local.", "SRV",
        answer=[
            "_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 172-0-0-2.hdls1.testns.svc.cluster.local.",
            "_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 172-0-0-3.hdls1.testns.svc.cluster.local.",
            "_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 5678-abcd--1.hdls1.testns.svc.cluster.local.",
            "_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 5678-abcd--2.hdls1.testns.svc.cluster.local.",
            "_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 dup-name.hdls1.testns.svc.cluster.local.",
        ],
        extra=[
            "172-0-0-2.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.2",
            "172-0-0-3.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.3",
            "5678-abcd--1.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1",
            "5678-abcd--2.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2",
            "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.4",
            "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.5",
        ],
    ),
    Case("5678-abcd--2.hdls1.testns.svc.cluster.local", "AAAA", answer=["5678-abcd--2.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2"]),
    Case("5678-abcd--1.hdls1.testns.svc.cluster.local.", "AAAA", answer=["5678-abcd--1.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1"]),
    Case("172-0-0-20.hdlsprtls.testns.svc.cluster.local.", "A", answer=["172-0-0-20.hdlsprtls.testns.svc.cluster.local. 5 IN A 172.0.0.20"]),
    Case("172-0-0-2.hdls1.testns.svc.cluster.local.", "A", answer=["172-0-0-2.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.2"]),
    Case("172-0-0-3.hdls1.testns.svc.cluster.local.", "A", answer=["172-0-0-3.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.3"]),
    Case(
        "dup-name.hdls1.testns.svc.cluster.local.", "A",
        answer=[
            "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.4",
            "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.5",
        ],
    ),
    Case("external.testns.svc.cluster.local.", "CNAME", answer=["external.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test."]),
    Case(
        "external-to-service.testns.svc.cluster.local", "A",
        answer=[
            "external-to-service.testns.svc.cluster.local. 5 IN CNAME svc1.testns.svc.cluster.local.",
            "svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1",
        ],
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", COMMON + DNS_CASES, ids=lambda c: f"{c.qname}-{c.qtype}")
async def test_serve_dns(case: Case) -> None:
    # handler_test.go TestServeDNS: namespaces testns
    reply = await server(KubernetesOptions(namespaces=("testns",))).ask(case.qname, case.qtype)
    check(reply, case)
    check_flags(reply)


async def test_external_truncated_upstream_sets_tc() -> None:
    # handler_test.go "CNAME External Truncated Lookup"
    reply = await server(KubernetesOptions(namespaces=("testns",)), truncated=True).ask(
        "external.testns.svc.cluster.local.", "A"
    )
    check(
        reply,
        Case(
            "external.testns.svc.cluster.local.",
            "A",
            answer=[
                "external.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test.",
                "ext.interwebs.test. 5 IN A 1.2.3.4",
            ],
        ),
    )
    assert reply.flags & 0x0200  # TC
    # the CNAME comes before its target's records (CoreDNS test.CNAMEOrder)
    assert [r.rdtype for r in reply.answer] == [5, 1]


@pytest.mark.parametrize(
    "case",
    [
        Case("svc1.testns.svc.cluster.local.", "A", answer=["svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"]),
        Case(
            "svc1.nsnoexist.svc.cluster.local.", "A", rcode="NXDOMAIN",
            ns=[soa(ttl=30)],
        ),
    ],
    ids=["exposed-existing", "exposed-not-existing"],
)  # fmt: skip
async def test_serve_namespace_dns(case: Case) -> None:
    # handler_test.go TestServeNamespaceDNS (with ttl 30 to pin the SOA of nsTestCases)
    reply = await server(KubernetesOptions(ttl_seconds=30)).ask(case.qname, case.qtype)
    if case.answer:
        case.answer = [a.replace(" 5 ", " 30 ") for a in case.answer]
    check(reply, case)


async def test_not_synced_name_error_is_servfail_with_soa() -> None:
    # handler_test.go TestNotSyncedServeDNS
    reply = await server(KubernetesOptions(namespaces=("testns",)), synced=False).ask(
        "svc0.testns.svc.cluster.local.", "A"
    )
    check(reply, Case("svc0.testns.svc.cluster.local.", "A", rcode="SERVFAIL", ns=[SOA]))
    check_flags(reply)


PRESERVE_CASE = [
    Case(
        "not-a-service.testns.svc.ClUsTeR.lOcAl.", "A", rcode="NXDOMAIN",
        ns=["ClUsTeR.lOcAl. 5 IN SOA ns.dns.ClUsTeR.lOcAl. hostmaster.ClUsTeR.lOcAl. 1499347823 7200 1800 86400 5"],
    ),
    Case("SvC1.TeStNs.SvC.cLuStEr.LoCaL.", "A", answer=["SvC1.TeStNs.SvC.cLuStEr.LoCaL. 5 IN A 10.0.0.1"]),
    Case(
        "_HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL.", "SRV",
        answer=["_HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL. 5 IN SRV 0 100 80 svc1.testns.svc.cLuStEr.LoCaL."],
        extra=["svc1.testns.svc.cLuStEr.LoCaL. 5 IN A 10.0.0.1"],
    ),
    Case(
        "Cluster.local.", "SOA",
        answer=["Cluster.local. 5 IN SOA ns.dns.Cluster.local. hostmaster.Cluster.local. 1499347823 7200 1800 86400 5"],
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", PRESERVE_CASE, ids=lambda c: f"{c.qname}-{c.qtype}")
async def test_preserve_case(case: Case) -> None:
    # handler_case_test.go TestPreserveCase (ignore empty_service set there too)
    reply = await server(KubernetesOptions(ignore_empty_service=True)).ask(case.qname, case.qtype)
    check_exact(reply, case)


APEX = [
    Case(
        "cluster.local.", "SOA",
        answer=[f"cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. {SERIAL} 7200 1800 86400 5"],
    ),
    Case("cluster.local.", "HINFO", ns=[SOA]),
    Case(
        "cluster.local.", "NS",
        answer=["cluster.local. 5 IN NS ns.dns.cluster.local."],
        extra=["ns.dns.cluster.local. 5 IN A 127.0.0.1"],
    ),
    Case("cluster.local.", "A", ns=[SOA]),
    Case("cluster.local.", "AAAA", ns=[SOA]),
    Case("cluster.local.", "SRV", ns=[SOA]),
]  # fmt: skip


@pytest.mark.parametrize("case", APEX, ids=lambda c: c.qtype)
async def test_serve_dns_apex(case: Case) -> None:
    # kubernetes_apex_test.go TestServeDNSApex: localIPs 127.0.0.1, no endpoint holds it
    srv = make_server(handler_world(), local_ips=["127.0.0.1"])
    reply = await srv.ask(case.qname, case.qtype)
    check(reply, case)
    check_flags(reply)


POD_INSECURE = [
    Case("10-240-0-1.podns.pod.cluster.local.", "A", answer=["10-240-0-1.podns.pod.cluster.local. 5 IN A 10.240.0.1"]),
    Case("172-0-0-2.podns.pod.cluster.local.", "A", answer=["172-0-0-2.podns.pod.cluster.local. 5 IN A 172.0.0.2"]),
    Case("blah.podns.pod.cluster.local.", "A", rcode="NXDOMAIN", ns=[SOA]),
    Case("blah.podns.pod.cluster.local.", "AAAA", rcode="NXDOMAIN", ns=[SOA]),
    Case("blah.podns.pod.cluster.local.", "HINFO", rcode="NXDOMAIN", ns=[SOA]),
    Case("blah.pod-nons.pod.cluster.local.", "A", rcode="NXDOMAIN", ns=[SOA]),
    Case("podns.pod.cluster.local.", "A", ns=[SOA]),
]  # fmt: skip

POD_VERIFIED = [
    Case("10-240-0-1.podns.pod.cluster.local.", "A", answer=["10-240-0-1.podns.pod.cluster.local. 5 IN A 10.240.0.1"]),
    Case("podns.pod.cluster.local.", "A", ns=[SOA]),
    Case("svcns.svc.cluster.local.", "A", ns=[SOA]),
    Case("pod-nons.pod.cluster.local.", "A", rcode="NXDOMAIN", ns=[SOA]),
    Case("172-0-0-2.podns.pod.cluster.local.", "A", rcode="NXDOMAIN", ns=[SOA]),
]  # fmt: skip

POD_DISABLED = [
    Case("10-240-0-1.podns.pod.cluster.local.", "A", rcode="NXDOMAIN", ns=[SOA]),
    Case("172-0-0-2.podns.pod.cluster.local.", "A", rcode="NXDOMAIN", ns=[SOA]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mode", "case"),
    [("insecure", c) for c in POD_INSECURE]
    + [("verified", c) for c in POD_VERIFIED]
    + [("disabled", c) for c in POD_DISABLED],
    ids=lambda v: v if isinstance(v, str) else f"{v.qname}-{v.qtype}",
)
async def test_pod_modes(mode: str, case: Case) -> None:
    # handler_pod_insecure_test.go, handler_pod_verified_test.go, handler_pod_disabled_test.go
    reply = await server(KubernetesOptions(pods=mode)).ask(case.qname, case.qtype)
    check(reply, case)


@pytest.mark.parametrize(
    "case",
    [
        Case("svcempty.testns.svc.cluster.local.", "A", rcode="NXDOMAIN", ns=[SOA]),
        Case("external.testns.svc.cluster.local.", "CNAME", answer=["external.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test."]),
        Case("svc1.testns.svc.cluster.local.", "A", answer=["svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"]),
        Case("hdls1.testns.svc.cluster.local.", "A", answer=[f"hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.{i}" for i in (2, 3, 4, 5)]),
    ],
    ids=["empty-clusterip-nxdomain", "externalname-unaffected", "clusterip-with-endpoint", "headless-unaffected"],
)  # fmt: skip
async def test_ignore_empty_service(case: Case) -> None:
    # handler_ignore_emptyservice_test.go TestServeDNSEmptyService
    reply = await server(KubernetesOptions(ignore_empty_service=True)).ask(case.qname, case.qtype)
    check(reply, case)
