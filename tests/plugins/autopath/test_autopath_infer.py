"""``autopath @kubernetes { infer_namespace }``: server-side search completion that needs neither
``pods verified`` nor the client's address. Measured against glibc- and musl-like clients (how
many queries one lookup costs, pinned to the table in plugins/autopath/README.md), and every
documented difference from the walk the client would do, pinned with exact rcode sequences.

The clients are played by a small walk simulator: for a name, the pod's search list and ndots
it sends the candidates a stub resolver would send (A and AAAA for each, in parallel; the bare
name first when the name has ndots dots or more, and for musl then nothing else) from a
loopback source address, and stops as that libc stops (k8s-dns-spec.md 4.1): glibc at the first
candidate with an address, going on after NXDOMAIN, NODATA and SERVFAIL; musl skips a candidate
only when an answer is NXDOMAIN, stops on SERVFAIL, and stops on NODATA.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dns.asyncquery
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from clusterdns.plugins.kubernetes import autopath as k8s_autopath
from clusterdns.testing import run_corefile
from clusterdns.testing.upstream import Upstream

POD_SHOP = "127.0.0.1"
POD_DEMO = "127.0.0.2"
NODE = "127.0.0.3"  # not a pod: a node, NodeLocal DNSCache or a hostNetwork pod
ZONE = "cluster.local"
SERVER_NODE_DOMAIN = "corp.internal"  # in the server's own resolv.conf
TIMEOUT_SECONDS = 3.0
README = Path(__file__).resolve().parents[3] / "plugins" / "autopath" / "README.md"

CLUSTER = """\
kind: Namespace
metadata: {name: shop}
---
kind: Namespace
metadata: {name: demo}
---
kind: Namespace
metadata: {name: redis}
---
kind: Service
metadata: {name: api, namespace: shop}
spec: {clusterIP: 10.96.0.10, ports: [{name: http, port: 80}]}
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

#: The three servers compared: without autopath, CoreDNS's autopath, and the mode.
CONFIGS = {
    "none": ("", "disabled"),
    "pods": ("autopath @kubernetes", "verified"),
    "infer": ("autopath @kubernetes {\n        infer_namespace\n    }", "disabled"),
}


# --- the walk simulator -----------------------------------------------------------------------


@dataclass(frozen=True)
class Client:
    """A pod's resolver: its namespace, node search domains, ndots, libc and source address."""

    namespace: str
    source: str
    libc: str = "glibc"
    ndots: int = 5
    node_search: tuple[str, ...] = (SERVER_NODE_DOMAIN,)

    @property
    def search(self) -> tuple[str, ...]:
        return (f"{self.namespace}.svc.{ZONE}", f"svc.{ZONE}", ZONE, *self.node_search)

    def candidates(self, name: str) -> list[str]:
        if name.endswith("."):
            return [name]
        searched = [f"{name}.{domain}." for domain in self.search]
        if name.count(".") >= self.ndots:
            return [f"{name}."] if self.libc == "musl" else [f"{name}.", *searched]
        return [*searched, f"{name}."]


@dataclass
class Lookup:
    """What one getaddrinfo() did: each candidate with its (A, AAAA) rcodes, and the result."""

    steps: list[tuple[str, str, str]] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    result: str = ""  # "found", "NXDOMAIN", "NODATA" or "SERVFAIL"

    @property
    def queries(self) -> int:
        return 2 * len(self.steps)

    @property
    def rcodes(self) -> list[tuple[str, str]]:
        return [(a, aaaa) for _, a, aaaa in self.steps]


async def _ask(port: int, name: str, qtype: str, source: str) -> dns.message.Message:
    message = dns.message.make_query(name, qtype)
    return await dns.asyncquery.udp(message, "127.0.0.1", port=port, source=source, timeout=TIMEOUT_SECONDS)


def _rcode(reply: dns.message.Message) -> str:
    rcode = reply.rcode()
    if rcode == dns.rcode.NOERROR and not _addresses(reply):
        return "NODATA"
    return dns.rcode.to_text(rcode)


def _addresses(reply: dns.message.Message) -> list[str]:
    wanted = {dns.rdatatype.A, dns.rdatatype.AAAA}
    return [rdata.to_text() for rrset in reply.answer if rrset.rdtype in wanted for rdata in rrset]


