"""DNS wire format on the per-query path: hand-parsed queries, packing and truncation.

Why not decode every query with dnslib: a full decode costs more than everything else a cached
answer needs, and most plugins only ever look at the header and the question. So a query is
parsed here by hand (header, question, the OPT record) with the acceptance rules of the DNS
library CoreDNS uses (miekg/dns ``acceptfunc.go`` and ``Msg.unpack``); a full dnslib decode is
done lazily, only for a plugin that asks for it.

Replies are dnslib ``DNSRecord`` objects built by plugins and packed here, the way CoreDNS's
``ScrubWriter`` shapes them (``request/request.go`` ``SizeAndDo`` and ``Scrub``, miekg/dns
``Msg.Truncate``): uncompressed when the reply fits, compressed when that makes it fit, and
otherwise cut record by record with TC set; the OPT record is added last and always kept.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

from dnslib import EDNS0, RR, DNSBuffer, DNSError, DNSLabel, DNSLabelError, DNSRecord

HEADER_SIZE: Final = 12
MIN_UDP_SIZE: Final = 512
MAX_MSG_SIZE: Final = 65535
MAX_NAME_WIRE_LENGTH: Final = 255
MAX_LABEL_LENGTH: Final = 63
MAX_POINTER_HOPS: Final = 126  # miekg/dns maxCompressionPointers
MAX_POINTER_OFFSET: Final = 0x4000  # a pointer has 14 bits: names from here on cannot be targets

# Header flag bits of the 16-bit flags word.
FLAG_QR: Final = 0x8000
FLAG_AA: Final = 0x0400
FLAG_TC: Final = 0x0200
FLAG_RD: Final = 0x0100
FLAG_RA: Final = 0x0080
FLAG_Z: Final = 0x0040
FLAG_AD: Final = 0x0020
FLAG_CD: Final = 0x0010

OPCODE_QUERY: Final = 0
OPCODE_NOTIFY: Final = 4

TYPE_OPT: Final = 41
CLASS_IN: Final = 1

# Rcodes used by the core (RFC 1035, RFC 6891).
NOERROR: Final = 0
FORMERR: Final = 1
SERVFAIL: Final = 2
NXDOMAIN: Final = 3
NOTIMP: Final = 4
REFUSED: Final = 5
BADVERS: Final = 16

RCODE_NAMES: Final = {
    0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
    6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE", 16: "BADSIG",
    17: "BADKEY", 18: "BADTIME", 19: "BADMODE", 20: "BADNAME", 21: "BADALG", 22: "BADTRUNC",
    23: "BADCOOKIE",
}



def rcode_name(rcode: int) -> str:
    """``NOERROR``..., or ``RCODE<n>`` for codes without a name (CoreDNS ``rcode.ToString``)."""
    return RCODE_NAMES.get(rcode) or f"RCODE{rcode}"


# EDNS options CoreDNS echoes when it reuses the query's OPT (request/edns0.go).
ECHOED_EDNS_OPTIONS: Final = frozenset({3, 9, 10, 11, 12})  # NSID EXPIRE COOKIE KEEPALIVE PADDING
EDNS_PADDING: Final = 12
MAX_UDP_PAYLOAD_IPV4: Final = 65507  # 65535 - 20 (IPv4 header) - 8 (UDP header)
MAX_UDP_PAYLOAD_IPV6: Final = 65527  # 65535 - 8 (UDP header); no jumbograms

_HEADER = struct.Struct("!6H")
_U16 = struct.Struct("!H")
_RR_FIXED = struct.Struct("!HHIH")  # type, class, ttl, rdlength
_OPT_FIXED = struct.Struct("!BHHIH")  # root name, type, class, ttl, rdlength

# Label bytes that miekg/dns writes with a backslash in presentation format.
_ESCAPED_WITH_BACKSLASH: Final = frozenset(b".'@;()\"\\ ")
#: Bytes a label shows as themselves (printable ASCII that miekg/dns does not escape).
_PLAIN: Final = bytes(b for b in range(0x21, 0x7F) if b not in _ESCAPED_WITH_BACKSLASH)


class Malformed(enum.Enum):
    """Why a datagram is not a query we can serve, and so which answer it gets."""

    DROP = "drop"  # no reply at all: too short, or a response (QR=1)
    NOTIMP = "notimp"  # opcode other than QUERY/NOTIFY: header-only NOTIMP
    FORMERR_HEADER = "formerr-header"  # counts out of range: header-only FORMERR
    FORMERR = "formerr"  # a section does not parse: FORMERR, question echoed if it parsed
    NO_QUESTION = "no-question"  # header only, nothing after it: SERVFAIL without question


@dataclass(frozen=True, slots=True)
class Edns:
    """The query's OPT record, as far as the server needs it."""

    udp_size: int
    version: int
    do: bool
    flags_ttl: int  # the OPT TTL field: ext-rcode, version, DO, Z
    options: bytes  # raw RDATA (option TLVs)


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: header fields, the single question and the OPT record."""

    data: bytes
    id: int
    flags: int
    qname: str  # presentation form, original case, fully qualified
    qname_labels: tuple[bytes, ...]  # wire labels, original case
    qtype: int
    qclass: int
    question_end: int  # offset just after the question (0 if it did not parse)
    edns: Edns | None

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF


@dataclass(frozen=True, slots=True)
class Rejected:
    """A datagram that cannot be served, with what is known of it for the error reply."""

    kind: Malformed
    id: int = 0
    flags: int = 0
    question: bytes = b""  # wire bytes of the question when it parsed


def _read_name(data: bytes, offset: int) -> tuple[tuple[bytes, ...], int]:
    """Read a possibly compressed name; return its labels and the offset after it."""
    labels: list[bytes] = []
    end = -1
    hops = 0
    wire_length = 1
    size = len(data)
    while True:
        if offset >= size:
            raise ValueError("name runs past the end")
        length = data[offset]
        if length == 0:
            offset += 1
            break
        kind = length & 0xC0
        if kind == 0xC0:
            if offset + 1 >= size:
                raise ValueError("truncated pointer")
            hops += 1
            if hops > MAX_POINTER_HOPS:
                raise ValueError("too many compression pointers")
            if end < 0:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | data[offset + 1]
            continue
        if kind:
            raise ValueError("reserved label type")
        label = data[offset + 1 : offset + 1 + length]
        if len(label) != length:
            raise ValueError("label runs past the end")
        wire_length += length + 1
        if wire_length > MAX_NAME_WIRE_LENGTH:
            raise ValueError("name longer than 255 octets")
        labels.append(label)
        offset += 1 + length
    return tuple(labels), (end if end >= 0 else offset)


def label_to_text(label: bytes) -> str:
    """Presentation form of one label, escaped as miekg/dns does."""
    if label.isascii() and label.isalnum():
        return label.decode("ascii")
    out = []
    for byte in label:
        if byte in _ESCAPED_WITH_BACKSLASH:
            out.append("\\" + chr(byte))
        elif byte < 0x21 or byte > 0x7E:
            out.append(f"\\{byte:03d}")
        else:
            out.append(chr(byte))
    return "".join(out)


def labels_to_text(labels: tuple[bytes, ...]) -> str:
    """Presentation form of a name, fully qualified (``.`` for the root)."""
    if not labels:
        return "."
    joined = b".".join(labels)
    # The common case in one C-level pass: nothing but the separators needs escaping.
    if len(joined.translate(None, _PLAIN)) == len(labels) - 1:
        return joined.decode("ascii") + "."
    return ".".join(label_to_text(label) for label in labels) + "."


def _skip_rr(data: bytes, offset: int) -> tuple[int, int, int, int, int]:
    """Skip one resource record; return (offset after it, type, class, ttl, rdata start)."""
    _, offset = _read_name(data, offset)
    if offset + _RR_FIXED.size > len(data):
        raise ValueError("truncated record")
    rtype, rclass, ttl, rdlength = _RR_FIXED.unpack_from(data, offset)
    offset += _RR_FIXED.size
    if offset + rdlength > len(data):
        raise ValueError("truncated rdata")
    return offset + rdlength, rtype, rclass, ttl, offset


def _check_options(data: bytes, start: int, end: int) -> None:
    """Walk the OPT option TLVs as miekg's ``unpackDataOpt`` does; raise if one overflows."""
    while start < end:
        if start + 4 > end:
            raise ValueError("overflow unpacking opt")
        start += 4 + _U16.unpack_from(data, start + 2)[0]
        if start > end:
            raise ValueError("overflow unpacking opt")


