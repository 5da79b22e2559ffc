"""Shared by the Kubernetes-side tests: a fake API server on loopback, a real client pointed at
it, informers that are always stopped, and waits on conditions with deadlines (no sleeps)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from clusterdns.kube.client import KubeClient
from clusterdns.kube.index import INACTIVE_POD_PHASES, ClusterIndex
from clusterdns.kube.informer import Informer, cluster_informers
from clusterdns.kube.objects import (
    endpoint_slice_from_json,
    namespace_from_json,
    pod_from_json,
    service_from_json,
)
from clusterdns.testing.fakeapi import FakeAPIServer

WAIT_SECONDS = 5.0

#: Fast backoff for tests: failures are retried within tens of milliseconds.
FAST: dict[str, Any] = {"backoff_base_seconds": 0.01, "backoff_cap_seconds": 0.05}


async def eventually(
    condition: Callable[[], bool], *, timeout: float = WAIT_SECONDS, what: str = ""
) -> None:
    """Wait until ``condition()`` holds; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"not true within {timeout}s: {what or condition}")
        await asyncio.sleep(0.005)


@pytest.fixture
async def api() -> AsyncIterator[FakeAPIServer]:
    server = FakeAPIServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def client(api: FakeAPIServer) -> Iterator[KubeClient]:
    kube = KubeClient.create(endpoint=api.url, request_timeout_seconds=5.0)
    try:
        yield kube
    finally:
        kube.close()


class Running:
    """Starts informers as tasks and stops them all at teardown (checking they do stop)."""

    def __init__(self) -> None:
        self.tasks: dict[Informer[Any], asyncio.Task[None]] = {}

    def start(self, *informers: Informer[Any]) -> None:
        for informer in informers:
            self.tasks[informer] = asyncio.create_task(informer.run(), name=repr(informer))

    async def synced(self, *informers: Informer[Any], timeout: float = WAIT_SECONDS) -> None:
        chosen = informers or tuple(self.tasks)
        await asyncio.wait_for(asyncio.gather(*(i.synced.wait() for i in chosen)), timeout)

    async def stop(self, *informers: Informer[Any], timeout: float = 1.0) -> None:
        chosen = informers or tuple(self.tasks)
        for informer in chosen:
            informer.stop()
        await asyncio.wait_for(asyncio.gather(*(self.tasks.pop(i) for i in chosen)), timeout)


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    run = Running()
    try:
        yield run
    finally:
        await run.stop(timeout=2.0)


def informers_for(index: ClusterIndex, client: KubeClient, **options: Any) -> list[Informer[Any]]:
    """The four informers into ``index``, with test-speed backoff."""
    return cluster_informers(
        index, client, pods=True, backoff_cap_seconds=FAST["backoff_cap_seconds"], **options
    )


def fast(informers: list[Informer[Any]]) -> list[Informer[Any]]:
    for informer in informers:
        informer.backoff.base_seconds = FAST["backoff_base_seconds"]
    return informers


# --- comparing the index with the server -----------------------------------------------------


def server_state(api: FakeAPIServer) -> dict[str, dict[Any, Any]]:
    pods = (pod_from_json(p) for p in api.objects("pods"))
    return {
        "services": {
            (s.namespace, s.name): s for s in map(service_from_json, api.objects("services"))
        },
        "slices": {
            (s.namespace, s.name): s
            for s in map(endpoint_slice_from_json, api.objects("endpointslices"))
        },
        "namespaces": {n.name: n for n in map(namespace_from_json, api.objects("namespaces"))},
        "pods": {(p.namespace, p.name): p for p in pods if p.phase not in INACTIVE_POD_PHASES},
    }


def index_state(index: ClusterIndex) -> dict[str, dict[Any, Any]]:
    return {
        "services": dict(index.services),
        "slices": dict(index.slices),
        "namespaces": dict(index.namespaces),
        "pods": dict(index.pods),
    }


def kube_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("kube-") and t.is_alive()]
