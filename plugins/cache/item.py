"""A cached reply and the sharded stores that hold them (CoreDNS ``item.go``, ``pkg/cache``).

An ``Item`` keeps what a reply is rebuilt from: rcode, the AD and RA bits, the three sections
(OPT never kept; every record already carries the cache duration as TTL), when it was stored
and for how long. A hit is rebuilt for the asking client with the remaining whole seconds as
every record's TTL; the records for one TTL value are made once and reused while that second
lasts, since records handed to a writer are never changed afterwards. They are also kept packed
(``to_packed``), so a hit costs a header and a question, not a dnslib pack of every record.

``Store`` is CoreDNS's sharded cache on ``cachetools.RRCache``: 256 shards, each holding
``max(CAPACITY // 256, 4)`` entries and evicting a random one when a new key arrives in a full
shard, so the capacity numbers (9984 by default, at least 1024) and the eviction behaviour
(shards fill unevenly, so evictions start before the whole cache is full) are CoreDNS's.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Sequence
from typing import Final

from cachetools import RRCache
from dnslib import RR, DNSRecord

from clusterdns import wire
from clusterdns.request import Request

#: How many shards a cache has (CoreDNS ``shardSize``).
SHARDS: Final = 256
#: The smallest shard, whatever the configured capacity.
MIN_SHARD_ENTRIES: Final = 4

Key = tuple[str, int, int, bool, bool]  # lower-cased qname, qtype, qclass, DO, CD


class Generation:
    """A counter of data changes for one zone of a ``DataChangeNotifier``."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


#: What an item depends on: each generation it was stored under, and the value then.
Deps = tuple[tuple[Generation, int], ...]


def with_ttl(rr: RR, ttl: int) -> RR:
    """A copy of ``rr`` with another TTL (rdata and owner shared: they are never modified)."""
    copy = RR.__new__(RR)
    copy.__dict__.update(rr.__dict__)
    copy.ttl = ttl
    return copy


