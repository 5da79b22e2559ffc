"""cache README: the man-page sections are there, and every corefile example starts and caches."""

from __future__ import annotations

import re
from pathlib import Path

import dns.rcode
import pytest
from cache_test_support import metric

from clusterdns.testing import query, run_corefile

README = Path(__file__).resolve().parents[3] / "plugins" / "cache" / "README.md"
TEXT = README.read_text()
EXAMPLES = re.findall(r"```corefile\n(.*?)```", TEXT, re.S)

SERVICE = (
    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n---\n"
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: demo\n"
    "spec:\n  clusterIP: 10.96.0.10\n"
)


def test_readme_has_the_man_page_sections_and_examples() -> None:
    for section in (
        "## Name", "## Description", "## Syntax", "## Metrics", "## Examples",
        "## Differences from CoreDNS",
    ):  # fmt: skip
        assert section in TEXT
    assert len(EXAMPLES) == 3


def test_every_option_and_metric_is_documented() -> None:
    for option in ("success", "denial", "prefetch", "serve_stale", "serve_stale_policy", "servfail",
                   "disable", "keepttl"):  # fmt: skip
        assert f"* `{option}`" in TEXT or f"* `{option} " in TEXT
    for name in ("entries", "hits_total", "misses_total", "requests_total", "prefetch_total",
                 "drops_total", "served_stale_total", "evictions_total"):  # fmt: skip
        assert f"`coredns_cache_{name}{{" in TEXT


@pytest.mark.parametrize("corefile", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
async def test_example_starts(corefile: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cluster").mkdir()
    (tmp_path / "cluster" / "web.yaml").write_text(SERVICE)
    async with run_corefile(corefile) as srv:
        assert srv.runtime.listeners


async def test_ttl_cap_example() -> None:
    async with run_corefile(EXAMPLES[0]) as srv:
        first = await query(srv.port, "example.org.", "A")
        second = await query(srv.port, "example.org.", "A")
        # whoami's TTL 0 is raised to the 5 s minimum; the second answer is the cached first
        assert [rrset.ttl for rrset in first.additional] == [5, 5]
        assert second.additional == first.additional


async def test_zones_example_caches_only_example_org() -> None:
    async with run_corefile(EXAMPLES[1]) as srv:
        requests = metric("coredns_cache_requests_total", server="dns://:0", zones="example.org.")
        org = await query(srv.port, "www.example.org.", "A")
        net = await query(srv.port, "www.example.net.", "A")
        assert [r.to_text() for r in org.answer] == ["www.example.org. 3600 IN A 10.0.0.1"]
        assert [r.to_text() for r in net.answer] == ["www.example.net. 3600 IN A 10.0.0.2"]
        assert metric("coredns_cache_requests_total", server="dns://:0", zones="example.org.") == requests + 1


async def test_cluster_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cluster").mkdir()
    (tmp_path / "cluster" / "web.yaml").write_text(SERVICE)
    async with run_corefile(EXAMPLES[2]) as srv:
        found = await query(srv.port, "web.demo.svc.cluster.local.", "A")
        assert [r.to_text() for r in found.answer] == ["web.demo.svc.cluster.local. 5 IN A 10.96.0.10"]
        www = await query(srv.port, "www.example.org.", "A")
        assert [r.to_text() for r in www.answer] == ["www.example.org. 30 IN A 10.0.0.1"]
        missing = await query(srv.port, "nope.demo.svc.cluster.local.", "A")
        assert missing.rcode() == dns.rcode.NXDOMAIN
