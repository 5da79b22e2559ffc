"""What kind of reply a message is, and which class of reply that kind belongs to.

Two plugins judge replies the same way CoreDNS does: *cache* decides from the type whether and
for how long a reply is stored, *log* filters its lines by class and sets ``log/type`` and
``log/class``. In CoreDNS both use one package, ``plugin/pkg/response``; plugins here may not
import each other, so that package lives in the core, once: ``typify`` follows
``plugin/pkg/response/typify.go`` (``Typify``) and ``classify`` follows
``plugin/pkg/response/classify.go`` (``Classify``) of CoreDNS (read in
/work/.mirror/coredns+coredns/repo).

The checks run in CoreDNS's order: an UPDATE, then META (NOTIFY, AXFR/IXFR), then, when DNSSEC
was asked for, OTHERERROR for any RRSIG outside its validity period (miekg/dns
``ValidityPeriod``, serial arithmetic with Go's truncating division), then NOERROR with answers,
NXDOMAIN, NODATA (NOERROR, SOA in the authority section), SERVERERROR (SERVFAIL, NOTIMP),
DELEGATION (NOERROR, NS in the authority section), NOERROR, and OTHERERROR for the rest.

This runs for every reply *log* types and every reply *cache* stores, so it reads the dnslib
message's fields once and compares plain ints; the types are ``str`` enums (they print, hash and
compare as CoreDNS's names) with module-level aliases for the hot path.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Sequence
from typing import Final

from dnslib import RR, DNSRecord

from . import wire


class Type(enum.StrEnum):
    """CoreDNS's ``response.Type``; the value is its ``String()``."""

    NO_ERROR = "NOERROR"
    NAME_ERROR = "NXDOMAIN"
    SERVER_ERROR = "SERVERERROR"
    NO_DATA = "NODATA"
    DELEGATION = "DELEGATION"
    META = "META"
    UPDATE = "UPDATE"
    OTHER_ERROR = "OTHERERROR"


class Class(enum.StrEnum):
    """CoreDNS's ``response.Class``; the value is its ``String()`` (and its Corefile name)."""

    ALL = "all"
    SUCCESS = "success"
    DENIAL = "denial"
    ERROR = "error"


# Module-level names: a global lookup, where ``Type.NO_ERROR`` goes through the enum's class.
NO_ERROR: Final = Type.NO_ERROR
NAME_ERROR: Final = Type.NAME_ERROR
SERVER_ERROR: Final = Type.SERVER_ERROR
NO_DATA: Final = Type.NO_DATA
DELEGATION: Final = Type.DELEGATION
META: Final = Type.META
UPDATE: Final = Type.UPDATE
OTHER_ERROR: Final = Type.OTHER_ERROR
ALL: Final = Class.ALL
SUCCESS: Final = Class.SUCCESS
DENIAL: Final = Class.DENIAL
ERROR: Final = Class.ERROR

_SUCCESS_TYPES: Final = frozenset({NO_ERROR, DELEGATION})
_DENIAL_TYPES: Final = frozenset({NAME_ERROR, NO_DATA})

OPCODE_UPDATE: Final = 5
_TYPE_NS: Final = 2
_TYPE_SOA: Final = 6
_TYPE_RRSIG: Final = 46
_TYPE_IXFR: Final = 251
_TYPE_AXFR: Final = 252
_YEAR68: Final = 1 << 31  # RFC 1982 serial arithmetic window of 32-bit signature times


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


def _has_expired_signature(sections: tuple[Sequence[RR], ...], now: int) -> bool:
    for section in sections:
        for rr in section:
            if rr.rtype == _TYPE_RRSIG and not _rrsig_valid(rr, now):
                return True
    return False


def _opt_do(extra: Sequence[RR]) -> bool:
    """The DO bit of the message's (first) OPT record, as ``m.IsEdns0().Do()``."""
    for rr in extra:
        if rr.rtype == wire.TYPE_OPT:
            return bool(rr.ttl & 0x8000)
    return False


def typify(msg: DNSRecord | None, now: float | None = None, *, do: bool | None = None) -> Type:
    """CoreDNS ``response.Typify``: OTHERERROR when there is no message.

    ``now`` (Unix seconds, default the clock) judges RRSIG validity; ``do`` is the DO bit that
    makes signatures count (default: the message's own OPT, as CoreDNS reads it).
    """
    if msg is None:
        return OTHER_ERROR
    header = msg.header
    questions = msg.questions
    return typify_parts(
        header.opcode,
        header.rcode,
        questions[0].qtype if questions else None,
        msg.rr,
        msg.auth,
        msg.ar,
        do=do,
        now=now,
    )


def typify_parts(
    opcode: int,
    rcode: int,
    qtype: int | None,
    answer: Sequence[RR] = (),
    ns: Sequence[RR] = (),
    extra: Sequence[RR] = (),
    *,
    do: bool | None = None,
    now: float | None = None,
) -> Type:
    """``typify`` of a message given as its parts (``qtype`` None: no question); for a reply
    that exists only as header fields, pass no sections."""
    if opcode == OPCODE_UPDATE:
        return UPDATE
    if opcode == wire.OPCODE_NOTIFY:
        return META
    if qtype == _TYPE_AXFR or qtype == _TYPE_IXFR:
        return META
    if do is None:
        do = _opt_do(extra)
    if do and _has_expired_signature(
        (answer, ns, extra), int(time.time() if now is None else now)
    ):
        return OTHER_ERROR
    if answer:
        if rcode == wire.NOERROR:
            return NO_ERROR
        if rcode == wire.NXDOMAIN:
            return OTHER_ERROR
    soa = False
    delegation = False
    for rr in ns:
        rtype = rr.rtype
        if rtype == _TYPE_SOA:
            soa = True
        elif rtype == _TYPE_NS:
            delegation = True
    if soa and rcode == wire.NOERROR:
        return NO_DATA
    if rcode == wire.NXDOMAIN:
        return NAME_ERROR
    if rcode == wire.SERVFAIL or rcode == wire.NOTIMP:
        return SERVER_ERROR
    if delegation and rcode == wire.NOERROR:
        return DELEGATION
    if rcode == wire.NOERROR:
        return NO_ERROR
    return OTHER_ERROR


def classify(kind: Type) -> Class:
    """CoreDNS ``response.Classify``: success (NOERROR, delegation), denial (NXDOMAIN, NODATA),
    error (everything else, meta and update included)."""
    if kind in _SUCCESS_TYPES:
        return SUCCESS
    if kind in _DENIAL_TYPES:
        return DENIAL
    return ERROR
