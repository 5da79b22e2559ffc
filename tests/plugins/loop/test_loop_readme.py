"""Every ```corefile example of loop's README starts and serves on loopback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clusterdns.plugins.loop import loop as loop_module
from clusterdns.testing import run_corefile

README = Path(loop_module.__file__).with_name("README.md")
EXAMPLES = re.findall(r"```corefile\n(.*?)```", README.read_text(), re.S)


def test_readme_has_examples() -> None:
    assert EXAMPLES


@pytest.mark.parametrize("corefile", EXAMPLES)
async def test_readme_example_starts(corefile: str, monkeypatch: pytest.MonkeyPatch) -> None:
    exits: list[int] = []
    monkeypatch.setattr(loop_module, "exit_process", exits.append)
    async with run_corefile(corefile) as srv:
        assert srv.runtime.listeners
    assert exits == []
