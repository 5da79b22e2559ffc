"""The zone multiplexer of one listener: DNS policy between the socket and the plugin chains.

Transports hand it raw bytes; it decides everything CoreDNS's ``Server.ServeDNS`` decides
(coredns-features.md 3.1): which malformed packets are dropped or answered FORMERR/NOTIMP,
REFUSED for a class other than IN, BADVERS for EDNS version above 0, the most specific zone
among the blocks on this listener, REFUSED when none matches, SERVFAIL when a chain fails or
raises. The reply leaves through ``ReplyWriter``, which shapes it like CoreDNS's ScrubWriter.
"""

from __future__ import annotations

import random
import struct
import time
import traceback
from collections.abc import Callable
from typing import Final

from dnslib import EDNS0, DNSRecord

from .. import metrics, wire
from ..errors import PluginError
from ..log import core_logger
from ..plugin import NonWriter, client_wrote
from ..request import Outcome, Request
from .config import BlockConfig, ListenAddress
from .replay import ReplayNote, ReplayTable

Send = Callable[[bytes], None]
#: How deep lookups may re-enter the server (CNAME chains through ExternalName services).
MAX_LOOKUP_DEPTH: Final = 8
_HEADER = struct.Struct("!6H")
log = core_logger()


class ReplyWriter:
    """The last writer of every chain: shapes the reply for the client and sends it."""

    __slots__ = ("req", "send", "written", "replayable_reply", "compressed")

    def __init__(self, req: Request, send: Send) -> None:
        self.req = req
        self.send = send
        self.written = False
        self.replayable_reply: bytes | None = None  # the reply sent, for replay.py
        self.compressed = False

    def write_msg(self, msg: DNSRecord) -> None:
        if self.written:  # a reply per query: a second write is a plugin bug, not a packet
            log.warning("plugin/%s: second reply for %s dropped", self.req.handler, self.req.name)
            return
        req = self.req
        packed = wire.pack_reply(
            msg,
            query_edns=req.query.edns,
            limit=req.size,
            udp=req.proto == "udp",
            ipv6=req.family == 2,
        )
        self.written = True
        req.outcome = Outcome(
            rcode=msg.header.rcode,
            flags=wire.header_flags(msg) | (wire.FLAG_TC if packed.truncated else 0),
            size=packed.written_size,
            plugin=req.handler,
        )
        self.replayable_reply = packed.wire
        self.compressed = packed.compressed
        self.send(packed.wire)

    def write_packed(self, reply: wire.Prepacked) -> None:
        """The fast path: the records are packed already; only the header, question and OPT
        are made for this client. Replies that need shaping take the slow path."""
        req = self.req
        if self.written:
            self.write_msg(reply.to_msg())  # logs the second write
            return
        packed = reply.finish(limit=req.size, udp=req.proto == "udp", ipv6=req.family == 2)
        if packed is None:
            self.write_msg(reply.to_msg())
            return
        self.written = True
        req.outcome = Outcome(
            rcode=reply.rcode, flags=reply.header_flags(), size=packed.written_size, plugin=req.handler
        )
        self.replayable_reply = packed.wire
        self.send(packed.wire)


def _unmap(host: str) -> str:
    """An IPv4 address seen on a dual-stack socket, written as IPv4 (as Go reports it)."""
    if host.startswith("::ffff:") and "." in host:
        return host[7:]
    return host


def _family(host: str) -> int:
    """``Request.family`` of a client at ``host``."""
    return 2 if ":" in _unmap(host) else 1


def _badvers_reply(query: wire.Query) -> bytes:
    """CoreDNS ``edns.Version``: question echoed, an OPT of version 0 with extended rcode BADVERS."""
    flags = wire.FLAG_QR | (query.flags & 0x7800)
    if query.opcode == wire.OPCODE_QUERY:
        flags |= query.flags & (wire.FLAG_RD | wire.FLAG_CD)
    opt = wire.opt_record(0, (wire.BADVERS >> 4) << 24, b"")
    question = wire.question_wire(query.qname_labels, query.qtype, query.qclass)
    return _HEADER.pack(query.id, flags | (wire.BADVERS & 0xF), 1, 0, 0, 1) + question + opt


