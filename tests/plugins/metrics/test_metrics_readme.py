"""prometheus README: every example starts as written and serves /metrics."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clusterdns.testing import query, run_corefile

README = Path(__file__).resolve().parents[3] / "plugins" / "metrics" / "README.md"
TEXT = README.read_text()
EXAMPLES = re.findall(r"```corefile\n(.*?)```", TEXT, re.S)
ENV_EXAMPLE = [b for b in re.findall(r"```txt\n(.*?)```", TEXT, re.S) if "{$PORT}" in b]


def test_readme_has_the_man_page_sections_and_examples() -> None:
    for section in ("## Name", "## Description", "## Syntax", "## Examples"):
        assert section in TEXT
    assert len(EXAMPLES) == 2
    assert len(ENV_EXAMPLE) == 1


@pytest.mark.parametrize("corefile", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
async def test_example_starts_and_serves_metrics(corefile: str, get) -> None:
    addresses = set(re.findall(r"prometheus (\S+:\d+)", corefile))
    assert len(addresses) == 1
    async with run_corefile(corefile) as srv:
        zone = corefile.split()[0].rstrip(".")
        await query(srv.port, f"www.{zone}." if zone else "www.", "A")
        reply = await get(srv.runtime.http.port(addresses.pop()), "/metrics")
    assert reply.status == 200
    assert b"coredns_dns_requests_total{" in reply.body


async def test_environment_example_starts(get, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9254")
    async with run_corefile(ENV_EXAMPLE[0]) as srv:
        reply = await get(srv.runtime.http.port("localhost:9254"), "/metrics")
    assert reply.status == 200