def question_wire(labels: tuple[bytes, ...], qtype: int, qclass: int) -> bytes:
    """A question packed uncompressed, as miekg packs the one it unpacked."""
    name = b"".join(bytes((len(label),)) + label for label in labels) + b"\x00"
    return name + struct.pack("!HH", qtype, qclass)


def parse_query(data: bytes) -> Query | Rejected:
    """Parse a query the way miekg/dns accepts it for CoreDNS; never raises."""
    if len(data) < HEADER_SIZE:
        return Rejected(Malformed.DROP)
    qid, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(data)
    if flags & FLAG_QR:
        return Rejected(Malformed.DROP, qid, flags)
    opcode = (flags >> 11) & 0xF
    if opcode != OPCODE_QUERY and opcode != OPCODE_NOTIFY:
        return Rejected(Malformed.NOTIMP, qid, flags)
    if qdcount != 1 or ancount > 1 or nscount > 1 or arcount > 2:
        return Rejected(Malformed.FORMERR_HEADER, qid, flags)
    size = len(data)
    if size == HEADER_SIZE:
        return Rejected(Malformed.NO_QUESTION, qid, flags)
    try:
        labels, offset = _read_name(data, HEADER_SIZE)
    except ValueError:
        return Rejected(Malformed.FORMERR, qid, flags)
    # miekg/dns is lenient about a question that ends right after its name or its type (the
    # missing fields read as 0), not about one cut inside a field: FORMERR, no question.
    qtype = qclass = 0
    remaining = size - offset
    if remaining == 1 or remaining == 3:
        return Rejected(Malformed.FORMERR, qid, flags)
    if remaining >= 2:
        qtype = _U16.unpack_from(data, offset)[0]
        offset += 2
    if remaining >= 4:
        qclass = _U16.unpack_from(data, offset)[0]
        offset += 2
    question_end = offset
    edns: Edns | None = None
    try:
        for _ in range(ancount + nscount):
            if offset >= size:
                break
            offset = _skip_rr(data, offset)[0]
        for _ in range(arcount):
            if offset >= size:
                break
            offset, rtype, rclass, ttl, rdata_start = _skip_rr(data, offset)
            if rtype == TYPE_OPT:
                _check_options(data, rdata_start, offset)
                edns = Edns(
                    udp_size=rclass,
                    version=(ttl >> 16) & 0xFF,
                    do=bool(ttl & 0x8000),
                    flags_ttl=ttl,
                    options=data[rdata_start:offset],
                )
    except ValueError:
        return Rejected(Malformed.FORMERR, qid, flags, question_wire(labels, qtype, qclass))
    return Query(
        data=data,
        id=qid,
        flags=flags,
        qname=labels_to_text(labels),
        qname_labels=labels,
        qtype=qtype,
        qclass=qclass,
        question_end=question_end,
        edns=edns,
    )


