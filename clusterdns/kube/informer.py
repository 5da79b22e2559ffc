"""List and watch one kind of object into callbacks on the event loop.

The shape is kopf's (``_cogs/clients/watching.py``), in one class with three layers:

- ``run`` never ends until ``stop()``: it lists, then watches; a watch stream that ends is
  resumed from the last resourceVersion; ``410 Gone`` (an ``ERROR`` event or the HTTP status)
  goes back to listing; any other failure (connection refused, 5xx, a timeout, a broken
  stream) is retried after an exponential backoff with full jitter, capped. It is kept as
  simple as possible because an endless loop is hard to test.
- ``_list`` reads every page (``limit``/``continue``), each page fetched and parsed in a
  worker thread, then hands the whole parsed list to ``on_replace`` on the loop in one call
  (the index swaps it in at once) and sets ``synced`` — kopf's ``LISTED`` marker, which is
  what readiness and SERVFAIL-before-sync need.
- ``_watch`` opens one watch stream from a resourceVersion in a dedicated daemon thread (a
  long-lived blocking read would starve the loop's default executor, and several informers
  run at once). The thread parses each event and queues it; the loop applies queued events in
  order (``on_upsert``/``on_delete``), remembers bookmarks' resourceVersions, and learns how
  the stream ended through the same queue, so every event read is applied before the next
  step is decided.

The callbacks (and so the store) run only on the event loop, never in a thread. Raw JSON lives
only for the page or event being parsed. On a relist, ``known`` lets each page keep the
instances the store already holds for unchanged objects, so only changed objects exist twice,
and only until the index swaps them in.

Every wait has a deadline: each list page and each watch is bounded on the loop as well as by
the client's socket timeouts, so a silently dead connection is noticed. ``stop()`` closes the
open stream from any thread and ends ``run()`` promptly; threads still blocked in a request
are daemons and their late results are dropped.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from .client import KubeClient, WatchStream
from .errors import APIConnectionError, APIError, KubeError, ResourceExpired
from .index import ClusterIndex
from .objects import (
    endpoint_slice_from_json,
    namespace_from_json,
    pod_from_json,
    service_from_json,
)

log = logging.getLogger("clusterdns.kube")

T = TypeVar("T")
R = TypeVar("R")
Json = dict[str, Any]

#: client-go's reflector watches for a random 5 to 10 minutes (``minWatchTimeout`` × [1, 2)).
MIN_WATCH_TIMEOUT_SECONDS: Final = 300
#: client-go's reflector backoff: 800 ms doubling to a 30 s cap.
DEFAULT_BACKOFF_BASE_SECONDS: Final = 0.8
DEFAULT_BACKOFF_CAP_SECONDS: Final = 30.0
#: How long past the client's own socket timeouts the loop waits before giving up on a call.
_LOOP_DEADLINE_GRACE_SECONDS: Final = 5.0
#: client-go's reflector: a watch that ends within a second having sent nothing is a failure
#: (backed off), not a normal end (resumed at once).
_SHORT_WATCH_SECONDS: Final = 1.0
#: CoreDNS watches only pods that can still serve (``podListFunc`` in its controller.go).
POD_FIELD_SELECTOR: Final = "status.phase!=Succeeded,status.phase!=Failed,status.phase!=Unknown"


@dataclass
class InformerStats:
    """What an informer has been through (for logs, metrics and tests)."""

    lists: int = 0  # completed lists, the first included
    relists: int = 0  # lists after the first (410 Gone, or a failure that lost the position)
    watch_restarts: int = 0  # watches resumed from a resourceVersion rather than after a list
    events: int = 0  # watch events applied (bookmarks excluded)
    bookmarks: int = 0
    errors: int = 0
    resource_version: str = ""  # the newest resourceVersion applied
    last_sync_time: float | None = None  # time.time() of the last completed list
    last_event_time: float | None = None  # time.time() of the last applied event
    last_error: str = ""  # "<ExceptionType>: message" of the last failure


class Backoff:
    """Exponential backoff with full jitter (AWS's "full jitter"; client-go's jitter is 1.0)."""

    def __init__(
        self,
        *,
        base_seconds: float = DEFAULT_BACKOFF_BASE_SECONDS,
        cap_seconds: float = DEFAULT_BACKOFF_CAP_SECONDS,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.base_seconds = base_seconds
        self.cap_seconds = cap_seconds
        self.rng = rng
        self.attempt = 0

    def next_delay(self) -> float:
        """A delay drawn uniformly from [0, min(cap, base × 2^attempt)); counts the attempt."""
        ceiling = min(self.cap_seconds, self.base_seconds * 2.0 ** min(self.attempt, 30))
        self.attempt += 1
        return self.rng() * ceiling

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class _ParsedPage(Generic[T]):
    """One page of a list, parsed: the slim objects, the list's version, the continue token."""

    items: list[T]
    resource_version: str
    continue_token: str


