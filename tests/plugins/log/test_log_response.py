"""Reply types and classes for the ``class`` filter (CoreDNS ``plugin/pkg/response``).

Cases follow ``typify_test.go`` and ``Typify``'s order of checks.
"""

from __future__ import annotations

import pytest
from dnslib import EDNS0, NS, QTYPE, RR, RRSIG, SOA, A, DNSHeader, DNSQuestion, DNSRecord

from clusterdns import wire
from clusterdns.plugins.log.response import (
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
    classify,
    reply_do,
    typify,
    typify_unwritten,
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
def test_typify(msg: DNSRecord | None, do: bool, kind: str) -> None:
    assert typify(msg, do=do, now=NOW) == kind


def test_signature_times_follow_miekg_validity_period() -> None:
    # miekg/dns shifts each time by multiples of 2**31 towards now, dividing as Go does
    # (truncating toward zero): far-future expirations stay valid, a wrapped one does not.
    far = message(answer=[A_RR, rrsig(NOW - 10, NOW + (1 << 31) + 5)])
    assert typify(far, do=True, now=NOW) == NO_ERROR
    now = (1 << 32) - 100
    wrapped = message(answer=[A_RR, rrsig(now - 10, 50)])
    assert typify(wrapped, do=True, now=now) == OTHER_ERROR


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
def test_classify(kind: str, cls: str) -> None:
    assert classify(kind) == cls


@pytest.mark.parametrize(
    ("rcode", "opcode", "qtype", "kind"),
    [
        (2, 0, 1, SERVER_ERROR),
        (4, 0, 1, SERVER_ERROR),
        (5, 0, 1, OTHER_ERROR),
        (1, 0, 1, OTHER_ERROR),
        (2, 4, 1, META),
        (2, 0, 252, META),
        (2, 5, 1, UPDATE),
    ],
)
def test_the_made_up_reply_of_an_unwritten_chain(rcode: int, opcode: int, qtype: int, kind: str) -> None:
    assert typify_unwritten(rcode, opcode, qtype) == kind


def test_reply_do_follows_the_query_opt() -> None:
    edns_do = wire.Edns(udp_size=1232, version=0, do=True, flags_ttl=0x8000, options=b"")
    edns_plain = wire.Edns(udp_size=1232, version=0, do=False, flags_ttl=0, options=b"")
    plain = message()
    with_opt = message(extra=[EDNS0(udp_len=1232, flags="do")])
    assert reply_do(plain, None) is False
    assert reply_do(plain, edns_do) is True
    assert reply_do(plain, edns_plain) is False
    assert reply_do(with_opt, edns_plain) is True
    assert reply_do(with_opt, None) is True
