"""Every ```corefile example of reload's README starts and serves on loopback."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from clusterdns.plugins.reload.reload import poller_of
from clusterdns.testing import run_corefile

README = Path(importlib.import_module("clusterdns.plugins.reload.reload").__file__).with_name(
    "README.md"
)
EXAMPLES = re.findall(r"```corefile\n(.*?)```", README.read_text(), re.S)


def test_readme_has_examples() -> None:
    assert EXAMPLES


@pytest.mark.parametrize("corefile", EXAMPLES)
async def test_readme_example_starts(corefile: str) -> None:
    async with run_corefile(corefile) as srv:
        assert srv.runtime.listeners
        assert poller_of(srv.runtime.instance) is not None
