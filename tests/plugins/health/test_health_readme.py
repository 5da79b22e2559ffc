"""health README: every corefile example starts as written and serves /health."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clusterdns.testing import run_corefile

README = Path(__file__).resolve().parents[3] / "plugins" / "health" / "README.md"
EXAMPLES = re.findall(r"```corefile\n(.*?)```", README.read_text(), re.S)


def test_readme_has_the_man_page_sections_and_examples() -> None:
    text = README.read_text()
    for section in ("## Name", "## Description", "## Syntax", "## Examples", "## Metrics"):
        assert section in text
    assert len(EXAMPLES) == 3


@pytest.mark.parametrize("corefile", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
async def test_example_starts_and_is_healthy(corefile: str, get) -> None:
    addresses = re.findall(r"health (\S+:\d+)", corefile)
    assert addresses
    async with run_corefile(corefile) as srv:
        for address in addresses:
            reply = await get(srv.runtime.http.port(address), "/health")
            assert (reply.status, reply.body) == (200, b"OK")
