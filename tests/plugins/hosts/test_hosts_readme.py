"""hosts README: every corefile example starts, and the wildcard example answers as described."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clusterdns.testing import query, run_corefile

README = Path(__file__).resolve().parents[3] / "plugins" / "hosts" / "README.md"
EXAMPLES = re.findall(r"```corefile\n(.*?)```", README.read_text(), re.S)


def test_readme_has_examples() -> None:
    assert len(EXAMPLES) == 4


@pytest.mark.parametrize("corefile", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
async def test_example_starts(corefile: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "example.hosts").write_text("10.1.1.1 host.example.org\n")
    async with run_corefile(corefile) as srv:
        assert srv.runtime.listeners


async def test_wildcard_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    async with run_corefile(EXAMPLES[3]) as srv:
        assert (await query(srv.port, "apps.example.com.", "A")).answer[0][0].address == "192.168.1.10"
        assert (await query(srv.port, "www.example.com.", "A")).answer[0][0].address == "192.168.1.11"
        apex = await query(srv.port, "example.com.", "A")  # falls through to whoami
        assert apex.answer == [] and apex.additional