class _Stopped(Exception):
    """``stop()`` was called while waiting."""


class Informer(Generic[T]):
    """Keeps callbacks in step with one kind of Kubernetes object (see the module docstring).

    ``kind`` is the resource name (``services``, ``endpointslices``, ``namespaces``,
    ``pods``); ``parse`` turns one raw object into the slim object handed to ``on_replace``
    (the complete list after each list) and ``on_upsert``; ``on_delete`` gets the deleted
    object's namespace ('' for cluster-scoped kinds) and name.
    """

    def __init__(
        self,
        kind: str,
        *,
        client: KubeClient,
        parse: Callable[[Json], T],
        on_replace: Callable[[list[T]], None],
        on_upsert: Callable[[T], None],
        on_delete: Callable[[str, str], None],
        label_selector: str = "",
        field_selector: str = "",
        page_size: int = 500,
        backoff_cap_seconds: float = DEFAULT_BACKOFF_CAP_SECONDS,
        backoff_base_seconds: float = DEFAULT_BACKOFF_BASE_SECONDS,
        watch_timeout_seconds: int | None = None,
        known: Callable[[T], T | None] | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.kind = kind
        self.client = client
        self.parse = parse
        self.on_replace = on_replace
        self.on_upsert = on_upsert
        self.on_delete = on_delete
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.page_size = page_size
        #: None: a random 5-10 minutes per watch, as client-go's reflector does.
        self.watch_timeout_seconds = watch_timeout_seconds
        self.backoff = Backoff(
            base_seconds=backoff_base_seconds, cap_seconds=backoff_cap_seconds, rng=rng
        )
        #: The equal object the store already holds, if any (see ``_list``).
        self.known = known
        self.rng = rng
        self.stats = InformerStats()
        self.synced = asyncio.Event()
        self._stopping = False
        self._running = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._stream: WatchStream | None = None

    def __repr__(self) -> str:
        return f"<Informer {self.kind} rv={self.stats.resource_version or '-'}>"

    # --- control ---------------------------------------------------------------------------
    def stop(self) -> None:
        """End ``run()`` promptly: abort the open watch and any wait. Safe from any thread."""
        self._stopping = True
        stream = self._stream
        if stream is not None:
            stream.close()
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(event.set)

    async def run(self) -> None:
        """List, then watch, until ``stop()`` (or cancellation); failures are retried."""
        if self._running:
            raise RuntimeError(f"{self!r} is already running")
        self._running = True
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        if self._stopping:
            self._stop_event.set()
        must_list = True  # else resume watching from stats.resource_version
        try:
            while not self._stopping:
                try:
                    if must_list:
                        await self._list()
                        must_list = False
                        self.backoff.reset()
                        await self._watch(resumed=False)
                    else:
                        await self._watch(resumed=True)
                except _Stopped:
                    break
                except ResourceExpired as exc:
                    # The position is lost: list again. At once the first time; a server that
                    # keeps answering 410 is backed off like any other failure.
                    self._failed(exc, logging.INFO)
                    must_list = True
                    if self.backoff.attempt:
                        await self._sleep(self.backoff.next_delay())
                    else:
                        self.backoff.attempt += 1
                except (KubeError, OSError) as exc:
                    delay = self.backoff.next_delay()
                    self._failed(exc, logging.WARNING, delay)
                    await self._sleep(delay)
        except _Stopped:
            pass
        finally:
            self._close_stream()
            self._running = False
            log.debug("%s: informer stopped", self.kind)

    # --- list ------------------------------------------------------------------------------
    async def _list(self) -> None:
        """List every page, replace the store's objects, set ``synced``."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        items: list[T] = []
        token = ""
        deadline = (
            self.client.connect_timeout_seconds
            + self.client.request_timeout_seconds
            + _LOOP_DEADLINE_GRACE_SECONDS
        )
        pages = 0
        while True:
            page = await self._wait(
                self._in_thread(functools.partial(self._fetch_page, token)), deadline, "list page"
            )
            pages += 1
            if self.known is None:
                items.extend(page.items)
            else:
                # A relist finds most objects unchanged: keep the instances the store already
                # holds, so the fresh copies die page by page instead of all living until the
                # swap (the relist memory spike of kubernetes/kubernetes#139117).
                known = self.known
                items.extend([old if (old := known(new)) == new else new for new in page.items])
            resource_version, token = page.resource_version, page.continue_token
            if not token:
                break
        if self.stats.lists:
            self.stats.relists += 1
        self.stats.lists += 1
        count = len(items)
        self.on_replace(items)
        del items  # the store holds the objects now; drop the second reference at once
        self.stats.resource_version = resource_version
        self.stats.last_sync_time = time.time()
        self.synced.set()
        log.info(
            "%s: listed %d objects in %d pages at resourceVersion %s in %.3fs",
            self.kind,
            count,
            pages,
            resource_version,
            loop.time() - started,
        )

    def _fetch_page(self, token: str) -> _ParsedPage[T]:
        """One page, parsed (in a worker thread); the raw JSON is dropped on return."""
        raw = self.client.list_page(
            self.kind,
            limit=self.page_size,
            continue_token=token,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
        )
        parsed: list[T] = []
        for obj in raw.items:
            try:
                parsed.append(self.parse(obj))
            except Exception as exc:  # one malformed object must not stop the sync
                log.warning("%s: skipping an object that does not parse: %s", self.kind, exc)
        return _ParsedPage(parsed, raw.resource_version, raw.continue_token)

    # --- watch -----------------------------------------------------------------------------
    async def _watch(self, *, resumed: bool) -> None:
        """Watch from the newest version applied until the stream ends.

        Each event applied moves ``stats.resource_version``, so a failed stream is resumed
        from where it broke. Raises ``ResourceExpired`` on 410, ``APIError`` or
        ``APIConnectionError`` on failures.
        """
        resource_version = self.stats.resource_version
        if resumed:
            self.stats.watch_restarts += 1
        timeout = self.watch_timeout_seconds or int(MIN_WATCH_TIMEOUT_SECONDS * (1 + self.rng()))
        stream = self.client.watch(
            self.kind,
            resource_version=resource_version,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            timeout_seconds=timeout,
        )
        session = _WatchSession(asyncio.get_running_loop(), self)
        self._stream = stream
        if self._stopping:
            stream.close()
        thread = threading.Thread(
            target=session.pump, args=(stream,), name=f"kube-watch-{self.kind}", daemon=True
        )
        log.debug("%s: watching from resourceVersion %s", self.kind, resource_version)
        started = session.loop.time()
        thread.start()
        deadline = (
            self.client.connect_timeout_seconds
            + timeout
            + self.client.watch_grace_seconds
            + _LOOP_DEADLINE_GRACE_SECONDS
        )
        try:
            await self._wait(session.ended, deadline, "watch")
        finally:
            session.cancelled = True
            self._close_stream()
        if self._stopping:
            raise _Stopped
        if not session.events and session.loop.time() - started < _SHORT_WATCH_SECONDS:
            raise APIConnectionError(
                f"{self.kind} watch closed within {_SHORT_WATCH_SECONDS:.0f}s with no events"
            )
        self.backoff.reset()

    def _apply(self, item: tuple[Any, ...], session: _WatchSession) -> None:
        """Apply one parsed watch event on the loop."""
        what = item[0]
        try:
            if what == "upsert":
                self.on_upsert(item[1])
            elif what == "delete":
                self.on_delete(item[1], item[2])
        except Exception:  # a broken callback must not end the informer
            log.exception("%s: applying a watch event failed", self.kind)
        if what == "bookmark":
            self.stats.bookmarks += 1
        else:
            self.stats.events += 1
            self.stats.last_event_time = time.time()
        if item[-1]:
            self.stats.resource_version = item[-1]
        if session.events == 0:
            self.backoff.reset()  # the stream works: forget earlier failures
        session.events += 1

    # --- plumbing --------------------------------------------------------------------------
    def _in_thread(self, call: Callable[[], R]) -> asyncio.Future[R]:
        """Run a blocking call in a new daemon thread; its result as a loop future."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()

        def settle(result: Any, error: BaseException | None) -> None:
            if not future.done():
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(result)

        def target() -> None:
            try:
                result = call()
            except BaseException as exc:  # handed to the loop
                _post(loop, settle, None, exc)
            else:
                _post(loop, settle, result, None)

        threading.Thread(target=target, name=f"kube-list-{self.kind}", daemon=True).start()
        return future

    async def _wait(self, future: asyncio.Future[R], timeout: float, what: str) -> R:
        """The future's result, unless ``stop()`` comes first or ``timeout`` passes."""
        assert self._stop_event is not None
        future.add_done_callback(_consume)  # a result that comes too late is dropped quietly
        stopper = asyncio.ensure_future(self._stop_event.wait())
        waiting: set[asyncio.Future[Any]] = {future, stopper}
        try:
            done, _ = await asyncio.wait(
                waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stopper.cancel()
        if future in done:
            return future.result()
        if self._stopping:
            raise _Stopped
        raise APIConnectionError(f"{self.kind} {what} took longer than {timeout:.0f}s")

    async def _sleep(self, seconds: float) -> None:
        assert self._stop_event is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), seconds)
        if self._stopping:
            raise _Stopped

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()

    def _failed(self, exc: BaseException, level: int, delay: float | None = None) -> None:
        self.stats.errors += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        if delay is None:
            log.log(level, "%s: %s; listing again", self.kind, exc)
        else:
            log.log(level, "%s: %s; retrying in %.1fs", self.kind, exc, delay)


