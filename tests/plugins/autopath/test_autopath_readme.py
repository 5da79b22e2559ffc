"""The README's examples start from the repository root and do what the README says they do
(tests/meta/test_readmes.py only starts them)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import dns.rcode
import pytest
from dnslib import DNSRecord

from clusterdns import wire
from clusterdns.plugins.autopath.autopath import AutoPath
from clusterdns.plugins.kubernetes import autopath as k8s_autopath
from clusterdns.plugins.kubernetes.kubernetes import Kubernetes
from clusterdns.request import Request
from clusterdns.testing import Case, RunningServer, check, query, run_corefile

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "plugins" / "autopath" / "README.md"
EXAMPLES = re.findall(r"```corefile\n(.*?)```", README.read_text(), re.S)


def test_readme_sections_and_examples() -> None:
    text = README.read_text()
    for section in ("## Name", "## Description", "## Syntax", "## Examples", "## Metrics", "## Differences from CoreDNS"):
        assert section in text
    assert "coredns_autopath_success_total{server}" in text
    assert len(EXAMPLES) == 3


@pytest.fixture(autouse=True)
def at_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(ROOT)
    (tmp_path / "resolv.conf").write_text("nameserver 10.255.0.1\n")  # the server's: no search
    monkeypatch.setattr(k8s_autopath, "RESOLV_CONF", str(tmp_path / "resolv.conf"))


@asynccontextmanager
async def example(index: int) -> AsyncIterator[RunningServer]:
    async with run_corefile(EXAMPLES[index].replace(":5353", ":0")) as srv:
        yield srv


def handler(srv: RunningServer, name: str) -> object:
    return srv.runtime.instance.blocks[0].handlers[name]


async def test_resolv_conf_example_reads_the_hosts_search_list() -> None:
    async with example(0) as srv:
        autopath = handler(srv, "autopath")
        assert isinstance(autopath, AutoPath)
        assert autopath.options.plugin == "" and autopath.search[-1] == ""


def from_pod(ip: str, name: str) -> Request:
    parsed = wire.parse_query(bytes(DNSRecord.question(name, "A").pack()))
    assert isinstance(parsed, wire.Query)
    return Request(parsed, "udp", ip, 5353, "127.0.0.1", 53)


async def test_pods_verified_example_knows_the_example_pods() -> None:
    async with example(1) as srv:
        autopath, kubernetes = handler(srv, "autopath"), handler(srv, "kubernetes")
        assert isinstance(autopath, AutoPath) and isinstance(kubernetes, Kubernetes)
        assert autopath.search_func is not None
        # 10.244.1.40 is an api pod in shop (examples/cluster/shop/api.yaml)
        assert kubernetes.auto_path(from_pod("10.244.1.40", "x.shop.svc.cluster.local.")) == [
            "shop.svc.cluster.local.", "svc.cluster.local.", "cluster.local.", "",
        ]
        # this test's address is no pod: answered as without autopath
        reply = await query(srv.port, "www.example.com.shop.svc.cluster.local.", "A")
        assert reply.rcode() == dns.rcode.NXDOMAIN


async def test_infer_namespace_example_answers_in_one_round_trip() -> None:
    async with example(2) as srv:
        reply = await query(srv.port, "www.example.com.shop.svc.cluster.local.", "A")
        check(reply, Case("www.example.com.shop.svc.cluster.local.", answer=[
            "www.example.com.shop.svc.cluster.local. 30 IN CNAME www.example.com.",  # cache 30 caps the TTL
            "www.example.com. 30 IN A 93.184.215.14",
        ]))
        other = await query(srv.port, "web.demo.shop.svc.cluster.local.", "A")
        assert other.answer[0].to_text() == "web.demo.shop.svc.cluster.local. 5 IN CNAME web.demo.svc.cluster.local."
        assert other.answer[1].to_text() == "web.demo.svc.cluster.local. 5 IN A 10.96.100.10"