def rejection_reply(rejected: Rejected) -> bytes | None:
    """The wire reply miekg/dns and CoreDNS give to a datagram that cannot be served."""
    if rejected.kind is Malformed.DROP:
        return None
    if rejected.kind is Malformed.NO_QUESTION:
        # CoreDNS answers it with SetReply: opcode kept, RD and CD copied for QUERY only.
        flags = FLAG_QR | (rejected.flags & 0x7800)
        if (rejected.flags >> 11) & 0xF == OPCODE_QUERY:
            flags |= rejected.flags & (FLAG_RD | FLAG_CD)
    else:
        # miekg answers on the request itself (SetRcodeFormatError): TC, RD, RA, AD and CD
        # stay as sent, AA and Z are cleared, the opcode becomes QUERY unless NOTIMP.
        flags = FLAG_QR | (rejected.flags & (FLAG_TC | FLAG_RD | FLAG_RA | FLAG_AD | FLAG_CD))
        if rejected.kind is Malformed.NOTIMP:
            flags |= rejected.flags & 0x7800
    rcode = {
        Malformed.NOTIMP: NOTIMP,
        Malformed.FORMERR_HEADER: FORMERR,
        Malformed.FORMERR: FORMERR,
        Malformed.NO_QUESTION: SERVFAIL,
    }[rejected.kind]
    qdcount = 1 if rejected.question else 0
    return _HEADER.pack(rejected.id, flags | rcode, qdcount, 0, 0, 0) + rejected.question