class _WatchSession:
    """One watch stream: a thread reads and parses, the loop applies, in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, informer: Informer[Any]) -> None:
        self.loop = loop
        self.informer = informer
        self.ended: asyncio.Future[None] = loop.create_future()
        self.events = 0
        self.cancelled = False  # set by the loop when it stops listening
        self._queue: collections.deque[tuple[Any, ...]] = collections.deque()
        self._lock = threading.Lock()
        self._scheduled = False

    # thread side
    def pump(self, stream: WatchStream) -> None:
        error: BaseException | None = None
        try:
            for event_type, obj in stream:
                if self.cancelled:
                    return
                item = self._convert(event_type, obj)
                if item is not None:
                    self._put(item)
        except BaseException as exc:  # handed to the loop
            error = exc
        self._put(("end", error))

    def _convert(self, event_type: str, obj: Json) -> tuple[Any, ...] | None:
        meta = obj.get("metadata") or {}
        version = str(meta.get("resourceVersion") or "")
        kind = self.informer.kind
        if event_type in ("ADDED", "MODIFIED"):
            try:
                return ("upsert", self.informer.parse(obj), version)
            except Exception as exc:
                log.warning("%s: skipping an event that does not parse: %s", kind, exc)
                return ("bookmark", version)
        if event_type == "DELETED":
            return ("delete", meta.get("namespace") or "", meta.get("name") or "", version)
        if event_type == "BOOKMARK":
            return ("bookmark", version)
        if event_type == "ERROR":
            # kopf: 410 ends the stream so the caller relists; any other error fails it.
            raise APIError.from_status(0, obj)  # type: ignore[arg-type]
        log.warning("%s: ignoring a watch event of unknown type %r", kind, event_type)
        return None

    def _put(self, item: tuple[Any, ...]) -> None:
        self._queue.append(item)
        with self._lock:
            if self._scheduled:
                return
            self._scheduled = True
        _post(self.loop, self._drain)

    # loop side
    def _drain(self) -> None:
        with self._lock:
            self._scheduled = False
        while self._queue:
            item = self._queue.popleft()
            if self.cancelled:
                continue
            if item[0] == "end":
                if not self.ended.done():
                    if item[1] is None:
                        self.ended.set_result(None)
                    else:
                        self.ended.set_exception(item[1])
                continue
            self.informer._apply(item, self)


def _post(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
        loop.call_soon_threadsafe(callback, *args)


def _consume(future: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned future's exception so that asyncio does not report it."""
    if not future.cancelled():
        future.exception()


