"""forward README: every corefile example starts (without network: upstreams are loopback
addresses, and /etc/resolv.conf is replaced by a file of the test's own)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clusterdns.testing import run_corefile

README = Path(__file__).resolve().parents[3] / "plugins" / "forward" / "README.md"
EXAMPLES = re.findall(r"```corefile\n(.*?)```", README.read_text(), re.S)


def test_readme_has_examples() -> None:
    assert len(EXAMPLES) == 9


@pytest.mark.parametrize("corefile", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
async def test_example_starts(corefile: str, tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.53\n")
    text = corefile.replace("/etc/resolv.conf", str(resolv))
    async with run_corefile(text) as srv:
        assert srv.runtime.listeners
        assert srv.runtime.instance is not None
        assert any("forward" in block.handlers for block in srv.runtime.instance.blocks)
