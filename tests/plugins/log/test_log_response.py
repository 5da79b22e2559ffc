"""How *log* types a reply: the DO bit of the reply as sent, and the reply CoreDNS's log makes
up for a chain that wrote nothing. The type and class tables themselves (CoreDNS
``plugin/pkg/response``) are in tests/test_response.py.
"""

from __future__ import annotations

import pytest
from dnslib import EDNS0, QTYPE, DNSHeader, DNSQuestion, DNSRecord

from clusterdns import wire
from clusterdns.plugins.log.log import reply_do, typify_unwritten
from clusterdns.response import META, OTHER_ERROR, SERVER_ERROR, UPDATE


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
    plain = DNSRecord(DNSHeader(qr=1), q=DNSQuestion("example.org.", QTYPE.A))
    with_opt = DNSRecord(DNSHeader(qr=1), q=DNSQuestion("example.org.", QTYPE.A))
    with_opt.add_ar(EDNS0(udp_len=1232, flags="do"))
    assert reply_do(plain, None) is False
    assert reply_do(plain, edns_do) is True
    assert reply_do(plain, edns_plain) is False
    assert reply_do(with_opt, edns_plain) is True
    assert reply_do(with_opt, None) is True
