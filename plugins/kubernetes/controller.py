"""Where the kubernetes plugin's data comes from, and when the server may start serving it.

A data source fills a ``ClusterIndex``: informers against the API server (list/watch, the
normal case), or Kubernetes manifest files (``manifests PATH...``, for a laptop with no
cluster). The controller starts the source when the instance starts, holds the listeners back
until it has synced or ``startup_timeout`` passed (CoreDNS logs ``waiting for Kubernetes API
before starting server`` every 500 ms, then ``starting server with unsynced Kubernetes API``),
reports readiness, records ``coredns_kubernetes_dns_programming_duration_seconds`` from the
EndpointSlices' trigger times, and stops the source when the instance is replaced or stopped.

Informers outlive a reload. CoreDNS builds new ones for the new instance, so every reload
relists the whole cluster, and a reload while the API server is down swaps in an empty cache.
Here a stanza whose API options (``api_key``) equal those of a running controller shares it:
the new instance starts from the data already known, at once, and the API server sees no new
list. The controller stops when the last instance using it is stopped. Manifest sources are not
shared, so a reload re-reads the files.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable
from typing import Any, Final, Protocol

from clusterdns.errors import PluginSetupError
from clusterdns.kube.client import KubeClient
from clusterdns.kube.errors import KubeConfigError
from clusterdns.kube.index import ClusterIndex
from clusterdns.kube.informer import Informer, cluster_informers
from clusterdns.kube.objects import EndpointSlice
from clusterdns.log import plugin_logger

from . import metrics
from .manifests import ManifestSource
from .options import KubernetesOptions

#: CoreDNS checks for sync every 100 ms and logs that it waits every 500 ms.
_SYNC_POLL_SECONDS: Final = 0.1
_WAIT_LOG_EVERY_SECONDS: Final = 0.5
_STOP_TIMEOUT_SECONDS: Final = 5.0
log = plugin_logger("kubernetes")


class Source(Protocol):
    """Something that fills the index: ``start`` returns quickly, ``synced`` says when full."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def synced(self) -> bool: ...


class ApiSource:
    """Informers for Services, EndpointSlices, Namespaces and (``pods verified``) Pods."""

    def __init__(self, options: KubernetesOptions, index: ClusterIndex) -> None:
        tls = None
        if options.tls_cert:
            tls = (options.tls_cert, options.tls_key, options.tls_ca)
        try:
            client = KubeClient.create(
                kubeconfig=options.kubeconfig or None,
                context=options.kubeconfig_context or None,
                endpoint=options.endpoint or None,
                tls=tls,
            )
        except KubeConfigError as exc:
            raise PluginSetupError("kubernetes", str(exc)) from exc
        self.informers: list[Informer[Any]] = cluster_informers(
            index,
            client,
            pods=options.watch_pods,
            label_selector=str(options.labels) if options.labels else "",
            namespace_label_selector=str(options.namespace_labels) if options.namespace_labels else "",
        )
        if options.noendpoints:
            self.informers = [i for i in self.informers if i.kind != "endpointslices"]
        for informer in self.informers:
            if informer.kind == "endpointslices":
                informer.on_upsert = _timed_slice_upsert(index)
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for informer in self.informers:
            self.tasks.append(asyncio.create_task(informer.run(), name=f"informer-{informer.kind}"))

    def synced(self) -> bool:
        return all(informer.synced.is_set() for informer in self.informers)

    async def stop(self) -> None:
        for informer in self.informers:
            informer.stop()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=_STOP_TIMEOUT_SECONDS)


def _timed_slice_upsert(index: ClusterIndex):  # type: ignore[no-untyped-def]
    """Apply a slice change and observe how long it took to reach DNS (CoreDNS's metric)."""

    def upsert(endpoint_slice: EndpointSlice) -> None:
        index.upsert_slice(endpoint_slice)
        if endpoint_slice.trigger_time is None or not endpoint_slice.service_name:
            return
        service = index.service(endpoint_slice.namespace, endpoint_slice.service_name)
        if service is None:
            return
        kind = "headless_with_selector" if service.headless else "cluster_ip"
        metrics.PROGRAMMING_DURATION.labels(kind).observe(
            max(0.0, time.time() - endpoint_slice.trigger_time)
        )

    return upsert


def api_key(options: KubernetesOptions) -> Hashable | None:
    """What decides the contents of an API-fed index; None for sources that are not shared."""
    if options.manifests:
        return None
    return (
        options.endpoint,
        options.kubeconfig,
        options.kubeconfig_context,
        (options.tls_cert, options.tls_key, options.tls_ca),
        str(options.labels or ""),
        str(options.namespace_labels or ""),
        options.watch_pods,
        options.noendpoints,
        (options.apiserver_qps, options.apiserver_burst, options.apiserver_max_inflight),
    )


class Controller:
    """The data source of the kubernetes plugin, its lifecycle, and the instances using it."""

    def __init__(self, options: KubernetesOptions) -> None:
        self.index = ClusterIndex()
        self.source: Source
        if options.manifests:
            self.source = ManifestSource(
                options.manifests,
                self.index,
                watch_pods=options.watch_pods,
                label_selector=str(options.labels) if options.labels else "",
            )
        else:
            self.source = ApiSource(options, self.index)
        self.users = 0  # instances started on this controller and not stopped yet
        #: where a shared controller is listed while it runs (``for_options``), and its key
        self._running: dict[Hashable, Any] | None = None
        self._key: Hashable | None = None

    @classmethod
    def for_options(cls, options: KubernetesOptions, running: dict[Hashable, Any]) -> Controller:
        """The running controller with the same API options, else a new one.

        ``running`` is the process-wide table (``Runtime.shared``); a new controller enters it
        when it starts and leaves it when its last user stops.
        """
        key = api_key(options)
        shared = running.get(("kubernetes", key)) if key is not None else None
        if isinstance(shared, cls) and shared.users > 0:
            return shared
        controller = cls(options)
        controller._key = key
        controller._running = running
        return controller

    def synced(self) -> bool:
        return self.source.synced()

    async def start(self, startup_timeout_seconds: float, *, reloading: bool = False) -> None:
        """Start the source if this is its first user, then wait for its first sync, at most
        ``startup_timeout_seconds`` (at once when it has synced already).

        At the first start the server then starts unsynced, as CoreDNS does. In a reload it
        fails instead: the running instance has data and keeps serving, where the new one
        would only answer SERVFAIL.
        """
        self.users += 1
        if self.users == 1:
            await self.source.start()
            metrics.SOURCES.add(self)
            if self._key is not None and self._running is not None:
                self._running.setdefault(("kubernetes", self._key), self)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, startup_timeout_seconds)
        next_log = loop.time()
        while not self.synced():
            now = loop.time()
            if now >= deadline:
                if reloading:  # the instance's shutdown hooks then stop this user
                    raise PluginSetupError(
                        "kubernetes",
                        "not synced with the Kubernetes API within startup_timeout; "
                        "the running configuration keeps serving",
                    )
                log.warning("starting server with unsynced Kubernetes API")
                return
            if now >= next_log:
                log.info("waiting for Kubernetes API before starting server")
                next_log = now + _WAIT_LOG_EVERY_SECONDS
            await asyncio.sleep(min(_SYNC_POLL_SECONDS, deadline - now))

    async def stop(self) -> None:
        """Stop the source when its last user stops."""
        self.users -= 1
        if self.users > 0:
            return
        if self._running is not None and self._running.get(("kubernetes", self._key)) is self:
            del self._running[("kubernetes", self._key)]
        metrics.SOURCES.discard(self)
        await self.source.stop()
