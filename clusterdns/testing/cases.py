"""Table-driven DNS test cases (CoreDNS ``plugin/test`` ``Case`` and ``SortAndCheck``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import dns.message
import dns.rcode
import dns.rrset


def rr(text: str) -> dns.rrset.RRset:
    """One record from zone-file text: ``rr("a.example.org. 3600 IN A 10.0.0.1")``."""
    name, ttl, rdclass, rdtype, *data = text.split(None, 4)
    return dns.rrset.from_text(name, int(ttl), rdclass, rdtype, *data)


def _records(rrsets: list[dns.rrset.RRset]) -> list[str]:
    """Every record as text, one line each, sorted (order-insensitive comparison)."""
    lines = []
    for rrset in rrsets:
        for line in rrset.to_text().splitlines():
            lines.append(line.lower())
    return sorted(lines)


@dataclass
class Case:
    """One query and the reply expected for it."""

    qname: str
    qtype: str = "A"
    rcode: str = "NOERROR"
    answer: list[str] = field(default_factory=list)
    ns: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    authoritative: bool | None = None


def check(reply: dns.message.Message, case: Case) -> None:
    """Assert ``reply`` matches ``case`` section by section, record order ignored."""
    assert dns.rcode.to_text(reply.rcode()) == case.rcode, reply.to_text()
    assert _records(reply.answer) == _records([rr(t) for t in case.answer]), reply.to_text()
    assert _records(reply.authority) == _records([rr(t) for t in case.ns]), reply.to_text()
    extra = [r for r in reply.additional if r.rdtype != 41]
    assert _records(extra) == _records([rr(t) for t in case.extra]), reply.to_text()
    if case.authoritative is not None:
        assert bool(reply.flags & 0x0400) == case.authoritative, reply.to_text()