class Mux:
    """Dispatches the queries arriving on one listener to the chain of the best zone."""

    def __init__(
        self,
        address: ListenAddress,
        zones: dict[str, BlockConfig],
        *,
        accept_any_class: bool = False,
    ) -> None:
        self.address = address
        self.server = str(address)
        self.zones = zones
        self.accept_any_class = accept_any_class
        #: kept replies per (transport, address family), see replay.py
        self.replays: dict[tuple[str, int], ReplayTable] = {
            (proto, family): ReplayTable() for proto in ("udp", "tcp") for family in (1, 2)
        }

    def replay(self, data: bytes, proto: str, remote: tuple) -> bytes | None:
        """A kept reply for these exact query bytes from this kind of client, if any."""
        return self.replays[proto, _family(remote[0])].answer(data)

    def forget_replies(self) -> None:
        """Drop every kept reply (the data behind them changed)."""
        for table in self.replays.values():
            table.clear()

    def match(self, name: str) -> tuple[str, BlockConfig] | None:
        """The most specific zone containing ``name`` (lower-cased FQDN), and its block."""
        zones = self.zones
        offset = 0
        while True:
            suffix = name[offset:] if offset else name
            config = zones.get(suffix)
            if config is not None:
                return suffix, config
            dot = name.find(".", offset)
            if dot < 0 or dot + 1 >= len(name):
                break
            offset = dot + 1
        config = zones.get(".")
        return (".", config) if config is not None else None

    async def serve(self, data: bytes, proto: str, remote: tuple, local: tuple, send: Send) -> None:
        """Answer one packet; never raises."""
        parsed = wire.parse_query(data)
        if isinstance(parsed, wire.Rejected):
            reply = wire.rejection_reply(parsed)
            if reply is not None:
                send(reply)
            return
        started = time.perf_counter()
        req = Request(
            parsed, proto, _unmap(remote[0]), remote[1], _unmap(local[0]), local[1],
            server=self.server,
        )
        req.mux = self
        writer = ReplyWriter(req, send)
        if parsed.qclass != wire.CLASS_IN and not self.accept_any_class:
            self._error(req, writer, wire.REFUSED, started, dropped=True)
            return
        if parsed.edns is not None and parsed.edns.version != 0:
            send(_badvers_reply(parsed))
            return
        found = self.match(req.name)
        if found is None or found[1].chain is None:
            self._error(req, writer, wire.REFUSED, started, dropped=True)
            return
        req.zone, config = found
        chain = config.chain
        assert chain is not None
        req.handler = chain.name
        if config.replay_producers:
            req.replay = ReplayNote(config.replay_producers)
        try:
            rcode = await chain.serve_dns(req, writer)
        except PluginError as exc:
            rcode = exc.rcode
        except Exception as exc:  # a bug in a plugin: recover, as CoreDNS recovers panics
            if config.stacktrace:
                log.error(
                    'Recovered from panic in server: "%s" %s\n%s',
                    self.server, exc, traceback.format_exc(),
                )
            else:
                log.error('Recovered from panic in server: "%s" %s', self.server, exc)
                log.debug("%s", traceback.format_exc())
            metrics.PANICS.inc()
            if not writer.written:
                self._error(req, writer, wire.SERVFAIL, started, dropped=True)
            return
        if not client_wrote(rcode) and not writer.written:
            req.handler = ""
            writer.write_msg(req.reply(rcode))
            return
        note = req.replay
        if note is not None and note.keep and not note.vetoed and writer.replayable_reply is not None:
            self.replays[proto, req.family].keep(
                data, writer.replayable_reply, note, compressed=writer.compressed
            )

    def _error(
        self, req: Request, writer: ReplyWriter, rcode: int, started: float, *, dropped: bool
    ) -> None:
        """Write a minimal reply with ``rcode`` (CoreDNS ``errorAndMetricsFunc``)."""
        writer.write_msg(req.reply(rcode))
        if dropped:
            outcome = req.outcome
            metrics.report(
                server=self.server,
                zone=metrics.DROPPED_ZONE,
                proto=req.proto,
                family=req.family,
                type_name=req.type_name,
                do=req.do,
                request_size=req.request_size,
                rcode=wire.rcode_name(rcode),
                plugin="",
                response_size=outcome.size if outcome else 0,
                started=started,
            )

    async def lookup(self, req: Request, name: str, qtype: int) -> DNSRecord | None:
        """Resolve ``name``/``qtype`` through this listener, as CoreDNS's ``upstream.Lookup``.

        The sub-query enters like a client query from the same client (zone dispatch, the
        whole chain of the matching block) and its reply is returned instead of sent; None
        when no chain wrote one. Re-entry is bounded so an ExternalName pointing at itself
        ends instead of recursing.
        """
        if req.depth >= MAX_LOOKUP_DEPTH:
            return None
        edns = req.query.edns
        query = DNSRecord.question(name, wire.qtype_name(qtype))
        query.header.id = random.getrandbits(16)
        if edns is not None:
            query.add_ar(EDNS0(udp_len=edns.udp_size, flags="do" if edns.do else ""))
        parsed = wire.parse_query(bytes(query.pack()))
        if isinstance(parsed, wire.Rejected):
            return None
        sub = req.derive(parsed)
        sub.depth = req.depth + 1
        found = self.match(sub.name)
        if found is None or found[1].chain is None:
            return None
        sub.zone, config = found
        capture = NonWriter(ReplyWriter(sub, lambda _: None))
        try:
            await config.chain.serve_dns(sub, capture)
        except PluginError:
            return None
        return capture.msg
