"""Reply types and classes (``clusterdns.response``, CoreDNS ``plugin/pkg/response``).

Cases follow ``typify_test.go`` and ``Typify``'s order of checks. *log* passes the DO bit of the
reply as sent; *cache* lets it be read from the message's own OPT, as CoreDNS does.
"""

from __future__ import annotations

import time

import pytest
from dnslib import EDNS0, NS, QTYPE, RR, RRSIG, SOA, A, DNSHeader, DNSQuestion, DNSRecord

from clusterdns.response import (
    ALL,
    DELEGATION,
    DENIAL,
    ERROR,
    META,
    NAME_ERROR,
    NO_DATA,
    NO_ERROR,
    OTHER_ERROR,
    SERVER_ERROR,
    SUCCESS,
    UPDATE,
    Class,
    Type,
    classify,
    typify,
    typify_parts,
)

NOW = 1_700_000_000


def message(
    rcode: int = 0,
    *,
    qtype: str = "A",
    opcode: int = 0,
    answer: list[RR] | None = None,
    auth: list[RR] | None = None,
    extra: list[RR] | None = None,
) -> DNSRecord:
    msg = DNSRecord(DNSHeader(qr=1, opcode=opcode, rcode=rcode), q=DNSQuestion("example.org.", getattr(QTYPE, qtype)))
    for rr in answer or []:
        msg.add_answer(rr)
    for rr in auth or []:
        msg.add_auth(rr)
    for rr in extra or []:
        msg.add_ar(rr)
    return msg


A_RR = RR("example.org.", QTYPE.A, rdata=A("10.0.0.1"), ttl=30)
SOA_RR = RR("example.org.", QTYPE.SOA, rdata=SOA("ns.example.org.", "h.example.org.", (1, 2, 3, 4, 5)))
NS_RR = RR("example.org.", QTYPE.NS, rdata=NS("ns.example.org."))


def rrsig(inception: int, expiration: int) -> RR:
    rdata = RRSIG(1, 8, 2, 30, expiration, inception, 12345, "example.org.", b"sig")
    return RR("example.org.", QTYPE.RRSIG, rdata=rdata)


def opt(*, do: bool) -> RR:
    return EDNS0(udp_len=1232, flags="do" if do else "")


@pytest.mark.parametrize(
    ("msg", "do", "kind"),
    [
        (message(answer=[A_RR]), False, NO_ERROR),
        (message(), False, NO_ERROR),
        (message(3), False, NAME_ERROR),
        (message(3, auth=[SOA_RR]), False, NAME_ERROR),
        (message(3, answer=[A_RR]), False, OTHER_ERROR),
        (message(auth=[SOA_RR]), False, NO_DATA),
        (message(auth=[NS_RR]), False, DELEGATION),
        (message(auth=[NS_RR, SOA_RR]), False, NO_DATA),
        (message(2), False, SERVER_ERROR),
        (message(4), False, SERVER_ERROR),
        (message(5), False, OTHER_ERROR),
        (message(1), False, OTHER_ERROR),
        (message(9, auth=[SOA_RR]), False, OTHER_ERROR),
        (message(opcode=4), False, META),
        (message(opcode=5, answer=[A_RR]), False, UPDATE),
        (message(qtype="AXFR", answer=[A_RR]), False, META),
        (message(qtype="IXFR"), False, META),
        (message(answer=[A_RR, rrsig(NOW - 10, NOW + 10)]), True, NO_ERROR),
        (message(answer=[A_RR, rrsig(NOW - 20, NOW - 10)]), True, OTHER_ERROR),
        (message(answer=[A_RR], auth=[rrsig(NOW + 10, NOW + 20)]), True, OTHER_ERROR),
        (message(answer=[A_RR], extra=[rrsig(NOW - 20, NOW - 10)]), True, OTHER_ERROR),
        (message(answer=[A_RR, rrsig(NOW - 20, NOW - 10)]), False, NO_ERROR),
        (None, False, OTHER_ERROR),
    ],
)
def test_typify(msg: DNSRecord | None, do: bool, kind: Type) -> None:
    assert typify(msg, do=do, now=NOW) == kind


