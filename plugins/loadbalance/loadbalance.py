"""The *loadbalance* handler: shuffles address records in replies (CoreDNS ``plugin/loadbalance``).

It wraps the writer of the rest of the chain. Replies with rcode NOERROR, other than AXFR and
IXFR, have each section (answer, authority, additional) reordered as CoreDNS's ``roundRobin``
does: a section of only A or only AAAA records is shuffled; any other section becomes CNAMEs,
then every other type in its original order, then the A/AAAA records shuffled, then MX
records shuffled. Sections of zero or one record are left alone.

With ``prefer`` (CoreDNS ``prefer.go``), after shuffling, the answer and additional sections are
reordered once more: CNAMEs, then the addresses inside the preferred subnets (in the order the
subnets were listed), then the other addresses, then MX, then everything else.

The reply handed in may be shared (a cache may hold it), so neither it nor its lists are
modified: a shallow copy of the message gets new lists; the records themselves are shared.
"""

from __future__ import annotations

import copy
import ipaddress
import random
from collections.abc import Callable, Sequence
from typing import Final

from dnslib import RR, DNSRecord

from clusterdns import wire
from clusterdns.plugin import Handler, ResponseWriter, WriterWrapper
from clusterdns.request import Request

TYPE_A: Final = 1
TYPE_CNAME: Final = 5
TYPE_MX: Final = 15
TYPE_AAAA: Final = 28
TYPE_AXFR: Final = 252
TYPE_IXFR: Final = 251

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Shuffle = Callable[[DNSRecord], DNSRecord]

_shuffle_in_place = random.shuffle
_random = random.random


def _shuffled(records: list[RR]) -> list[RR]:
    """A shuffled copy (two records: swapped half of the time, as CoreDNS does)."""
    out = list(records)
    if len(out) == 2:
        if _random() < 0.5:
            out[0], out[1] = out[1], out[0]
    else:
        _shuffle_in_place(out)
    return out


def round_robin(records: list[RR]) -> list[RR]:
    """One section reordered as CoreDNS's ``roundRobin``; the input list is not modified."""
    if len(records) <= 1:
        return records
    first = records[0].rtype
    if (first == TYPE_A or first == TYPE_AAAA) and all(r.rtype == first for r in records):
        return _shuffled(records)
    cname: list[RR] = []
    address: list[RR] = []
    mx: list[RR] = []
    rest: list[RR] = []
    for r in records:
        rtype = r.rtype
        if rtype == TYPE_CNAME:
            cname.append(r)
        elif rtype == TYPE_A or rtype == TYPE_AAAA:
            address.append(r)
        elif rtype == TYPE_MX:
            mx.append(r)
        else:
            rest.append(r)
    if len(address) > 1:
        address = _shuffled(address)
    if len(mx) > 1:
        mx = _shuffled(mx)
    return cname + rest + address + mx


def random_shuffle(msg: DNSRecord) -> DNSRecord:
    """The ``round_robin`` policy applied to every section, on a copy of ``msg``."""
    if len(msg.rr) <= 1 and len(msg.auth) <= 1 and len(msg.ar) <= 1:
        return msg  # nothing to reorder (the common single-answer reply)
    out = copy.copy(msg)
    out.rr = round_robin(msg.rr)
    out.auth = round_robin(msg.auth)
    out.ar = round_robin(msg.ar)
    return out


