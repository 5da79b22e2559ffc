"""The *cache* handler: answers from a positive and a denial cache (CoreDNS ``plugin/cache``).

Per query (a name under the cache's zones; others go straight on):

* the key is the lower-cased qname, qtype, qclass and the DO and CD bits;
* the denial cache is looked at first, then the positive one; a SERVFAIL entry gives way to a
  usable positive entry; an entry whose ``DataChangeNotifier`` zone changed since it was stored
  is dropped (one integer comparison: each notifier zone has a generation counter that a change
  bumps, and an item remembers the values it was stored under);
* a hit is rebuilt for this client (its ID and question, AA set, RA and AD from the stored
  reply, AD only when the client sent DO or AD) with the remaining whole seconds as every TTL;
* a miss runs the rest of the chain behind a ``CacheWriter`` with a query that has AD set (as
  CoreDNS does, so the stored AD bit is the upstream's, not the first client's).

Expired entries are kept until evicted. With ``serve_stale`` one expired for less than DURATION
is served at once with a refresh in the background (``immediate``), or only after a refresh
failed or took longer than TIMEOUT (``verify``; concurrent clients share the refresh, which goes
on in the background after the timeout). ``prefetch`` refreshes popular entries near expiry in
the background. Refreshes re-run the rest of the chain with a derived request and a capturing
writer, as tasks: at most one per key, at most ``MAX_REFRESHES`` at a time, cancelled at
shutdown.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import random
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from dnslib import DNSRecord

from clusterdns import wire
from clusterdns.corefile.address import matches
from clusterdns.errors import PluginError
from clusterdns.log import plugin_logger
from clusterdns.plugin import DataChangeNotifier, Handler, NonWriter, ResponseWriter, next_or_failure
from clusterdns.request import Request
from clusterdns.response import DELEGATION, NAME_ERROR, NO_DATA, NO_ERROR, SERVER_ERROR, Type

from .item import Generation, Item, Key, Store
from .metrics import Series
from .options import CacheOptions
from .reply import answers_question
from .writer import CacheWriter, VerifyWriter, refreshes

log = plugin_logger("cache")

#: Background refreshes (prefetch, serve_stale) running at once, over all keys.
MAX_REFRESHES: Final = 256
#: How long shutdown waits for cancelled refreshes to finish.
CLOSE_TIMEOUT_SECONDS: Final = 2.0

_POSITIVE_KINDS: Final = frozenset({NO_ERROR, DELEGATION})
_DENIAL_KINDS: Final = frozenset({NAME_ERROR, NO_DATA, SERVER_ERROR})


class _Sink:
    """The writer under a refresh's ``NonWriter``: nothing ever reaches a client from here."""

    written = False

    def write_msg(self, msg: DNSRecord) -> None:  # pragma: no cover - NonWriter keeps it
        pass


@dataclass(frozen=True, slots=True)
class Refreshed:
    """What a refresh got: whether it may replace a stale entry, the reply, the new item."""

    usable: bool
    msg: DNSRecord | None
    item: Item | None


