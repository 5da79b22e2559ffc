"""Shared by the cache tests: a hand-driven clock, a scripted backend, the cache behind a real Mux.

The cache under test is built from a Corefile stanza (the real parser), given the test's clock,
and put in front of ``Backend``, a handler that answers what the test scripted (or blocks until
the test lets it go). Queries go through a real ``Mux`` and ``ReplyWriter`` without sockets and
are read back with dnspython, which shares no code with the server's dnslib.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import dns.flags
import dns.message
import dns.rdatatype
from dnslib import RR, DNSRecord

from clusterdns import wire
from clusterdns.corefile.address import ZoneAddress
from clusterdns.metrics import REGISTRY
from clusterdns.plugin import Handler, ResponseWriter
from clusterdns.plugins.cache.cache import Cache
from clusterdns.plugins.cache.options import CacheOptions
from clusterdns.request import Request
from clusterdns.server.config import BlockConfig, ListenAddress
from clusterdns.server.instance import CorefileSource, Instance
from clusterdns.server.mux import Mux
from clusterdns.server.runtime import Runtime

WAIT_SECONDS = 3.0
SERVER = "dns://:53"


def build(corefile: str) -> Instance:
    """Parse and set up a Corefile without opening sockets."""
    runtime = Runtime(lambda: CorefileSource(corefile, "Corefile"), default_port="0")
    return runtime.build()


def options(stanza: str, keys: str = ".") -> CacheOptions:
    """The options of ``keys { stanza }`` as the real setup parses them."""
    handler = build(f"{keys} {{\n{stanza}\n}}\n").blocks[0].handlers["cache"]
    assert isinstance(handler, Cache)
    return handler.options


class Clock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


def records(*lines: str) -> list[RR]:
    return [rr for line in lines for rr in RR.fromZone(line)]


Reply = Callable[[Request], DNSRecord | int]


def answer(*lines: str, rcode: int = wire.NOERROR, ns: tuple[str, ...] = (), extra: tuple[str, ...] = (),
           aa: bool = False, ra: bool = True, ad: bool = False, tc: bool = False) -> Reply:  # fmt: skip
    """A reply script: the records given (``{q}`` stands for the asked name, in its case)."""

    def build_reply(req: Request) -> DNSRecord:
        msg = req.reply(rcode, authoritative=aa)
        msg.header.ra = int(ra)
        msg.header.ad = int(ad)
        msg.header.tc = int(tc)
        q = req.qname
        msg.rr = records(*(line.format(q=q) for line in lines))
        msg.auth = records(*(line.format(q=q) for line in ns))
        msg.ar = records(*(line.format(q=q) for line in extra))
        return msg

    return build_reply


def numbered(ttl: int = 10) -> Reply:
    """A reply script whose address counts the backend's answers: 192.0.2.1, .2, ..."""
    count = itertools.count(1)

    def build_reply(req: Request) -> DNSRecord:
        return answer(f"{{q}} {ttl} IN A 192.0.2.{next(count)}")(req)

    return build_reply


def addresses(msg: dns.message.Message) -> list[str]:
    return [rr.address for rrset in msg.answer for rr in rrset if hasattr(rr, "address")]


SOA = "example.org. {ttl} IN SOA ns.example.org. hostmaster.example.org. 1 7200 1800 86400 {minimum}"


def soa(ttl: int = 60, minimum: int = 30) -> str:
    return SOA.format(ttl=ttl, minimum=minimum)


class Backend(Handler):
    """The rest of the chain: answers from ``script`` (a reply, or an rcode left unwritten).

    With ``hold()`` in effect every query waits at the gate until ``release()``; ``asked``
    lists the requests seen, ``arrived`` is set at each one.
    """

    name = "backend"

    def __init__(self, script: Reply) -> None:
        super().__init__(None)
        self.script = script
        self.asked: list[Request] = []
        self.arrived = asyncio.Event()
        self._gate: asyncio.Event | None = None

    def hold(self) -> None:
        self._gate = asyncio.Event()

    def release(self) -> None:
        if self._gate is not None:
            self._gate.set()
        self._gate = None

    async def serve_dns(self, req: Request, w: ResponseWriter) -> int:
        self.asked.append(req)
        self.arrived.set()
        gate = self._gate
        if gate is not None:
            await gate.wait()
        result = self.script(req)
        if isinstance(result, int):
            return result
        w.write_msg(result)
        return result.header.rcode

    async def wait_asked(self, count: int) -> None:
        """Wait (bounded) until ``count`` queries reached the backend."""

        async def reach() -> None:
            while len(self.asked) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(reach(), WAIT_SECONDS)


@dataclass
class Harness:
    """A cache in front of a backend, behind a Mux for zone ``.``."""

    cache: Cache
    backend: Backend
    clock: Clock
    mux: Mux

    async def ask(
        self,
        qname: str,
        qtype: str = "A",
        *,
        do: bool = False,
        cd: bool = False,
        ad: bool = False,
        proto: str = "tcp",
        use_edns: bool = False,
        qid: int | None = None,
    ) -> dns.message.Message:
        query = dns.message.make_query(
            qname, qtype, use_edns=0 if (use_edns or do) else False, want_dnssec=do, id=qid
        )
        query.flags &= ~dns.flags.AD  # dnspython sets AD by default; the tests choose
        if cd:
            query.flags |= dns.flags.CD
        if ad:
            query.flags |= dns.flags.AD
        sent: list[bytes] = []
        await self.mux.serve(query.to_wire(), proto, ("10.0.0.9", 40000), ("10.0.0.1", 53), sent.append)
        assert len(sent) == 1, sent
        return dns.message.from_wire(sent[0])


def harness(stanza: str = "cache", script: Reply | None = None, *, choice=None) -> Harness:  # type: ignore[no-untyped-def]
    """``stanza`` parsed for a ``.`` block; the cache gets a ``Clock`` and a ``Backend``."""
    clock = Clock()
    backend = Backend(script or answer("{q} 300 IN A 192.0.2.1"))
    extra = {} if choice is None else {"choice": choice}
    cache = Cache(backend, options=options(stanza), now=clock, **extra)
    config = BlockConfig(index=0, zones=[ZoneAddress("dns", ".", "53")])
    config.chain = cache
    config.handlers = {"cache": cache, "backend": backend}
    mux = Mux(ListenAddress("dns", "", 53), {".": config})
    return Harness(cache, backend, clock, mux)


def ttls(msg: dns.message.Message) -> list[int]:
    """Every record's TTL, all sections in order, OPT excluded."""
    sections = msg.answer + msg.authority + msg.additional
    return [rrset.ttl for rrset in sections if rrset.rdtype != dns.rdatatype.OPT for _ in rrset]


def metric(name: str, **labels: str) -> float:
    """The current value of a cache series (0 when it does not exist yet)."""
    labels.setdefault("server", SERVER)
    labels.setdefault("zones", ".")
    labels.setdefault("view", "")
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value



