"""The README's example server answers every kind of record of the sample cluster.

Acceptance (issue 3, item 4): the README's run command (Corefile.example, which serves the
manifests in examples/cluster/) answers a query for each kind of record, with no network.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import dns.rcode
import dns.rdatatype
import dns.reversename
import pytest

from clusterdns.testing import query, run_corefile

ROOT = Path(__file__).resolve().parents[2]

# (qname, qtype, rcode, expected answer lines "owner ttl IN TYPE data", sorted)
CASES = [
    ("kubernetes.default.svc.cluster.local", "A", "NOERROR",
     ["kubernetes.default.svc.cluster.local. 30 IN A 10.96.0.1"]),
    ("kube-dns.kube-system.svc.cluster.local", "A", "NOERROR",
     ["kube-dns.kube-system.svc.cluster.local. 30 IN A 10.96.0.10"]),
    ("_dns._udp.kube-dns.kube-system.svc.cluster.local", "SRV", "NOERROR",
     ["_dns._udp.kube-dns.kube-system.svc.cluster.local. 30 IN SRV 0 100 53 kube-dns.kube-system.svc.cluster.local."]),
    ("web.demo.svc.cluster.local", "AAAA", "NOERROR", []),  # NODATA: IPv4-only service
    ("_http._tcp.web.demo.svc.cluster.local", "SRV", "NOERROR",
     ["_http._tcp.web.demo.svc.cluster.local. 30 IN SRV 0 100 80 web.demo.svc.cluster.local."]),
    ("10-244-1-10.web.demo.svc.cluster.local", "A", "NOERROR",
     ["10-244-1-10.web.demo.svc.cluster.local. 30 IN A 10.244.1.10"]),
    ("api.shop.svc.cluster.local", "A", "NOERROR", ["api.shop.svc.cluster.local. 30 IN A 10.96.200.20"]),
    ("api.shop.svc.cluster.local", "AAAA", "NOERROR", ["api.shop.svc.cluster.local. 30 IN AAAA fd00:10:96::c8"]),
    ("_http._tcp.api.shop.svc.cluster.local", "SRV", "NOERROR",
     ["_http._tcp.api.shop.svc.cluster.local. 30 IN SRV 0 50 80 api.shop.svc.cluster.local."]),
    ("db.shop.svc.cluster.local", "A", "NOERROR", [
        "db.shop.svc.cluster.local. 30 IN A 10.244.1.20",
        "db.shop.svc.cluster.local. 30 IN A 10.244.1.22",
        "db.shop.svc.cluster.local. 30 IN A 10.244.2.21",
    ]),
    ("db-0.db.shop.svc.cluster.local", "A", "NOERROR", ["db-0.db.shop.svc.cluster.local. 30 IN A 10.244.1.20"]),
    ("_postgres._tcp.db.shop.svc.cluster.local", "SRV", "NOERROR", [
        f"_postgres._tcp.db.shop.svc.cluster.local. 30 IN SRV 0 33 5432 db-{i}.db.shop.svc.cluster.local."
        for i in range(3)
    ]),
    ("cache.shop.svc.cluster.local", "A", "NOERROR", [
        "cache.shop.svc.cluster.local. 30 IN A 10.244.1.50",
        "cache.shop.svc.cluster.local. 30 IN A 10.244.2.51",
    ]),
    ("10-244-2-31.cart.shop.svc.cluster.local", "A", "NXDOMAIN", []),  # endpoint not ready
    ("www.demo.svc.cluster.local", "A", "NOERROR", [
        "web.demo.svc.cluster.local. 30 IN A 10.96.100.10",
        "www.demo.svc.cluster.local. 30 IN CNAME web.demo.svc.cluster.local.",
    ]),
    ("search.shop.svc.cluster.local", "A", "NOERROR", [
        "search.shop.svc.cluster.local. 30 IN CNAME www.example.com.",
        "www.example.com. 30 IN A 93.184.215.14",  # cache 30 caps the TTL
    ]),
    ("10-244-1-20.shop.pod.cluster.local", "A", "NOERROR",
     ["10-244-1-20.shop.pod.cluster.local. 30 IN A 10.244.1.20"]),
    ("shop.svc.cluster.local", "A", "NOERROR", []),
    ("missing.shop.svc.cluster.local", "A", "NXDOMAIN", []),
    # 28800 from the plugin, rewritten to 30 by "cache 30" even though the zone's answers are
    # not stored (CoreDNS applies the capped TTL to every reply passing through the cache).
    ("dns-version.cluster.local", "TXT", "NOERROR", ['dns-version.cluster.local. 30 IN TXT "1.1.0"']),
]

PTR_CASES = [
    ("10.96.100.10", "web.demo.svc.cluster.local."),
    ("10.244.1.20", "db-0.db.shop.svc.cluster.local."),
    ("fd00:10:96::c8", "api.shop.svc.cluster.local."),
]


def _answers(reply) -> list[str]:  # type: ignore[no-untyped-def]
    lines = []
    for rrset in reply.answer:
        lines.extend(line for line in rrset.to_text().splitlines())
    return sorted(re.sub(r"\s+", " ", line) for line in lines)


@pytest.fixture
def example_corefile(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(ROOT)
    text = (ROOT / "Corefile.example").read_text()
    text = text.replace(".:5353 {", ".:0 {").replace("lameduck 5s", "lameduck 0s")
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:0", text)


async def test_every_kind_of_record(example_corefile: str) -> None:
    async with run_corefile(example_corefile) as srv:
        for qname, qtype, rcode, answer in CASES:
            reply = await query(srv.port, qname, qtype, tcp=True)
            assert dns.rcode.to_text(reply.rcode()) == rcode, (qname, qtype, reply.to_text())
            assert _answers(reply) == sorted(answer), (qname, qtype, reply.to_text())
            if rcode != "NOERROR" or not answer:
                assert reply.authority and reply.authority[0].rdtype == dns.rdatatype.SOA
        for address, target in PTR_CASES:
            reply = await query(srv.port, dns.reversename.from_address(address).to_text(), "PTR")
            assert [r.target.to_text() for r in reply.answer[0]] == [target]


async def test_dig_against_the_example(example_corefile: str) -> None:
    dig = shutil.which("dig")
    assert dig, "dig is needed (Debian package dnsutils; .ci/run installs it)"
    async with run_corefile(example_corefile) as srv:
        process = await asyncio.create_subprocess_exec(
            dig, "@127.0.0.1", "-p", str(srv.port), "+short", "+tries=1", "+time=2",
            "db-1.db.shop.svc.cluster.local", stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(process.communicate(), 10)
        assert out.decode().split() == ["10.244.2.21"]


