"""Pods' stub resolvers against a real server: every search-path candidate answered right.

Acceptance 1 of issue 5. A cluster is loaded into the fake API server (namespaces, services,
EndpointSlices, pods), clusterdns reads it over HTTP with the kubernetes plugin and forwards
other names to a loopback upstream, as a kubeadm cluster does. Then ``clusterdns.stub`` plays
glibc and musl ``getaddrinfo`` from a pod: the resolv.conf kubelet writes (search
``<ns>.svc.cluster.local svc.cluster.local cluster.local [node domains]``, ``ndots:5``), an A
and an AAAA query per candidate over UDP (dnspython), and each resolver's rule for going on.
Each case asserts the exact (qname, qtype, rcode) sequence each libc sends and the result the
application gets (spec Part 4.1 and 4.2).

The upstream answers api.example.com (A and AAAA) and redis.corp.example (A only) and says
NXDOMAIN for everything else, so node-domain candidates such as api.example.com.ec2.internal
leave the cluster and come back NXDOMAIN; the zone broken.internal is forwarded to a second
upstream that answers SERVFAIL to everything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import dns.rcode
import pytest
import pytest_asyncio

from clusterdns import stub
from clusterdns.testing import RunningServer, fakeapi, query, run_corefile
from clusterdns.testing.fakeapi import FakeAPIServer
from clusterdns.testing.upstream import Upstream

#: The tests share one cluster (it is only read), so they run in the module's event loop.
in_module_loop = pytest.mark.asyncio(loop_scope="module")

ZONE = "cluster.local"
SERVFAIL = 2

WORLD = [
    fakeapi.namespace("app"),
    fakeapi.namespace("otherns"),
    fakeapi.namespace("redis"),  # a namespace named like the service people look for
    fakeapi.namespace("default"),
    fakeapi.service("default", "kubernetes", "10.96.0.1", [("https", 443)]),
    fakeapi.service("app", "web", "10.96.0.20"),
    fakeapi.endpoint_slice("app", "web-x1", "web", ["10.244.0.20"], pods=["web-0"]),
    fakeapi.service("app", "ext", external_name="api.example.com", ports=()),
    fakeapi.service("otherns", "db", "10.96.1.10", [("postgres", 5432)]),
    fakeapi.endpoint_slice("otherns", "db-x1", "db", ["10.244.1.10"], ports=[("postgres", 5432)]),
    # a StatefulSet's headless governing service: endpoints carry hostname peers-N
    fakeapi.service("otherns", "peers", None),
    fakeapi.endpoint_slice(
        "otherns", "peers-x1", "peers", ["10.244.1.1", "10.244.1.2"],
        hostnames=["peers-0", "peers-1"], pods=["peers-0", "peers-1"],
    ),
    fakeapi.service("redis", "master", "10.96.2.10", [("redis", 6379)]),
    fakeapi.pod("app", "client", "10.244.0.5"),
    fakeapi.pod("otherns", "peers-0", "10.244.1.1"),
    fakeapi.pod("otherns", "peers-1", "10.244.1.2"),
]  # fmt: skip

API_A = "203.0.113.10"
API_AAAA = "2001:db8::10"
CORP_REDIS_A = "192.0.2.50"


def corefile(api_url: str, upstream: str, broken: str) -> str:
    """kubeadm's shape: kubernetes for the cluster zones, forward for everything else."""
    return f""". {{
    bind 127.0.0.1
    kubernetes {ZONE} in-addr.arpa ip6.arpa {{
        endpoint {api_url}
    }}
    forward . {upstream}
}}
broken.internal {{
    bind 127.0.0.1
    forward . {broken}
}}
"""


@dataclass
class Cluster:
    """A running clusterdns fed by the fake API server, and its upstreams."""

    srv: RunningServer
    upstream: Upstream
    broken: Upstream
    api: FakeAPIServer

    async def ask(self, qname: str, qtype: str) -> tuple[str, list[str]]:
        """``stub.Ask`` over UDP with dnspython: one query, the rcode and answer records."""
        reply = await query(self.srv.port, qname, qtype)
        records = [line for rrset in reply.answer for line in rrset.to_text().splitlines()]
        return dns.rcode.to_text(reply.rcode()), records

    async def walk(self, name: str, conf: stub.ResolvConf, libc: stub.Libc) -> stub.Walk:
        return await stub.walk(name, conf, libc, self.ask)


