"""Shared by the errors tests: exact log lines captured from the ``clusterdns`` logger."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator

import pytest

from clusterdns.log import CoreDNSFormatter
from clusterdns.server.instance import CorefileSource, Instance
from clusterdns.server.runtime import Runtime

WAIT_SECONDS = 3.0


class LogLines(logging.Handler):
    """Every line the server logs, formatted exactly as on stdout."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(CoreDNSFormatter())
        self.lines: list[str] = []
        self._changed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self._changed.set()

    async def wait_for(self, predicate: Callable[[str], bool], timeout: float = WAIT_SECONDS) -> str:
        """The first line matching ``predicate``, waiting up to ``timeout`` for it to appear."""

        async def scan() -> str:
            seen = 0
            while True:
                for line in self.lines[seen:]:
                    if predicate(line):
                        return line
                seen = len(self.lines)
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(scan(), timeout)

    def matching(self, predicate: Callable[[str], bool]) -> list[str]:
        return [line for line in self.lines if predicate(line)]


@pytest.fixture
def lines() -> Iterator[LogLines]:
    """Capture the server's log lines at INFO and above (as without the *debug* plugin)."""
    logger = logging.getLogger("clusterdns")
    handler = LogLines()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def build(corefile: str) -> Instance:
    """Parse and set up a Corefile without opening sockets."""
    runtime = Runtime(lambda: CorefileSource(corefile, "Corefile"), default_port="0")
    return runtime.build()