def _record_ip(r: RR) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address of an A/AAAA record; an IPv4-mapped AAAA counts as IPv4 (as Go's does)."""
    if r.rtype == TYPE_A:
        return ipaddress.IPv4Address(bytes(r.rdata.data))
    if r.rtype == TYPE_AAAA:
        ip = ipaddress.IPv6Address(bytes(r.rdata.data))
        return ip.ipv4_mapped or ip
    return None


def _prefer(records: list[RR], subnets: Sequence[Network]) -> list[RR]:
    cname: list[RR] = []
    address: list[RR] = []
    mx: list[RR] = []
    rest: list[RR] = []
    for r in records:
        rtype = r.rtype
        if rtype == TYPE_CNAME:
            cname.append(r)
        elif rtype == TYPE_A or rtype == TYPE_AAAA:
            address.append(r)
        elif rtype == TYPE_MX:
            mx.append(r)
        else:
            rest.append(r)
    ips = [_record_ip(r) for r in address]
    taken = [False] * len(address)
    preferred: list[RR] = []
    for subnet in subnets:
        for i, r in enumerate(address):
            ip = ips[i]
            if not taken[i] and ip is not None and ip.version == subnet.version and ip in subnet:
                preferred.append(r)
                taken[i] = True
    others = [r for i, r in enumerate(address) if not taken[i]]
    return cname + preferred + others + mx + rest


def preferring(shuffle: Shuffle, subnets: Sequence[Network]) -> Shuffle:
    """``shuffle`` followed by moving addresses in ``subnets`` first (answer and additional)."""
    nets = tuple(subnets)

    def shuffle_then_prefer(msg: DNSRecord) -> DNSRecord:
        out = shuffle(msg)
        if out is msg:
            out = copy.copy(msg)
        out.rr = _prefer(out.rr, nets)
        out.ar = _prefer(out.ar, nets)
        return out

    return shuffle_then_prefer


class LoadBalanceWriter(WriterWrapper):
    """Reorders NOERROR replies (not zone transfers) on their way out."""

    __slots__ = ("shuffle", "req")

    def __init__(self, inner: ResponseWriter, shuffle: Shuffle, req: Request | None = None) -> None:
        super().__init__(inner)
        self.shuffle = shuffle
        self.req = req

    def write_msg(self, msg: DNSRecord) -> None:
        if msg.header.rcode != wire.NOERROR or not msg.questions:
            self.inner.write_msg(msg)
            return
        qtype = msg.questions[0].qtype
        if qtype == TYPE_AXFR or qtype == TYPE_IXFR:
            self.inner.write_msg(msg)
            return
        if len(msg.rr) > 1 or len(msg.auth) > 1 or len(msg.ar) > 1:
            self._note_replay()
        self.inner.write_msg(self.shuffle(msg))

    def _note_replay(self) -> None:
        """Each client gets its own order: a replay reorders the kept records the same way,
        or, with ``prefer``, never replays (server/replay.py)."""
        note = self.req.replay if self.req is not None else None
        if note is None:
            return
        if self.shuffle is random_shuffle:
            note.reorder = round_robin  # type: ignore[assignment]
        else:
            note.veto()

    def write_packed(self, reply: wire.Prepacked) -> None:
        """The same reordering on packed records (their types are known without decoding);
        ``prefer`` needs the addresses, so it takes the message path."""
        if self.shuffle is not random_shuffle:
            self.write_msg(reply.to_msg())
            return
        answer, authority, additional = reply.sections
        if reply.rcode != wire.NOERROR or (len(answer) <= 1 and len(authority) <= 1 and len(additional) <= 1):
            self.inner.write_packed(reply)
            return
        qtype = reply.query.qtype
        if qtype == TYPE_AXFR or qtype == TYPE_IXFR:
            self.inner.write_packed(reply)
            return
        self._note_replay()
        sections = (round_robin(answer), round_robin(authority), round_robin(additional))  # type: ignore[arg-type]
        self.inner.write_packed(wire.Prepacked(reply.query, reply.flags, sections))  # type: ignore[arg-type]


class LoadBalance(Handler):
    """Passes every query on with a ``LoadBalanceWriter`` around the writer."""

    name = "loadbalance"

    def __init__(self, next: Handler | None, *, prefer: Sequence[Network] = ()) -> None:
        super().__init__(next)
        self.prefer = tuple(prefer)
        self.shuffle = preferring(random_shuffle, self.prefer) if self.prefer else random_shuffle

    async def serve_dns(self, req: Request, w: ResponseWriter) -> int:
        return await self.serve_next(req, LoadBalanceWriter(w, self.shuffle, req))