@asynccontextmanager
async def served_cluster() -> AsyncIterator[Cluster]:
    """Start the fake API server, the upstreams and clusterdns; stop them at the end."""
    async with FakeAPIServer() as api, Upstream() as upstream, Upstream() as broken:
        api.load(WORLD)
        upstream.add("api.example.com", "A", API_A)
        upstream.add("api.example.com", "AAAA", API_AAAA)
        upstream.add("redis.corp.example", "A", CORP_REDIS_A)
        broken.rcode = SERVFAIL
        async with run_corefile(corefile(api.url, upstream.addr, broken.addr)) as srv:
            yield Cluster(srv, upstream, broken, api)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster() -> AsyncIterator[Cluster]:
    async with served_cluster() as served:
        yield served


# --- expectations ------------------------------------------------------------------------------

NX = ("NXDOMAIN", "NXDOMAIN")
OK = ("NOERROR", "NOERROR")  # answered, or NODATA: the answers tell
SF = ("SERVFAIL", "SERVFAIL")


def sent(*candidates: tuple[str, tuple[str, str]]) -> list[tuple[str, str, str]]:
    """The (qname, qtype, rcode) sequence for candidates given as (name, (A rcode, AAAA rcode))."""
    return [
        triple
        for name, (a, aaaa) in candidates
        for triple in ((name, "A", a), (name, "AAAA", aaaa))
    ]


@dataclass(frozen=True)
class Expect:
    sequence: list[tuple[str, str, str]]
    addresses: tuple[str, ...] = ()
    error: str | None = None
    canonical: str | None = None


@dataclass(frozen=True)
class Case:
    id: str
    name: str
    namespace: str = "app"
    node_search: tuple[str, ...] = ()
    ndots: int | None = None  # a dnsConfig override of kubelet's ndots:5
    glibc: Expect | None = None
    musl: Expect | None = None  # None: the same as glibc
    leaked: tuple[str, ...] = ()  # the names the upstream must see (glibc walk)

    def conf(self) -> stub.ResolvConf:
        conf = stub.pod_resolv_conf(self.namespace, ZONE, self.node_search)
        if self.ndots is not None:
            conf = stub.ResolvConf(conf.search, self.ndots, conf.nameservers)
        return conf

    def expected(self, libc: stub.Libc) -> Expect:
        wanted = self.musl if libc == "musl" and self.musl is not None else self.glibc
        assert wanted is not None
        return wanted


def answered(sequence: list[tuple[str, str, str]], *addresses: str) -> Expect:
    """Resolved by the last candidate of ``sequence``."""
    return Expect(sequence, addresses, None, sequence[-1][0])


APP = "app.svc.cluster.local."
SVC = "svc.cluster.local."
CL = "cluster.local."

