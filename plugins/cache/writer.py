"""The writers the cache puts in front of the rest of the chain (CoreDNS ``cache.go``).

``CacheWriter`` sees every reply the chain writes for a query that missed (or for a refresh):
it classifies the reply, computes its cache duration, gives every record that duration as TTL
(also on the way out: a client never sees 300 and 60 in one answer, it sees 60 twice), stores
it when it may be stored, and passes it on. ``VerifyWriter`` sits in front of it for refreshes
of stale entries: only a reply that really refreshes the data (RFC 8767 section 4: NOERROR or
NXDOMAIN, complete, for the same question) gets through; anything else leaves the stale entry
alone.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING

from dnslib import DNSRecord

from clusterdns import wire
from clusterdns.plugin import ResponseWriter, WriterWrapper
from clusterdns.request import Request
from clusterdns.response import (
    META,
    NAME_ERROR,
    NO_DATA,
    NO_ERROR,
    OTHER_ERROR,
    SERVER_ERROR,
    UPDATE,
    Type,
    typify,
)

from .item import Deps, Item, Key, with_ttl
from .reply import TYPE_OPT, answers_question, cache_kind, has_soa, is_nodata, minimal_ttl

if TYPE_CHECKING:
    from .cache import Cache

#: Reply kinds never stored (CoreDNS ``key``: errors, transfers and NOTIFY, updates).
_NEVER_STORED = frozenset({OTHER_ERROR, META, UPDATE})


def question_matches(req: Request, msg: DNSRecord) -> bool:
    """CoreDNS ``request.Match``: a response with one question equal to the request's."""
    questions = msg.questions
    if len(questions) != 1 or not msg.header.qr:
        return False
    question = questions[0]
    if question.qtype != req.qtype or question.qclass != req.qclass:
        return False
    labels = question.qname.label
    asked = req.query.qname_labels
    if labels == asked:
        return True
    return len(labels) == len(asked) and all(
        a.lower() == b.lower() for a, b in zip(labels, asked, strict=True)
    )


def storable(msg: DNSRecord, kind: Type) -> bool:
    """Whether a reply of ``kind`` may be stored at all (CoreDNS ``key``)."""
    if msg.header.tc or kind in _NEVER_STORED:
        return False
    if kind is NAME_ERROR and not has_soa(msg):
        return False  # a denial's duration comes from its SOA
    if kind is NO_ERROR and not has_soa(msg) and is_nodata(msg):
        return False  # a CNAME chain that never reaches the type, without SOA (RFC 2308 5)
    return True


def refreshes(
    req: Request, msg: DNSRecord | None, wall_seconds: float, *, prefer_positive: bool = False
) -> bool:
    """Whether ``msg`` may replace a stale entry (RFC 8767 section 4); with ``prefer_positive``
    only an answer to the question may (CoreDNS ``usableAnswer``)."""
    if msg is None or msg.header.tc or not question_matches(req, msg):
        return False
    if prefer_positive:
        return cache_kind(msg, wall_seconds) is NO_ERROR and answers_question(msg)
    if typify(msg, wall_seconds) in _NEVER_STORED:
        return False
    return msg.header.rcode in (wire.NOERROR, wire.NXDOMAIN)


class CacheWriter(WriterWrapper):
    """Stores what the chain writes and passes it on with the cache duration as every TTL."""

    __slots__ = ("cache", "req", "key", "do", "ad", "deps", "refresh", "origin", "item")

    def __init__(
        self,
        inner: ResponseWriter,
        *,
        cache: Cache,
        req: Request,
        key: Key,
        ad: bool,
        deps: Deps,
        refresh: bool = False,
        origin: Request | None = None,
    ) -> None:
        super().__init__(inner)
        self.cache = cache
        self.req = req  # the request the chain answers (AD set, as CoreDNS asks)
        self.key = key
        self.do = key[3]
        self.ad = ad  # the client's AD bit: AD stays in the reply only with DO or AD
        self.deps = deps  # generations read before the chain ran
        self.refresh = refresh
        self.origin = origin  # the client's request when ``req`` was derived from it
        self.item: Item | None = None

    def write_msg(self, msg: DNSRecord) -> None:
        cache = self.cache
        req = self.req
        kind = cache_kind(msg, cache.wall())
        if kind is NAME_ERROR or kind is NO_DATA:
            duration: float = _clamp(
                minimal_ttl(msg, kind, cache.denial_max_ttl),
                cache.denial_min_ttl,
                cache.denial_max_ttl,
            )
        elif kind is SERVER_ERROR:
            duration = cache.servfail_seconds
        else:
            duration = _clamp(
                minimal_ttl(msg, kind, cache.success_max_ttl),
                cache.success_min_ttl,
                cache.success_max_ttl,
            )
        ttl = int(duration)
        answer = [with_ttl(rr, ttl) for rr in msg.rr if rr.rtype != TYPE_OPT]
        ns = [with_ttl(rr, ttl) for rr in msg.auth if rr.rtype != TYPE_OPT]
        extra = [with_ttl(rr, ttl) for rr in msg.ar if rr.rtype != TYPE_OPT]
        out = copy.copy(msg)  # the chain's message is left as it was written
        out.header = copy.copy(msg.header)
        out.rr, out.auth, out.ar = answer, ns, extra
        if duration > 0 and storable(msg, kind):
            if question_matches(req, msg):
                self.item = cache.store(self, out, kind, duration)
            else:
                cache.dropped(req.server)
        if not self.do and not self.ad:
            out.header.ad = 0
        if self.origin is not None:  # the plugin that answered is the one metrics name
            self.origin.handler = req.handler
        self._note_replay()
        self.inner.write_msg(out)

    def _note_replay(self) -> None:
        """A stored answer is replayed from the next query on (a hit); one never stored may be
        replayed now, with this miss's counting (server/replay.py)."""
        note = self.req.replay
        if note is None or self.refresh:
            return
        if self.item is not None:
            note.veto()
        else:
            note.effects.extend(self.cache.miss_effects(self.req.server))


class VerifyWriter(WriterWrapper):
    """Lets through only replies that refresh a stale entry; remembers whether one did.

    With ``prefer_positive`` a reply for the question that is not an answer is still stored
    (it may become the newest state of the key) but does not count as a refresh.
    """

    __slots__ = ("req", "wall", "prefer_positive", "refreshed")

    def __init__(
        self, inner: ResponseWriter, *, req: Request, wall: Callable[[], float], prefer_positive: bool
    ) -> None:
        super().__init__(inner)
        self.req = req
        self.wall = wall
        self.prefer_positive = prefer_positive
        self.refreshed = False

    def write_msg(self, msg: DNSRecord) -> None:
        wall = self.wall()
        self.refreshed = refreshes(self.req, msg, wall, prefer_positive=self.prefer_positive)
        if self.refreshed:
            self.inner.write_msg(msg)
        elif self.prefer_positive and not msg.header.tc and question_matches(self.req, msg):
            self.inner.write_msg(msg)


def _clamp(value: float, low: float, high: float) -> float:
    """CoreDNS ``computeTTL``: ``min(max(value, low), high)``."""
    return min(max(value, low), high)
