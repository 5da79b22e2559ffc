"""Shared by the errors tests: a Corefile set up without sockets. Captured log lines are the
``lines`` fixture of tests/conftest.py (``clusterdns.testing.LogLines``)."""

from __future__ import annotations

from clusterdns.server.instance import CorefileSource, Instance
from clusterdns.server.runtime import Runtime


def build(corefile: str) -> Instance:
    """Parse and set up a Corefile without opening sockets."""
    runtime = Runtime(lambda: CorefileSource(corefile, "Corefile"), default_port="0")
    return runtime.build()