class _Buffer(DNSBuffer):
    """A dnslib buffer that compresses names only when asked to (miekg's ``Msg.Compress``)."""

    def __init__(self, compress: bool) -> None:
        super().__init__()
        self.compress = compress

    def encode_name(self, name: DNSLabel | str) -> None:
        if self.compress:
            self._encode(name, pointers=True)
        else:
            super().encode_name_nocompress(name)

    def encode_name_nocompress(self, name: DNSLabel | str) -> None:
        # Names that are never compressed (SRV targets) are still remembered as targets for
        # later names, as miekg's packDomainName does.
        if self.compress:
            self._encode(name, pointers=False)
        else:
            super().encode_name_nocompress(name)

    def _encode(self, name: DNSLabel | str, *, pointers: bool) -> None:
        labels = (name if isinstance(name, DNSLabel) else DNSLabel(name)).label
        names = self.names
        for index, label in enumerate(labels):
            suffix = labels[index:]
            known = names.get(suffix)
            if known is not None and pointers:
                self.pack("!H", 0xC000 | known)
                return
            if known is None and self.offset < MAX_POINTER_OFFSET:
                names[suffix] = self.offset
            if len(label) > MAX_LABEL_LENGTH:
                raise DNSLabelError(f"Label component too long: {label!r}")
            self.pack("!B", len(label))
            self.append(label)
        self.append(b"\x00")

    def mark(self) -> int:
        return self.offset

    def rewind(self, mark: int) -> None:
        del self.data[mark:]
        self.offset = mark
        self.names = {k: v for k, v in self.names.items() if v < mark}


def _records(msg: DNSRecord) -> tuple[list[RR], list[RR], list[RR]]:
    return msg.rr, msg.auth, [rr for rr in msg.ar if rr.rtype != TYPE_OPT]


def _pack_sections(
    msg: DNSRecord,
    sections: tuple[list[RR], list[RR], list[RR]],
    *,
    compress: bool,
    limit: int | None,
) -> tuple[bytes, tuple[int, int, int], bool]:
    """Pack header, question and records; stop at the first record that would pass ``limit``."""
    buf = _Buffer(compress)
    buf.pack("!6H", 0, 0, 0, 0, 0, 0)
    for question in msg.questions:
        question.pack(buf)
    counts = [0, 0, 0]
    cut = False
    for index, section in enumerate(sections):
        for rr in section:
            mark = buf.mark()
            rr.pack(buf)
            if limit is not None and buf.offset > limit:
                buf.rewind(mark)
                cut = True
                break
            counts[index] += 1
        if cut:
            break
    return bytes(buf.data), (counts[0], counts[1], counts[2]), cut


def header_flags(msg: DNSRecord) -> int:
    """The 16-bit flags word of a dnslib message (opcode and rcode included)."""
    return int(msg.header.bitmap)


def pack(msg: DNSRecord, *, compress: bool = False) -> bytes:
    """Pack a message whole (OPT records included), uncompressed unless asked."""
    sections = (msg.rr, msg.auth, msg.ar)
    body, counts, _ = _pack_sections(msg, sections, compress=compress, limit=None)
    return _HEADER.pack(msg.header.id, header_flags(msg), len(msg.questions), *counts) + body[12:]


def opt_record(udp_size: int, flags_ttl: int, options: bytes) -> bytes:
    """Wire form of an OPT pseudo-record."""
    return _OPT_FIXED.pack(0, TYPE_OPT, udp_size, flags_ttl, len(options)) + options