async def resolve(port: int, name: str, client: Client) -> Lookup:
    """Play ``client``'s getaddrinfo(name) against the server on ``port``."""
    lookup = Lookup()
    for candidate in client.candidates(name):
        a, aaaa = await asyncio.gather(
            _ask(port, candidate, "A", client.source), _ask(port, candidate, "AAAA", client.source)
        )
        lookup.steps.append((candidate, _rcode(a), _rcode(aaaa)))
        found = _addresses(a) + _addresses(aaaa)
        if client.libc == "musl":
            for reply in (a, aaaa):
                if reply.rcode() == dns.rcode.SERVFAIL:
                    lookup.result = "SERVFAIL"
                    return lookup
                if reply.rcode() == dns.rcode.NXDOMAIN:
                    break
            else:
                lookup.addresses, lookup.result = found, "found" if found else "NODATA"
                return lookup
            continue
        if found:
            lookup.addresses, lookup.result = found, "found"
            return lookup
    codes = [code for step in lookup.steps for code in step[1:]]
    lookup.result = "NODATA" if "NODATA" in codes else "SERVFAIL" if "SERVFAIL" in codes else "NXDOMAIN"
    return lookup


# --- the servers ------------------------------------------------------------------------------


@dataclass
class Servers:
    ports: dict[str, int]
    upstream: Upstream


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "cluster").mkdir()
    (tmp_path / "cluster" / "cluster.yaml").write_text(CLUSTER)
    (tmp_path / "hosts").write_text("192.0.2.77 mail.corp.internal\n192.0.2.88 mail.lab.internal\n")
    (tmp_path / "resolv.conf").write_text(f"nameserver 10.255.0.1\nsearch {SERVER_NODE_DOMAIN}\n")
    monkeypatch.setattr(k8s_autopath, "RESOLV_CONF", str(tmp_path / "resolv.conf"))
    return tmp_path


def corefile(files: Path, up: Upstream, config: str) -> str:
    autopath, pods = CONFIGS[config]
    return f"""\
. {{
    {autopath}
    kubernetes {ZONE} {{
        manifests {files / "cluster"}
        pods {pods}
    }}
    hosts {files / "hosts"} corp.internal lab.internal {{
        fallthrough
    }}
    forward . {up.addr}
}}
"""


@asynccontextmanager
async def servers(files: Path) -> AsyncIterator[Servers]:
    async with Upstream() as up:
        up.add("api.example.com", "A", "192.0.2.10")
        async with (
            run_corefile(corefile(files, up, "none")) as none,
            run_corefile(corefile(files, up, "pods")) as pods,
            run_corefile(corefile(files, up, "infer")) as infer,
        ):
            yield Servers({"none": none.port, "pods": pods.port, "infer": infer.port}, up)


# --- it works without pods verified, from any address ------------------------------------------


async def test_walks_from_any_address_without_pods_verified(files: Path) -> None:
    async with servers(files) as s:
        name = "api.example.com.shop.svc.cluster.local."
        for source in (NODE, POD_DEMO):
            reply = await _ask(s.ports["infer"], name, "A", source)
            assert [rrset.to_text() for rrset in reply.answer] == [
                f"{name} 300 IN CNAME api.example.com.",
                "api.example.com. 300 IN A 192.0.2.10",
            ]
        # off by default: the same query to CoreDNS's autopath from a node address is not walked
        assert (await _ask(s.ports["pods"], name, "A", NODE)).rcode() == dns.rcode.NXDOMAIN


async def test_existing_cluster_names_are_answered_as_they_are(files: Path) -> None:
    async with servers(files) as s:
        for name, qtype in [("web.demo.svc.cluster.local.", "A"), ("web.demo.svc.cluster.local.", "AAAA"),
                            ("_http._tcp.web.demo.svc.cluster.local.", "SRV"), ("demo.svc.cluster.local.", "A")]:
            plain = await _ask(s.ports["none"], name, qtype, NODE)
            inferred = await _ask(s.ports["infer"], name, qtype, NODE)
            assert (inferred.rcode(), inferred.answer, inferred.authority) == (plain.rcode(), plain.answer, plain.authority)


# --- the measurement (the table in README.md) --------------------------------------------------

