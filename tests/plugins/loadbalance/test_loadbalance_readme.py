"""loadbalance README: every corefile example starts and behaves as the text says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clusterdns.testing import query, run_corefile

README = Path(__file__).resolve().parents[3] / "plugins" / "loadbalance" / "README.md"
EXAMPLES = re.findall(r"```corefile\n(.*?)```", README.read_text(), re.S)


def test_readme_has_examples() -> None:
    assert len(EXAMPLES) == 2


@pytest.mark.parametrize("corefile", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
async def test_example_starts(corefile: str) -> None:
    async with run_corefile(corefile) as srv:
        reply = await query(srv.port, "web.example.org.", "A")
        assert len(reply.answer[0]) == 3


async def test_prefer_example_order() -> None:
    async with run_corefile(EXAMPLES[1]) as srv:
        for _ in range(20):
            reply = await query(srv.port, "web.example.org.", "A")
            assert [r.address for r in reply.answer[0]] == ["10.9.20.1", "192.168.1.1", "172.16.0.1"]
