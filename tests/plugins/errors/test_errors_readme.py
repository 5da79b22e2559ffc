"""The errors README: man-page sections, and every example starts and behaves as described."""

from __future__ import annotations

import re
from pathlib import Path

import dns.rcode
import pytest

from clusterdns.testing import query, run_corefile

README = Path(__file__).resolve().parents[3] / "plugins" / "errors" / "README.md"
EXAMPLES = re.findall(r"```corefile\n(.*?)```", README.read_text(), re.S)


def test_readme_has_the_man_page_sections() -> None:
    text = README.read_text()
    for section in ("## Name", "## Description", "## Syntax", "## Examples"):
        assert section in text


@pytest.mark.parametrize("corefile", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
async def test_example_starts_and_answers(corefile: str) -> None:
    assert len(EXAMPLES) == 3
    async with run_corefile(corefile) as srv:
        reply = await query(srv.port, "example.org", "A")
    assert reply.rcode() == dns.rcode.NOERROR
