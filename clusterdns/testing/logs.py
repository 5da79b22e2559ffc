"""Capture what the server logs, line by line, exactly as it prints it.

Tests of *log* and *errors* (and any plugin whose lines matter) check whole lines in CoreDNS's
format and often have to wait for a line written by a query still in flight; this handler on
the ``clusterdns`` logger keeps every formatted line and lets a test await the first that
matches, with a deadline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final

from ..log import CoreDNSFormatter

WAIT_SECONDS: Final = 3.0


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
