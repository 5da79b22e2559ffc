"""Replaying packed answers: a repeated query answered without running the chain again.

Why: most of what a cluster DNS server answers is the same few thousand questions again and
again, from the cache or the cluster index. Running the plugin chain for each one (a task, a
Request, several writers, a dnslib message) costs far more than sending the same bytes with a
new ID. So when a chain answers from the cache or the index, the server keeps the reply bytes
and, until they could change, answers the very same query bytes (everything after the ID:
flags, question with its case, EDNS) with them directly from the socket callback.

The answer is exactly what the chain would write, because a reply is kept only when:

* a *producer* vouched for it: *cache* answering from a fresh entry (no prefetch, no
  serve_stale), until the next whole second of its TTL countdown; or *kubernetes* answering
  from its synced index alone (no ExternalName target looked up through the server), until the
  cluster data changes;
* every handler in front of that producer is one whose effect is known
  (``PASS_THROUGH``, and *cache* in front of *kubernetes* for the names it does not store), so a
  Corefile with ``log``, ``rewrite``, ``hosts`` or anything else in front never replays;
* nothing vetoed it: *cache* vetoes a miss it stores (the next query is a hit, and that one
  is kept), *loadbalance* with ``prefer`` vetoes. Plain *loadbalance* leaves its reordering to
  the replay: a kept reply is cut into its records once, and each replay shuffles them as
  *loadbalance* shuffles a message (records sent uncompressed move freely; a compressed reply
  that needs shuffling is not kept).

A reply is kept the second time its question is answered, so names asked once (a stream of
pod addresses, a scan) do not push the hot ones out of the table. A data change (a
``DataChangeNotifier`` such as *kubernetes*) drops every kept reply at once,
as it drops the cache's entries; a reload builds new muxes with empty replay tables. The side
effects of the skipped handlers are replayed too: each kept reply carries the metric updates
the chain made (*prometheus*'s request, size and duration series, *cache*'s request and hit
or miss counters); its replays are counted on it and added to those series in one step
whenever the metrics are read, and when the entry goes.

One difference remains, bounded by a second: an entry evicted from the cache (the cache is
full) may still be replayed until its current TTL second ends, with the TTL it had.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from .. import metrics
from ..wire import PackedRR, Sections, split_reply

#: Replays faster than this (all of them, short of a stalled process) are counted in batches.
FIRST_DURATION_BUCKET: Final = metrics.TIME_BUCKETS[0]

#: Handlers that may stand in front of a producer: prometheus records metrics (replayed),
#: errors and any do nothing to an answer, loadbalance reorders (redone at each replay).
PASS_THROUGH: Final = frozenset({"prometheus", "errors", "loadbalance", "any"})
#: Replies kept per mux and transport before the table is emptied and starts again.
MAX_ENTRIES: Final = 20_000
#: Questions answered once, remembered so that the second answer is kept (a stream of names
#: asked once, such as pod addresses, would otherwise fill the table and push the hot ones
#: out); emptied when full.
MAX_SEEN: Final = 50_000

#: Called with a number of replays and their total duration in seconds.
Effect = Callable[[int, float], None]
Reorder = Callable[[list[PackedRR]], list[PackedRR]]


@dataclass(slots=True)
class ReplayNote:
    """What a request's chain says about replaying its reply (``Request.replay``)."""

    producers: frozenset[str]  # the handlers whose answers this chain may replay
    keep: bool = False  # a producer answered with something replayable
    vetoed: bool = False  # a handler made this reply unrepeatable
    until: float = float("inf")  # monotonic time the reply stops being valid
    effects: list[Effect] = field(default_factory=list)
    #: reorders one section's packed records for each replay (*loadbalance*), if set
    reorder: Reorder | None = None

    def allow(self, producer: str, until: float = float("inf")) -> None:
        """``producer`` vouches that this answer holds until ``until`` (or a data change)."""
        if producer in self.producers:
            self.keep = True
            self.until = min(self.until, until)

    def veto(self) -> None:
        self.vetoed = True


