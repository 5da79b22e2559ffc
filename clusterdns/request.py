"""Request: one query as plugins see it, with everything derived from it computed once.

This is CoreDNS's ``request.Request``: the lower-cased name, type, class, transport, client
address, the client's buffer size and DO bit. Plugins never re-parse the packet or the
addresses; they read these attributes. A full dnslib decode of the query is made only when a
plugin asks for ``msg`` (forward does; most plugins never need it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dnslib import DNSHeader, DNSQuestion, DNSRecord

from . import wire
from .wire import Query


@dataclass(slots=True)
class Outcome:
    """What was written to the client for this request (read by log, metrics, errors)."""

    rcode: int
    flags: int
    size: int  # length as written by the plugin (CoreDNS's recorder ``Len``)
    plugin: str = ""  # the plugin that wrote it; empty when the server did


@dataclass(slots=True, eq=False)
class Request:
    """One query and where it came from; built once per query by the server."""

    query: Query
    proto: str  # "udp" or "tcp"
    remote_ip: str
    remote_port: int
    local_ip: str
    local_port: int
    server: str = ""  # the listener's name for metrics, e.g. "dns://:53"
    zone: str = ""  # the server block key that matched, e.g. "cluster.local."
    name: str = field(init=False)  # lower-cased fully qualified qname
    outcome: Outcome | None = field(default=None, init=False)
    handler: str = field(default="", init=False)  # the plugin now serving (metrics' label)
    #: the listener's mux, for lookups that re-enter the server (ExternalName targets)
    mux: Any = field(default=None, init=False)
    depth: int = field(default=0, init=False)  # how many re-entries led to this request
    metadata: dict[str, Any] = field(default_factory=dict, init=False)
    #: set by the server when this reply may be kept for replay (server/replay.py): the
    #: cache says until when, loadbalance may veto, prometheus adds its metric updates
    replay: Any = field(default=None, init=False)
    _msg: DNSRecord | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.name = self.query.qname.lower()

    # --- the question -------------------------------------------------------------------
    @property
    def qname(self) -> str:
        """The qname as the client wrote it (case kept), fully qualified."""
        return self.query.qname

    @property
    def qtype(self) -> int:
        return self.query.qtype

    @property
    def qclass(self) -> int:
        return self.query.qclass

    @property
    def id(self) -> int:
        return self.query.id

    @property
    def type_name(self) -> str:
        return wire.qtype_name(self.query.qtype)

    # --- transport and EDNS -------------------------------------------------------------
    @property
    def family(self) -> int:
        """1 for IPv4, 2 for IPv6 (CoreDNS's metric label values)."""
        return 2 if ":" in self.remote_ip else 1

    @property
    def do(self) -> bool:
        edns = self.query.edns
        return edns is not None and edns.do

    @property
    def size(self) -> int:
        """The client's buffer: 65535 over TCP, else the EDNS size (at least 512) or 512."""
        if self.proto == "tcp":
            return wire.MAX_MSG_SIZE
        edns = self.query.edns
        if edns is None or edns.udp_size < wire.MIN_UDP_SIZE:
            return wire.MIN_UDP_SIZE
        return edns.udp_size

    @property
    def request_size(self) -> int:
        return len(self.query.data)

    # --- full message and replies -------------------------------------------------------
    @property
    def msg(self) -> DNSRecord:
        """The whole query decoded by dnslib (lazily; most plugins never need it)."""
        if self._msg is None:
            self._msg = wire.parse_message(bytes(self.query.data))
        return self._msg

    def reply(self, rcode: int = wire.NOERROR, *, authoritative: bool = False) -> DNSRecord:
        """An empty reply to this query: ID, opcode, RD and CD copied, question echoed."""
        query = self.query
        opcode_bits = query.flags & 0x7800
        bitmap = wire.FLAG_QR | opcode_bits | (rcode & 0xF)
        if not opcode_bits:  # QUERY
            bitmap |= query.flags & (wire.FLAG_RD | wire.FLAG_CD)
        if authoritative:
            bitmap |= wire.FLAG_AA
        header = DNSHeader(id=query.id, bitmap=bitmap)  # one int, not dnslib's bit setters
        question = DNSQuestion(wire.question_label(query.qname_labels), query.qtype, query.qclass)
        return DNSRecord(header, [question])

    def derive(self, query: Query) -> Request:
        """A request for another query from the same client (autopath, internal lookups)."""
        derived = Request(
            query,
            self.proto,
            self.remote_ip,
            self.remote_port,
            self.local_ip,
            self.local_port,
            server=self.server,
            zone=self.zone,
        )
        derived.mux = self.mux
        derived.depth = self.depth
        return derived