class Item:
    """One cached reply."""

    __slots__ = (
        "rcode", "ad", "ra", "answer", "ns", "extra", "orig_ttl", "stored", "deps",
        "hits", "last_hit", "retry_after", "answering", "last_known_good", "_built_ttl", "_built",
        "_packed",
    )  # fmt: skip

    def __init__(
        self,
        msg: DNSRecord,
        *,
        answer: Sequence[RR],
        ns: Sequence[RR],
        extra: Sequence[RR],
        stored: float,
        duration_seconds: float,
        deps: Deps = (),
        answering: bool = False,
    ) -> None:
        header = msg.header
        self.rcode: int = header.rcode
        self.ad: int = header.ad
        self.ra: int = header.ra
        self.answer = tuple(answer)
        self.ns = tuple(ns)
        self.extra = tuple(extra)
        self.orig_ttl = int(duration_seconds)  # Go's uint32(d.Seconds())
        self.stored = stored
        self.deps = deps
        # prefetch popularity (CoreDNS freq.Freq): hits with gaps shorter than DURATION
        self.hits = 0
        self.last_hit = float("-inf")
        #: after a failed stale refresh, no new one before this time (FAILURE_RECHECK)
        self.retry_after = float("-inf")
        #: ``serve_stale_policy prefer_positive``: whether this reply answers its question, and
        #: the last answering entry a non-answer replaced (CoreDNS ``lastKnownGood``)
        self.answering = answering
        self.last_known_good: Item | None = None
        self._built_ttl = self.orig_ttl
        self._built = (self.answer, self.ns, self.extra)
        self._packed: wire.Sections | None = None

    def ttl(self, now: float) -> int:
        """Seconds left: the stored duration minus whole seconds elapsed (<= 0 when expired)."""
        return self.orig_ttl - int(now - self.stored)

    def current(self) -> bool:
        """False once the data behind the item changed (its generation moved on)."""
        for generation, value in self.deps:
            if generation.value != value:
                return False
        return True

    def answering_item(self) -> Item | None:
        """This entry if it answers its question, else the answer it replaced, if any."""
        if self.answering:
            return self
        good = self.last_known_good
        return good if good is not None and good.answering else None

    def hit(self, window_seconds: float, now: float) -> int:
        """Count a hit (``freq.Update``): reset to 1 after a gap longer than the window."""
        if self.last_hit < now - window_seconds:
            self.hits = 1
        else:
            self.hits += 1
        self.last_hit = now
        return self.hits

    def _sections(self, ttl: int) -> tuple[tuple[RR, ...], tuple[RR, ...], tuple[RR, ...]]:
        if ttl != self._built_ttl:
            self._built = (
                tuple(with_ttl(rr, ttl) for rr in self.answer),
                tuple(with_ttl(rr, ttl) for rr in self.ns),
                tuple(with_ttl(rr, ttl) for rr in self.extra),
            )
            self._built_ttl = ttl
            self._packed = None
        return self._built

    def _packed_sections(self, ttl: int) -> wire.Sections:
        built = self._sections(ttl)
        packed = self._packed
        if packed is None:
            packed = self._packed = (
                wire.pack_records(built[0]),
                wire.pack_records(built[1]),
                wire.pack_records(built[2]),
            )
        return packed

    def to_packed(self, req: Request, ttl: int, *, do: bool, ad: bool) -> wire.Prepacked:
        """``to_msg`` with the records in wire form, packed once per TTL value and reused."""
        flags = wire.FLAG_QR | wire.FLAG_AA | self.rcode
        if self.ra:
            flags |= wire.FLAG_RA
        if self.ad and (do or ad):
            flags |= wire.FLAG_AD
        return wire.Prepacked(req.query, flags, self._packed_sections(ttl))

    def to_msg(self, req: Request, ttl: int, *, do: bool, ad: bool) -> DNSRecord:
        """The reply for ``req``: its ID and question, AA set, every record at ``ttl``."""
        reply = req.reply(self.rcode, authoritative=True)
        header = reply.header
        header.ra = self.ra
        # AD only for clients that can use it (DO or AD in the query), RFC 6840 5.7-5.8
        header.ad = self.ad if (do or ad) else 0
        answer, ns, extra = self._sections(ttl)
        reply.rr = list(answer)
        reply.auth = list(ns)
        reply.ar = list(extra)
        return reply


class Store:
    """CoreDNS's sharded random-eviction cache, on ``cachetools.RRCache`` shards."""

    def __init__(self, capacity: int, *, choice: Callable[[Sequence[Hashable]], Hashable] = random.choice) -> None:
        self.shard_entries = max(_go_div(capacity, SHARDS), MIN_SHARD_ENTRIES)
        self._shards: tuple[RRCache[Hashable, Item], ...] = tuple(
            RRCache(self.shard_entries, choice=choice) for _ in range(SHARDS)
        )
        self._length = 0

    @property
    def capacity(self) -> int:
        return self.shard_entries * SHARDS

    def __len__(self) -> int:
        return self._length

    def _shard(self, key: Key) -> RRCache[Hashable, Item]:
        return self._shards[hash(key) & (SHARDS - 1)]

    def get(self, key: Key) -> Item | None:
        return self._shard(key).get(key)

    def add(self, key: Key, item: Item) -> bool:
        """Store ``item``; True when another entry was evicted to make room."""
        shard = self._shard(key)
        evicted = False
        if key not in shard:
            if len(shard) >= self.shard_entries:
                evicted = True
            else:
                self._length += 1
        shard[key] = item
        return evicted

    def remove(self, key: Key) -> None:
        if self._shard(key).pop(key, None) is not None:
            self._length -= 1


def _go_div(a: int, b: int) -> int:
    """Integer division truncating toward zero, as Go's ``/``."""
    return a // b if a >= 0 else -(-a // b)