@pytest.mark.parametrize(
    ("msg", "kind"),
    [
        (message(answer=[A_RR, rrsig(NOW - 20, NOW - 10)], extra=[opt(do=True)]), OTHER_ERROR),
        (message(answer=[A_RR, rrsig(NOW - 20, NOW - 10)], extra=[opt(do=False)]), NO_ERROR),
        (message(answer=[A_RR, rrsig(NOW - 20, NOW - 10)]), NO_ERROR),
        (message(answer=[A_RR, rrsig(NOW - 10, NOW + 10)], extra=[opt(do=True)]), NO_ERROR),
        (message(opcode=5, answer=[A_RR, rrsig(NOW - 20, NOW - 10)], extra=[opt(do=True)]), UPDATE),
    ],
)
def test_without_do_the_message_opt_decides_whether_signatures_count(msg: DNSRecord, kind: Type) -> None:
    # CoreDNS reads DO from the message itself (m.IsEdns0()); the cache relies on that.
    assert typify(msg, NOW) == kind


def test_signature_times_follow_miekg_validity_period() -> None:
    # miekg/dns shifts each time by multiples of 2**31 towards now, dividing as Go does
    # (truncating toward zero): far-future expirations stay valid, a wrapped one does not.
    far = message(answer=[A_RR, rrsig(NOW - 10, NOW + (1 << 31) + 5)])
    assert typify(far, do=True, now=NOW) == NO_ERROR
    now = (1 << 32) - 100
    wrapped = message(answer=[A_RR, rrsig(now - 10, 50)])
    assert typify(wrapped, do=True, now=now) == OTHER_ERROR


def test_the_clock_judges_signatures_when_no_time_is_given() -> None:
    clock = int(time.time())
    assert typify(message(answer=[A_RR, rrsig(clock - 7200, clock - 3600)]), do=True) == OTHER_ERROR
    assert typify(message(answer=[A_RR, rrsig(clock - 3600, clock + 3600)]), do=True) == NO_ERROR


@pytest.mark.parametrize(
    ("opcode", "rcode", "qtype", "kind"),
    [
        (0, 0, 1, NO_ERROR),
        (0, 3, 1, NAME_ERROR),
        (0, 2, 1, SERVER_ERROR),
        (0, 5, 1, OTHER_ERROR),
        (4, 2, 1, META),
        (0, 2, 251, META),
        (5, 2, 1, UPDATE),
        (0, 0, None, NO_ERROR),
    ],
)
def test_a_reply_given_as_header_fields(opcode: int, rcode: int, qtype: int | None, kind: Type) -> None:
    assert typify_parts(opcode, rcode, qtype) == kind


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        (NO_ERROR, SUCCESS),
        (DELEGATION, SUCCESS),
        (NAME_ERROR, DENIAL),
        (NO_DATA, DENIAL),
        (SERVER_ERROR, ERROR),
        (OTHER_ERROR, ERROR),
        (META, ERROR),
        (UPDATE, ERROR),
    ],
)
def test_classify(kind: Type, cls: Class) -> None:
    assert classify(kind) == cls


def test_types_and_classes_print_as_coredns_names() -> None:
    assert [str(kind) for kind in Type] == [
        "NOERROR", "NXDOMAIN", "SERVERERROR", "NODATA", "DELEGATION", "META", "UPDATE", "OTHERERROR",
    ]
    assert [str(cls) for cls in Class] == ["all", "success", "denial", "error"]
    # log keeps class names from the Corefile as plain strings: a class must match its name.
    assert ALL == "all" and SUCCESS in frozenset({"success"}) and Type.NO_DATA == "NODATA"
