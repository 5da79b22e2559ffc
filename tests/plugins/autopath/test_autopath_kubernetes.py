"""autopath @kubernetes as CoreDNS does it: with ``pods verified`` a query from a pod's address
for its first search candidate is walked on the server and answered in one round trip; from
any other address it is answered as without autopath.

The cluster comes from manifest files (no API server): a pod at 127.0.0.1 in ``shop`` and one
at 127.0.0.2 in ``demo``; queries are sent from those loopback addresses (and from 127.0.0.3,
which is no pod). The server's own resolv.conf (whose search domains end every pod's list) is a
file of the test, with ``search corp.internal``; names outside the cluster go to a loopback
upstream through *forward*, ``*.corp.internal`` to a *hosts* file first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import dns.asyncquery
import dns.message
import dns.rcode
import pytest
from dnslib import DNSRecord

from clusterdns import wire
from clusterdns.plugins.autopath.autopath import INFER_NAMESPACE_METADATA as AUTOPATH_FLAG
from clusterdns.plugins.kubernetes import autopath as k8s_autopath
from clusterdns.plugins.kubernetes.kubernetes import Kubernetes
from clusterdns.request import Request
from clusterdns.testing import Case, RunningServer, check, run_corefile
from clusterdns.testing.upstream import Upstream

POD_SHOP = "127.0.0.1"
POD_DEMO = "127.0.0.2"
NOT_A_POD = "127.0.0.3"
TIMEOUT_SECONDS = 3.0

CLUSTER = """\
kind: Namespace
metadata: {name: shop}
---
kind: Namespace
metadata: {name: demo}
---
kind: Service
metadata: {name: api, namespace: shop}
spec: {clusterIP: 10.96.0.10, ports: [{name: http, port: 80}]}
---
kind: Service
metadata: {name: ext, namespace: shop}
spec: {type: ExternalName, externalName: api.example.com}
---
kind: Service
metadata: {name: web, namespace: demo}
spec: {clusterIP: 10.96.0.20, ports: [{name: http, port: 80}]}
---
kind: Pod
metadata: {name: client-1, namespace: shop}
status: {phase: Running, podIP: 127.0.0.1}
---
kind: Pod
metadata: {name: client-2, namespace: demo}
status: {phase: Running, podIP: 127.0.0.2}
"""


async def ask(port: int, name: str, qtype: str = "A", *, source: str = POD_SHOP) -> dns.message.Message:
    """One UDP query sent from ``source`` (a loopback address)."""
    message = dns.message.make_query(name, qtype)
    return await dns.asyncquery.udp(message, "127.0.0.1", port=port, source=source, timeout=TIMEOUT_SECONDS)


@dataclass
class Cluster:
    server: RunningServer
    upstream: Upstream

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def kubernetes(self) -> Kubernetes:
        handler = self.server.runtime.instance.blocks[0].handlers["kubernetes"]
        assert isinstance(handler, Kubernetes)
        return handler


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "cluster").mkdir()
    (tmp_path / "cluster" / "cluster.yaml").write_text(CLUSTER)
    (tmp_path / "hosts").write_text("192.0.2.77 mail.corp.internal\n")
    (tmp_path / "resolv.conf").write_text("nameserver 10.255.0.1\nsearch Corp.Internal\noptions ndots:2\n")
    monkeypatch.setattr(k8s_autopath, "RESOLV_CONF", str(tmp_path / "resolv.conf"))
    return tmp_path


def corefile(files: Path, up: Upstream, *, autopath: str = "autopath @kubernetes", pods: str = "verified", zones: str = "cluster.local") -> str:
    return f"""\
