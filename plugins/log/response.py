"""What kind of reply a query got (CoreDNS ``plugin/pkg/response`` ``Typify`` and ``Classify``).

*log*'s ``class`` filter and its ``log/type``/``log/class`` metadata need it. The type looks at
the reply as the client gets it: NOERROR with answers, NXDOMAIN, NODATA (NOERROR, SOA in the
authority section), a delegation, SERVFAIL/NOTIMP, a NOTIFY/UPDATE/zone transfer (meta), and
anything else (including an answer that carries expired signatures when DNSSEC was asked for).
The class groups types: success (NOERROR, delegation), denial (NXDOMAIN, NODATA) and error
(everything else, including meta messages).
"""

from __future__ import annotations

import time
from typing import Final

from dnslib import DNSRecord

from clusterdns import wire

NO_ERROR: Final = "NOERROR"
NAME_ERROR: Final = "NXDOMAIN"
SERVER_ERROR: Final = "SERVERERROR"
NO_DATA: Final = "NODATA"
DELEGATION: Final = "DELEGATION"
META: Final = "META"
UPDATE: Final = "UPDATE"
OTHER_ERROR: Final = "OTHERERROR"

ALL: Final = "all"
SUCCESS: Final = "success"
DENIAL: Final = "denial"
ERROR: Final = "error"
CLASSES: Final = (ALL, SUCCESS, DENIAL, ERROR)

OPCODE_UPDATE: Final = 5
_TYPE_SOA: Final = 6
_TYPE_NS: Final = 2
_TYPE_RRSIG: Final = 46
_TYPE_IXFR: Final = 251
_TYPE_AXFR: Final = 252
_YEAR68: Final = 1 << 31  # RFC 1982 serial arithmetic on 32-bit signature times


def _quotient(a: int, b: int) -> int:
    """Go's integer division (truncates toward zero)."""
    q = abs(a) // b
    return q if a >= 0 else -q


def _signature_valid(inception: int, expiration: int, now: int) -> bool:
    """miekg/dns ``RRSIG.ValidityPeriod``."""
    ti = inception + _quotient(inception - now, _YEAR68) * _YEAR68
    te = expiration + _quotient(expiration - now, _YEAR68) * _YEAR68
    return ti <= now <= te


def _has_expired_signature(msg: DNSRecord, now: int) -> bool:
    for section in (msg.rr, msg.auth, msg.ar):
        for rr in section:
            if rr.rtype == _TYPE_RRSIG:
                sig = rr.rdata
                if not _signature_valid(int(sig.sig_inc), int(sig.sig_exp), now):
                    return True
    return False


def reply_do(msg: DNSRecord, query_edns: wire.Edns | None) -> bool:
    """The DO bit of the reply as sent: the query's OPT is echoed (``SizeAndDo``)."""
    plugin_do = any(rr.rtype == wire.TYPE_OPT and rr.ttl & 0x8000 for rr in msg.ar)
    if query_edns is not None:
        return query_edns.do or plugin_do
    return plugin_do


def typify(msg: DNSRecord | None, *, do: bool, now: int | None = None) -> str:
    """The type of a reply (``response.Typify``); OTHERERROR when there is none."""
    if msg is None:
        return OTHER_ERROR
    header = msg.header
    if header.opcode == OPCODE_UPDATE:
        return UPDATE
    if header.opcode == wire.OPCODE_NOTIFY:
        return META
    if msg.questions and msg.questions[0].qtype in (_TYPE_AXFR, _TYPE_IXFR):
        return META
    if do and _has_expired_signature(msg, int(time.time()) if now is None else now):
        return OTHER_ERROR
    rcode = header.rcode
    if msg.rr:
        if rcode == wire.NOERROR:
            return NO_ERROR
        if rcode == wire.NXDOMAIN:
            return OTHER_ERROR
    soa = False
    ns = 0
    for rr in msg.auth:
        if rr.rtype == _TYPE_SOA:
            soa = True
        elif rr.rtype == _TYPE_NS:
            ns += 1
    if soa and rcode == wire.NOERROR:
        return NO_DATA
    if rcode == wire.NXDOMAIN:
        return NAME_ERROR
    if rcode in (wire.SERVFAIL, wire.NOTIMP):
        return SERVER_ERROR
    if ns > 0 and rcode == wire.NOERROR:
        return DELEGATION
    if rcode == wire.NOERROR:
        return NO_ERROR
    return OTHER_ERROR


def typify_unwritten(rcode: int, opcode: int, qtype: int) -> str:
    """The type of the empty reply CoreDNS makes up for a chain that wrote nothing."""
    if opcode == OPCODE_UPDATE:
        return UPDATE
    if opcode == wire.OPCODE_NOTIFY or qtype in (_TYPE_AXFR, _TYPE_IXFR):
        return META
    if rcode == wire.NXDOMAIN:
        return NAME_ERROR
    if rcode in (wire.SERVFAIL, wire.NOTIMP):
        return SERVER_ERROR
    if rcode == wire.NOERROR:
        return NO_ERROR
    return OTHER_ERROR


def classify(kind: str) -> str:
    """The class of a type (``response.Classify``)."""
    if kind in (NO_ERROR, DELEGATION):
        return SUCCESS
    if kind in (NAME_ERROR, NO_DATA):
        return DENIAL
    return ERROR