def echoed_options(options: bytes) -> bytes:
    """Keep only the EDNS options CoreDNS echoes back when it reuses the query's OPT."""
    out = bytearray()
    offset = 0
    while offset + 4 <= len(options):
        code, length = struct.unpack_from("!HH", options, offset)
        end = offset + 4 + length
        if end > len(options):
            break
        if code in ECHOED_EDNS_OPTIONS:
            out += options[offset:end]
        offset = end
    return bytes(out)


def _opt_rdata(rr: RR) -> bytes:
    buf = DNSBuffer()
    for option in rr.rdata:
        option.pack(buf)
    return bytes(buf.data)


@dataclass(frozen=True, slots=True)
class Packed:
    """A reply ready to send, and what the query log reports about it."""

    wire: bytes
    written_size: int  # length as the plugin wrote it, before OPT shaping and truncation
    truncated: bool
    compressed: bool = False  # names compressed to fit: records cannot be moved as they are


def pack_reply(
    msg: DNSRecord,
    *,
    query_edns: Edns | None,
    limit: int,
    udp: bool,
    ipv6: bool,
) -> Packed:
    """Shape and pack a reply as CoreDNS's ScrubWriter does.

    The OPT record is normalised to the client's (version 0, the client's UDP size, DO copied,
    other flags cleared); without an OPT in the query the reply's own OPT, if any, is left as
    the plugin wrote it. The reply is sent uncompressed when it fits in ``limit``, compressed
    when that makes it fit (or when a UDP reply passes the fragmentation limit of 1480 bytes on
    IPv4 / 1220 on IPv6, as NSD and CoreDNS do), and otherwise cut after the last record that
    fits, with TC set.
    """
    if udp:  # an EDNS size of up to 65535 is no promise the datagram can be sent
        limit = min(limit, MAX_UDP_PAYLOAD_IPV6 if ipv6 else MAX_UDP_PAYLOAD_IPV4)
    sections = _records(msg)
    opt: bytes = b""
    plugin_opts = [rr for rr in msg.ar if rr.rtype == TYPE_OPT]
    if query_edns is not None:
        if plugin_opts:
            # SizeAndDo keeps the plugin OPT's DO and upper Z and (miekg packs Msg.Rcode back
            # into it) its extended rcode, adds the client's DO and zeroes the version.
            options = _opt_rdata(plugin_opts[-1])
            ttl = (plugin_opts[-1].ttl & 0xFF00FF00) | (query_edns.flags_ttl & 0x8000)
        else:
            options = echoed_options(query_edns.options)
            ttl = query_edns.flags_ttl & 0xFF00  # keep DO and upper Z; ext-rcode, version = 0
        opt = opt_record(query_edns.udp_size, ttl, options)
    elif plugin_opts:
        sections = (sections[0], sections[1], sections[2] + plugin_opts)
    flags = header_flags(msg)
    qdcount = len(msg.questions)
    room = limit - len(opt)

    body, counts, cut = _pack_sections(msg, sections, compress=False, limit=None)
    compressed = False
    written_size = len(body)
    if query_edns is not None and plugin_opts:
        written_size += 11 + len(_opt_rdata(plugin_opts[-1]))
    fragment_limit = 1220 if ipv6 else 1480
    if len(body) > room or (udp and len(body) + len(opt) > fragment_limit):
        compressed_body, counts2, _ = _pack_sections(msg, sections, compress=True, limit=None)
        if len(compressed_body) <= room:
            body, counts = compressed_body, counts2
        else:
            body, counts, cut = _pack_sections(msg, sections, compress=True, limit=room)
        compressed = True
    if cut:
        flags |= FLAG_TC
    arcount = counts[2] + (1 if opt else 0)
    header = _HEADER.pack(msg.header.id, flags, qdcount, counts[0], counts[1], arcount)
    reply = header + body[HEADER_SIZE:] + opt
    if udp and len(reply) > limit and query_edns is not None and not plugin_opts:
        # The echoed options are the client's own bytes, of any length: CoreDNS sends them even
        # when they leave no room for the question. RFC 7830 section 4 pads a response "unless
        # doing so would violate the maximum UDP payload size": drop Padding, then every echoed
        # option, until the reply fits.
        for options in (_without_option(query_edns.options, EDNS_PADDING), b""):
            if options != query_edns.options:
                edns = replace(query_edns, options=options)
                return pack_reply(msg, query_edns=edns, limit=limit, udp=udp, ipv6=ipv6)
    return Packed(reply, written_size, cut, compressed)