CASES = [
    Case(
        "in-namespace-service", "web",
        glibc=answered(sent((f"web.{APP}", OK)), "10.96.0.20"),
    ),
    Case(
        "svc.otherns", "db.otherns",
        glibc=answered(sent((f"db.otherns.{APP}", NX), (f"db.otherns.{SVC}", OK)), "10.96.1.10"),
    ),
    Case(
        "svc.otherns.svc", "db.otherns.svc",
        glibc=answered(
            sent((f"db.otherns.svc.{APP}", NX), (f"db.otherns.svc.{SVC}", NX),
                 (f"db.otherns.svc.{CL}", OK)),
            "10.96.1.10",
        ),
    ),
    Case(
        # 4 dots < ndots:5: the whole search list first, 8 queries (spec 4.2)
        "full-name-without-trailing-dot", "db.otherns.svc.cluster.local",
        glibc=answered(
            sent((f"db.otherns.svc.cluster.local.{APP}", NX),
                 (f"db.otherns.svc.cluster.local.{SVC}", NX),
                 (f"db.otherns.svc.cluster.local.{CL}", NX),
                 ("db.otherns.svc.cluster.local.", OK)),
            "10.96.1.10",
        ),
    ),
    Case(
        "full-name-with-trailing-dot", "db.otherns.svc.cluster.local.",
        glibc=answered(sent(("db.otherns.svc.cluster.local.", OK)), "10.96.1.10"),
    ),
    Case(
        "headless-service", "peers.otherns",
        glibc=answered(
            sent((f"peers.otherns.{APP}", NX), (f"peers.otherns.{SVC}", OK)),
            "10.244.1.1", "10.244.1.2",
        ),
    ),
    Case(
        "statefulset-pod-from-another-namespace", "peers-0.peers.otherns",
        glibc=answered(
            sent((f"peers-0.peers.otherns.{APP}", NX), (f"peers-0.peers.otherns.{SVC}", OK)),
            "10.244.1.1",
        ),
    ),
    Case(
        "statefulset-pod-from-its-namespace", "peers-1.peers", namespace="otherns",
        glibc=answered(sent(("peers-1.peers.otherns.svc.cluster.local.", OK)), "10.244.1.2"),
    ),
    Case(
        # the CNAME and the target's addresses (forwarded upstream) in one answer
        "externalname-service", "ext",
        glibc=answered(sent((f"ext.{APP}", OK)), API_A, API_AAAA),
    ),
    Case(
        "external-name-through-forward", "api.example.com",
        glibc=answered(
            sent((f"api.example.com.{APP}", NX), (f"api.example.com.{SVC}", NX),
                 (f"api.example.com.{CL}", NX), ("api.example.com.", OK)),
            API_A, API_AAAA,
        ),
        leaked=("api.example.com.",),
    ),
    Case(
        "external-name-with-node-search-ec2.internal", "api.example.com",
        node_search=("ec2.internal",),
        glibc=answered(
            sent((f"api.example.com.{APP}", NX), (f"api.example.com.{SVC}", NX),
                 (f"api.example.com.{CL}", NX), ("api.example.com.ec2.internal.", NX),
                 ("api.example.com.", OK)),
            API_A, API_AAAA,
        ),
        leaked=("api.example.com.ec2.internal.", "api.example.com."),
    ),
    Case(
        "external-name-with-gce-node-search", "api.example.com",
        node_search=("c.my-project.internal", "google.internal"),
        glibc=answered(
            sent((f"api.example.com.{APP}", NX), (f"api.example.com.{SVC}", NX),
                 (f"api.example.com.{CL}", NX), ("api.example.com.c.my-project.internal.", NX),
                 ("api.example.com.google.internal.", NX), ("api.example.com.", OK)),
            API_A, API_AAAA,
        ),
        leaked=("api.example.com.c.my-project.internal.", "api.example.com.google.internal.",
                "api.example.com."),
    ),
    Case(
        "external-name-with-trailing-dot", "api.example.com.",
        glibc=answered(sent(("api.example.com.", OK)), API_A, API_AAAA),
        leaked=("api.example.com.",),
    ),
    Case(
        "missing-name", "nosuch",
        glibc=Expect(
            sent((f"nosuch.{APP}", NX), (f"nosuch.{SVC}", NX), (f"nosuch.{CL}", NX),
                 ("nosuch.", NX)),
            error="EAI_NONAME",
        ),
    ),
    Case(
        # redis.svc.cluster.local is the <ns>.svc.<zone> of an existing namespace: NODATA.
        # musl stops there; glibc goes on, and reports NODATA at the end (got_nodata).
        "namespace-named-like-a-service", "redis",
        glibc=Expect(
            sent((f"redis.{APP}", NX), (f"redis.{SVC}", OK), (f"redis.{CL}", NX), ("redis.", NX)),
            error="EAI_NODATA",
        ),
        musl=Expect(sent((f"redis.{APP}", NX), (f"redis.{SVC}", OK)), error="EAI_NODATA"),
    ),
    Case(
        # the same, with a node domain that has the name: glibc finds it, musl never gets there
        "namespace-named-like-a-service-found-under-node-domain", "redis",
        node_search=("corp.example",),
        glibc=answered(
            sent((f"redis.{APP}", NX), (f"redis.{SVC}", OK), (f"redis.{CL}", NX),
                 ("redis.corp.example.", OK)),
            CORP_REDIS_A,
        ),
        musl=Expect(sent((f"redis.{APP}", NX), (f"redis.{SVC}", OK)), error="EAI_NODATA"),
    ),
    Case(
        # a node domain whose resolver fails: glibc goes on after SERVFAIL, musl gives up
        "servfail-under-node-domain", "api.example.com",
        node_search=("broken.internal",),
        glibc=answered(
            sent((f"api.example.com.{APP}", NX), (f"api.example.com.{SVC}", NX),
                 (f"api.example.com.{CL}", NX), ("api.example.com.broken.internal.", SF),
                 ("api.example.com.", OK)),
            API_A, API_AAAA,
        ),
        musl=Expect(
            sent((f"api.example.com.{APP}", NX), (f"api.example.com.{SVC}", NX),
                 (f"api.example.com.{CL}", NX), ("api.example.com.broken.internal.", SF)),
            error="EAI_AGAIN",
        ),
    ),
    Case(
        # dnsConfig ndots:1: 1 dot >= ndots, so glibc asks the name as is first and then
        # searches; musl asks it as is only and never finds the service
        "ndots-1-short-service-name", "db.otherns", ndots=1,
        glibc=answered(
            sent(("db.otherns.", NX), (f"db.otherns.{APP}", NX), (f"db.otherns.{SVC}", OK)),
            "10.96.1.10",
        ),
        musl=Expect(sent(("db.otherns.", NX)), error="EAI_NONAME"),
    ),
    Case(
        "ndots-1-external-name", "api.example.com", ndots=1,
        glibc=answered(sent(("api.example.com.", OK)), API_A, API_AAAA),
    ),
]  # fmt: skip


