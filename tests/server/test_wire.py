"""Wire format: query acceptance and reply shaping, against miekg/dns and CoreDNS's ScrubWriter.

Acceptance is miekg/dns v1.1.x (``acceptfunc.go``, ``server.go`` ``serveDNS``, ``msg.go``
``unpack``/``UnpackDomainName``, ``defaults.go`` ``SetRcodeFormatError``); shaping is CoreDNS
``request/request.go`` ``SizeAndDo``/``Scrub`` over miekg ``Msg.Truncate``. Expected bytes are
written out by hand or computed with dnspython, which shares no code with ``clusterdns.wire``.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from dnslib import EDNS0, RD, RR, DNSHeader, DNSQuestion, DNSRecord, EDNSOption
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from clusterdns import wire
from clusterdns.wire import Edns, Malformed, Query, Rejected, pack_reply, parse_query, rejection_reply

# --- building queries by hand ------------------------------------------------------------

QR, AA, TC, RD_, RA, Z, AD, CD = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0040, 0x0020, 0x0010
QID = 0xBEEF


def header(qid: int = QID, flags: int = RD_, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0) -> bytes:
    return struct.pack("!6H", qid, flags, qd, an, ns, ar)


def wname(*labels: bytes) -> bytes:
    """A name in uncompressed wire form."""
    return b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"


QNAME = wname(b"example", b"com")  # 13 octets, at offset 12 in every query below
QUESTION = QNAME + struct.pack("!HH", 1, 1)  # example.com. IN A
AFTER_QUESTION = 12 + len(QUESTION)  # 29


def option(code: int, data: bytes) -> bytes:
    return struct.pack("!HH", code, len(data)) + data


def opt(udp: int = 1232, ttl: int = 0, options: bytes = b"", owner: bytes = b"\x00") -> bytes:
    return owner + struct.pack("!HHIH", 41, udp, ttl, len(options)) + options


def a_record(owner: bytes = QNAME, address: bytes = b"\x0a\x00\x00\x01") -> bytes:
    return owner + struct.pack("!HHIH", 1, 1, 300, len(address)) + address


def query(flags: int = RD_, *, ar: bytes = b"", arcount: int = 0) -> bytes:
    return header(flags=flags, ar=arcount) + QUESTION + ar


# --- acceptance: dropped, NOTIMP, FORMERR on the header, no question -------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\x12", id="1-byte"),
        pytest.param(header()[:11], id="11-bytes"),
        pytest.param(header(flags=QR | RD_) + QUESTION, id="qr-set"),
        pytest.param(header(flags=QR | (5 << 11), qd=0), id="qr-set-with-bad-opcode"),
    ],
)
def test_short_datagrams_and_responses_are_dropped_without_reply(data: bytes) -> None:
    parsed = parse_query(data)
    assert isinstance(parsed, Rejected)
    assert parsed.kind is Malformed.DROP
    assert rejection_reply(parsed) is None


@pytest.mark.parametrize("opcode", [1, 2, 3, 5, 6, 15])
def test_other_opcodes_get_header_only_notimp_echoing_the_opcode(opcode: int) -> None:
    parsed = parse_query(header(flags=opcode << 11) + QUESTION)
    assert isinstance(parsed, Rejected) and parsed.kind is Malformed.NOTIMP
    assert rejection_reply(parsed) == header(flags=QR | (opcode << 11) | wire.NOTIMP, qd=0)


@pytest.mark.parametrize("opcode", [2, 5, 15])
def test_notimp_keeps_the_query_header_bits_as_miekg_does(opcode: int) -> None:
    # miekg answers on the unpacked request itself (SetRcodeFormatError(req)): TC, RD, RA, AD
    # and CD stay as the client sent them whatever the opcode; AA and Z are cleared.
    query_flags = (opcode << 11) | AA | TC | RD_ | RA | Z | AD | CD
    parsed = parse_query(header(flags=query_flags) + QUESTION)
    assert isinstance(parsed, Rejected)
    expected = QR | (opcode << 11) | TC | RD_ | RA | AD | CD | wire.NOTIMP
    assert rejection_reply(parsed) == header(flags=expected, qd=0)


@pytest.mark.parametrize(
    ("counts", "body"),
    [
        pytest.param((0, 0, 0, 0), b"", id="qdcount-0"),
        pytest.param((0, 0, 0, 0), QUESTION, id="qdcount-0-with-question-bytes"),
        pytest.param((2, 0, 0, 0), QUESTION + QUESTION, id="qdcount-2"),
        pytest.param((1, 2, 0, 0), QUESTION, id="ancount-2"),
        pytest.param((1, 0, 2, 0), QUESTION, id="nscount-2"),
        pytest.param((1, 0, 0, 3), QUESTION, id="arcount-3"),
        pytest.param((1, 0xFFFF, 0xFFFF, 0xFFFF), QUESTION, id="all-counts-max"),
    ],
)
def test_counts_out_of_range_get_header_only_formerr(counts: tuple[int, int, int, int], body: bytes) -> None:
    qd, an, ns, ar = counts
    parsed = parse_query(header(flags=RD_ | CD, qd=qd, an=an, ns=ns, ar=ar) + body)
    assert isinstance(parsed, Rejected) and parsed.kind is Malformed.FORMERR_HEADER
    assert rejection_reply(parsed) == header(flags=QR | RD_ | CD | wire.FORMERR, qd=0)


def test_formerr_keeps_tc_ra_ad_of_the_query_and_clears_aa_and_z() -> None:
    parsed = parse_query(header(flags=AA | TC | RD_ | RA | Z | AD | CD, qd=0))
    assert isinstance(parsed, Rejected)
    assert rejection_reply(parsed) == header(flags=QR | TC | RD_ | RA | AD | CD | wire.FORMERR, qd=0)


def test_formerr_to_a_notify_is_sent_with_opcode_query() -> None:
    # SetRcodeFormatError sets Opcode = QUERY; only NOTIMP restores the original opcode.
    parsed = parse_query(header(flags=(wire.OPCODE_NOTIFY << 11) | RD_, qd=2) + QUESTION + QUESTION)
    assert isinstance(parsed, Rejected)
    assert rejection_reply(parsed) == header(flags=QR | RD_ | wire.FORMERR, qd=0)


def test_largest_accepted_counts_parse() -> None:
    # One answer (a NOTIFY's SOA), one authority (an IXFR's SOA) and two additionals are allowed.
    data = (
        header(an=1, ns=1, ar=2)
        + QUESTION
        + a_record()
        + a_record()
        + a_record()
        + opt(udp=4096)
    )
    parsed = parse_query(data)
    assert isinstance(parsed, Query)
    assert parsed.edns is not None and parsed.edns.udp_size == 4096


@pytest.mark.parametrize(
    ("query_flags", "reply_flags"),
    [
        pytest.param(RD_ | CD, QR | RD_ | CD | wire.SERVFAIL, id="query-copies-rd-cd"),
        pytest.param(TC | RA | AD | AA, QR | wire.SERVFAIL, id="other-bits-not-copied"),
        pytest.param((4 << 11) | RD_ | CD, QR | (4 << 11) | wire.SERVFAIL, id="notify-keeps-opcode-no-rd"),
    ],
)
def test_header_only_query_gets_servfail_without_question(query_flags: int, reply_flags: int) -> None:
    # miekg unpacks a bare header as a message without question; CoreDNS's ServeDNS answers
    # SERVFAIL through SetRcode (SetReply: opcode copied, RD/CD only for QUERY).
    parsed = parse_query(header(flags=query_flags, qd=1))
    assert isinstance(parsed, Rejected) and parsed.kind is Malformed.NO_QUESTION
    assert rejection_reply(parsed) == header(flags=reply_flags, qd=0)


# --- names and compression pointers -------------------------------------------------------


def _pointer(offset: int) -> bytes:
    return struct.pack("!H", 0xC000 | offset)


def _pointer_chain(hops: int) -> bytes:
    """A query whose qname takes ``hops`` compression pointers to reach example.com.

    The question's name is a pointer to the last link of a chain kept after the question (the
    section counts are 0, so miekg never reads those bytes as records).
    """
    name_at = 12 + 2 + 4  # after the question: 2-octet name, type, class
    trailer = bytearray(QNAME)
    previous = name_at
    for _ in range(hops - 1):
        link_at = name_at + len(trailer)
        trailer += _pointer(previous)
        previous = link_at
    return header() + _pointer(previous) + struct.pack("!HH", 1, 1) + bytes(trailer)


def _long_name(wire_length: int) -> bytes:
    """An uncompressed name of exactly ``wire_length`` octets (root byte included)."""
    labels = []
    remaining = wire_length - 1
    while remaining:
        size = min(63, remaining - 1)
        labels.append(b"a" * size)
        remaining -= size + 1
    name = wname(*labels)
    assert len(name) == wire_length
    return name


@pytest.mark.parametrize(
    ("data", "labels"),
    [
        pytest.param(_pointer_chain(1), (b"example", b"com"), id="forward-pointer-to-a-name"),
        pytest.param(_pointer_chain(126), (b"example", b"com"), id="126-pointers"),
        pytest.param(
            header(qid=0x0042) + _pointer(0) + struct.pack("!HH", 1, 1), (), id="pointer-into-header"
        ),
        pytest.param(
            header() + _long_name(255) + struct.pack("!HH", 1, 1),
            tuple([b"a" * 63] * 3 + [b"a" * 61]),
            id="255-octets",
        ),
        pytest.param(
            header() + wname(b"a", b"b") + struct.pack("!HH", 1, 1) + wname(b"x"),
            (b"a", b"b"),
            id="trailing-bytes-ignored",
        ),
    ],
)
def test_names_miekg_accepts(data: bytes, labels: tuple[bytes, ...]) -> None:
    parsed = parse_query(data)
    assert isinstance(parsed, Query), parsed
    assert parsed.qname_labels == labels
    assert parsed.qtype == 1 and parsed.qclass == 1


@pytest.mark.parametrize(
    "qname",
    [
        pytest.param(_pointer(12), id="pointer-to-itself"),
        pytest.param(wname(b"a")[:-1] + _pointer(12), id="pointer-loop-through-label"),
        pytest.param(_pointer(0x3FFF), id="forward-pointer-past-the-end"),
        pytest.param(b"\xc0", id="pointer-missing-second-octet"),
        pytest.param(b"\x40abc\x00", id="label-type-0x40"),
        pytest.param(b"\x80abc\x00", id="label-type-0x80"),
        pytest.param(b"\x07exam", id="label-past-the-end"),
        pytest.param(b"\x07example", id="no-terminating-root"),
        pytest.param(_long_name(256), id="256-octets"),
    ],
)
def test_bad_question_names_get_formerr_without_question(qname: bytes) -> None:
    parsed = parse_query(header() + qname)
    assert isinstance(parsed, Rejected) and parsed.kind is Malformed.FORMERR
    assert rejection_reply(parsed) == header(flags=QR | RD_ | wire.FORMERR, qd=0)


def test_127_compression_pointers_are_too_many() -> None:
    parsed = parse_query(_pointer_chain(127))
    assert isinstance(parsed, Rejected) and parsed.kind is Malformed.FORMERR
    assert rejection_reply(parsed) == header(flags=QR | RD_ | wire.FORMERR, qd=0)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(query(ar=opt(owner=_pointer(AFTER_QUESTION)), arcount=1), id="opt-owner-pointer-loop"),
        pytest.param(query(ar=opt(owner=_pointer(0x3FF0)), arcount=1), id="opt-owner-pointer-past-end"),
        pytest.param(query(ar=opt(owner=b"\x80"), arcount=1), id="opt-owner-reserved-label"),
        pytest.param(query(ar=opt()[:-3], arcount=1), id="opt-cut-in-fixed-part"),
        pytest.param(query(ar=opt(options=option(10, b"12345678"))[:-2], arcount=1), id="rdata-past-end"),
        pytest.param(header(an=1) + QUESTION + a_record()[:-5], id="answer-cut-short"),
        pytest.param(
            header(ns=1) + QUESTION + a_record(owner=_pointer(AFTER_QUESTION)), id="authority-owner-loop"
        ),
    ],
)
def test_bad_records_after_the_question_get_formerr_echoing_the_question(data: bytes) -> None:
    parsed = parse_query(data)
    assert isinstance(parsed, Rejected) and parsed.kind is Malformed.FORMERR
    assert rejection_reply(parsed) == header(flags=QR | RD_ | wire.FORMERR, qd=1) + QUESTION


def test_valid_backward_pointer_in_the_opt_owner_is_accepted() -> None:
    # miekg does not insist on the root as OPT owner; IsEdns0 goes by type only.
    parsed = parse_query(query(ar=opt(udp=2048, owner=_pointer(12)), arcount=1))
    assert isinstance(parsed, Query)
    assert parsed.edns is not None and parsed.edns.udp_size == 2048


@pytest.mark.parametrize(
    "edns_options",
    [
        pytest.param(b"\x00\x0a\x00", id="option-header-cut"),
        pytest.param(b"\x00\x0a\x00\x08abcd", id="option-longer-than-rdata"),
        pytest.param(option(3, b"") + b"\x00", id="trailing-octet"),
    ],
)
def test_malformed_edns_options_get_formerr_echoing_the_question(edns_options: bytes) -> None:
    # miekg unpacks every OPT option (unpackDataOpt: "overflow unpacking opt").
    parsed = parse_query(query(ar=opt(options=edns_options), arcount=1))
    assert isinstance(parsed, Rejected) and parsed.kind is Malformed.FORMERR
    assert rejection_reply(parsed) == header(flags=QR | RD_ | wire.FORMERR, qd=1) + QUESTION


def test_formerr_echoes_a_compressed_question_name_in_full() -> None:
    # The qname is a forward pointer to the owner of an additional A record; the OPT after it
    # is cut. miekg echoes the question it unpacked, packed again without compression.
    question = _pointer(18) + struct.pack("!HH", 1, 1)
    data = header(ar=2) + question + a_record() + opt(options=option(10, b"12345678"))[:-2]
    parsed = parse_query(data)
    assert isinstance(parsed, Rejected) and parsed.kind is Malformed.FORMERR
    reply = rejection_reply(parsed)
    assert reply == header(flags=QR | RD_ | wire.FORMERR, qd=1) + QUESTION
    assert dns.message.from_wire(reply).question[0].name == dns.name.from_text("example.com.")


# --- a question cut short -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("tail", "qtype"),
    [
        pytest.param(b"", 0, id="cut-after-name"),
        pytest.param(b"\x00\x1c", 28, id="cut-after-type"),
    ],
)
def test_question_cut_at_a_field_boundary_reads_missing_fields_as_zero(tail: bytes, qtype: int) -> None:
    parsed = parse_query(header() + QNAME + tail)
    assert isinstance(parsed, Query)
    assert (parsed.qname, parsed.qtype, parsed.qclass) == ("example.com.", qtype, 0)
    assert parsed.edns is None


@pytest.mark.parametrize(
    "tail",
    [pytest.param(b"\x00", id="1-octet-of-type"), pytest.param(b"\x00\x01\x00", id="1-octet-of-class")],
)
def test_question_cut_inside_a_field_is_formerr(tail: bytes) -> None:
    # unpackUint16 with one octet left fails ("overflow unpacking uint16"): FORMERR, and the
    # question was never appended, so the reply has none.
    parsed = parse_query(header() + QNAME + tail)
    assert isinstance(parsed, Rejected) and parsed.kind is Malformed.FORMERR
    assert rejection_reply(parsed) == header(flags=QR | RD_ | wire.FORMERR, qd=0)


# --- EDNS ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        pytest.param(opt(udp=4096, ttl=0x8000), Edns(4096, 0, True, 0x8000, b""), id="do"),
        pytest.param(opt(udp=1232), Edns(1232, 0, False, 0, b""), id="plain"),
        pytest.param(opt(udp=100, ttl=0x10000), Edns(100, 1, False, 0x10000, b""), id="version-1-small"),
        pytest.param(opt(udp=0, ttl=0xAB02FFFF), Edns(0, 2, True, 0xAB02FFFF, b""), id="ext-rcode-and-z"),
        pytest.param(
            opt(options=option(3, b"") + option(10, b"abcdefgh")),
            Edns(1232, 0, False, 0, option(3, b"") + option(10, b"abcdefgh")),
            id="options-raw",
        ),
    ],
)
def test_opt_record_fields(record: bytes, expected: Edns) -> None:
    parsed = parse_query(query(ar=record, arcount=1))
    assert isinstance(parsed, Query)
    assert parsed.edns == expected


def test_last_of_two_opt_records_wins_like_is_edns0() -> None:
    data = query(ar=opt(udp=1000) + opt(udp=4000, ttl=0x8000, options=option(10, b"cookie!!")), arcount=2)
    parsed = parse_query(data)
    assert isinstance(parsed, Query)
    assert parsed.edns == Edns(4000, 0, True, 0x8000, option(10, b"cookie!!"))


def test_opt_before_another_additional_record_is_still_found() -> None:
    parsed = parse_query(query(ar=opt(udp=3000) + a_record(), arcount=2))
    assert isinstance(parsed, Query)
    assert parsed.edns is not None and parsed.edns.udp_size == 3000


def test_opt_outside_the_additional_section_is_not_edns() -> None:
    parsed = parse_query(header(an=1) + QUESTION + opt(udp=3000))
    assert isinstance(parsed, Query)
    assert parsed.edns is None


@pytest.mark.parametrize(
    ("counts", "records", "udp_size"),
    [
        pytest.param((0, 0, 2), opt(udp=1400), 1400, id="arcount-2-one-record"),
        pytest.param((0, 0, 1), b"", None, id="arcount-1-no-record"),
        pytest.param((1, 1, 2), b"", None, id="every-count-no-record"),
        pytest.param((1, 0, 1), a_record() + opt(udp=1400), 1400, id="exact"),
    ],
)
def test_counts_larger_than_the_records_present_are_tolerated(
    counts: tuple[int, int, int], records: bytes, udp_size: int | None
) -> None:
    # miekg stops reading a section when the message ends on a record boundary.
    an, ns, ar = counts
    parsed = parse_query(header(an=an, ns=ns, ar=ar) + QUESTION + records)
    assert isinstance(parsed, Query)
    assert (parsed.edns.udp_size if parsed.edns else None) == udp_size


# --- presentation of names ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "text"),
    [
        (b"Example", "Example"),
        (b"a-b_c", "a-b_c"),
        (b"a.b", "a\\.b"),
        (b"a b", "a\\ b"),
        (b"@", "\\@"),
        (b"'\"();\\", "\\'\\\"\\(\\)\\;\\\\"),
        (b"$*", "$*"),
        (b"\x00\x1f", "\\000\\031"),
        (b"\x7f\xff", "\\127\\255"),
        (b"~", "~"),
    ],
)
def test_labels_are_escaped_like_miekg(label: bytes, text: str) -> None:
    assert wire.label_to_text(label) == text


def test_root_name_text() -> None:
    assert wire.labels_to_text(()) == "."
    parsed = parse_query(header() + b"\x00" + struct.pack("!HH", 2, 1))
    assert isinstance(parsed, Query) and parsed.qname == "." and parsed.qname_labels == ()


# --- replies: helpers ----------------------------------------------------------------------

REPLY_FLAGS = QR | AA | RD_


def reply_for(qname: str = "example.org.", qtype: int = 1, *, tc: bool = False) -> DNSRecord:
    head = DNSHeader(id=QID, qr=1, aa=1, rd=1, tc=1 if tc else 0)
    return DNSRecord(head, q=DNSQuestion(qname, qtype))


def add(reply: DNSRecord, section: str, *zone_lines: str) -> DNSRecord:
    for line in zone_lines:
        for record in RR.fromZone(line):
            {"an": reply.add_answer, "ns": reply.add_auth, "ar": reply.add_ar}[section](record)
    return reply


def rrsets(*zone_lines: str) -> list[dns.rrset.RRset]:
    """One dnspython RRset per line (so order and boundaries are kept)."""
    out = []
    for line in zone_lines:
        name, ttl, rdclass, rdtype, rdata = line.split(None, 4)
        out.append(dns.rrset.from_text(name, int(ttl), rdclass, rdtype, rdata))
    return out


def uncompressed_wire(
    flags: int, qname: str, qtype: int, sections: tuple[list[str], list[str], list[str]], opt_rr: bytes = b""
) -> bytes:
    """The reply as miekg packs it with Compress=false, built with dnspython pieces."""
    counts = [len(section) for section in sections]
    out = io.BytesIO()
    out.write(struct.pack("!6H", QID, flags, 1, counts[0], counts[1], counts[2] + (1 if opt_rr else 0)))
    out.write(dns.name.from_text(qname).to_wire())
    out.write(struct.pack("!HH", qtype, 1))
    for section in sections:
        for rrset in rrsets(*section):
            rrset.to_wire(out, compress=None)
    out.write(opt_rr)
    return out.getvalue()


def compressed_length(qname: str, qtype: int, sections: tuple[list[str], ...]) -> int:
    """Length of the reply with name compression (dnspython), without any OPT record."""
    message = dns.message.Message(QID)
    message.question = [dns.rrset.RRset(dns.name.from_text(qname), dns.rdataclass.IN, qtype)]
    message.answer, message.authority, message.additional = (rrsets(*s) for s in sections)
    return len(message.to_wire())


def parse(data: bytes) -> dns.message.Message:
    return dns.message.from_wire(data, one_rr_per_rrset=True)


def records(message: dns.message.Message) -> list[list[str]]:
    return [
        [rrset.to_text() for rrset in section]
        for section in (message.answer, message.authority, message.additional)
    ]


def edns(udp_size: int = 1232, *, do: bool = False, options: bytes = b"", version: int = 0) -> Edns:
    """The query's OPT as parse_query reports it."""
    return Edns(udp_size, version, do, (version << 16) | (0x8000 if do else 0), options)


