"""A fake Kubernetes API server for tests: the real HTTP list/watch protocol, in-process.

It serves Services, EndpointSlices, Namespaces and Pods over plain HTTP/1.1 on loopback, the
way kube-apiserver answers the official ``kubernetes`` client, so the client, the informer and
everything above them are tested over real sockets with no mocks:

- **list**: ``limit``/``continue`` paging over a consistent snapshot, ``metadata.resourceVersion``
  and the proper ``kind``/``apiVersion`` (``ServiceList``, ``EndpointSliceList``, ...); a
  continue token older than the retained history is ``410 Expired``.
- **selectors**: ``labelSelector`` (``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``,
  ``k``, ``!k``) and ``fieldSelector`` (``=``, ``==``, ``!=`` chains over the fields the real
  server supports, such as ``status.phase`` for pods). On a watch, an object that stops
  matching is sent as ``DELETED`` (its previous state) and one that starts matching as
  ``ADDED``, as the API server's watch cache does.
- **watch**: ``watch=true`` answers ``Transfer-Encoding: chunked`` JSON lines
  (``{"type":"ADDED","object":{...}}``); ``resourceVersion`` resumes after that version
  (unset or ``"0"`` starts with synthetic ``ADDED`` events for the current state); a version
  older than the retained history gets ``{"type":"ERROR","object":{"kind":"Status","code":410}}``
  (or HTTP 410 with ``gone_as_http=True``); ``allowWatchBookmarks`` enables ``BOOKMARK`` events;
  ``timeoutSeconds`` ends the stream cleanly.

With ``ssl_context`` it serves HTTPS (and may require client certificates). Test controls
are coroutines: ``create``/``update``/``apply``/``delete`` bump the one global
resourceVersion and push to the open watches; ``compact`` forgets the history;
``expire_watches`` sends 410 on open watches; ``close_watches`` cuts them (optionally
mid-event); ``stop``/``restart`` drop every connection and come back on the same port with the
state kept; ``fail_next`` and ``slow_list`` inject errors and latency; ``bookmark_now`` sends a
bookmark. ``objects(kind)`` returns the server's state for comparison.

The builders at the end (``service``, ``endpoint_slice``, ``namespace``, ``pod``) write objects
the way the API server returns them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import http
import json
import re
import ssl
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

Json = dict[str, Any]
Key = tuple[str, str]

#: The server-side watch timeout when a client gives none (kube-apiserver's default
#: ``--min-request-timeout`` is 1800 s).
DEFAULT_WATCH_TIMEOUT_SECONDS: Final = 1800
#: How many list snapshots (for continue tokens) are kept at once.
MAX_SNAPSHOTS: Final = 64

SERVICE_NAME_LABEL: Final = "kubernetes.io/service-name"


@dataclass(frozen=True)
class Kind:
    """A resource the fake serves."""

    resource: str  # "services"
    kind: str  # "Service"
    api_version: str  # "v1" or "discovery.k8s.io/v1"
    namespaced: bool
    fields: frozenset[str]  # field selector labels the real server accepts

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def prefix(self) -> str:
        return "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"


_META_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
KINDS: Final[dict[str, Kind]] = {
    k.resource: k
    for k in (
        Kind("services", "Service", "v1", True, _META_FIELDS),
        Kind("endpointslices", "EndpointSlice", "discovery.k8s.io/v1", True, _META_FIELDS),
        Kind("namespaces", "Namespace", "v1", False, _META_FIELDS | {"status.phase"}),
        Kind(
            "pods",
            "Pod",
            "v1",
            True,
            _META_FIELDS
            | {
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.nominatedNodeName",
            },
        ),
    )
}
_BY_KIND_NAME: Final = {k.kind.lower(): k for k in KINDS.values()}


def kind_of(name: str) -> Kind:
    """The ``Kind`` for a resource name (``"pods"``) or a kind (``"Pod"``)."""
    found = KINDS.get(name) or _BY_KIND_NAME.get(name.lower())
    if found is None:
        raise KeyError(f"the fake API server does not serve {name!r}")
    return found


# --- selectors -------------------------------------------------------------------------------

_SET_RE = re.compile(r"^\s*([A-Za-z0-9][-A-Za-z0-9_./]*)\s+(in|notin)\s*\(([^)]*)\)\s*$")
_EQ_RE = re.compile(r"^\s*([A-Za-z0-9][-A-Za-z0-9_./]*)\s*(==|=|!=)\s*([-A-Za-z0-9_.]*)\s*$")
_EXISTS_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9][-A-Za-z0-9_./]*)\s*$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def matches(self, labels: dict[str, str]) -> bool:
        if self.op == "exists":
            return self.key in labels
        if self.op == "!exists":
            return self.key not in labels
        if self.op == "in":
            return self.key in labels and labels[self.key] in self.values
        return self.key not in labels or labels[self.key] not in self.values


def _split_terms(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    terms, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return [t for t in terms if t.strip()]


def parse_label_selector(text: str) -> tuple[Requirement, ...]:
    """Equality- and set-based label selectors; raises ValueError like the server's 400."""
    requirements = []
    for term in _split_terms(text):
        if m := _SET_RE.match(term):
            values = frozenset(v.strip() for v in m.group(3).split(",") if v.strip())
            requirements.append(Requirement(m.group(1), m.group(2), values))
        elif m := _EQ_RE.match(term):
            op = "notin" if m.group(2) == "!=" else "in"
            requirements.append(Requirement(m.group(1), op, frozenset({m.group(3)})))
        elif m := _EXISTS_RE.match(term):
            requirements.append(Requirement(m.group(2), "!exists" if m.group(1) else "exists"))
        else:
            raise ValueError(f"unable to parse requirement: {term.strip()!r}")
    return tuple(requirements)


