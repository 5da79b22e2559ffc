"""What the cache needs to know about a reply beyond its type: whether it answers its question,
its smallest TTL, and the type the cache files it under.

The type itself is CoreDNS's ``response.Typify`` (``clusterdns.response``). On top of it come
the 1.14.7 ``cacheResponseType``, which treats a NOERROR whose CNAME chain never reaches the
asked type as NODATA when an SOA is present, and ``dnsutil.MinimalTTLWithMaximum`` (the smallest
TTL over every section, OPT excluded). Names are compared ASCII case-insensitively, label by
label.
"""

from __future__ import annotations

from typing import Final

from dnslib import RR, DNSLabel, DNSRecord

from clusterdns import wire
from clusterdns.response import NAME_ERROR, NO_DATA, NO_ERROR, Type, typify

TYPE_CNAME: Final = 5
TYPE_SOA: Final = 6
TYPE_OPT: Final = wire.TYPE_OPT
TYPE_ANY: Final = 255
CLASS_ANY: Final = 255
#: A reply without records (or only an OPT) is cached this long (``MinimalDefaultTTL``).
NO_RECORDS_TTL_SECONDS: Final = 5


def _labels(label: DNSLabel) -> tuple[bytes, ...]:
    return tuple(map(bytes.lower, label.label))


def same_name(a: DNSLabel, b: DNSLabel) -> bool:
    """Whether two names are equal, ignoring ASCII case."""
    la, lb = a.label, b.label
    if la == lb:
        return True
    return len(la) == len(lb) and _labels(a) == _labels(b)


def has_soa(msg: DNSRecord) -> bool:
    return any(rr.rtype == TYPE_SOA for rr in msg.auth)


def cache_kind(msg: DNSRecord, wall_seconds: float) -> Type:
    """``typify``, with a NOERROR that does not answer its question but has an SOA as NODATA."""
    kind = typify(msg, wall_seconds)
    if kind is NO_ERROR and has_soa(msg) and is_nodata(msg):
        return NO_DATA
    return kind


def _class_matches(rclass: int, qclass: int) -> bool:
    return qclass == CLASS_ANY or rclass == qclass


def _cname_target(answer: list[RR], owner: DNSLabel, qclass: int) -> tuple[DNSLabel | None, bool]:
    """The one CNAME target of ``owner`` (None if it has none); False when it has several."""
    target: DNSLabel | None = None
    for rr in answer:
        if rr.rtype != TYPE_CNAME or not _class_matches(rr.rclass, qclass):
            continue
        if not same_name(rr.rname, owner):
            continue
        if target is not None and not same_name(target, rr.rdata.label):
            return None, False
        target = rr.rdata.label
    return target, True


def _terminal_name(answer: list[RR], name: DNSLabel, qclass: int) -> DNSLabel | None:
    """Follow the CNAME chain from ``name``; None when it loops or forks."""
    visited: set[tuple[bytes, ...]] = set()
    while True:
        key = _labels(name)
        if key in visited:
            return None
        visited.add(key)
        target, ok = _cname_target(answer, name, qclass)
        if not ok:
            return None
        if target is None:
            return name
        name = target


def answers_question(msg: DNSRecord) -> bool:
    """Whether a NOERROR reply holds a record of the asked type at the end of its CNAME chain."""
    if msg.header.rcode != wire.NOERROR or not msg.questions or not msg.rr:
        return False
    question = msg.questions[0]
    answer = msg.rr
    qname, qtype, qclass = question.qname, question.qtype, question.qclass
    if qtype == TYPE_ANY:
        return any(
            _class_matches(rr.rclass, qclass) and same_name(rr.rname, qname) for rr in answer
        )
    if qtype == TYPE_CNAME:
        target, ok = _cname_target(answer, qname, qclass)
        return ok and target is not None
    terminal = _terminal_name(answer, qname, qclass)
    if terminal is None:
        return False
    return any(
        rr.rtype == qtype and _class_matches(rr.rclass, qclass) and same_name(rr.rname, terminal)
        for rr in answer
    )


def is_nodata(msg: DNSRecord) -> bool:
    """A non-empty answer section that does not answer the question (an empty one does not
    count: whoami-style replies carry their data elsewhere)."""
    return bool(msg.rr) and not answers_question(msg)


def minimal_ttl(msg: DNSRecord, kind: Type, maximum_seconds: int) -> int:
    """The smallest TTL in the reply, at most ``maximum_seconds`` (``MinimalTTLWithMaximum``).

    Only success, NXDOMAIN and NODATA replies are scanned; anything else, and a reply without
    records, gets ``NO_RECORDS_TTL_SECONDS``.
    """
    if kind is not NO_ERROR and kind is not NAME_ERROR and kind is not NO_DATA:
        return NO_RECORDS_TTL_SECONDS
    extra = msg.ar
    if not msg.rr and not msg.auth and (not extra or (len(extra) == 1 and extra[0].rtype == TYPE_OPT)):
        return NO_RECORDS_TTL_SECONDS
    smallest = maximum_seconds
    for section in (msg.rr, msg.auth):
        for rr in section:
            if rr.ttl < smallest:
                smallest = rr.ttl
    for rr in extra:
        if rr.rtype != TYPE_OPT and rr.ttl < smallest:
            smallest = rr.ttl
    return smallest