A_LINES = [f"www.example.org. 300 IN A 10.0.{i // 250}.{i % 250 + 1}" for i in range(200)]


# --- replies: compression and truncation ---------------------------------------------------------


def test_reply_that_fits_is_sent_uncompressed() -> None:
    answer = ["www.example.org. 300 IN CNAME web.example.org.", *[
        f"web.example.org. 300 IN A 10.0.0.{i}" for i in range(1, 4)
    ]]
    authority = ["example.org. 300 IN NS ns1.example.org."]
    additional = ["ns1.example.org. 300 IN A 10.9.9.9"]
    reply = add(add(add(reply_for("www.example.org."), "an", *answer), "ns", *authority), "ar", *additional)
    packed = pack_reply(reply, query_edns=None, limit=512, udp=True, ipv6=False)
    expected = uncompressed_wire(REPLY_FLAGS, "www.example.org.", 1, (answer, authority, additional))
    assert packed.wire == expected
    assert not packed.truncated


def test_reply_is_compressed_when_that_makes_it_fit() -> None:
    answer = A_LINES[:20]
    reply = add(reply_for("www.example.org."), "an", *answer)
    uncompressed = uncompressed_wire(REPLY_FLAGS, "www.example.org.", 1, (answer, [], []))
    assert len(uncompressed) > 512
    packed = pack_reply(reply, query_edns=None, limit=512, udp=True, ipv6=False)
    assert len(packed.wire) == compressed_length("www.example.org.", 1, (answer, [], []))
    assert not packed.truncated
    message = parse(packed.wire)
    assert not message.flags & dns.flags.TC
    assert records(message)[0] == [r.to_text() for r in rrsets(*answer)]


