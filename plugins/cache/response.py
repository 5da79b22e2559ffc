"""What kind of reply a message is, whether it answers its question, and its smallest TTL.

The cache's decisions hang on these: CoreDNS's ``response.Typify`` (success, NXDOMAIN, NODATA,
server error, delegation, meta, update, other error), the 1.14.7 ``cacheResponseType`` that
treats a NOERROR whose CNAME chain never reaches the asked type as NODATA when an SOA is
present, and ``dnsutil.MinimalTTLWithMaximum`` (the smallest TTL over every section, OPT
excluded). Names are compared ASCII case-insensitively, label by label.
"""

from __future__ import annotations

import enum
from typing import Final

from dnslib import RR, DNSLabel, DNSRecord

from clusterdns import wire

TYPE_NS: Final = 2
TYPE_CNAME: Final = 5
TYPE_SOA: Final = 6
TYPE_OPT: Final = 41
TYPE_RRSIG: Final = 46
TYPE_IXFR: Final = 251
TYPE_AXFR: Final = 252
TYPE_ANY: Final = 255
CLASS_ANY: Final = 255
OPCODE_NOTIFY: Final = 4
OPCODE_UPDATE: Final = 5
#: A reply without records (or only an OPT) is cached this long (``MinimalDefaultTTL``).
NO_RECORDS_TTL_SECONDS: Final = 5
_YEAR68: Final = 1 << 31  # RFC 1982 serial arithmetic window of RRSIG times


class Kind(enum.Enum):
    """CoreDNS's ``response.Type``."""

    NO_ERROR = "NOERROR"
    NAME_ERROR = "NXDOMAIN"
    SERVER_ERROR = "SERVERERROR"
    NO_DATA = "NODATA"
    DELEGATION = "DELEGATION"
    META = "META"
    UPDATE = "UPDATE"
    OTHER_ERROR = "OTHERERROR"


def _labels(label: DNSLabel) -> tuple[bytes, ...]:
    return tuple(part.lower() for part in label.label)


def same_name(a: DNSLabel, b: DNSLabel) -> bool:
    """Whether two names are equal, ignoring ASCII case."""
    la, lb = a.label, b.label
    if la == lb:
        return True
    return len(la) == len(lb) and _labels(a) == _labels(b)


def has_soa(msg: DNSRecord) -> bool:
    return any(rr.rtype == TYPE_SOA for rr in msg.auth)


def _opt_do(msg: DNSRecord) -> bool:
    for rr in msg.ar:
        if rr.rtype == TYPE_OPT:
            return bool(rr.ttl & 0x8000)
    return False


def _go_div(a: int, b: int) -> int:
    """Integer division truncating toward zero, as Go's ``/``."""
    return a // b if a >= 0 else -(-a // b)


def _rrsig_valid(rr: RR, now: int) -> bool:
    """miekg/dns ``RRSIG.ValidityPeriod``: inception <= now <= expiration, serial-wise."""
    inception = int(rr.rdata.sig_inc)
    expiration = int(rr.rdata.sig_exp)
    start = inception + _go_div(inception - now, _YEAR68) * _YEAR68
    end = expiration + _go_div(expiration - now, _YEAR68) * _YEAR68
    return start <= now <= end


def _has_expired_signature(msg: DNSRecord, now: int) -> bool:
    for section in (msg.rr, msg.auth, msg.ar):
        for rr in section:
            if rr.rtype == TYPE_RRSIG and not _rrsig_valid(rr, now):
                return True
    return False


def typify(msg: DNSRecord, wall_seconds: float) -> Kind:
    """CoreDNS ``response.Typify``; ``wall_seconds`` (Unix time) judges RRSIG validity."""
    header = msg.header
    opcode = header.opcode
    if opcode == OPCODE_UPDATE:
        return Kind.UPDATE
    if opcode == OPCODE_NOTIFY:
        return Kind.META
    if msg.questions and msg.questions[0].qtype in (TYPE_AXFR, TYPE_IXFR):
        return Kind.META
    if _opt_do(msg) and _has_expired_signature(msg, int(wall_seconds)):
        return Kind.OTHER_ERROR
    rcode = header.rcode
    if msg.rr:
        if rcode == wire.NOERROR:
            return Kind.NO_ERROR
        if rcode == wire.NXDOMAIN:
            return Kind.OTHER_ERROR
    soa = False
    ns = 0
    for rr in msg.auth:
        if rr.rtype == TYPE_SOA:
            soa = True
        elif rr.rtype == TYPE_NS:
            ns += 1
    if soa and rcode == wire.NOERROR:
        return Kind.NO_DATA
    if rcode == wire.NXDOMAIN:
        return Kind.NAME_ERROR
    if rcode == wire.SERVFAIL or rcode == wire.NOTIMP:
        return Kind.SERVER_ERROR
    if ns and rcode == wire.NOERROR:
        return Kind.DELEGATION
    if rcode == wire.NOERROR:
        return Kind.NO_ERROR
    return Kind.OTHER_ERROR


def cache_kind(msg: DNSRecord, wall_seconds: float) -> Kind:
    """``typify``, with a NOERROR that does not answer its question but has an SOA as NODATA."""
    kind = typify(msg, wall_seconds)
    if kind is Kind.NO_ERROR and has_soa(msg) and is_nodata(msg):
        return Kind.NO_DATA
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


def minimal_ttl(msg: DNSRecord, kind: Kind, maximum_seconds: int) -> int:
    """The smallest TTL in the reply, at most ``maximum_seconds`` (``MinimalTTLWithMaximum``).

    Only success, NXDOMAIN and NODATA replies are scanned; anything else, and a reply without
    records, gets ``NO_RECORDS_TTL_SECONDS``.
    """
    if kind is not Kind.NO_ERROR and kind is not Kind.NAME_ERROR and kind is not Kind.NO_DATA:
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