@in_module_loop
@pytest.mark.parametrize("libc", stub.LIBCS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
async def test_candidate_walk(cluster: Cluster, case: Case, libc: stub.Libc) -> None:
    expected = case.expected(libc)
    walk = await cluster.walk(case.name, case.conf(), libc)
    assert walk.sequence == expected.sequence
    assert walk.result.addresses == expected.addresses
    assert walk.result.error == expected.error
    assert walk.result.canonical == expected.canonical
    assert walk.count == len(expected.sequence)


@in_module_loop
@pytest.mark.parametrize("case", [c for c in CASES if c.leaked], ids=lambda c: c.id)
async def test_only_non_cluster_candidates_leave_the_cluster(cluster: Cluster, case: Case) -> None:
    """Cluster-suffix candidates are answered by the kubernetes plugin; node-suffix ones and
    the name itself are forwarded upstream (spec 4.2: they leave the cluster)."""
    before = len(cluster.upstream.received)
    await cluster.walk(case.name, case.conf(), "glibc")
    seen = [r.name for r in cluster.upstream.received[before:]]
    assert seen.count(case.leaked[0]) == 2  # A and AAAA
    assert sorted(set(seen)) == sorted(case.leaked)
    assert not any(name.endswith(f".{CL}") for name in seen)


def test_expected_query_counts_follow_the_spec_table() -> None:
    """The table above agrees with spec 4.2: 2 x (S + 1) queries for an external name."""
    counts = {c.id: len(c.expected("glibc").sequence) for c in CASES}
    assert counts["external-name-through-forward"] == 8
    assert counts["external-name-with-node-search-ec2.internal"] == 10
    assert counts["external-name-with-gce-node-search"] == 12
    assert counts["in-namespace-service"] == 2
    assert counts["svc.otherns"] == 4
    assert counts["full-name-without-trailing-dot"] == 8


@in_module_loop
async def test_answers_are_the_same_over_tcp(cluster: Cluster) -> None:
    """The walk does not depend on the transport: TCP gives the same sequence as UDP."""

    async def ask_tcp(qname: str, qtype: str) -> tuple[str, list[str]]:
        reply = await query(cluster.srv.port, qname, qtype, tcp=True)
        return dns.rcode.to_text(reply.rcode()), [
            line for rrset in reply.answer for line in rrset.to_text().splitlines()
        ]

    conf = stub.pod_resolv_conf("app", ZONE)
    for libc in stub.LIBCS:
        udp = await cluster.walk("redis", conf, libc)
        tcp = await stub.walk("redis", conf, libc, ask_tcp)
        assert tcp.sequence == udp.sequence
        assert tcp.result == udp.result