@pytest.mark.parametrize(("limit", "compressed"), [(1501, False), (1500, True)], ids=["fits", "one-short"])
def test_reply_is_uncompressed_up_to_exactly_the_limit(limit: int, compressed: bool) -> None:
    # 12 + 21 (question) + 47 * 31 (A record, 17-octet owner) + 11 (OPT) = 1501 uncompressed;
    # compression turns each owner into a 2-octet pointer, saving 15 octets a record.
    reply = add(reply_for("www.example.org."), "an", *A_LINES[:47])
    packed = pack_reply(reply, query_edns=edns(4096), limit=limit, udp=False, ipv6=False)
    assert len(packed.wire) == (1501 - 47 * 15 if compressed else 1501)
    assert not packed.truncated
    assert len(parse(packed.wire).answer) == 47


def test_truncated_at_512_without_edns_record_by_record() -> None:
    # Compressed, each A record takes 16 octets after 12 + 21 of header and question.
    reply = add(reply_for("www.example.org."), "an", *A_LINES[:40])
    packed = pack_reply(reply, query_edns=None, limit=512, udp=True, ipv6=False)
    kept = (512 - 12 - 21) // 16
    assert kept == 29
    message = parse(packed.wire)
    assert message.flags & dns.flags.TC and packed.truncated
    assert len(message.answer) == kept  # a part of one RRset, not the RRset dropped whole
    assert struct.unpack_from("!H", packed.wire, 6)[0] == kept
    assert len(packed.wire) == 12 + 21 + kept * 16
    assert message.edns == -1


