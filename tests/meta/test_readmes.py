"""Documentation is tested: every plugin has a man-page README, and every example serves.

As CoreDNS's ``test/readme_test.go``: each ```corefile block in a README, and the example
Corefile the top-level README runs, must parse, set up and start on loopback.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clusterdns import registry
from clusterdns.testing import run_corefile

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ("## Name", "## Description", "## Syntax", "## Examples")
FENCE = re.compile(r"```corefile\n(.*?)```", re.S)


def _readmes() -> list[Path]:
    return sorted((ROOT / "plugins").glob("*/README.md"))


def _port_zero(corefile: str) -> str:
    """Run examples on free ports and loopback addresses, without lameduck waits."""
    corefile = re.sub(r"lameduck\s+\S+", "lameduck 0s", corefile)
    corefile = re.sub(r"^(\s*[^\s#{}]*?):\d+(\s*\{)", r"\1:0\2", corefile, flags=re.M)
    corefile = re.sub(r"(health|ready|prometheus)\s+\S*:\d+", r"\1 127.0.0.1:0", corefile)
    corefile = re.sub(r"^(\s*)(health|ready|prometheus)\s*$", r"\1\2 127.0.0.1:0", corefile, flags=re.M)
    corefile = re.sub(r"^(\s*)(health|ready)(\s*\{)", r"\1\2 127.0.0.1:0\3", corefile, flags=re.M)
    return corefile


def test_every_directive_has_a_readme_with_the_man_page_sections() -> None:
    folders = {module.rsplit(".", 1)[1] for _, module in registry.DIRECTIVES}
    assert {p.parent.name for p in _readmes()} == folders
    for readme in _readmes():
        text = readme.read_text()
        for section in SECTIONS:
            assert section in text, f"{readme} lacks {section}"


EXAMPLES = [
    pytest.param(block, id=f"{readme.parent.name}-{index}")
    for readme in _readmes()
    for index, block in enumerate(FENCE.findall(readme.read_text()))
]


@pytest.mark.parametrize("corefile", EXAMPLES)
async def test_readme_example_starts(corefile: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hosts").write_text("127.0.0.1 localhost\n")
    async with run_corefile(_port_zero(corefile)) as srv:
        assert srv.runtime.listeners


async def test_corefile_example_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    async with run_corefile(_port_zero((ROOT / "Corefile.example").read_text())) as srv:
        assert srv.runtime.listeners