class PackedRR(tuple[int, bytes]):
    """One record already in wire form (owner name uncompressed), with its type.

    ``rtype`` lets writers reorder records (*loadbalance*) without decoding them.
    """

    __slots__ = ()

    @property
    def rtype(self) -> int:
        return self[0]

    @property
    def data(self) -> bytes:
        return self[1]


def pack_records(records: Sequence[RR]) -> tuple[PackedRR, ...]:
    """Records in the uncompressed form ``pack_reply`` sends them in when a reply fits."""
    packed = []
    for rr in records:
        buf = _Buffer(False)
        rr.pack(buf)
        packed.append(PackedRR((rr.rtype, bytes(buf.data))))
    return tuple(packed)


Sections = tuple[Sequence[PackedRR], Sequence[PackedRR], Sequence[PackedRR]]


@dataclass(slots=True)
class Prepacked:
    """A reply whose records are already packed: the fast path for answers served again.

    A cache hit hands this to its writer instead of a ``DNSRecord``. ``flags`` are the
    reply's header flags except those taken from the query (opcode, RD, CD), which are added
    per client exactly as ``Request.reply`` adds them. ``finish`` builds the bytes for the
    client when the plain uncompressed reply fits, which is what ``pack_reply`` would send;
    otherwise (truncation or compression needed) the slow path packs ``to_msg()``.
    """

    query: Query
    flags: int  # QR, AA, RA, AD and the rcode
    sections: Sections  # answer, authority, additional (no OPT)

    @property
    def rcode(self) -> int:
        return self.flags & 0xF

    def header_flags(self) -> int:
        query = self.query
        opcode_bits = query.flags & 0x7800
        flags = self.flags | opcode_bits
        if not opcode_bits:
            flags |= query.flags & (FLAG_RD | FLAG_CD)
        return flags

    def finish(self, *, limit: int, udp: bool, ipv6: bool) -> Packed | None:
        """The reply as ``pack_reply`` would send it, or None when it must be shaped."""
        query = self.query
        question = question_wire(query.qname_labels, query.qtype, query.qclass)
        answer, authority, additional = self.sections
        records = b"".join([rr[1] for rr in answer] + [rr[1] for rr in authority] + [rr[1] for rr in additional])
        size = HEADER_SIZE + len(question) + len(records)
        edns = query.edns
        opt = b""
        if edns is not None:
            opt = opt_record(edns.udp_size, edns.flags_ttl & 0xFF00, echoed_options(edns.options))
        if udp:
            limit = min(limit, MAX_UDP_PAYLOAD_IPV6 if ipv6 else MAX_UDP_PAYLOAD_IPV4)
            if size + len(opt) > (1220 if ipv6 else 1480):
                return None
        if size + len(opt) > limit:
            return None
        header = _HEADER.pack(
            query.id,
            self.header_flags(),
            1,
            len(answer),
            len(authority),
            len(additional) + (1 if opt else 0),
        )
        return Packed(header + question + records + opt, size, False)

    def to_msg(self) -> DNSRecord:
        """The same reply as a dnslib message, for writers that need one."""
        query = self.query
        answer, authority, additional = self.sections
        data = (
            _HEADER.pack(query.id, self.header_flags(), 1, len(answer), len(authority), len(additional))
            + question_wire(query.qname_labels, query.qtype, query.qclass)
            + b"".join(rr[1] for section in self.sections for rr in section)
        )
        return DNSRecord.parse(data)