def test_truncation_carries_on_into_later_sections_and_stops_at_the_first_misfit() -> None:
    answer = A_LINES[:20]  # 20 * 16 = 320
    authority = [f"example.org. 300 IN NS ns{i}.example.org." for i in range(10)]  # 2+10+6 = 18 each
    additional = ["ns0.example.org. 300 IN A 10.9.9.9"]
    reply = add(add(add(reply_for("www.example.org."), "an", *answer), "ns", *authority), "ar", *additional)
    packed = pack_reply(reply, query_edns=None, limit=512, udp=True, ipv6=False)
    # The answers take 12 + 21 + 320 octets; how many NS records fit after them, dnspython says.
    kept_ns = 0
    while compressed_length("www.example.org.", 1, (answer, authority[: kept_ns + 1], [])) <= 512:
        kept_ns += 1
    assert 0 < kept_ns < len(authority)
    message = parse(packed.wire)
    assert message.flags & dns.flags.TC
    assert len(message.answer) == 20
    assert len(message.authority) == kept_ns
    assert message.additional == []  # nothing after the first record that did not fit
    assert len(packed.wire) == compressed_length("www.example.org.", 1, (answer, authority[:kept_ns], []))


def test_truncated_at_the_edns_size_with_the_opt_kept() -> None:
    reply = add(reply_for("www.example.org."), "an", *A_LINES[:100])
    packed = pack_reply(reply, query_edns=edns(1232, do=True), limit=1232, udp=True, ipv6=False)
    kept = (1232 - 11 - 12 - 21) // 16
    message = parse(packed.wire)
    assert message.flags & dns.flags.TC
    assert len(message.answer) == kept
    assert len(packed.wire) == 12 + 21 + kept * 16 + 11
    assert message.edns == 0 and message.payload == 1232 and message.ednsflags & dns.flags.DO
    assert struct.unpack_from("!H", packed.wire, 10)[0] == 1  # ARCOUNT: the OPT only
    assert packed.wire.endswith(wire.opt_record(1232, 0x8000, b""))


