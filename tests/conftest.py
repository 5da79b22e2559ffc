"""Fixtures shared by the tests: a loopback HTTP client, polling with a deadline, captured log
lines in CoreDNS format, and a Controller for parse tests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest

from clusterdns import registry
from clusterdns.controller import Controller
from clusterdns.corefile import Dispenser, parse
from clusterdns.log import CoreDNSFormatter
from clusterdns.server.config import BlockConfig

HTTP_TIMEOUT_SECONDS = 3.0


@dataclass
class HttpReply:
    status: int
    headers: dict[str, str]
    body: bytes


async def http_get(port: int, path: str, *, host: str = "127.0.0.1") -> HttpReply:
    """One GET over a fresh loopback connection; raises ConnectionError when nothing listens."""

    async def exchange() -> bytes:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
            await writer.drain()
            return await reader.read()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    raw = await asyncio.wait_for(exchange(), HTTP_TIMEOUT_SECONDS)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return HttpReply(status, headers, body)


async def wait_for(predicate: Callable[[], Awaitable[bool]], *, timeout: float = 5.0) -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` seconds (no fixed sleeps)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)


@pytest.fixture
def get() -> Callable[..., Awaitable[HttpReply]]:
    return http_get


@pytest.fixture
def until() -> Callable[..., Awaitable[None]]:
    return wait_for


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """Every clusterdns log line, formatted exactly as printed."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(CoreDNSFormatter())
    logger = logging.getLogger("clusterdns")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def controller_for(text: str, directive: str) -> Controller:
    """A Controller for ``directive`` in the first block of Corefile ``text`` (for parse tests)."""
    block = parse(text, "Corefile", known_directives=registry.names())[0]
    return Controller(
        directive=directive,
        dispenser=Dispenser(block.tokens(directive), file="Corefile"),
        config=BlockConfig(index=0, zones=[]),
        instance=None,  # type: ignore[arg-type]  # parse() never looks at the instance
    )


@pytest.fixture
def controller() -> Callable[[str, str], Controller]:
    return controller_for
