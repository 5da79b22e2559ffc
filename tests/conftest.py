"""Fixtures shared by the tests: a loopback HTTP client, polling with a deadline, captured log
lines in CoreDNS format (as a list, or as ``LogLines`` that can wait for a line), and a
Controller for parse tests."""

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
from clusterdns.server.config import BlockConfig
from clusterdns.testing import LogLines

HTTP_TIMEOUT_SECONDS = 3.0


@dataclass
class HttpReply:
    status: int
    headers: dict[str, str]
    body: bytes


async def http_get(port: int, path: str, *, host: str = "127.0.0.1") -> HttpReply:
    """One GET over a fresh loopback connection; raises ConnectionError when nothing listens,
    or when the server closes the connection without a reply (it is shutting down)."""

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
    if not raw:
        raise ConnectionError(f"{host}:{port} closed the connection without a reply")
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


@contextlib.contextmanager
def _captured() -> Iterator[LogLines]:
    """Attach a ``LogLines`` to the ``clusterdns`` logger at INFO (as without *debug*)."""
    handler = LogLines()
    logger = logging.getLogger("clusterdns")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """Every clusterdns log line, formatted exactly as printed."""
    with _captured() as handler:
        yield handler.lines


@pytest.fixture
def lines() -> Iterator[LogLines]:
    """The server's log lines at INFO and above, with ``wait_for`` a line still to come."""
    with _captured() as handler:
        yield handler


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