def test_edns_size_below_512_counts_as_512_but_is_echoed_as_sent() -> None:
    reply = add(reply_for("www.example.org."), "an", *A_LINES[:40])
    # Request.size gives 512 for a client buffer under 512; the OPT still says 100.
    packed = pack_reply(reply, query_edns=edns(100), limit=512, udp=True, ipv6=False)
    message = parse(packed.wire)
    assert message.payload == 100
    assert len(message.answer) == (512 - 11 - 12 - 21) // 16


def test_tc_set_by_the_plugin_is_kept() -> None:
    reply = add(reply_for("www.example.org.", tc=True), "an", *A_LINES[:2])
    packed = pack_reply(reply, query_edns=None, limit=512, udp=True, ipv6=False)
    assert parse(packed.wire).flags & dns.flags.TC
    assert len(parse(packed.wire).answer) == 2


def test_tcp_reply_is_cut_at_65535() -> None:
    reply = add(reply_for("www.example.org."), "an", *(
        f"www.example.org. 300 IN A 10.{i // 62500}.{i // 250 % 250}.{i % 250}" for i in range(5000)
    ))
    packed = pack_reply(reply, query_edns=None, limit=65535, udp=False, ipv6=False)
    kept = (65535 - 12 - 21) // 16
    message = parse(packed.wire)
    assert message.flags & dns.flags.TC
    assert len(message.answer) == kept


def test_compressed_reply_past_16k_has_valid_pointers() -> None:
    # A pointer has 14 bits, so names written past offset 16383 cannot be pointed at (miekg
    # only remembers names at offsets below maxCompressionOffset). Every name here appears
    # twice, so a later copy would point at an earlier one.
    lines = []  # 2200 records: 81 kB uncompressed, about 53 kB compressed
    for i in range(1100):
        lines.append(f"host{i:05d}.example.org. 300 IN A 10.0.{i // 250}.{i % 250}")
        lines.append(f"host{i:05d}.example.org. 300 IN A 10.1.{i // 250}.{i % 250}")
    reply = add(reply_for("www.example.org."), "an", *lines)
    packed = pack_reply(reply, query_edns=None, limit=65535, udp=False, ipv6=False)
    assert not packed.truncated
    message = parse(packed.wire)
    assert records(message)[0] == [r.to_text() for r in rrsets(*lines)]
    assert len(packed.wire) == compressed_length("www.example.org.", 1, (lines, [], []))