__all__ = [
    "DEFAULT_BACKOFF_BASE_SECONDS",
    "DEFAULT_BACKOFF_CAP_SECONDS",
    "MIN_WATCH_TIMEOUT_SECONDS",
    "POD_FIELD_SELECTOR",
    "Backoff",
    "Informer",
    "InformerStats",
    "cluster_informers",
]


def cluster_informers(
    index: ClusterIndex,
    client: KubeClient,
    *,
    pods: bool = False,
    label_selector: str = "",
    namespace_label_selector: str = "",
    page_size: int = 500,
    backoff_cap_seconds: float = DEFAULT_BACKOFF_CAP_SECONDS,
    watch_timeout_seconds: int | None = None,
) -> list[Informer[Any]]:
    """The informers CoreDNS's kubernetes plugin runs, each feeding ``index``.

    Services, EndpointSlices and (for ``pods verified``) Pods that can still serve, with the
    plugin's ``labels`` selector; Namespaces with its ``namespace_labels`` selector.
    """
    common: dict[str, Any] = {
        "client": client,
        "page_size": page_size,
        "backoff_cap_seconds": backoff_cap_seconds,
        "watch_timeout_seconds": watch_timeout_seconds,
    }
    informers: list[Informer[Any]] = [
        Informer(
            "services",
            parse=service_from_json,
            on_replace=index.replace_services,
            on_upsert=index.upsert_service,
            on_delete=index.delete_service,
            known=lambda s: index.services.get(s.key),
            label_selector=label_selector,
            **common,
        ),
        Informer(
            "endpointslices",
            parse=endpoint_slice_from_json,
            on_replace=index.replace_slices,
            on_upsert=index.upsert_slice,
            on_delete=index.delete_slice,
            known=lambda s: index.slices.get(s.key),
            label_selector=label_selector,
            **common,
        ),
        Informer(
            "namespaces",
            parse=namespace_from_json,
            on_replace=index.replace_namespaces,
            on_upsert=index.upsert_namespace,
            on_delete=lambda _namespace, name: index.delete_namespace(name),
            known=lambda n: index.namespaces.get(n.name),
            label_selector=namespace_label_selector,
            **common,
        ),
    ]
    if pods:
        informers.append(
            Informer(
                "pods",
                parse=pod_from_json,
                on_replace=index.replace_pods,
                on_upsert=index.upsert_pod,
                on_delete=index.delete_pod,
                known=lambda p: index.pods.get(p.key),
                label_selector=label_selector,
                field_selector=POD_FIELD_SELECTOR,
                **common,
            )
        )
    return informers
