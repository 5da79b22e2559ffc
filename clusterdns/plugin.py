"""The contract between the server and every plugin (CoreDNS ``plugin/plugin.go``).

A plugin is a ``Handler`` in a chain. ``serve_dns(req, w)`` either writes a reply through
``w`` and returns its rcode, or calls onward with ``next_or_failure``. CoreDNS's rcode
protocol is kept: returning SERVFAIL, REFUSED, FORMERR or NOTIMP means "I wrote nothing,
server, answer with this rcode"; any other rcode means "I wrote the answer". Where Go returns
an error beside the rcode, a plugin here raises ``PluginError``; the *errors* plugin logs it
and the server answers SERVFAIL. Any other exception is a bug: the server recovers, answers
SERVFAIL and counts it in ``coredns_panics_total``.

Plugins import this module and the rest of the core, never each other. They cooperate through
the small capability protocols at the end of this file, discovered at startup by looking at
the handlers of a server block (as CoreDNS's *ready* and *autopath* find *kubernetes*).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar, Protocol, runtime_checkable

from dnslib import DNSRecord

from . import wire
from .errors import PluginError
from .request import Request

#: Rcodes that mean "nothing was written; the server must answer" (CoreDNS ClientWrite).
SERVER_WRITES = frozenset({wire.SERVFAIL, wire.REFUSED, wire.FORMERR, wire.NOTIMP})


def client_wrote(rcode: int) -> bool:
    """True when a handler returning ``rcode`` has written the reply itself."""
    return rcode not in SERVER_WRITES


class ResponseWriter(Protocol):
    """Where a handler writes its reply; wrappers intercept ``write_msg``.

    ``write_packed`` takes a reply whose records are already in wire form (a cache hit); it
    must have the same effect as ``write_msg(reply.to_msg())``, only cheaper.
    """

    @property
    def written(self) -> bool: ...

    def write_msg(self, msg: DNSRecord) -> None: ...

    def write_packed(self, reply: wire.Prepacked) -> None: ...


class WriterWrapper:
    """Forwards everything to the wrapped writer; subclasses override ``write_msg``.

    A subclass that overrides only ``write_msg`` sees prepacked replies decoded into a
    message, so it stays correct without knowing the fast path; one that can work on packed
    records (or does not look at the reply) overrides ``write_packed`` too.
    """

    __slots__ = ("inner",)

    def __init__(self, inner: ResponseWriter) -> None:
        self.inner = inner

    @property
    def written(self) -> bool:
        return self.inner.written

    def write_msg(self, msg: DNSRecord) -> None:
        self.inner.write_msg(msg)

    def write_packed(self, reply: wire.Prepacked) -> None:
        if type(self).write_msg is WriterWrapper.write_msg:
            self.inner.write_packed(reply)
        else:
            self.write_msg(reply.to_msg())


class NonWriter(WriterWrapper):
    """Keeps the message instead of sending it (CoreDNS ``nonwriter``), for sub-queries."""

    __slots__ = ("msg",)

    def __init__(self, inner: ResponseWriter) -> None:
        super().__init__(inner)
        self.msg: DNSRecord | None = None

    @property
    def written(self) -> bool:
        return self.msg is not None

    def write_msg(self, msg: DNSRecord) -> None:
        self.msg = msg

    def write_packed(self, reply: wire.Prepacked) -> None:
        self.msg = reply.to_msg()


class Handler:
    """A link in a server block's plugin chain.

    Subclasses set ``name`` (the directive) and implement ``serve_dns``. ``next`` is the rest of
    the chain, or None for the last handler.
    """

    name: ClassVar[str] = ""

    def __init__(self, next: Handler | None) -> None:
        self.next = next

    async def serve_dns(self, req: Request, w: ResponseWriter) -> int:
        raise NotImplementedError

    async def serve_next(self, req: Request, w: ResponseWriter) -> int:
        """Call the next handler, or fail as CoreDNS's ``NextOrFailure`` does."""
        return await next_or_failure(self.name, self.next, req, w)


#: What a plugin's ``setup`` registers: given the rest of the chain, return this link.
PluginFactory = Callable[[Handler | None], Handler]


async def next_or_failure(name: str, next: Handler | None, req: Request, w: ResponseWriter) -> int:
    """Run ``next``; with no next handler, fail with ``plugin/<name>: no next plugin found``."""
    if next is None:
        raise PluginError(name, "no next plugin found")
    req.handler = next.name
    return await next.serve_dns(req, w)


# --- capabilities: small protocols a plugin may implement for others to find ---------------


@runtime_checkable
class Readiness(Protocol):
    """Implemented by plugins that are not ready at once (kubernetes until synced)."""

    name: ClassVar[str]

    def ready(self) -> bool: ...


@runtime_checkable
class DataChangeNotifier(Protocol):
    """Implemented by plugins whose answers follow data that changes (kubernetes).

    ``zones`` are the zones whose answers depend on that data; ``on_change(callback)`` asks to
    be called (on the event loop) after every change, so a cache in front can drop answers
    under those zones at once instead of serving them until their TTL runs out.
    """

    name: ClassVar[str]
    zones: Sequence[str]

    def on_change(self, callback: Callable[[], None]) -> None: ...


@runtime_checkable
class AutoPather(Protocol):
    """Implemented by plugins that know a client's search path (kubernetes, for *autopath*).

    ``auto_path(req)`` returns the search domains the client's resolver would walk (fully
    qualified, the last one ``""`` for the bare name), or None when it cannot tell, in which
    case *autopath* does nothing (CoreDNS ``AutoPathFunc``).
    """

    name: ClassVar[str]

    def auto_path(self, req: Request) -> list[str] | None: ...


#: Request metadata key *autopath* sets when its ``infer_namespace`` mode asks an AutoPather
#: to derive a search path from the query name itself (the client being unknown).
AUTOPATH_INFER_NAMESPACE = "autopath/infer-namespace"


__all__ = [
    "AUTOPATH_INFER_NAMESPACE",
    "AutoPather",
    "DataChangeNotifier",
    "Handler",
    "NonWriter",
    "PluginError",
    "PluginFactory",
    "Readiness",
    "ResponseWriter",
    "SERVER_WRITES",
    "WriterWrapper",
    "client_wrote",
    "next_or_failure",
]
