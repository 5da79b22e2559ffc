"""Manifest files as the cluster: the ``manifests PATH...`` data source of the kubernetes plugin.

Instead of listing and watching an API server, the plugin can serve the objects found in
Kubernetes YAML or JSON files, so a developer can run cluster DNS on a laptop from the same
manifests the cluster is built from. ``ManifestSource`` reads the files once at start (in a
worker thread), fills the ``ClusterIndex`` with the slim objects of
``clusterdns.kube.objects``, and then polls the files' mtimes, sizes and inodes and the
directories' listings, re-reading what changed and replacing each kind in the index on the event
loop, never across an ``await``, so a query sees either the old cluster or the new one.

What a file may hold: several YAML documents, ``kind: List`` (or ``ServiceList``,
``PodList``...) with ``items``, or JSON (one object, a stream of objects, or an array).
Services, EndpointSlices, Pods and Namespaces become cluster data; Endpoints are mirrored into
slices for selectorless Services; every other kind is ignored. Deployments, StatefulSets and
the like are *not* expanded into Pods: only Pod objects count. A Service with a selector and no
EndpointSlice in the files gets the slices the EndpointSlice controller would have written
(see ``derive``). Objects without ``metadata.namespace`` are in ``default``; every namespace a
Namespace object names or any object uses exists, and so do ``default`` and ``kube-system``.

A file that cannot be read or parsed keeps its last good objects and logs
``[ERROR] plugin/kubernetes: <file>: <problem>`` once per change of the file; a deleted file
takes its objects with it. Directories are read recursively for ``*.yaml``, ``*.yml`` and
``*.json`` in sorted order, skipping names that start with a dot (so a ConfigMap volume's
``..data`` link is read once); when two files define the same object the later one wins.

The ``labels`` option's selector is applied here, as the API server would apply it to the
Service, EndpointSlice and Pod watches (parsed by ``options.parse_label_selector``, CoreDNS's
rules).
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import yaml

from clusterdns.kube.index import ClusterIndex
from clusterdns.kube.objects import (
    SERVICE_NAME_LABEL,
    EndpointSlice,
    Namespace,
    Pod,
    Service,
    endpoint_slice_from_json,
    namespace_from_json,
    pod_from_json,
    service_from_json,
)
from clusterdns.log import plugin_logger

from . import derive
from .options import LabelSelector, parse_label_selector

log = plugin_logger("kubernetes")

Json = dict[str, Any]

#: How often the files are checked for changes.
DEFAULT_POLL_INTERVAL_SECONDS: Final = 1.0
#: Namespaces every cluster has, whether or not the files name them.
ALWAYS_NAMESPACES: Final = ("default", "kube-system")
#: File name endings read from directories (explicitly named files are read whatever their name).
MANIFEST_SUFFIXES: Final = (".yaml", ".yml", ".json")
#: How long stop() waits for the poll task to end.
_STOP_TIMEOUT_SECONDS: Final = 5.0

_CORE_KINDS: Final = frozenset({"Service", "Pod", "Namespace", "Endpoints"})
_DISCOVERY_KINDS: Final = frozenset({"EndpointSlice"})


class ManifestError(Exception):
    """A manifest file that cannot be used; the message says why, without the file name."""


# --- reading files ---------------------------------------------------------------------------

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """YAML 1.1 safe loading, but timestamps stay strings (the API's JSON has no dates)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True, slots=True)
class ManifestObject:
    """One object found in a file: enough to build the cluster and to name it in logs."""

    kind: str
    namespace: str  # '' for Namespaces and objects of unknown kind without one
    name: str
    source: str  # the file it came from
    raw: Json = field(compare=False, repr=False)  # the JSON shape, for derivation and labels
    slim: Service | EndpointSlice | Pod | Namespace | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


def parse_documents(text: str, *, json_file: bool) -> list[object]:
    """The documents of a file's text (YAML multi-document, or JSON object/stream/array)."""
    if json_file:
        return _json_documents(text)
    try:
        return list(yaml.load_all(text, Loader=_Loader))  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise ManifestError(f"{where}{problem}") from None
    except yaml.YAMLError as exc:
        raise ManifestError(f"invalid YAML: {exc}") from None


def _json_documents(text: str) -> list[object]:
    decoder = json.JSONDecoder()
    documents: list[object] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return documents
        try:
            document, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
        if isinstance(document, list):
            documents.extend(document)
        else:
            documents.append(document)


def read_objects(text: str, source: str, *, json_file: bool = False) -> list[ManifestObject]:
    """Every object in a file's text, Lists flattened; raises ManifestError on the first problem."""
    objects: list[ManifestObject] = []
    for number, document in enumerate(parse_documents(text, json_file=json_file), start=1):
        if document is None:
            continue  # an empty YAML document ("---" twice, a trailing "---")
        for obj in _flatten(document, f"document {number}", None):
            objects.append(_manifest_object(obj, source))
    return objects


def _flatten(document: object, where: str, item_kind: str | None) -> Iterator[Json]:
    if not isinstance(document, dict):
        raise ManifestError(f"{where}: expected a Kubernetes object, found {_type_name(document)}")
    kind = document.get("kind")
    if kind is None and item_kind:
        kind = document["kind"] = item_kind
    if not isinstance(kind, str) or not kind:
        raise ManifestError(f"{where}: object has no kind")
    items = document.get("items")
    if kind.endswith("List") and (kind == "List" or isinstance(items, list)):
        if items is None:
            return
        if not isinstance(items, list):
            raise ManifestError(f"{where}: {kind} items must be a list")
        inner = kind[: -len("List")] or None
        for number, item in enumerate(items, start=1):
            yield from _flatten(item, f"{where}, item {number}", inner)
        return
    yield document


def _type_name(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


def _group(api_version: object) -> str | None:
    """The API group of an apiVersion ('' for core); None when there is no apiVersion."""
    if not isinstance(api_version, str) or not api_version:
        return None
    group, slash, _ = api_version.rpartition("/")
    return group if slash else ""


def _manifest_object(obj: Json, source: str) -> ManifestObject:
    kind: str = obj["kind"]
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise ManifestError(f"{kind}: metadata must be a mapping")
    name = meta.get("name")
    namespace = meta.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise ManifestError(f"{kind} {name}: metadata.namespace must be a string")
    group = _group(obj.get("apiVersion"))
    known = (kind in _CORE_KINDS and group in (None, "")) or (
        kind in _DISCOVERY_KINDS and group in (None, "discovery.k8s.io")
    )
    if not known:
        return ManifestObject(
            kind=kind,
            namespace=namespace or "",
            name=name if isinstance(name, str) else "",
            source=source,
            raw={},
        )
    if not isinstance(name, str) or not name:
        raise ManifestError(f"{kind} without metadata.name")
    labels = meta.get("labels")
    if labels is not None and not isinstance(labels, dict):
        raise ManifestError(f"{kind} {name}: metadata.labels must be a mapping")
    if kind == "Namespace":
        namespace = ""
    else:
        namespace = meta["namespace"] = namespace or "default"
    try:
        slim = _slim(kind, obj)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise ManifestError(f"{kind} {_display(namespace, name)}: {exc}") from None
    return ManifestObject(
        kind=kind,
        namespace=namespace,
        name=name,
        source=source,
        raw=obj,
        slim=slim,
        labels=derive.labels_of(obj),
    )


def _slim(kind: str, obj: Json) -> Service | EndpointSlice | Pod | Namespace | None:
    for section in ("spec", "status"):
        if obj.get(section) is not None and not isinstance(obj[section], dict):
            raise ValueError(f"{section} must be a mapping")
    if kind == "Service":
        return service_from_json(obj)
    if kind == "EndpointSlice":
        return endpoint_slice_from_json(obj)
    if kind == "Namespace":
        return namespace_from_json(obj)
    if kind == "Pod":
        ips = derive.pod_ips(obj)
        if ips and not obj["status"].get("podIP"):  # the API server keeps podIP == podIPs[0]
            obj["status"]["podIP"] = ips[0]
        return pod_from_json(obj)
    return None  # Endpoints: only read by the mirroring in derive


def _display(namespace: str, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


def read_file(path: str) -> list[ManifestObject]:
    """The objects of one manifest file; raises ManifestError (OSError reads as one too)."""
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError as exc:
        raise ManifestError(exc.strerror or str(exc)) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    return read_objects(text, path, json_file=path.lower().endswith(".json"))


# --- from objects to the cluster -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClusterData:
    """The slim objects of a manifest set, each kind sorted by key, ready for the index."""

    namespaces: tuple[Namespace, ...]
    services: tuple[Service, ...]
    slices: tuple[EndpointSlice, ...]
    pods: tuple[Pod, ...]


def build_cluster(
    objects: Iterable[ManifestObject],
    selector: LabelSelector | None = None,
    *,
    warn: Callable[[str], None] = log.warning,
) -> ClusterData:
    """Turn the objects of all files (in file order) into cluster data.

    Later definitions of an object replace earlier ones (with a warning). Slices are derived
    for Services that have none in the files; the label selector then applies to Services,
    EndpointSlices (derived ones carry their Service's labels) and Pods.
    """
    by_key: dict[tuple[str, str, str], ManifestObject] = {}
    namespaces: dict[str, Namespace] = {n: Namespace(name=n) for n in ALWAYS_NAMESPACES}
    for obj in objects:
        if obj.namespace:
            namespaces.setdefault(obj.namespace, Namespace(name=obj.namespace))
        if obj.slim is None and obj.kind != "Endpoints":
            continue
        key = (obj.kind, obj.namespace, obj.name)
        previous = by_key.get(key)
        if previous is not None:
            where = "" if previous.source == obj.source else f" in {previous.source}"
            warn(
                f"{obj.source}: {obj.kind} {_display(obj.namespace, obj.name)} "
                f"replaces the one defined earlier{where}"
            )
        by_key[key] = obj
    kinds: dict[str, list[ManifestObject]] = {}
    for obj in by_key.values():
        kinds.setdefault(obj.kind, []).append(obj)
    for obj in kinds.get("Namespace", ()):
        assert isinstance(obj.slim, Namespace)
        namespaces[obj.name] = obj.slim

    services = kinds.get("Service", [])
    explicit = kinds.get("EndpointSlice", [])
    pods = kinds.get("Pod", [])
    with_slices = {(o.namespace, o.labels.get(SERVICE_NAME_LABEL, "")) for o in explicit}
    slices: dict[tuple[str, str], tuple[EndpointSlice, Mapping[str, str]]] = {
        (o.namespace, o.name): (o.slim, o.labels)  # type: ignore[misc]
        for o in explicit
    }
    derived = derive.derive_slices(
        [o.raw for o in services],
        [o.raw for o in pods],
        [o.raw for o in kinds.get("Endpoints", ())],
        existing=with_slices,
    )
    for _, raw_slices in derived:
        for raw in raw_slices:
            meta = raw["metadata"]
            base, number = meta["name"], 1
            while (meta["namespace"], meta["name"]) in slices:  # a file already uses the name
                number += 1
                meta["name"] = f"{base}-{number}"
            slices[(meta["namespace"], meta["name"])] = (
                endpoint_slice_from_json(raw),
                meta["labels"],
            )

    def chosen(labels: Mapping[str, str]) -> bool:
        return selector is None or selector.matches(labels)

    return ClusterData(
        namespaces=tuple(namespaces[n] for n in sorted(namespaces)),
        services=tuple(
            sorted(
                (o.slim for o in services if chosen(o.labels)),  # type: ignore[misc]
                key=lambda s: s.key,
            )
        ),
        slices=tuple(slices[k][0] for k in sorted(slices) if chosen(slices[k][1])),
        pods=tuple(
            sorted(
                (o.slim for o in pods if chosen(o.labels)),  # type: ignore[misc]
                key=lambda p: p.key,
            )
        ),
    )


# --- the source ------------------------------------------------------------------------------

Signature = tuple[int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns


@dataclass(frozen=True, slots=True)
class _FileState:
    signature: Signature
    objects: tuple[ManifestObject, ...]


class ManifestSource:
    """Serves the objects of manifest files into a ``ClusterIndex`` and follows their edits.

    ``paths`` are files or directories. With ``watch_pods`` false the index gets no Pods
    (CoreDNS watches Pods only for ``pods verified``); Pods still feed derived slices.
    ``label_selector`` is the ``labels`` option (raises ValueError when it does not parse).
    """

    def __init__(
        self,
        paths: Sequence[str],
        index: ClusterIndex,
        *,
        watch_pods: bool,
        label_selector: str = "",
        poll_interval_seconds: float = DEFAULT_POLL_INTERVAL_SECONDS,
    ) -> None:
        if not paths:
            raise ValueError("at least one manifest path is needed")
        if not poll_interval_seconds > 0:
            raise ValueError(f"poll interval must be positive: {poll_interval_seconds}")
        self.paths = tuple(paths)
        self.index = index
        self.watch_pods = watch_pods
        self.selector = parse_label_selector(label_selector) if label_selector.strip() else None
        self.poll_interval_seconds = poll_interval_seconds
        self._files: dict[str, _FileState] = {}
        self._missing: set[str] = set()
        self._applied: ClusterData | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one scan and apply at a time (the poller and reload())
        self._scan_lock = threading.Lock()  # a cancelled reload's thread may still be scanning
        self._synced = False

    def synced(self) -> bool:
        """True once the files have been read and the index filled."""
        return self._synced

    async def start(self) -> None:
        """Read every file, fill the index, and start following edits."""
        if self._task is not None:
            return
        async with self._lock:
            data = await asyncio.to_thread(self.scan, force=True)
            assert data is not None
            self._apply(data)
        self._synced = True
        self._task = asyncio.create_task(
            self._supervise(), name=f"kubernetes manifests {' '.join(self.paths)}"
        )

    async def stop(self) -> None:
        """Stop following edits (the index keeps its data); safe to call twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task], timeout=_STOP_TIMEOUT_SECONDS)

    async def reload(self) -> bool:
        """Check the files now; True when something changed and the index was updated."""
        async with self._lock:
            data = await asyncio.to_thread(self.scan)
            if data is None:
                return False
            self._apply(data)
            return True

    # --- following edits ----------------------------------------------------------------
    async def _supervise(self) -> None:
        """Poll forever; a bug in one round is logged and polling goes on."""
        while True:
            await asyncio.sleep(self.poll_interval_seconds)
            try:
                await self.reload()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # supervised: never let the poller die silently
                log.error("Reading manifests failed unexpectedly: %r", exc)

    def _apply(self, data: ClusterData) -> None:
        """Swap changed kinds into the index; runs on the event loop without awaiting."""
        old = self._applied
        if old is None or old.namespaces != data.namespaces:
            self.index.replace_namespaces(data.namespaces)
        if old is None or old.services != data.services:
            self.index.replace_services(data.services)
        if old is None or old.slices != data.slices:
            self.index.replace_slices(data.slices)
        if self.watch_pods and (old is None or old.pods != data.pods):
            self.index.replace_pods(data.pods)
        self._applied = data

    # --- scanning (runs in a worker thread) ------------------------------------------------
    def scan(self, *, force: bool = False) -> ClusterData | None:
        """Re-read changed files; the new cluster data, or None when nothing changed."""
        with self._scan_lock:
            return self._scan(force)

    def _scan(self, force: bool) -> ClusterData | None:
        changed = force
        states: dict[str, _FileState] = {}
        for path in self._discover():
            if path in states:
                continue
            try:
                signature = _signature(os.stat(path))
            except OSError:
                continue  # vanished between listing and stat: gone
            old = self._files.get(path)
            if old is not None and old.signature == signature:
                states[path] = old
                continue
            changed = True
            try:
                objects = tuple(read_file(path))
            except ManifestError as exc:
                log.error("%s: %s", path, exc)
                objects = old.objects if old is not None else ()
            states[path] = _FileState(signature, objects)
        if list(states) != list(self._files):
            changed = True
        if not changed:
            return None
        data = build_cluster(
            (obj for state in states.values() for obj in state.objects), self.selector
        )
        self._files = states  # only now: a failed build is retried at the next poll
        return data

    def _discover(self) -> Iterator[str]:
        """Every manifest file under the paths, in order; logs paths that do not exist."""
        for path in self.paths:
            try:
                mode = os.stat(path).st_mode
            except OSError as exc:
                if path not in self._missing:
                    self._missing.add(path)
                    log.error("%s: %s", path, (exc.strerror or str(exc)).lower())
                continue
            self._missing.discard(path)
            if stat.S_ISDIR(mode):
                yield from _walk(path)
            else:
                yield path


def _walk(directory: str) -> list[str]:
    """Manifest files below ``directory``, sorted by path components; symlinks followed once."""
    found: list[str] = []
    seen: set[str] = set()

    def visit(current: str) -> None:
        real = os.path.realpath(current)
        if real in seen:
            return
        seen.add(real)
        try:
            entries = list(os.scandir(current))
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                continue
            if is_dir:
                visit(entry.path)
            elif entry.name.lower().endswith(MANIFEST_SUFFIXES):
                found.append(entry.path)

    visit(directory)
    return sorted(found, key=lambda p: p.split(os.sep))


def _signature(st: os.stat_result) -> Signature:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


__all__ = [
    "ALWAYS_NAMESPACES",
    "ClusterData",
    "DEFAULT_POLL_INTERVAL_SECONDS",
    "ManifestError",
    "ManifestObject",
    "ManifestSource",
    "build_cluster",
    "read_file",
    "read_objects",
]