@dataclass(slots=True)
class Kept:
    """A reply kept for replay."""

    reply: bytes  # the whole reply; bytes 0-1 (the ID) are replaced per query
    until: float
    effects: tuple[Effect, ...]
    #: for replies reordered per query: header and question, the records, the OPT record
    parts: tuple[bytes, Sections, bytes] | None = None
    reorder: Reorder | None = None
    #: replays not yet added to the metrics, and their total duration
    pending: int = 0
    pending_seconds: float = 0.0

    def flush(self) -> None:
        """Add the pending replays to the metrics (in one step per series)."""
        if self.pending:
            count, seconds = self.pending, self.pending_seconds
            self.pending, self.pending_seconds = 0, 0.0
            for effect in self.effects:
                effect(count, seconds)


class ReplayTable:
    """Kept replies of one mux and transport, keyed by the query bytes after the ID.

    A replay's metrics are counted on its entry and added to the series in one step when the
    metrics are read (``metrics.BEFORE_COLLECT``) or the entry goes: counting a replay costs
    an addition, where updating eight series cost most of the replay.
    """

    __slots__ = ("entries", "seen", "__weakref__")

    def __init__(self) -> None:
        self.entries: dict[bytes, Kept] = {}
        self.seen: set[bytes] = set()
        _TABLES.add(self)

    def answer(self, data: bytes) -> bytes | None:
        """The reply to ``data`` if one is kept and still valid (the replay is counted)."""
        kept = self.entries.get(data[2:])
        if kept is None:
            return None
        now = time.monotonic()  # the cache's clock
        if now >= kept.until:
            kept.flush()
            del self.entries[data[2:]]
            return None
        if kept.reorder is None:
            reply = data[:2] + kept.reply[2:]
        else:
            head, sections, opt = kept.parts  # type: ignore[misc]
            reorder = kept.reorder
            records = b"".join([rr[1] for section in sections for rr in reorder(list(section))])
            reply = data[:2] + head[2:] + records + opt
        elapsed = time.monotonic() - now
        if elapsed < FIRST_DURATION_BUCKET:  # as every replay is, unless the process stalled
            kept.pending += 1
            kept.pending_seconds += elapsed
        else:
            for effect in kept.effects:
                effect(1, elapsed)
        return reply

    def keep(self, data: bytes, reply: bytes, note: ReplayNote, *, compressed: bool) -> None:
        """Keep ``reply`` for ``data`` as ``note`` allows, from the second time it is asked."""
        key = data[2:]
        if key not in self.seen:
            if len(self.seen) >= MAX_SEEN:
                self.seen.clear()
            self.seen.add(key)
            return
        parts = None
        if note.reorder is not None:
            parts = None if compressed else split_reply(reply)
            if parts is None:
                return  # records that cannot be moved cannot be reordered per query
        if len(self.entries) >= MAX_ENTRIES:
            self.clear()
        replaced = self.entries.get(key)
        if replaced is not None:
            replaced.flush()
        self.entries[key] = Kept(reply, note.until, tuple(note.effects), parts, note.reorder)

    def flush(self) -> None:
        for kept in self.entries.values():
            kept.flush()

    def clear(self) -> None:
        self.flush()
        self.entries.clear()
        self.seen.clear()


_TABLES: weakref.WeakSet[ReplayTable] = weakref.WeakSet()


def _flush_all() -> None:
    for table in list(_TABLES):
        table.flush()


metrics.BEFORE_COLLECT.append(_flush_all)


def producers(chain_names: list[str]) -> frozenset[str]:
    """The producers whose answers a chain (handler names, outermost first) may replay."""
    found: set[str] = set()
    for name in chain_names:
        if name == "cache":
            found.add(name)
        elif name == "kubernetes":
            found.add(name)
            break
        elif name not in PASS_THROUGH:
            break
    return frozenset(found)