def parse_field_selector(text: str, kind: Kind) -> tuple[tuple[str, bool, str], ...]:
    """``(field, equal, value)`` terms; unsupported fields raise ValueError (a 400)."""
    terms = []
    for term in _split_terms(text):
        if "!=" in term:
            name, _, value = term.partition("!=")
            equal = False
        elif "==" in term:
            name, _, value = term.partition("==")
            equal = True
        elif "=" in term:
            name, _, value = term.partition("=")
            equal = True
        else:
            raise ValueError(f"invalid selector: {term!r}; can't understand {term!r}")
        name = name.strip()
        if name not in kind.fields:
            raise ValueError(f"field label not supported: {name}")
        terms.append((name, equal, value.strip()))
    return tuple(terms)


def _field_value(obj: Json, path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Filter:
    """What one list or watch asks for: a namespace, label and field selectors."""

    kind: Kind
    namespace: str = ""
    labels: tuple[Requirement, ...] = ()
    fields: tuple[tuple[str, bool, str], ...] = ()

    def matches(self, obj: Json) -> bool:
        meta = obj.get("metadata") or {}
        if self.namespace and meta.get("namespace") != self.namespace:
            return False
        if self.labels:
            labels = meta.get("labels") or {}
            if not all(r.matches(labels) for r in self.labels):
                return False
        return all((_field_value(obj, f) == v) == eq for f, eq, v in self.fields)


# --- the server ------------------------------------------------------------------------------


@dataclass
class RequestRecord:
    """One request as the fake received it (for assertions on paging, headers, ...)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]

    @property
    def watch(self) -> bool:
        return self.query.get("watch") in ("true", "1")


@dataclass
class _Event:
    rv: int
    kind: Kind
    type: str  # ADDED, MODIFIED, DELETED
    old: Json | None  # state before (None for ADDED)
    new: Json | None  # state after (None for DELETED)
    last: Json | None = None  # the old state stamped with this event's resourceVersion


@dataclass(eq=False)
class _Watch:
    filter: Filter
    bookmarks: bool
    writer: asyncio.StreamWriter
    done: asyncio.Event = field(default_factory=asyncio.Event)
    aborted: bool = False


class FakeAPIServer:
    """An in-process Kubernetes API server speaking HTTP/1.1 list/watch on loopback."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        gone_as_http: bool = False,
        history_limit: int | None = None,
        first_resource_version: int = 1000,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.gone_as_http = gone_as_http
        self.history_limit = history_limit
        self.requests: list[RequestRecord] = []
        self._objects: dict[str, dict[Key, Json]] = {r: {} for r in KINDS}
        self._rv = first_resource_version
        self._history: list[_Event] = []
        self._history_start = first_resource_version  # events after this version are kept
        self._snapshots: OrderedDict[int, list[Json]] = OrderedDict()
        self._next_snapshot = 1
        self._watches: set[_Watch] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None
        self._fail: list[tuple[int, str | None]] = []  # (status, resource) per coming request
        self._list_delay_seconds = 0.0

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def resource_version(self) -> int:
        return self._rv

    async def start(self) -> str:
        """Listen (on a free port the first time, the same port after ``stop``); the URL."""
        self._server = await asyncio.start_server(
            self._serve_connection, self.host, self.port, reuse_address=True, ssl=self.ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.url

    async def stop(self) -> None:
        """Stop listening and drop every connection, open watches included; state is kept."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for watch in list(self._watches):
            self._end(watch, aborted=True)
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=1.0)
        if server is not None:
            await server.wait_closed()

    async def restart(self) -> None:
        """``stop`` then ``start`` on the same port, like an API server restart."""
        await self.stop()
        await self.start()

    async def __aenter__(self) -> FakeAPIServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # --- state -----------------------------------------------------------------------------
    def objects(self, kind: str) -> list[Json]:
        """The current objects of ``kind`` (as a watch would send them), in key order."""
        k = kind_of(kind)
        store = self._objects[k.resource]
        return [self._with_kind(k, store[key]) for key in sorted(store)]

    def count(self, kind: str) -> int:
        """How many objects of ``kind`` exist."""
        return len(self._objects[kind_of(kind).resource])

    def get(self, kind: str, namespace: str, name: str) -> Json | None:
        k = kind_of(kind)
        obj = self._objects[k.resource].get(self._key(k, namespace, name))
        return None if obj is None else self._with_kind(k, obj)

    def watches(self, kind: str | None = None) -> int:
        """How many watches are open (of ``kind``, or of all kinds)."""
        resource = kind_of(kind).resource if kind else None
        return sum(1 for w in self._watches if resource in (None, w.filter.kind.resource))

    def load(self, objects: Iterable[Json]) -> int:
        """Add many objects at once, with no events (a cluster that existed before any watch).

        Returns the resourceVersion they all carry.
        """
        self._rv += 1
        for obj in objects:
            k, stored = self._prepare(obj)
            stored["metadata"]["resourceVersion"] = str(self._rv)
            self._objects[k.resource][self._key_of(k, stored)] = stored
        self._history_start = self._rv
        self._history.clear()
        return self._rv

    async def create(self, obj: Json) -> Json:
        k, stored = self._prepare(obj)
        key = self._key_of(k, stored)
        if key in self._objects[k.resource]:
            raise ValueError(f"{k.resource} {key} already exists")
        return self._commit(k, "ADDED", None, stored)

    async def update(self, obj: Json) -> Json:
        k, stored = self._prepare(obj)
        key = self._key_of(k, stored)
        old = self._objects[k.resource].get(key)
        if old is None:
            raise KeyError(f"{k.resource} {key} not found")
        stored["metadata"]["uid"] = old["metadata"]["uid"]
        stored["metadata"]["creationTimestamp"] = old["metadata"]["creationTimestamp"]
        return self._commit(k, "MODIFIED", old, stored)

    async def apply(self, obj: Json) -> Json:
        """Create or update."""
        k, stored = self._prepare(obj)
        if self._key_of(k, stored) in self._objects[k.resource]:
            return await self.update(obj)
        return await self.create(obj)

    async def delete(self, kind: str, namespace: str | None, name: str) -> None:
        k = kind_of(kind)
        key = self._key(k, namespace or "", name)
        old = self._objects[k.resource].get(key)
        if old is None:
            raise KeyError(f"{k.resource} {key} not found")
        self._commit(k, "DELETED", old, None)

    # --- fault injection -------------------------------------------------------------------
    async def compact(self) -> None:
        """Forget the history: resuming a watch from any version so far gets 410 Gone, and so
        does a continue token (like an etcd compaction)."""
        self._history.clear()
        self._history_start = self._rv
        self._snapshots.clear()

    async def expire_watches(self, *, code: int = 410) -> None:
        """Send an ERROR event on every open watch and end it: 410 by default, as the watch
        cache does when a watcher falls too far behind; ``code`` sends another Status."""
        for watch in list(self._watches):
            if code == 410:
                status = self._gone_status(self._rv)
            else:
                status = _status(code, _REASONS.get(code, "InternalError"), "injected watch error")
            self._write_event(watch, "ERROR", status)
            self._end(watch)

    async def close_watches(self, *, mid_event: bool = False) -> None:
        """Cut every open watch connection, optionally in the middle of an event's line.

        Data not yet sent is lost, like a connection reset.
        """
        for watch in list(self._watches):
            if mid_event:
                line = self._line("MODIFIED", watch.filter.kind, self._bookmark(watch.filter.kind))
                watch.writer.write(b"%x\r\n" % len(line) + line[: len(line) // 2])
            self._end(watch, aborted=True)
            watch.writer.transport.abort()

    async def bookmark_now(self) -> None:
        """Send a BOOKMARK at the current resourceVersion on watches that allow bookmarks."""
        for watch in list(self._watches):
            if watch.bookmarks:
                self._write_event(watch, "BOOKMARK", self._bookmark(watch.filter.kind))

    async def fail_next(self, n: int = 1, status: int = 500, *, kind: str | None = None) -> None:
        """Answer the next ``n`` requests (of ``kind``, or of any kind) with ``status``."""
        resource = kind_of(kind).resource if kind else None
        self._fail.extend([(status, resource)] * n)

    async def slow_list(self, seconds: float) -> None:
        """Delay every list response by ``seconds`` (0 to stop)."""
        self._list_delay_seconds = seconds

    # --- internals: objects and events -----------------------------------------------------
    def _end(self, watch: _Watch, *, aborted: bool = False) -> None:
        """End a watch now (it no longer counts as open), cleanly or by cutting it."""
        watch.aborted = watch.aborted or aborted
        watch.done.set()
        self._watches.discard(watch)

    @staticmethod
    def _key(k: Kind, namespace: str, name: str) -> Key:
        return (namespace if k.namespaced else "", name)

    def _key_of(self, k: Kind, obj: Json) -> Key:
        meta = obj["metadata"]
        return self._key(k, meta.get("namespace") or "", meta["name"])

    def _prepare(self, obj: Json) -> tuple[Kind, Json]:
        """A private deep copy without kind/apiVersion (list items carry neither)."""
        k = kind_of(str(obj.get("kind") or ""))
        stored = json.loads(json.dumps(obj))
        stored.pop("kind", None)
        stored.pop("apiVersion", None)
        meta = stored.setdefault("metadata", {})
        if not meta.get("name"):
            raise ValueError("metadata.name is required")
        if k.namespaced:
            meta.setdefault("namespace", "default")
        else:
            meta.pop("namespace", None)
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        return k, stored

    def _commit(self, k: Kind, type_: str, old: Json | None, new: Json | None) -> Json:
        self._rv += 1
        event = _Event(self._rv, k, type_, old, new)
        store = self._objects[k.resource]
        if new is not None:
            new["metadata"]["resourceVersion"] = str(self._rv)
            store[self._key_of(k, new)] = new
        else:
            assert old is not None
            del store[self._key_of(k, old)]
        if old is not None:
            event.last = copy.deepcopy(old)
            event.last["metadata"]["resourceVersion"] = str(self._rv)
        self._history.append(event)
        if self.history_limit is not None and len(self._history) > self.history_limit:
            dropped = self._history[: len(self._history) - self.history_limit]
            del self._history[: len(dropped)]
            self._history_start = dropped[-1].rv
        for watch in list(self._watches):
            if watch.filter.kind is k:
                self._send(watch, event)
        return self._with_kind(k, new if new is not None else event.last or {})

    @staticmethod
    def _with_kind(k: Kind, obj: Json) -> Json:
        return {"kind": k.kind, "apiVersion": k.api_version, **copy.deepcopy(obj)}

    @staticmethod
    def _translate(flt: Filter, event: _Event) -> tuple[str, Json] | None:
        """The event this watcher sees, given its selectors (the watch cache's rules)."""
        old_in = event.old is not None and flt.matches(event.old)
        new_in = event.new is not None and flt.matches(event.new)
        if new_in and old_in:
            return "MODIFIED", event.new  # type: ignore[return-value]
        if new_in:
            return "ADDED", event.new  # type: ignore[return-value]
        if old_in:
            return "DELETED", event.last  # type: ignore[return-value]
        return None

    def _send(self, watch: _Watch, event: _Event) -> None:
        seen = self._translate(watch.filter, event)
        if seen is not None:
            self._write_event(watch, *seen)

    @staticmethod
    def _line(type_: str, k: Kind, obj: Json) -> bytes:
        body = obj if obj.get("kind") else {"kind": k.kind, "apiVersion": k.api_version, **obj}
        return json.dumps({"type": type_, "object": body}, separators=(",", ":")).encode() + b"\n"

    def _write_event(self, watch: _Watch, type_: str, obj: Json) -> None:
        if watch.done.is_set() or watch.writer.is_closing():
            return
        line = self._line(type_, watch.filter.kind, obj)
        watch.writer.write(b"%x\r\n%b\r\n" % (len(line), line))

    def _bookmark(self, k: Kind) -> Json:
        return {
            "kind": k.kind,
            "apiVersion": k.api_version,
            "metadata": {"resourceVersion": str(self._rv), "creationTimestamp": None},
        }

    @staticmethod
    def _gone_status(rv: int, message: str = "") -> Json:
        return _status(410, "Expired", message or f"too old resource version: {rv}")

    # --- internals: HTTP -------------------------------------------------------------------
    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                request = _parse_request(head)
                length = int(request.headers.get("content-length") or 0)
                if length:
                    await reader.readexactly(length)
                self.requests.append(request)
                keep = await self._respond(request, reader, writer)
                if not keep or request.headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._handlers.discard(task)
            writer.close()

    async def _respond(
        self, request: RequestRecord, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; whether the connection may carry another."""
        route = _route(request.path)
        if request.method != "GET":
            return await _reply(writer, 405, _status(405, "MethodNotAllowed", "only GET is served"))
        if route is None:
            return await _reply(
                writer,
                404,
                _status(404, "NotFound", "the server could not find the requested resource"),
            )
        k, namespace = route
        for i, (status, resource) in enumerate(self._fail):
            if resource in (None, k.resource):
                del self._fail[i]
                return await _reply(
                    writer,
                    status,
                    _status(status, _REASONS.get(status, "InternalError"), "injected failure"),
                )
        try:
            flt = Filter(
                k,
                namespace,
                parse_label_selector(request.query.get("labelSelector", "")),
                parse_field_selector(request.query.get("fieldSelector", ""), k),
            )
        except ValueError as exc:
            return await _reply(writer, 400, _status(400, "BadRequest", str(exc)))
        if request.watch:
            return await self._watch(request, flt, reader, writer)
        return await self._list(request, flt, writer)

    async def _list(
        self, request: RequestRecord, flt: Filter, writer: asyncio.StreamWriter
    ) -> bool:
        if self._list_delay_seconds:
            await asyncio.sleep(self._list_delay_seconds)
        k = flt.kind
        try:
            limit = int(request.query.get("limit") or 0)
        except ValueError:
            return await _reply(writer, 400, _status(400, "BadRequest", "invalid limit"))
        token = request.query.get("continue", "")
        if token:
            try:
                state = json.loads(base64.urlsafe_b64decode(token.encode()))
                snapshot_id, rv, offset = (
                    int(state["snapshot"]),
                    int(state["rv"]),
                    int(state["start"]),
                )
            except (ValueError, KeyError, TypeError):
                return await _reply(
                    writer, 400, _status(400, "BadRequest", "invalid continue token")
                )
            snapshot = self._snapshots.get(snapshot_id)
            if snapshot is None or rv < self._history_start:
                message = (
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter."
                )
                return await _reply(writer, 410, _status(410, "Expired", message))
        else:
            store = self._objects[k.resource]
            snapshot = [store[key] for key in sorted(store)]
            rv, offset = self._rv, 0
            snapshot_id = self._next_snapshot
            self._next_snapshot += 1
        items: list[Json] = []
        position = offset
        while position < len(snapshot) and (not limit or len(items) < limit):
            if flt.matches(snapshot[position]):
                items.append(snapshot[position])
            position += 1
        while position < len(snapshot) and not flt.matches(snapshot[position]):
            position += 1
        meta: Json = {"resourceVersion": str(rv)}
        if position < len(snapshot):
            meta["continue"] = base64.urlsafe_b64encode(
                json.dumps({"snapshot": snapshot_id, "rv": rv, "start": position}).encode()
            ).decode()
            self._snapshots[snapshot_id] = snapshot
            self._snapshots.move_to_end(snapshot_id)
            while len(self._snapshots) > MAX_SNAPSHOTS:
                self._snapshots.popitem(last=False)
        else:
            self._snapshots.pop(snapshot_id, None)
        document = {
            "kind": k.list_kind,
            "apiVersion": k.api_version,
            "metadata": meta,
            "items": items,
        }
        return await _reply(writer, 200, document)

    async def _watch(
        self,
        request: RequestRecord,
        flt: Filter,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        query = request.query
        try:
            timeout = int(query.get("timeoutSeconds") or DEFAULT_WATCH_TIMEOUT_SECONDS)
            since = query.get("resourceVersion", "")
            from_rv = int(since) if since not in ("", "0") else None
        except ValueError as exc:
            return await _reply(writer, 400, _status(400, "BadRequest", str(exc)))
        expired = from_rv is not None and from_rv < self._history_start
        if expired and self.gone_as_http:
            return await _reply(
                writer,
                410,
                self._gone_status(
                    from_rv or 0, f"too old resource version: {from_rv} ({self._history_start})"
                ),
            )
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Cache-Control: no-cache, private\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        watch = _Watch(flt, query.get("allowWatchBookmarks") in ("true", "1"), writer)
        if expired:
            status = self._gone_status(
                0, f"too old resource version: {from_rv} ({self._history_start})"
            )
            self._write_event(watch, "ERROR", status)
        else:
            if from_rv is None:  # "start at most recent": synthetic ADDED for the current state
                store = self._objects[flt.kind.resource]
                for key in sorted(store):
                    if flt.matches(store[key]):
                        self._write_event(watch, "ADDED", store[key])
            else:
                for event in self._history:
                    if event.rv > from_rv and event.kind is flt.kind:
                        self._send(watch, event)
            self._watches.add(watch)
            # The stream ends at timeoutSeconds, when a control ends it, or when the client
            # goes away (it sends nothing more on a watch, so any read means it hung up).
            ended = asyncio.ensure_future(watch.done.wait())
            hung_up = asyncio.ensure_future(reader.read(1))
            try:
                await asyncio.wait(
                    {ended, hung_up}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                ended.cancel()
                hung_up.cancel()
                # the reader is free for the next request only once the read is really over
                await asyncio.gather(ended, hung_up, return_exceptions=True)
                self._watches.discard(watch)
            if hung_up.done() and not hung_up.cancelled():
                watch.aborted = True
        if watch.aborted or writer.is_closing():
            return False
        writer.write(b"0\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        return True


# --- HTTP helpers ----------------------------------------------------------------------------

_REASONS: Final = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Expired",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}

_PATH_RE = re.compile(
    r"^(?P<prefix>/api/v1|/apis/discovery\.k8s\.io/v1)(?:/namespaces/(?P<ns>[^/]+))?/(?P<res>[a-z]+)/?$"
)


def _route(path: str) -> tuple[Kind, str] | None:
    if path.rstrip("/") in ("/api/v1/namespaces",):
        return KINDS["namespaces"], ""
    m = _PATH_RE.match(path)
    if m is None:
        return None
    k = KINDS.get(m.group("res"))
    if k is None or k.prefix != m.group("prefix") or (m.group("ns") and not k.namespaced):
        return None
    return k, m.group("ns") or ""


def _parse_request(head: bytes) -> RequestRecord:
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = [*lines[0].split(" "), "", ""][:3]
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    parts = urlsplit(target)
    return RequestRecord(
        method, parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)), headers
    )


def _status(code: int, reason: str, message: str) -> Json:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


async def _reply(writer: asyncio.StreamWriter, code: int, document: Json) -> bool:
    body = json.dumps(document, separators=(",", ":")).encode()
    phrase = http.HTTPStatus(code).phrase
    writer.write(
        f"HTTP/1.1 {code} {phrase}\r\nContent-Type: application/json\r\n"
        f"Cache-Control: no-cache, private\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    try:
        await writer.drain()
    except ConnectionError:
        return False
    return True


# --- builders: objects as the API server returns them -----------------------------------------

PortSpec = int | tuple[str, int] | tuple[str, int, str] | Json


def _port(spec: PortSpec, *, target: bool) -> Json:
    if isinstance(spec, dict):
        return dict(spec)
    if isinstance(spec, int):
        name, number, protocol = "", spec, "TCP"
    elif len(spec) == 2:
        name, number, protocol = spec[0], spec[1], "TCP"
    else:
        name, number, protocol = spec
    port: Json = {"protocol": protocol, "port": number}
    if name or not target:
        port = {"name": name, **port}
    if target:
        port["targetPort"] = number
    return port


def _family(ip: str) -> str:
    return "IPv6" if ":" in ip else "IPv4"


def service(
    namespace: str,
    name: str,
    cluster_ip: str | None = "10.96.0.1",
    ports: Sequence[PortSpec] = (("http", 80),),
    *,
    cluster_ips: Sequence[str] | None = None,
    external_name: str | None = None,
    type: str | None = None,
    labels: dict[str, str] | None = None,
    selector: dict[str, str] | None = None,
    external_ips: Sequence[str] = (),
    ingress_ips: Sequence[str] = (),
) -> Json:
    """A Service: ``cluster_ip=None`` is headless; ``external_name`` makes an ExternalName
    service; ``cluster_ips`` gives both families of a dual-stack service."""
    meta: Json = {"name": name, "namespace": namespace, "labels": dict(labels or {})}
    spec: Json
    if external_name is not None:
        spec = {"type": "ExternalName", "externalName": external_name, "sessionAffinity": "None"}
        if ports:
            spec["ports"] = [_port(p, target=True) for p in ports]
    else:
        primary = "None" if cluster_ip is None else cluster_ip
        ips = list(cluster_ips) if cluster_ips else [primary]
        families = [_family(ip) for ip in ips] if cluster_ip is not None else ["IPv4"]
        spec = {
            "ports": [_port(p, target=True) for p in ports],
            "selector": dict(selector if selector is not None else {"app": name}),
            "clusterIP": primary,
            "clusterIPs": ips,
            "type": type or "ClusterIP",
            "sessionAffinity": "None",
            "ipFamilies": families,
            "ipFamilyPolicy": "PreferDualStack" if len(ips) > 1 else "SingleStack",
            "internalTrafficPolicy": "Cluster",
        }
        if external_ips:
            spec["externalIPs"] = list(external_ips)
    status: Json = {"loadBalancer": {}}
    if ingress_ips:
        status["loadBalancer"] = {"ingress": [{"ip": ip, "ipMode": "VIP"} for ip in ingress_ips]}
    return {"kind": "Service", "apiVersion": "v1", "metadata": meta, "spec": spec, "status": status}


def endpoint_slice(
    namespace: str,
    name: str,
    service: str,
    addresses: Sequence[str] = (),
    *,
    ports: Sequence[PortSpec] = (("http", 80),),
    ready: bool | Sequence[bool | None] | None = True,
    hostnames: Sequence[str | None] | None = None,
    pods: Sequence[str | None] | None = None,
    node_name: str | None = "node-1",
    address_type: str | None = None,
    trigger_time: str | None = None,
    endpoints: list[Json] | None = None,
) -> Json:
    """An EndpointSlice of ``service`` with one endpoint per address.

    ``ready`` is one value or one per address (``None`` leaves the condition unset);
    ``hostnames`` and ``pods`` (targetRef names) are per address, ``None`` entries omitted.
    ``endpoints`` replaces the generated list with raw entries.
    """
    if endpoints is None:
        endpoints = []
        for i, address in enumerate(addresses):
            flag = ready[i] if isinstance(ready, Sequence) else ready
            conditions: Json = {}
            if flag is not None:
                conditions = {"ready": flag, "serving": flag, "terminating": False}
            endpoint: Json = {"addresses": [address], "conditions": conditions}
            if hostnames is not None and hostnames[i]:
                endpoint["hostname"] = hostnames[i]
            if pods is not None and pods[i]:
                endpoint["targetRef"] = {
                    "kind": "Pod",
                    "namespace": namespace,
                    "name": pods[i],
                    "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/{pods[i]}")),
                }
            if node_name:
                endpoint["nodeName"] = node_name
            endpoints.append(endpoint)
    if address_type is None:
        first = next((e["addresses"][0] for e in endpoints if e.get("addresses")), "")
        address_type = _family(first) if first else "IPv4"
    meta: Json = {
        "name": name,
        "namespace": namespace,
        "labels": {
            SERVICE_NAME_LABEL: service,
            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
        },
        "ownerReferences": [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "name": service,
                "controller": True,
                "blockOwnerDeletion": True,
                "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/{service}")),
            }
        ],
    }
    if trigger_time:
        meta["annotations"] = {"endpoints.kubernetes.io/last-change-trigger-time": trigger_time}
    return {
        "kind": "EndpointSlice",
        "apiVersion": "discovery.k8s.io/v1",
        "metadata": meta,
        "addressType": address_type,
        "endpoints": endpoints,
        "ports": [_port(p, target=False) for p in ports],
    }


def namespace(name: str, labels: dict[str, str] | None = None) -> Json:
    return {
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/metadata.name": name, **(labels or {})},
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def pod(
    namespace: str,
    name: str,
    ip: str | None,
    phase: str = "Running",
    *,
    labels: dict[str, str] | None = None,
    node_name: str = "node-1",
    deleting: bool = False,
    ips: Sequence[str] | None = None,
) -> Json:
    meta: Json = {"name": name, "namespace": namespace, "labels": dict(labels or {})}
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
        meta["deletionGracePeriodSeconds"] = 30
    status: Json = {"phase": phase, "hostIP": "192.168.0.10", "hostIPs": [{"ip": "192.168.0.10"}]}
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": i} for i in (ips or [ip])]
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": meta,
        "spec": {
            "nodeName": node_name,
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "serviceAccountName": "default",
            "containers": [{"name": "main", "image": "registry.k8s.io/pause:3.9"}],
        },
        "status": status,
    }


__all__ = [
    "DEFAULT_WATCH_TIMEOUT_SECONDS",
    "KINDS",
    "FakeAPIServer",
    "Filter",
    "Kind",
    "RequestRecord",
    "endpoint_slice",
    "kind_of",
    "namespace",
    "parse_field_selector",
    "parse_label_selector",
    "pod",
    "service",
]