def test_srv_targets_serve_later_compression_like_miekg() -> None:
    # miekg never compresses an SRV target but remembers it, so the A record for that target
    # in the additional section is a bare pointer (2 octets), as in a headless service reply.
    qname = "_http._tcp.web.default.svc.cluster.local."
    answer = [f"{qname} 5 IN SRV 0 25 80 ep-{i}.web.default.svc.cluster.local." for i in range(4)]
    additional = [f"ep-{i}.web.default.svc.cluster.local. 5 IN A 10.0.0.{i}" for i in range(4)]
    reply = add(add(reply_for(qname, 33), "an", *answer), "ar", *additional)
    packed = pack_reply(reply, query_edns=None, limit=512, udp=True, ipv6=False)
    question = 42 + 4
    srv = 2 + 10 + 6 + 36  # owner pointer, fixed part, priority/weight/port, full target
    a = 2 + 10 + 4  # owner pointer to the SRV target
    assert len(uncompressed_wire(REPLY_FLAGS, qname, 33, (answer, [], additional))) > 512
    assert len(packed.wire) == 12 + question + 4 * srv + 4 * a
    assert records(parse(packed.wire)) == [
        [r.to_text() for r in rrsets(*answer)], [], [r.to_text() for r in rrsets(*additional)]
    ]


# --- replies: the UDP fragmentation rule -----------------------------------------------------


def _sized_reply(total: int, *, with_opt: bool) -> tuple[DNSRecord, int]:
    """A reply of ``total`` octets uncompressed (OPT included if ``with_opt``); 2 records.

    Returns the reply and the octets compression saves (two owners of 13 become pointers).
    """
    reply = reply_for("example.org.")
    base = 12 + 17 + (11 if with_opt else 0) + 2 * (13 + 10)
    first = (total - base) // 2
    second = total - base - first
    for size in (first, second):
        reply.add_answer(RR("example.org.", rtype=65280, ttl=60, rdata=RD(b"x" * size)))
    assert len(wire.pack(reply)) + (11 if with_opt else 0) == total
    return reply, 2 * 11


@pytest.mark.parametrize(
    ("size", "udp", "ipv6", "compressed"),
    [
        pytest.param(1480, True, False, False, id="udp4-1480"),
        pytest.param(1481, True, False, True, id="udp4-1481"),
        pytest.param(1481, False, False, False, id="tcp4-1481"),
        pytest.param(1220, True, True, False, id="udp6-1220"),
        pytest.param(1221, True, True, True, id="udp6-1221"),
        pytest.param(1400, True, False, False, id="udp4-1400"),
        pytest.param(1400, True, True, True, id="udp6-1400"),
        pytest.param(4000, False, True, False, id="tcp6-4000"),
    ],
)
def test_udp_reply_over_the_fragmentation_limit_is_compressed(
    size: int, udp: bool, ipv6: bool, compressed: bool
) -> None:
    reply, saving = _sized_reply(size, with_opt=True)
    packed = pack_reply(reply, query_edns=edns(4096), limit=4096 if udp else 65535, udp=udp, ipv6=ipv6)
    assert len(packed.wire) == (size - saving if compressed else size)
    assert not packed.truncated
    assert len(parse(packed.wire).answer) == 2


# --- replies: the OPT record -------------------------------------------------------------------

ALL_OPTIONS = (
    option(3, b"")  # NSID
    + option(8, b"\x00\x01\x18\x00\x0a\x00\x00")  # ECS
    + option(9, b"")  # EXPIRE
    + option(10, b"clientck")  # COOKIE
    + option(11, b"")  # TCP-KEEPALIVE
    + option(12, b"\x00" * 7)  # PADDING
    + option(15, b"\x00\x05")  # EDE
    + option(65001, b"local")  # local use
)
ECHOED = option(3, b"") + option(9, b"") + option(10, b"clientck") + option(11, b"") + option(12, b"\x00" * 7)


def test_query_opt_is_echoed_with_only_the_supported_options() -> None:
    packed = pack_reply(
        add(reply_for(), "an", "example.org. 300 IN A 10.0.0.1"),
        query_edns=edns(4096, do=True, options=ALL_OPTIONS),
        limit=4096,
        udp=True,
        ipv6=False,
    )
    assert packed.wire.endswith(wire.opt_record(4096, 0x8000, ECHOED))
    message = parse(packed.wire)
    assert message.payload == 4096 and message.edns == 0
    assert message.ednsflags & dns.flags.DO
    assert [o.otype for o in message.options] == [3, 9, 10, 11, 12]


@pytest.mark.parametrize(
    ("query_ttl", "reply_ttl"),
    [
        pytest.param(0x00000000, 0x0000, id="nothing"),
        pytest.param(0x00008000, 0x8000, id="do"),
        pytest.param(0x00017F00, 0x7F00, id="version-1-upper-z-kept"),
        pytest.param(0xFF0080FF, 0x8000, id="ext-rcode-and-lower-z-cleared"),
    ],
)
def test_reused_opt_keeps_do_and_upper_z_only(query_ttl: int, reply_ttl: int) -> None:
    query_edns = Edns(1232, (query_ttl >> 16) & 0xFF, bool(query_ttl & 0x8000), query_ttl, b"")
    packed = pack_reply(reply_for(), query_edns=query_edns, limit=1232, udp=True, ipv6=False)
    assert packed.wire.endswith(wire.opt_record(1232, reply_ttl, b""))


def test_no_opt_in_the_reply_without_opt_in_the_query() -> None:
    packed = pack_reply(reply_for(), query_edns=None, limit=512, udp=True, ipv6=False)
    assert parse(packed.wire).edns == -1
    assert struct.unpack_from("!H", packed.wire, 10)[0] == 0


def test_plugin_opt_without_query_opt_is_left_alone() -> None:
    reply = reply_for()
    reply.add_ar(EDNS0(udp_len=4096, version=0, flags="do", opts=[EDNSOption(15, b"\x00\x05")]))
    packed = pack_reply(reply, query_edns=None, limit=512, udp=True, ipv6=False)
    message = parse(packed.wire)
    assert message.payload == 4096 and message.ednsflags & dns.flags.DO
    assert [o.otype for o in message.options] == [15]