class Cache(Handler):
    """Answers from the cache, or asks the rest of the chain and stores the reply."""

    name = "cache"

    def __init__(
        self,
        next: Handler | None,
        *,
        options: CacheOptions,
        now: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        choice: Callable[[Sequence[Hashable]], Hashable] = random.choice,
    ) -> None:
        super().__init__(next)
        self.options = options
        #: the clock of TTLs (monotonic seconds); ``wall`` (Unix time) judges RRSIGs
        self.now = now
        self.wall = wall
        self.zones = options.zones
        self.zones_label = ",".join(options.zones)
        self.positive = Store(options.success_capacity, choice=choice)
        self.denial = Store(options.denial_capacity, choice=choice)
        # read per query or per stored reply
        self.success_max_ttl = options.success_max_ttl_seconds
        self.success_min_ttl = options.success_min_ttl_seconds
        self.denial_max_ttl = options.denial_max_ttl_seconds
        self.denial_min_ttl = options.denial_min_ttl_seconds
        self.servfail_seconds = options.servfail_seconds
        self.success_disabled = options.success_disabled_zones
        self.denial_disabled = options.denial_disabled_zones
        self.keepttl = options.keepttl
        self.prefetch_amount = options.prefetch_amount
        self.prefetch_window = options.prefetch_duration_seconds
        self.prefetch_percentage = options.prefetch_percentage
        self.stale_window = int(options.stale_seconds)  # CoreDNS compares whole seconds
        self.verify_stale = options.verify_stale
        self.verify_timeout = options.verify_timeout_seconds or None
        self.stale_ttl = options.stale_response_ttl_seconds
        self.stale_recheck = options.stale_recheck_seconds
        self.prefer_positive = options.prefer_positive
        self._series: dict[str, Series] = {}
        self._watched: list[tuple[str, Generation]] = []
        self._refreshes: dict[Key, asyncio.Task[Refreshed]] = {}
        self._closed = False
        #: whether the server may replay this cache's hits without asking it again: only when
        #: a hit has no effect but counting (no prefetch, no serve_stale) on the real clock
        self.replays_hits = (
            now is time.monotonic and self.prefetch_amount == 0 and self.stale_window == 0
        )

    # --- lifecycle ------------------------------------------------------------------------
    def watch(self, handlers: Iterable[object]) -> None:
        """Follow the data of every ``DataChangeNotifier`` among ``handlers`` (startup)."""
        generations: dict[str, Generation] = {}
        for handler in handlers:
            if handler is self or not isinstance(handler, DataChangeNotifier):
                continue
            bumped = []
            for zone in handler.zones:
                if zone not in generations:
                    generations[zone] = Generation()
                    self._watched.append((zone, generations[zone]))
                bumped.append(generations[zone])
            handler.on_change(_bumper(tuple(bumped)))

    async def close(self) -> None:
        """Cancel the refreshes in flight and refuse new ones (shutdown or reload)."""
        self._closed = True
        tasks = list(self._refreshes.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT_SECONDS)

    def refreshing(self) -> int:
        """How many refreshes are in flight."""
        return len(self._refreshes)

    async def settled(self) -> None:
        """Wait until no refresh is in flight (tests bound this with a timeout)."""
        while self._refreshes:
            await asyncio.wait(list(self._refreshes.values()))

    def series(self, server: str) -> Series:
        found = self._series.get(server)
        if found is None:
            found = self._series[server] = Series(server, self.zones_label)
        return found

    # --- the handler ----------------------------------------------------------------------
    async def serve_dns(self, req: Request, w: ResponseWriter) -> int:
        name = req.name
        if not matches(self.zones, name):
            return await self.serve_next(req, w)
        now = self.now()
        series = self.series(req.server)
        flags = req.query.flags
        do = req.do
        ad = bool(flags & wire.FLAG_AD)
        key: Key = (name, req.qtype, req.qclass, do, bool(flags & wire.FLAG_CD))
        item = self._lookup(key, now, series)
        if item is None:
            downstream = req if ad else _with_ad(req)
            downstream.replay = req.replay  # the writer decides (CacheWriter.note_replay)
            writer = CacheWriter(
                w, cache=self, req=downstream, key=key, ad=ad, deps=self._deps(name),
                origin=None if downstream is req else req,
            )  # fmt: skip
            return await next_or_failure(self.name, self.next, downstream, writer)
        ttl = item.ttl(now)
        stale = ttl <= 0
        if stale:
            if self.verify_stale:
                rcode = await self._verify(req, w, key, item, ad, now)
                if rcode is not None:
                    return rcode
            else:
                self._start_refresh(req, key, item, stale=True, now=now)
            ttl = 0
            series.served_stale.inc()
        elif self.prefetch_amount > 0 and self._popular(item, now):
            self._start_refresh(req, key, item, stale=False, now=now)
        if self.keepttl:
            ttl = item.orig_ttl
        if stale and self.stale_ttl > 0:
            ttl = self.stale_ttl
        note = req.replay
        if note is not None:
            if stale or not self.replays_hits:
                note.veto()
            else:  # this answer holds until the TTL countdown ticks (server/replay.py)
                note.allow("cache", item.stored + int(now - item.stored) + 1)
                note.effects.extend(self._hit_effects(series, key, item))
        if item.rcode > 0xF:  # an extended rcode needs the OPT: the message path packs it
            w.write_msg(item.to_msg(req, ttl, do=do, ad=ad))
        else:
            w.write_packed(item.to_packed(req, ttl, do=do, ad=ad))
        return wire.NOERROR

    def _hit_effects(self, series: Series, key: Key, item: Item) -> tuple[Callable[[int, float], None], ...]:
        """What ``_lookup`` counted for this hit, to be counted again for each replay."""
        requests = series.requests
        hits = series.hits_denial if self.denial.get(key) is item else series.hits_success
        return (lambda count, _: requests.inc(count), lambda count, _: hits.inc(count))

    def miss_effects(self, server: str) -> tuple[Callable[[int, float], None], ...]:
        """What ``_lookup`` counted for a miss, for replays of an answer never stored."""
        series = self.series(server)
        requests, misses = series.requests, series.misses
        return (lambda count, _: requests.inc(count), lambda count, _: misses.inc(count))

    # --- lookups --------------------------------------------------------------------------
    def _in_time(self, item: Item, now: float) -> bool:
        """Fresh, or expired for less than the serve_stale window."""
        ttl = item.ttl(now)
        return ttl > 0 or (self.stale_window > 0 and -ttl < self.stale_window)

    def _usable(self, store: Store, key: Key, now: float, series: Series) -> Item | None:
        """The entry under ``key`` if still current and fresh (or stale within the window)."""
        item = store.get(key)
        if item is None:
            return None
        if item.deps and not item.current():
            store.remove(key)
            self._count_entries(series)
            return None
        return item if self._in_time(item, now) else None

    def _lookup(self, key: Key, now: float, series: Series) -> Item | None:
        """CoreDNS ``getIfNotStale``: denial first, then positive; counts hits and misses."""
        series.requests.inc()
        if self.prefer_positive and self.stale_window > 0:
            # serve_stale_policy prefer_positive: an answer (or the last one) before any denial
            item = self.positive.get(key)
            good = item.answering_item() if item is not None else None
            if good is not None and good.current() and self._in_time(good, now):
                series.hits_success.inc()
                return good
        item = self._usable(self.denial, key, now, series)
        if item is not None:
            if item.rcode == wire.SERVFAIL:
                # a server failure is transient: a usable positive entry wins over it
                positive = self._usable(self.positive, key, now, series)
                if positive is not None:
                    series.hits_success.inc()
                    return positive
            series.hits_denial.inc()
            return item
        item = self._usable(self.positive, key, now, series)
        if item is not None:
            series.hits_success.inc()
            return item
        series.misses.inc()
        return None

    def _deps(self, name: str) -> tuple[tuple[Generation, int], ...]:
        """The generations an answer for ``name`` depends on, as they are now."""
        if not self._watched:
            return ()
        return tuple(
            (generation, generation.value)
            for zone, generation in self._watched
            if matches((zone,), name)
        )

    # --- storing (called by CacheWriter) ----------------------------------------------------
    def store(self, writer: CacheWriter, msg: DNSRecord, kind: Type, duration: float) -> Item | None:
        """Keep ``msg`` under the writer's key in the cache its kind belongs to."""
        name = writer.req.name
        series = self.series(writer.req.server)
        item: Item | None = None
        if kind in _POSITIVE_KINDS:
            if not (self.success_disabled and matches(self.success_disabled, name)):
                item = self._item(writer, msg, duration)
                key = writer.key
                if self.prefer_positive:
                    item.answering = answers_question(msg)
                    previous = self.positive.get(key)
                    if not item.answering and previous is not None:
                        item.last_known_good = previous.answering_item()
                if self.positive.add(key, item):
                    series.evictions_success.inc()
                # the newest state of this key is a positive one (prefer_positive: an answer)
                if item.answering if self.prefer_positive else writer.refresh:
                    self.denial.remove(key)
        elif kind in _DENIAL_KINDS:
            if not (self.denial_disabled and matches(self.denial_disabled, name)):
                item = self._item(writer, msg, duration)
                if self.denial.add(writer.key, item):
                    series.evictions_denial.inc()
        self._count_entries(series)
        return item

    def _item(self, writer: CacheWriter, msg: DNSRecord, duration: float) -> Item:
        return Item(
            msg, answer=msg.rr, ns=msg.auth, extra=msg.ar,
            stored=self.now(), duration_seconds=duration, deps=writer.deps,
        )  # fmt: skip

    def dropped(self, server: str) -> None:
        """A storable reply whose question did not match the query's."""
        self.series(server).drops.inc()

    def _count_entries(self, series: Series) -> None:
        series.entries_success.set(len(self.positive))
        series.entries_denial.set(len(self.denial))

    # --- prefetch and serve_stale -----------------------------------------------------------
    def _popular(self, item: Item, now: float) -> bool:
        """CoreDNS ``shouldPrefetch``: enough close hits, and little of the TTL left."""
        hits = item.hit(self.prefetch_window, now)
        threshold = math.ceil(self.prefetch_percentage / 100 * item.orig_ttl)
        return hits >= self.prefetch_amount and item.ttl(now) <= threshold

    def _start_refresh(
        self, req: Request, key: Key, item: Item, *, stale: bool, now: float, verify: bool = False
    ) -> asyncio.Task[Refreshed] | None:
        """The refresh of ``key`` in flight, started now if there is none; None when refused."""
        task = self._refreshes.get(key)
        if task is not None:
            return task
        if stale and self.stale_recheck > 0 and now < item.retry_after:
            return None  # a refresh failed lately: serve stale without asking again
        if self._closed or len(self._refreshes) >= MAX_REFRESHES:
            return None
        derived = _with_ad(req, always_derive=True)
        if not verify:
            derived.proto = "tcp"  # no client buffer limits a background refresh
        task = asyncio.create_task(
            self._refresh(derived, key, item, stale=stale, now=now, verify=verify),
            name=f"cache refresh {req.name} {req.type_name}",
        )
        self._refreshes[key] = task
        task.add_done_callback(lambda done: self._finished(key, done))
        return task

    def _finished(self, key: Key, task: asyncio.Task[Refreshed]) -> None:
        if self._refreshes.get(key) is task:
            del self._refreshes[key]
        if not task.cancelled() and task.exception() is not None:
            log.error("refreshing %s failed: %r", key[0], task.exception())

    async def _refresh(
        self, req: Request, key: Key, item: Item, *, stale: bool, now: float, verify: bool
    ) -> Refreshed:
        """Run the rest of the chain for ``req`` and store what it writes."""
        if not verify:
            self.series(req.server).prefetches.inc()
        capture = NonWriter(_Sink())
        cache_writer = CacheWriter(
            capture, cache=self, req=req, key=key, ad=True, deps=self._deps(req.name), refresh=True
        )
        writer: ResponseWriter = cache_writer
        if stale:
            writer = VerifyWriter(
                cache_writer, req=req, wall=self.wall, prefer_positive=self.prefer_positive
            )
        try:
            await next_or_failure(self.name, self.next, req, writer)
        except PluginError as exc:
            log.debug("refreshing %s %s: %s", req.name, req.type_name, exc)
        except Exception as exc:  # a bug below us must not kill the refresh machinery
            log.error("refreshing %s %s failed: %r", req.name, req.type_name, exc)
        msg = capture.msg
        usable = refreshes(req, msg, self.wall(), prefer_positive=self.prefer_positive)
        if stale and self.stale_recheck > 0:
            item.retry_after = float("-inf") if usable else self.now() + self.stale_recheck
        if usable or not stale:
            # the new entry keeps the popularity the old one had gathered
            fresh = self.denial.get(key) or self.positive.get(key)
            if fresh is not None:
                fresh.hits = item.hits
                fresh.last_hit = now
        return Refreshed(usable, msg, cache_writer.item)

    async def _verify(
        self, req: Request, w: ResponseWriter, key: Key, item: Item, ad: bool, now: float
    ) -> int | None:
        """Refresh first (RFC 8767); answer and return NOERROR with fresh data, else None."""
        task = self._start_refresh(req, key, item, stale=True, now=now, verify=True)
        if task is None:
            return None
        done, _ = await asyncio.wait({task}, timeout=self.verify_timeout)
        if not done or task.cancelled():
            return None  # too slow: the stale answer now, the refresh goes on
        result = task.result()
        if not result.usable:
            return None
        if result.item is not None:
            fresh = result.item
            ttl = fresh.orig_ttl if self.keepttl else fresh.ttl(self.now())
            reply = fresh.to_msg(req, ttl, do=req.do, ad=ad)
        else:  # fresh but not storable here (a disabled zone, a 0 duration)
            assert result.msg is not None
            reply = _for_client(result.msg, req, do=req.do, ad=ad)
        w.write_msg(reply)
        return wire.NOERROR


def _bumper(generations: tuple[Generation, ...]) -> Callable[[], None]:
    def changed() -> None:
        for generation in generations:
            generation.value += 1

    return changed


def _with_ad(req: Request, *, always_derive: bool = False) -> Request:
    """A request for the same query with AD set (CoreDNS ``authenticatedRefreshState``)."""
    query = req.query
    if not query.flags & wire.FLAG_AD:
        flags = query.flags | wire.FLAG_AD
        data = query.data[:2] + flags.to_bytes(2, "big") + query.data[4:]
        query = dataclasses.replace(query, flags=flags, data=data)
    elif not always_derive:
        return req
    return req.derive(query)


def _for_client(msg: DNSRecord, req: Request, *, do: bool, ad: bool) -> DNSRecord:
    """A refresh's reply readdressed to ``req`` (its ID and question), AD as the client allows."""
    reply = req.reply(msg.header.rcode)
    header, source = reply.header, msg.header
    header.aa = source.aa
    header.ra = source.ra
    header.ad = source.ad if (do or ad) else 0
    reply.rr = list(msg.rr)
    reply.auth = list(msg.auth)
    reply.ar = list(msg.ar)
    return reply


__all__ = ["Cache", "MAX_REFRESHES"]