def split_reply(reply: bytes) -> tuple[bytes, Sections, bytes] | None:
    """An uncompressed reply cut into its header and question, its records (answer,
    authority, additional) and a final OPT record; None when it does not have that shape."""
    try:
        _, _, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(reply)
        offset = HEADER_SIZE
        for _ in range(qdcount):
            offset = _read_name(reply, offset)[1] + 4
        head = reply[:offset]
        sections: list[list[PackedRR]] = [[], [], []]
        opt = b""
        for index, count in enumerate((ancount, nscount, arcount)):
            for _ in range(count):
                end, rtype, *_ = _skip_rr(reply, offset)
                if rtype == TYPE_OPT:
                    opt = reply[offset:end]
                else:
                    if opt:
                        return None  # the OPT is not last
                    sections[index].append(PackedRR((rtype, reply[offset:end])))
                offset = end
    except (ValueError, struct.error):
        return None
    if offset != len(reply):
        return None
    return head, (sections[0], sections[1], sections[2]), opt


def _without_option(options: bytes, code: int) -> bytes:
    """EDNS option TLVs without those of ``code``."""
    out = bytearray()
    offset = 0
    while offset + 4 <= len(options):
        option_code, length = struct.unpack_from("!HH", options, offset)
        end = offset + 4 + length
        if option_code != code:
            out += options[offset:end]
        offset = end
    return bytes(out)


def parse_message(data: bytes) -> DNSRecord:
    """A full dnslib decode, for plugins that need every section; raises ``DNSError``."""
    return DNSRecord.parse(data)


def question_label(labels: tuple[bytes, ...]) -> DNSLabel:
    """A dnslib label for a name given as wire labels (keeps case and odd bytes exactly)."""
    return DNSLabel(list(labels))


#: miekg/dns ``TypeToString``: the names CoreDNS prints in logs and metrics.
_TYPE_NAMES: Final = {
    0: "None", 1: "A", 2: "NS", 3: "MD", 4: "MF", 5: "CNAME", 6: "SOA", 7: "MB", 8: "MG",
    9: "MR", 10: "NULL", 12: "PTR", 13: "HINFO", 14: "MINFO", 15: "MX", 16: "TXT", 17: "RP",
    18: "AFSDB", 19: "X25", 20: "ISDN", 21: "RT", 23: "NSAP-PTR", 24: "SIG", 25: "KEY",
    26: "PX", 27: "GPOS", 28: "AAAA", 29: "LOC", 30: "NXT", 31: "EID", 32: "NIMLOC", 33: "SRV",
    34: "ATMA", 35: "NAPTR", 36: "KX", 37: "CERT", 39: "DNAME", 41: "OPT", 42: "APL", 43: "DS",
    44: "SSHFP", 45: "IPSECKEY", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 49: "DHCID",
    50: "NSEC3", 51: "NSEC3PARAM", 52: "TLSA", 53: "SMIMEA", 55: "HIP", 56: "NINFO", 57: "RKEY",
    58: "TALINK", 59: "CDS", 60: "CDNSKEY", 61: "OPENPGPKEY", 62: "CSYNC", 63: "ZONEMD",
    64: "SVCB", 65: "HTTPS", 99: "SPF", 100: "UINFO", 101: "UID", 102: "GID", 103: "UNSPEC",
    104: "NID", 105: "L32", 106: "L64", 107: "LP", 108: "EUI48", 109: "EUI64", 128: "NXNAME",
    249: "TKEY", 250: "TSIG", 251: "IXFR", 252: "AXFR", 253: "MAILB", 254: "MAILA", 255: "ANY",
    256: "URI", 257: "CAA", 258: "AVC", 260: "AMTRELAY", 261: "RESINFO", 32768: "TA",
    32769: "DLV", 65535: "Reserved",
}


def qtype_name(qtype: int) -> str:
    """Mnemonic of a type (``A``, ``SRV``) as miekg/dns writes it, else ``TYPE<n>``."""
    return _TYPE_NAMES.get(qtype) or f"TYPE{qtype}"


__all__ = [
    "DNSError",
    "EDNS0",
    "Edns",
    "Malformed",
    "Packed",
    "Query",
    "Rejected",
    "pack",
    "pack_reply",
    "parse_query",
    "rejection_reply",
]