def test_plugin_opt_is_normalised_to_the_client() -> None:
    # SizeAndDo: version 0, the client's UDP size, the plugin's options kept as they are.
    reply = reply_for()
    reply.add_ar(EDNS0(udp_len=512, version=0, opts=[EDNSOption(15, b"\x00\x05")]))
    query_edns = edns(1400, do=True, options=option(10, b"clientck"))
    packed = pack_reply(reply, query_edns=query_edns, limit=1400, udp=True, ipv6=False)
    assert packed.wire.endswith(wire.opt_record(1400, 0x8000, option(15, b"\x00\x05")))
    assert struct.unpack_from("!H", packed.wire, 10)[0] == 1


def test_plugin_opt_keeps_its_extended_rcode() -> None:
    # A forwarded BADCOOKIE (23): header rcode 7, OPT ext-rcode 1. miekg reads it as Rcode 23
    # and writes the extended bits back when packing, so the client still sees BADCOOKIE.
    reply = reply_for()
    reply.header.rcode = 23 & 0xF
    reply.add_ar(EDNS0(udp_len=1232, ext_rcode=23 >> 4))
    packed = pack_reply(reply, query_edns=edns(1232), limit=1232, udp=True, ipv6=False)
    assert parse(packed.wire).rcode() == dns.rcode.BADCOOKIE


def test_plugin_opt_keeps_its_do_bit() -> None:
    # SizeAndDo clears only the low byte of the plugin OPT's flags (Ttl &= 0xff00): DO set by
    # the plugin (an upstream answer) stays even when the client did not set it.
    reply = reply_for()
    reply.add_ar(EDNS0(udp_len=1232, flags="do"))
    packed = pack_reply(reply, query_edns=edns(1232), limit=1232, udp=True, ipv6=False)
    assert parse(packed.wire).ednsflags & dns.flags.DO


def test_opt_version_is_zero_even_for_a_version_1_query() -> None:
    # The REFUSED answer to a CHAOS query runs before the BADVERS check and reuses the OPT.
    packed = pack_reply(reply_for(), query_edns=edns(1232, version=1), limit=1232, udp=True, ipv6=False)
    assert parse(packed.wire).edns == 0


# --- property tests -----------------------------------------------------------------------

BOUNDED = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

labels_strategy = st.lists(st.binary(min_size=1, max_size=63), max_size=6).filter(
    lambda labels: sum(len(label) + 1 for label in labels) + 1 <= 255
)


# Option codes dnspython reads back as opaque bytes (it validates NSID, ECS, COOKIE, EDE...).
GENERIC_OPTION_CODES = st.integers(0, 0xFFFF).filter(
    lambda code: dns.edns.get_option_class(code) is dns.edns.GenericOption
)


@st.composite
def dnspython_queries(draw: st.DrawFn) -> dns.message.Message:
    labels = draw(labels_strategy)
    message = dns.message.Message(id=draw(st.integers(0, 0xFFFF)))
    opcode = draw(st.sampled_from([0, 4]))
    message.flags = (opcode << 11) | draw(st.integers(0, 0x07FF))  # QR clear, any other bit
    message.question = [
        dns.rrset.RRset(
            dns.name.Name([*labels, b""]),
            draw(st.integers(0, 0xFFFF)),
            draw(st.integers(0, 0xFFFF).filter(lambda t: t != dns.rdatatype.OPT)),
        )
    ]
    if draw(st.booleans()):
        options = [
            dns.edns.GenericOption(code, data)
            for code, data in draw(
                st.lists(st.tuples(GENERIC_OPTION_CODES, st.binary(max_size=20)), max_size=4)
            )
        ]
        message.use_edns(
            edns=draw(st.integers(0, 255)),
            ednsflags=draw(st.sampled_from([0, dns.flags.DO])),
            payload=draw(st.integers(0, 0xFFFF)),
            options=options,
        )
    return message


@BOUNDED
@given(dnspython_queries())
def test_parse_query_recovers_what_dnspython_wrote(message: dns.message.Message) -> None:
    data = message.to_wire()
    parsed = parse_query(data)
    assert isinstance(parsed, Query)
    again = dns.message.from_wire(data)
    question = again.question[0]
    assert parsed.id == again.id
    assert parsed.flags == struct.unpack_from("!H", data, 2)[0]
    assert parsed.qname_labels == question.name.labels[:-1]
    assert _unescape(parsed.qname) == question.name.labels
    assert (parsed.qtype, parsed.qclass) == (question.rdtype, question.rdclass)
    if again.edns < 0:
        assert parsed.edns is None
    else:
        assert parsed.edns is not None
        assert parsed.edns.udp_size == again.payload
        assert parsed.edns.version == again.edns
        assert parsed.edns.do == bool(again.ednsflags & dns.flags.DO)
        options = io.BytesIO()
        for item in again.options:
            wire_data = item.to_wire()
            options.write(struct.pack("!HH", item.otype, len(wire_data)) + wire_data)
        assert parsed.edns.options == options.getvalue()


def _unescape(text: str) -> tuple[bytes, ...]:
    """miekg presentation form back to labels (independent of clusterdns.wire)."""
    if text == ".":
        return (b"",)
    labels, current, i = [], bytearray(), 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            if text[i + 1 : i + 4].isdigit() and len(text[i + 1 : i + 4]) == 3:
                current.append(int(text[i + 1 : i + 4]))
                i += 4
            else:
                current += text[i + 1].encode()
                i += 2
        elif char == ".":
            labels.append(bytes(current))
            current = bytearray()
            i += 1
        else:
            current += char.encode()
            i += 1
    return (*labels, b"")


@st.composite
def mutated_queries(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(dnspython_queries()).to_wire())
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        if not data:
            break
        position = draw(st.integers(0, len(data) - 1))
        if action == "flip":
            data[position] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[position:]
        else:
            data[position:position] = draw(st.binary(min_size=1, max_size=4))
    return bytes(data)


