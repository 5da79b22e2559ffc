"""The small HTTP servers behind ``/health``, ``/ready`` and ``/metrics``.

These endpoints answer probes and scrapes, a few requests a second, so a minimal HTTP/1.1
server on asyncio streams is enough and keeps a web framework out of the image. The servers are
process-wide and keyed by address: plugins *mount* a path on an address for their instance, and
a reload mounts the new instance's paths on the same listening socket before the old instance
unmounts, so probes never see a refused connection during a reload (CoreDNS closes and reopens
these listeners instead). A server whose last path is unmounted is closed.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from .errors import ConfigError
from .log import core_logger

if TYPE_CHECKING:
    from .controller import Controller

Response = tuple[int, bytes, str]  # status, body, content type
Route = Callable[[], Awaitable[Response]]

_REASONS: Final = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
_REQUEST_TIMEOUT_SECONDS: Final = 5.0  # CoreDNS's metrics server read/write timeouts
_MAX_HEADER_BYTES: Final = 16384
log = core_logger()


def split_host_port(address: str) -> tuple[str, str]:
    """Go's ``net.SplitHostPort``; ValueError carries Go's ``address X: why`` message."""

    def fail(why: str) -> ValueError:
        return ValueError(f"address {address}: {why}")

    colon = address.rfind(":")
    if colon < 0:
        raise fail("missing port in address")
    start, end_bracket = 0, 0
    if address.startswith("["):
        end = address.find("]")
        if end < 0:
            raise fail("missing ']' in address")
        if end + 1 == len(address):
            raise fail("missing port in address")
        if end + 1 != colon:
            if address[end + 1] == ":":
                raise fail("too many colons in address")
            raise fail("missing port in address")
        host = address[1:end]
        start, end_bracket = 1, end + 1
    else:
        host = address[:colon]
        if ":" in host:
            raise fail("too many colons in address")
    if "[" in address[start:]:
        raise fail("unexpected '[' in address")
    if "]" in address[end_bracket:]:
        raise fail("unexpected ']' in address")
    return host, address[colon + 1 :]


def address_argument(c: Controller, default: str) -> str:
    """The optional ``ADDRESS`` of ``health``, ``ready`` and ``prometheus`` on the current line.

    Without an argument it is ``default``; with one it must pass Go's ``net.SplitHostPort``
    (the port itself is only checked when listening), or the plugin fails with Go's message
    (``plugin/<name>: address X: missing port in address``); more than one is an argument
    count error. As CoreDNS's ``switch len(c.RemainingArgs())`` in each of those plugins.
    """
    d = c.dispenser
    args = d.remaining_args()
    if not args:
        return default
    if len(args) > 1:
        raise d.arg_err()
    try:
        split_host_port(args[0])
    except ValueError as exc:
        raise c.error(str(exc)) from None
    return args[0]


def split_address(address: str) -> tuple[str, int]:
    """``:8080`` -> ('', 8080); ``localhost:9153``; ``[::1]:8181``; ``:http`` by service name."""
    try:
        host, port = split_host_port(address)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if port.isdigit():
        return host, int(port)
    try:
        return host, socket.getservbyname(port, "tcp")
    except OSError:
        raise ConfigError(f"address {address}: unknown port") from None


@dataclass(eq=False)
class _Mount:
    path: str
    route: Route
    owner: object


class _Server:
    def __init__(self, address: str) -> None:
        self.address = address
        self.mounts: list[_Mount] = []
        self.server: asyncio.Server | None = None

    def route(self, path: str) -> Route | None:
        for mount in reversed(self.mounts):  # the newest instance's route wins
            if mount.path == path:
                return mount.route
        return None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        host, port = split_address(self.address)
        hosts: str | None = host or None
        self.server = await asyncio.start_server(
            self._handle, host=hosts, port=port, reuse_address=True, family=socket.AF_UNSPEC
        )

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _REQUEST_TIMEOUT_SECONDS)
            if len(head) > _MAX_HEADER_BYTES:
                return
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = request_line.split(" ")
            path = parts[1].split("?", 1)[0] if len(parts) >= 2 else "/"
            route = self.route(path)
            if route is None:
                status, body, ctype = 404, b"404 page not found\n", "text/plain; charset=utf-8"
            else:
                status, body, ctype = await route()
            head_out = (
                f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\n"
                f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head_out.encode("latin-1") + body)
            await asyncio.wait_for(writer.drain(), _REQUEST_TIMEOUT_SECONDS)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()


class HttpServers:
    """Every HTTP listener of the process, shared by address across plugins and reloads.

    Disabled in the extra processes of ``-workers N``: only the first one serves HTTP.
    """

    def __init__(self, *, enabled: bool = True) -> None:
        self.servers: dict[str, _Server] = {}
        self.enabled = enabled

    async def mount(self, address: str, path: str, route: Route, owner: object) -> None:
        """Serve ``path`` on ``address`` for ``owner``, starting the server if needed."""
        if not self.enabled:
            return
        server = self.servers.get(address)
        if server is None:
            server = _Server(address)
            await server.start()
            self.servers[address] = server
        server.mounts.append(_Mount(path, route, owner))

    async def unmount(self, owner: object) -> None:
        """Drop every path ``owner`` mounted; close servers left with none."""
        for address, server in list(self.servers.items()):
            server.mounts = [m for m in server.mounts if m.owner is not owner]
            if not server.mounts:
                del self.servers[address]
                await server.close()

    def port(self, address: str) -> int:
        """The bound port of the server on ``address`` (useful with port 0)."""
        return self.servers[address].port

    async def close_all(self) -> None:
        for server in list(self.servers.values()):
            await server.close()
        self.servers.clear()