#: (row label in the README, name) for a pod in shop; search: shop.svc, svc, zone, corp.internal.
CASES = [
    ("in-namespace service", "api"),
    ("`svc.otherns`", "web.demo"),
    ("`svc.otherns.svc`", "web.demo.svc"),
    ("full name without trailing dot", "web.demo.svc.cluster.local"),
    ("external name through *forward*", "api.example.com"),
    ("external name that does not exist", "nosuch.example.com"),
]
COLUMNS = [("none", POD_SHOP), ("pods", POD_SHOP), ("infer", NODE)]


def readme_table() -> dict[str, list[int]]:
    """The measured table of README.md: name -> six query counts."""
    text = README.read_text()
    start = text.index("<!-- measured by tests/plugins/autopath/test_autopath_infer.py -->")
    rows: dict[str, list[int]] = {}
    for line in text[start:].splitlines()[1:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        found = re.fullmatch(r"`([^`]+)`", cells[1])
        if found:
            rows[found.group(1)] = [int(cell) for cell in cells[2:]]
    return rows


async def test_queries_per_lookup_match_the_readme(files: Path) -> None:
    measured: dict[str, list[int]] = {}
    async with servers(files) as s:
        for _, name in CASES:
            counts = []
            for libc in ("glibc", "musl"):
                results = []
                for config, source in COLUMNS:
                    lookup = await resolve(s.ports[config], name, Client("shop", source, libc))
                    counts.append(lookup.queries)
                    results.append((lookup.result, sorted(lookup.addresses)))
                # the mode changes how many queries, never what the application gets here
                assert results[0] == results[1] == results[2], (name, libc, results)
            measured[name] = counts
    assert measured == readme_table()
    assert measured["api.example.com"] == [10, 2, 2, 10, 2, 2]


async def test_failed_walk_costs_the_server_a_walk_and_the_client_its_own(files: Path) -> None:
    async with servers(files) as s:
        lookup = await resolve(s.ports["infer"], "nosuch.example.com", Client("shop", NODE))
        assert lookup.rcodes == [("NXDOMAIN", "NXDOMAIN")] * 5
        # upstream: the server's walk (node domain, bare name) and then the client's own walk
        assert s.upstream.count(name="nosuch.example.com.") == 4
        assert s.upstream.count(name="nosuch.example.com.corp.internal.") == 4


# --- documented differences, each pinned --------------------------------------------------------


async def test_difference_search_domains_the_server_cannot_know(files: Path) -> None:
    # The client's node (or dnsConfig) has lab.internal; the server appends its own corp.internal.
    # CoreDNS's autopath with pods verified does the same.
    client = Client("shop", NODE, node_search=("lab.internal",))
    async with servers(files) as s:
        plain = await resolve(s.ports["none"], "mail", client)
        assert plain.rcodes == [("NXDOMAIN", "NXDOMAIN")] * 3 + [("NOERROR", "NODATA")]
        assert (plain.steps[3][0], plain.result, plain.addresses) == ("mail.lab.internal.", "found", ["192.0.2.88"])
        inferred = await resolve(s.ports["infer"], "mail", client)
        assert (len(inferred.steps), inferred.result, inferred.addresses) == (1, "found", ["192.0.2.77"])
        pods = await resolve(s.ports["pods"], "mail", Client("shop", POD_SHOP, node_search=("lab.internal",)))
        assert pods.addresses == ["192.0.2.77"]


async def test_difference_later_candidate_taken_for_a_first_one(files: Path) -> None:
    # A pod in demo looks up "mail.shop", which exists nowhere. Its first candidate is walked
    # (as demo) and fails; its second, mail.shop.svc.<zone>, looks like a first candidate of a
    # pod in shop, whose walk goes on to mail.svc.<zone>, mail.<zone>, mail.corp.internal: found.
    for libc in ("glibc", "musl"):
        async with servers(files) as s:
            plain = await resolve(s.ports["none"], "mail.shop", Client("demo", NODE, libc))
            assert (plain.rcodes, plain.result) == ([("NXDOMAIN", "NXDOMAIN")] * 5, "NXDOMAIN")
            inferred = await resolve(s.ports["infer"], "mail.shop", Client("demo", NODE, libc))
            assert inferred.rcodes == [("NXDOMAIN", "NXDOMAIN"), ("NOERROR", "NODATA")]
            assert (inferred.result, inferred.addresses) == ("found", ["192.0.2.77"])
            # CoreDNS's autopath knows the pod is in demo and does not walk the second candidate
            pods = await resolve(s.ports["pods"], "mail.shop", Client("demo", POD_DEMO, libc))
            assert pods.result == "NXDOMAIN"


@pytest.mark.parametrize("name", ["mail.shop.svc.cluster.local.", "mail.shop.svc.cluster.local"])
async def test_difference_absolute_name_taken_for_a_search_candidate(files: Path, name: str) -> None:
    # With a trailing dot, or with ndots:2 (4 dots >= 2: glibc and musl ask the bare name first),
    # the client asks mail.shop.svc.cluster.local itself. The server cannot tell it from the
    # first candidate of "mail" in shop and walks on. CoreDNS does the same for pods in shop.
    for libc in ("glibc", "musl"):
        client = Client("shop", NODE, libc, ndots=2)
        async with servers(files) as s:
            plain = await resolve(s.ports["none"], name, client)
            assert plain.result == "NXDOMAIN"
            assert plain.queries == (2 if name.endswith(".") or libc == "musl" else 10)
            inferred = await resolve(s.ports["infer"], name, client)
            assert (inferred.rcodes, inferred.addresses) == ([("NOERROR", "NODATA")], ["192.0.2.77"])
            pods = await resolve(s.ports["pods"], name, Client("shop", POD_SHOP, libc, ndots=2))
            assert pods.addresses == ["192.0.2.77"]


async def test_difference_bare_name_asked_again_at_the_end(files: Path) -> None:
    # ndots:1: "nosuch.example" has 1 dot, so glibc asks the bare name first and searches after
    # NXDOMAIN. The walk of its first candidate asks the bare name again, upstream: same
    # answer, one more upstream query per type.
    client = Client("shop", NODE, ndots=1)
    async with servers(files) as s:
        plain = await resolve(s.ports["none"], "nosuch.example", client)
        assert plain.result == "NXDOMAIN"
        assert s.upstream.count(name="nosuch.example.") == 2
        s.upstream.received.clear()
        inferred = await resolve(s.ports["infer"], "nosuch.example", client)
        assert inferred.rcodes == plain.rcodes and inferred.result == "NXDOMAIN"
        assert s.upstream.count(name="nosuch.example.") == 4


async def test_difference_namespace_named_like_a_service(files: Path) -> None:
    # A namespace "redis" makes redis.svc.<zone> exist (NODATA). As a search candidate of a
    # lookup of "redis" it ends the walk, as in CoreDNS and as musl would (glibc goes on either
    # way); but where the server walks a name the client would not have searched, NXDOMAIN
    # becomes NODATA.
    async with servers(files) as s:
        for libc, steps, plain_steps in (("musl", 1, 2), ("glibc", 5, 5)):
            inferred = await resolve(s.ports["infer"], "redis", Client("shop", NODE, libc))
            plain = await resolve(s.ports["none"], "redis", Client("shop", NODE, libc))
            assert inferred.result == plain.result == "NODATA"
            assert inferred.rcodes[0] == ("NODATA", "NODATA") and len(inferred.steps) == steps
            # without autopath: NODATA at redis.svc.<zone>; musl stops there, glibc goes on
            assert plain.rcodes[:2] == [("NXDOMAIN", "NXDOMAIN"), ("NODATA", "NODATA")]
            assert len(plain.steps) == plain_steps
        # an absolute name of a service that does not exist in shop
        name = "redis.shop.svc.cluster.local."
        before = await _ask(s.ports["none"], name, "A", NODE)
        after = await _ask(s.ports["infer"], name, "A", NODE)
        assert before.rcode() == dns.rcode.NXDOMAIN
        assert after.rcode() == dns.rcode.NOERROR and after.answer == []
        # musl in demo resolving "redis.shop": NXDOMAIN everywhere becomes NODATA at candidate 2
        musl = Client("demo", NODE, "musl")
        assert (await resolve(s.ports["none"], "redis.shop", musl)).result == "NXDOMAIN"
        walked = await resolve(s.ports["infer"], "redis.shop", musl)
        assert (walked.rcodes, walked.result) == ([("NXDOMAIN", "NXDOMAIN"), ("NODATA", "NODATA")], "NODATA")