. {{
    errors
    {autopath}
    kubernetes {zones} {{
        manifests {files / "cluster"}
        pods {pods}
    }}
    hosts {files / "hosts"} corp.internal {{
        fallthrough
    }}
    forward . {up.addr}
}}
"""


StartCluster = Callable[..., AbstractAsyncContextManager[Cluster]]


@pytest.fixture
def cluster(files: Path) -> StartCluster:
    @asynccontextmanager
    async def start(**kwargs: str) -> AsyncIterator[Cluster]:
        async with Upstream() as up:
            up.add("api.example.com", "A", "192.0.2.10")
            async with run_corefile(corefile(files, up, **kwargs)) as srv:
                yield Cluster(srv, up)

    return start


def asked_upstream(up: Upstream) -> list[str]:
    return [r.name for r in up.received]


# --- acceptance: one round trip from a pod ------------------------------------------------------


async def test_external_name_from_a_pod_in_one_round_trip(cluster: StartCluster) -> None:
    async with cluster() as c:
        reply = await ask(c.port, "api.example.com.shop.svc.cluster.local.", source=POD_SHOP)
        check(reply, Case("api.example.com.shop.svc.cluster.local.", answer=[
            "api.example.com.shop.svc.cluster.local. 300 IN CNAME api.example.com.",
            "api.example.com. 300 IN A 192.0.2.10",
        ]))
        assert [rrset.rdtype for rrset in reply.answer] == [5, 1]
        assert reply.question[0].name.to_text() == "api.example.com.shop.svc.cluster.local."
        # the walk: three cluster candidates answered locally, the node domain and the name upstream
        assert asked_upstream(c.upstream) == ["api.example.com.corp.internal.", "api.example.com."]


async def test_nodata_for_the_other_address_family_is_a_success(cluster: StartCluster) -> None:
    async with cluster() as c:
        reply = await ask(c.port, "api.example.com.shop.svc.cluster.local.", "AAAA", source=POD_SHOP)
        check(reply, Case("api.example.com.shop.svc.cluster.local.", "AAAA"))
        assert not reply.flags & 0x0400  # forward's reply: not authoritative


async def test_cname_chain_through_an_externalname_service(cluster: StartCluster) -> None:
    async with cluster() as c:
        # a pod in demo resolving "ext.shop": its first candidate is ext.shop.demo.svc...
        reply = await ask(c.port, "Ext.Shop.demo.svc.cluster.local.", source=POD_DEMO)
        assert [rrset.to_text() for rrset in reply.answer] == [
            "Ext.Shop.demo.svc.cluster.local. 5 IN CNAME Ext.Shop.svc.cluster.local.",
            "Ext.Shop.svc.cluster.local. 5 IN CNAME api.example.com.",
            "api.example.com. 300 IN A 192.0.2.10",
        ]


async def test_in_namespace_service_is_the_first_candidate(cluster: StartCluster) -> None:
    async with cluster() as c:
        reply = await ask(c.port, "api.shop.svc.cluster.local.", source=POD_SHOP)
        check(reply, Case("api.shop.svc.cluster.local.", answer=["api.shop.svc.cluster.local. 5 IN A 10.96.0.10"]))
        assert c.upstream.received == []


async def test_other_namespace_service_gets_a_cname(cluster: StartCluster) -> None:
    async with cluster() as c:
        reply = await ask(c.port, "web.demo.shop.svc.cluster.local.", source=POD_SHOP)
        check(reply, Case("web.demo.shop.svc.cluster.local.", answer=[
            "web.demo.shop.svc.cluster.local. 5 IN CNAME web.demo.svc.cluster.local.",
            "web.demo.svc.cluster.local. 5 IN A 10.96.0.20",
        ]))


async def test_server_search_domains_follow_the_cluster_ones(cluster: StartCluster) -> None:
    async with cluster() as c:
        reply = await ask(c.port, "mail.shop.svc.cluster.local.", source=POD_SHOP)
        check(reply, Case("mail.shop.svc.cluster.local.", answer=[
            "mail.shop.svc.cluster.local. 3600 IN CNAME mail.corp.internal.",
            "mail.corp.internal. 3600 IN A 192.0.2.77",
        ]))


async def test_nothing_found_returns_the_first_reply(cluster: StartCluster) -> None:
    async with cluster() as c:
        reply = await ask(c.port, "nosuch.shop.svc.cluster.local.", source=POD_SHOP)
        assert reply.rcode() == dns.rcode.NXDOMAIN
        assert reply.authority[0].to_text().startswith("cluster.local. 5 IN SOA ns.dns.cluster.local.")
        assert asked_upstream(c.upstream) == ["nosuch.corp.internal.", "nosuch."]


async def test_pod_asking_its_own_first_search_domain_gets_servfail(cluster: StartCluster, log_lines: list[str]) -> None:
    # CoreDNS: the name equals the first element, TrimZone overshoots, SERVFAIL and an error.
    async with cluster() as c:
        assert (await ask(c.port, "shop.svc.cluster.local.", source=POD_SHOP)).rcode() == dns.rcode.SERVFAIL
        from_elsewhere = await ask(c.port, "shop.svc.cluster.local.", source=NOT_A_POD)
        assert (from_elsewhere.rcode(), from_elsewhere.answer) == (dns.rcode.NOERROR, [])  # NODATA
    assert (
        "[ERROR] plugin/errors: 2 shop.svc.cluster.local. A: trimzone: overshot qname: "
        "shop.svc.cluster.local.for zone shop.svc.cluster.local."
    ) in log_lines


# --- acceptance: any other client is answered as without autopath -------------------------------

NAMES = [
    ("api.example.com.shop.svc.cluster.local.", "A"),
    ("web.demo.shop.svc.cluster.local.", "A"),
    ("api.shop.svc.cluster.local.", "A"),
    ("shop.svc.cluster.local.", "A"),
    ("api.example.com.demo.svc.cluster.local.", "AAAA"),
]


def same_reply(a: dns.message.Message, b: dns.message.Message) -> None:
    assert (a.rcode(), a.flags, a.question, a.answer, a.authority) == (b.rcode(), b.flags, b.question, b.answer, b.authority)


@pytest.mark.parametrize(("name", "qtype"), NAMES)
async def test_unknown_address_is_answered_as_without_autopath(cluster: StartCluster, name: str, qtype: str) -> None:
    async with cluster(autopath="") as plain:
        expected = await ask(plain.port, name, qtype, source=NOT_A_POD)
    async with cluster() as c:
        same_reply(await ask(c.port, name, qtype, source=NOT_A_POD), expected)
        if name.startswith("api.example.com.shop"):
            assert expected.rcode() == dns.rcode.NXDOMAIN


async def test_pod_of_another_namespace_is_not_walked(cluster: StartCluster) -> None:
    async with cluster() as c:
        reply = await ask(c.port, "api.example.com.shop.svc.cluster.local.", source=POD_DEMO)
        assert reply.rcode() == dns.rcode.NXDOMAIN
        walked = await ask(c.port, "api.example.com.demo.svc.cluster.local.", source=POD_DEMO)
        assert walked.answer[-1].to_text() == "api.example.com. 300 IN A 192.0.2.10"


@pytest.mark.parametrize("pods", ["insecure", "disabled"])
async def test_without_pods_verified_nothing_is_walked(cluster: StartCluster, pods: str) -> None:
    async with cluster(pods=pods) as c:
        reply = await ask(c.port, "api.example.com.shop.svc.cluster.local.", source=POD_SHOP)
        assert reply.rcode() == dns.rcode.NXDOMAIN
        assert c.upstream.received == []


# --- the search list the kubernetes plugin gives -------------------------------------------------


def request(name: str, remote_ip: str, *, infer: bool = False) -> Request:
    parsed = wire.parse_query(bytes(DNSRecord.question(name, "A").pack()))
    assert isinstance(parsed, wire.Query)
    req = Request(parsed, "udp", remote_ip, 5353, "127.0.0.1", 53)
    if infer:
        req.metadata[AUTOPATH_FLAG] = True
    return req


async def test_search_list_of_a_pod(cluster: StartCluster) -> None:
    async with cluster() as c:
        k = c.kubernetes
        expected = ["shop.svc.cluster.local.", "svc.cluster.local.", "cluster.local.", "corp.internal.", ""]
        assert k.auto_path(request("x.shop.svc.cluster.local.", POD_SHOP)) == expected
        assert k.auto_path(request("anything.cluster.local.", POD_SHOP)) == expected
        assert k.auto_path(request("x.demo.svc.cluster.local.", POD_DEMO))[0] == "demo.svc.cluster.local."
        assert k.auto_path(request("x.shop.svc.cluster.local.", NOT_A_POD)) is None
        assert k.auto_path(request("example.com.", POD_SHOP)) is None  # outside the plugin's zones


async def test_search_list_uses_the_zone_that_matched(cluster: StartCluster) -> None:
    async with cluster(zones="cluster.local example.local") as c:
        got = c.kubernetes.auto_path(request("x.example.local.", POD_SHOP))
        assert got == ["shop.svc.example.local.", "svc.example.local.", "example.local.", "corp.internal.", ""]


async def test_search_list_in_the_root_zone(cluster: StartCluster) -> None:
    async with cluster(zones=".") as c:
        got = c.kubernetes.auto_path(request("x.shop.svc.", POD_SHOP))
        assert got == ["shop.svc.", "svc.", ".", "corp.internal.", ""]


@pytest.mark.parametrize(
    ("text", "domains"),
    [
        ("search a.example B.Example.\ndomain c.example\n", ("c.example.",)),
        ("domain c.example\nsearch a.example B.Example.\n", ("a.example.", "b.example.")),
        ("nameserver 10.0.0.10\n", ()),
    ],
)
def test_server_search_domains_are_read_as_coredns_reads_them(tmp_path: Path, text: str, domains: tuple[str, ...]) -> None:
    path = tmp_path / "resolv.conf"
    path.write_text(text)
    assert k8s_autopath.read_search_domains(str(path)) == domains
    assert k8s_autopath.read_search_domains(str(tmp_path / "missing")) == ()


async def test_server_search_domains_are_read_once_per_instance(cluster: StartCluster, files: Path) -> None:
    async with cluster() as c:
        k = c.kubernetes
        first = k.auto_path(request("x.shop.svc.cluster.local.", POD_SHOP))
        (files / "resolv.conf").write_text("search changed.example\n")
        assert k.auto_path(request("x.shop.svc.cluster.local.", POD_SHOP)) == first


async def test_inference_only_when_autopath_asks_for_it(cluster: StartCluster) -> None:
    async with cluster(pods="disabled") as c:
        k = c.kubernetes
        assert k.auto_path(request("x.shop.svc.cluster.local.", NOT_A_POD)) is None
        inferred = k.auto_path(request("x.Shop.svc.cluster.local.", NOT_A_POD, infer=True))
        assert inferred == ["shop.svc.cluster.local.", "svc.cluster.local.", "cluster.local.", "corp.internal.", ""]
        for name in (
            "shop.svc.cluster.local.",  # no <name> before the namespace
            "x.nosuch.svc.cluster.local.",  # no such namespace
            "x.shop.pod.cluster.local.",  # not a service name
            "x.shop.svc.example.com.",  # outside the zones
        ):
            assert k.auto_path(request(name, NOT_A_POD, infer=True)) is None, name


async def test_known_pod_wins_over_inference(cluster: StartCluster) -> None:
    async with cluster() as c:
        got = c.kubernetes.auto_path(request("x.shop.svc.cluster.local.", POD_DEMO, infer=True))
        assert got is not None and got[0] == "demo.svc.cluster.local."