@BOUNDED
@given(st.one_of(st.binary(max_size=300), mutated_queries()))
def test_parse_query_never_raises(data: bytes) -> None:
    parsed = parse_query(data)
    assert isinstance(parsed, (Query, Rejected))
    reply = rejection_reply(parsed) if isinstance(parsed, Rejected) else None
    if isinstance(parsed, Query):
        assert parsed.question_end <= len(data)
        assert sum(len(label) + 1 for label in parsed.qname_labels) + 1 <= 255
    elif reply is not None:
        assert reply[:2] == data[:2] and reply[2] & 0x80  # the ID kept, QR set
    # Whatever dnspython (stricter than miekg) accepts as a query, parse_query accepts the same.
    try:
        message = dns.message.from_wire(data, ignore_trailing=True)
    except Exception:
        return
    if message.flags & dns.flags.QR or message.opcode() not in (0, 4) or len(message.question) != 1:
        return
    # Counts from the header: dnspython merges identical records into one RRset.
    _, _, qdcount, ancount, nscount, arcount = struct.unpack_from("!6H", data)
    if qdcount != 1 or ancount > 1 or nscount > 1 or arcount > 2:
        return
    event("dnspython accepts it as a query")
    assert isinstance(parsed, Query), parsed
    assert parsed.qname_labels == message.question[0].name.labels[:-1]
    assert parsed.qtype == message.question[0].rdtype
    assert (parsed.edns is not None) == (message.edns >= 0)


# Generated replies: names in one small pool so compression has work to do; only types that
# miekg, dnslib and dnspython compress alike (A, AAAA, TXT: none; CNAME, NS, MX: rdata too).
NAME_POOL = [
    "example.org.", "www.example.org.", "a.b.example.org.", "mail.example.org.",
    "example.net.", "ns1.example.net.", "x.y.z.example.net.",
]


@dataclass(frozen=True)
class Spec:
    name: str
    rdtype: str
    rdata: str


@st.composite
def record_specs(draw: st.DrawFn) -> Spec:
    name = draw(st.sampled_from(NAME_POOL))
    rdtype = draw(st.sampled_from(["A", "AAAA", "CNAME", "NS", "MX", "TXT"]))
    if rdtype == "A":
        rdata = ".".join(str(draw(st.integers(0, 255))) for _ in range(4))
    elif rdtype == "AAAA":
        rdata = ":".join(f"{draw(st.integers(0, 0xFFFF)):x}" for _ in range(8))
    elif rdtype == "MX":
        rdata = f"{draw(st.integers(0, 100))} {draw(st.sampled_from(NAME_POOL))}"
    elif rdtype == "TXT":
        rdata = '"' + draw(st.text(alphabet="abcdefghij0123456789", max_size=255)) + '"'
    else:
        rdata = draw(st.sampled_from(NAME_POOL))
    return Spec(name, rdtype, rdata)


@st.composite
def replies(draw: st.DrawFn) -> tuple[str, list[list[Spec]], Edns | None, bool, bool]:
    qname = draw(st.sampled_from(NAME_POOL))
    sizes = (draw(st.integers(0, 80)), draw(st.integers(0, 6)), draw(st.integers(0, 20)))
    sections = [draw(st.lists(record_specs(), min_size=size, max_size=size)) for size in sizes]
    query_edns = None
    if draw(st.booleans()):
        options = draw(st.sampled_from([b"", option(10, b"clientck"), option(8, bytes(4)), ALL_OPTIONS]))
        query_edns = edns(
            draw(st.sampled_from([0, 100, 512, 600, 1232, 1400, 1500, 4096, 4096, 65535, 65535])),
            do=draw(st.booleans()),
            options=options,
        )
    return qname, sections, query_edns, draw(st.booleans()), draw(st.booleans())


def _line(spec: Spec) -> str:
    return f"{spec.name} 300 IN {spec.rdtype} {spec.rdata}"


@BOUNDED
@given(replies())
def test_packed_replies_reparse_to_a_prefix_of_the_records_and_fit(
    case: tuple[str, list[list[Spec]], Edns | None, bool, bool],
) -> None:
    qname, sections, query_edns, udp, ipv6 = case
    reply = reply_for(qname)
    for tag, section in zip(("an", "ns", "ar"), sections, strict=True):
        add(reply, tag, *(_line(spec) for spec in section))
    if not udp:
        limit = 65535
    elif query_edns is None:
        limit = 512
    else:
        limit = max(512, query_edns.udp_size)
    packed = pack_reply(reply, query_edns=query_edns, limit=limit, udp=udp, ipv6=ipv6)

    message = parse(packed.wire)
    assert message.id == QID
    opt_rr = b""
    if query_edns is not None:
        echoed = wire.echoed_options(query_edns.options)
        opt_rr = wire.opt_record(query_edns.udp_size, query_edns.flags_ttl & 0xFF00, echoed)
        assert packed.wire.endswith(opt_rr)
        assert message.payload == query_edns.udp_size and message.edns == 0
    else:
        assert message.edns == -1
    assert len(packed.wire) <= max(limit, 12 + len(dns.name.from_text(qname).to_wire()) + 4 + len(opt_rr))

    lines = [[_line(spec) for spec in section] for section in sections]
    flat = [(index, line) for index, section in enumerate(lines) for line in section]
    got = records(message)
    kept = sum(len(section) for section in got)
    expected_sections: list[list[str]] = [[], [], []]
    for index, line in flat[:kept]:
        expected_sections[index].append(line)
    assert got == [[r.to_text() for r in rrsets(*section)] for section in expected_sections]
    assert bool(message.flags & dns.flags.TC) == (kept < len(flat)) == packed.truncated
    if kept < len(flat):  # the next record would not have fitted, even compressed
        event("truncated")
        with_next: list[list[str]] = [list(section) for section in expected_sections]
        index, line = flat[kept]
        with_next[index].append(line)
        assert compressed_length(qname, 1, tuple(with_next)) + len(opt_rr) > limit
        return
    uncompressed = uncompressed_wire(REPLY_FLAGS, qname, 1, tuple(lines), opt_rr)  # type: ignore[arg-type]
    fragment_limit = 1220 if ipv6 else 1480
    if len(uncompressed) <= limit and not (udp and len(uncompressed) > fragment_limit):
        event("uncompressed")
        assert packed.wire == uncompressed
    else:
        event("compressed to fit" if len(uncompressed) > limit else "compressed against fragmentation")
        assert len(packed.wire) == compressed_length(qname, 1, tuple(lines)) + len(opt_rr)
