"""Informers through the real kubernetes client into a ClusterIndex: sync, events, selectors.

Each test runs informers against the fake API server on loopback, pushes changes and waits
(with a deadline, never a fixed sleep) until the index shows them. Faults (410, restarts,
5xx, slow lists, cut streams) are in test_kube_informer_faults.py.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from kube_test_support import (  # noqa: F401  (fixtures)
    FAST,
    Running,
    api,
    client,
    eventually,
    fast,
    index_state,
    informers_for,
    kube_threads,
    running,
    server_state,
)

from clusterdns.kube.client import KubeClient
from clusterdns.kube.index import ClusterIndex
from clusterdns.kube.informer import POD_FIELD_SELECTOR, Backoff, Informer
from clusterdns.kube.objects import Service, pod_from_json, service_from_json
from clusterdns.testing import fakeapi
from clusterdns.testing.fakeapi import FakeAPIServer


def service_informer(
    client: KubeClient, index: ClusterIndex, **options: object
) -> Informer[Service]:
    return Informer(
        "services",
        client=client,
        parse=service_from_json,
        on_replace=index.replace_services,
        on_upsert=index.upsert_service,
        on_delete=index.delete_service,
        **{**FAST, **options},  # type: ignore[arg-type]
    )


async def populate(api: FakeAPIServer, services: int = 12) -> None:
    for ns in ("default", "kube-system", "shop"):
        await api.create(fakeapi.namespace(ns))
    for i in range(services):
        ip = f"10.244.{i // 200}.{i % 200 + 1}"
        await api.create(fakeapi.service("shop", f"svc-{i}", f"10.96.{i // 200}.{i % 200 + 1}"))
        await api.create(
            fakeapi.endpoint_slice("shop", f"svc-{i}-abcde", f"svc-{i}", [ip], pods=[f"pod-{i}"])
        )
        await api.create(fakeapi.pod("shop", f"pod-{i}", ip))


async def test_initial_sync_over_many_pages(
    api: FakeAPIServer, client: KubeClient, running: Running
) -> None:
    await populate(api, services=12)
    index = ClusterIndex()
    informers = informers_for(index, client, page_size=5)
    assert not any(i.synced.is_set() for i in informers)
    running.start(*informers)
    await running.synced()
    assert index_state(index) == server_state(api)
    assert len(index.services) == 12 and len(index.pods) == 12 and len(index.namespaces) == 3
    service_lists = [r for r in api.requests if r.path == "/api/v1/services" and not r.watch]
    assert [r.query["limit"] for r in service_lists] == ["5", "5", "5"]
    assert "continue" not in service_lists[0].query and "continue" in service_lists[2].query
    stats = informers[0].stats
    assert (stats.lists, stats.relists, stats.resource_version) == (1, 0, str(api.resource_version))
    assert stats.last_sync_time is not None and abs(stats.last_sync_time - time.time()) < 60
    pods_request = next(r for r in api.requests if r.path == "/api/v1/pods")
    assert pods_request.query["fieldSelector"] == POD_FIELD_SELECTOR


async def test_events_reach_the_index(
    api: FakeAPIServer, client: KubeClient, running: Running
) -> None:
    await populate(api, services=3)
    index = ClusterIndex()
    running.start(*informers_for(index, client))
    await running.synced()
    await eventually(lambda: api.watches() == 4, what="four watches open")

    await api.create(fakeapi.service("shop", "new", "10.96.9.9", [("dns", 53, "UDP")]))
    await api.update(fakeapi.service("shop", "svc-0", "10.96.8.8"))
    await api.delete("services", "shop", "svc-1")
    await api.create(fakeapi.endpoint_slice("shop", "new-xyz", "new", ["10.244.9.1", "10.244.9.2"]))
    await api.create(fakeapi.namespace("fresh"))
    await api.delete("namespaces", None, "kube-system")
    await api.update(fakeapi.pod("shop", "pod-2", "10.244.7.7"))
    await eventually(lambda: index_state(index) == server_state(api), what="index equals server")

    assert index.service("shop", "new").ports[0].protocol == "UDP"  # type: ignore[union-attr]
    assert [s.name for s in index.services_by_cluster_ip("10.96.8.8")] == ["svc-0"]
    assert index.services_by_cluster_ip("10.96.0.1") == []
    assert index.endpoints("shop", "new").ready_addresses == ("10.244.9.1", "10.244.9.2")
    assert index.has_namespace("fresh") and not index.has_namespace("kube-system")
    assert [p.name for p in index.pods_by_ip("10.244.7.7")] == ["pod-2"]


async def test_events_are_applied_within_a_bound(
    api: FakeAPIServer, client: KubeClient, running: Running
) -> None:
    index = ClusterIndex()
    informer = service_informer(client, index)
    running.start(informer)
    await running.synced()
    await eventually(lambda: api.watches("services") == 1)
    loop = asyncio.get_running_loop()
    latencies = []
    for i in range(20):
        started = loop.time()
        await api.create(fakeapi.service("a", f"s{i}", f"10.96.1.{i + 1}"))
        await eventually(lambda: ("a", f"s{i}") in index.services, timeout=1.0)  # noqa: B023
        latencies.append(loop.time() - started)
    assert max(latencies) < 0.5, latencies
    assert informer.stats.events == 20 and informer.stats.resource_version == str(
        api.resource_version
    )


async def test_bookmarks_advance_the_resource_version(
    api: FakeAPIServer, client: KubeClient, running: Running
) -> None:
    index = ClusterIndex()
    informer = service_informer(client, index)
    running.start(informer)
    await running.synced()
    await eventually(lambda: api.watches("services") == 1)
    for i in range(3):  # changes to another kind move the global version, not this watch's
        await api.create(fakeapi.namespace(f"n{i}"))
    assert informer.stats.resource_version == str(api.resource_version - 3)
    await api.bookmark_now()
    await eventually(lambda: informer.stats.resource_version == str(api.resource_version))
    assert informer.stats.bookmarks == 1 and informer.stats.events == 0
    # the next watch resumes from the bookmark's version
    await api.close_watches()
    await eventually(lambda: api.watches("services") == 1)
    last_watch = [r for r in api.requests if r.watch][-1]
    assert last_watch.query["resourceVersion"] == str(api.resource_version)
    assert informer.stats.watch_restarts == 1 and informer.stats.relists == 0


async def test_label_selector_and_leaving_it(
    api: FakeAPIServer, client: KubeClient, running: Running
) -> None:
    await api.create(fakeapi.service("a", "web", "10.96.0.1", labels={"tier": "front"}))
    await api.create(fakeapi.service("a", "db", "10.96.0.2", labels={"tier": "data"}))
    await api.create(fakeapi.service("a", "cache", "10.96.0.3", labels={"tier": "cache"}))
    index = ClusterIndex()
    informer = service_informer(client, index, label_selector="tier in (front, cache)")
    running.start(informer)
    await running.synced()
    assert set(index.services) == {("a", "web"), ("a", "cache")}
    await eventually(lambda: api.watches("services") == 1)
    await api.update(fakeapi.service("a", "web", "10.96.0.1", labels={"tier": "legacy"}))  # leaves
    await api.update(fakeapi.service("a", "db", "10.96.0.2", labels={"tier": "front"}))  # enters
    await eventually(lambda: set(index.services) == {("a", "db"), ("a", "cache")})
    assert index.services_by_cluster_ip("10.96.0.1") == []


async def test_pod_field_selector_drops_finished_pods(
    api: FakeAPIServer, client: KubeClient, running: Running
) -> None:
    await api.create(fakeapi.pod("a", "run", "10.244.0.1"))
    await api.create(fakeapi.pod("a", "done", "10.244.0.2", "Succeeded"))
    index = ClusterIndex()
    informer = Informer(
        "pods",
        client=client,
        parse=pod_from_json,
        on_replace=index.replace_pods,
        on_upsert=index.upsert_pod,
        on_delete=index.delete_pod,
        field_selector=POD_FIELD_SELECTOR,
        **FAST,
    )
    running.start(informer)
    await running.synced()
    assert set(index.pods) == {("a", "run")}
    await eventually(lambda: api.watches("pods") == 1)
    await api.update(fakeapi.pod("a", "run", "10.244.0.1", "Failed"))  # leaves the selector
    await eventually(lambda: not index.pods)
    assert index.pods_by_ip("10.244.0.1") == []


async def test_a_service_with_50_slices_and_5000_endpoints(
    api: FakeAPIServer, client: KubeClient, running: Running
) -> None:
    """A 5,000-replica StatefulSet: its slices merge into one endpoint set, kept per slice."""
    await api.create(fakeapi.service("big", "sts", None, [("peer", 7000)]))
    for s in range(50):
        addresses = [
            f"10.{100 + s // 2}.{(s % 2) * 100 + i // 250}.{i % 250 + 1}" for i in range(100)
        ]
        hostnames = [f"sts-{s * 100 + i}" for i in range(100)]
        await api.create(
            fakeapi.endpoint_slice("big", f"sts-{s:02d}", "sts", addresses, hostnames=hostnames)
        )
    index = ClusterIndex()
    running.start(*fast(informers_for(index, client, page_size=7)))
    await running.synced()
    merged = index.endpoints("big", "sts")
    assert len(merged.slices) == 50
    assert len(merged.ready_addresses) == 5000
    assert len({e.hostname for e, _ in merged.endpoints()}) == 5000

    # one slice changes: only its endpoints move, the other 4,900 stay served
    await eventually(lambda: api.watches("endpointslices") == 1)
    changed = fakeapi.endpoint_slice(
        "big",
        "sts-07",
        "sts",
        [f"10.200.0.{i + 1}" for i in range(100)],
        ready=[i >= 10 for i in range(100)],
    )
    await api.update(changed)
    await eventually(lambda: len(index.endpoints("big", "sts").ready_addresses) == 4990)
    await api.delete("endpointslices", "big", "sts-08")
    await eventually(lambda: len(index.endpoints("big", "sts").ready_addresses) == 4890)
    assert [s.name for s in index.services_by_endpoint_ip("10.200.0.50")] == ["sts"]
    assert index_state(index) == server_state(api)


async def test_stop_is_prompt_mid_watch(
    api: FakeAPIServer, client: KubeClient, running: Running
) -> None:
    index = ClusterIndex()
    informers = informers_for(index, client, watch_timeout_seconds=300)
    running.start(*informers)
    await running.synced()
    await eventually(lambda: api.watches() == 4)
    started = time.monotonic()
    await running.stop(timeout=1.0)
    assert time.monotonic() - started < 1.0
    await eventually(lambda: not kube_threads(), timeout=1.0, what="watch threads ended")
    await eventually(lambda: api.watches() == 0, timeout=1.0)


async def test_stop_is_prompt_mid_list_and_during_backoff(
    api: FakeAPIServer, client: KubeClient, running: Running
) -> None:
    index = ClusterIndex()
    await api.slow_list(30)
    listing = service_informer(client, index)
    running.start(listing)
    await eventually(lambda: any(not r.watch for r in api.requests))
    started = time.monotonic()
    await running.stop(listing, timeout=1.0)
    assert time.monotonic() - started < 1.0 and not listing.synced.is_set()

    await api.slow_list(0)
    await api.fail_next(1000)
    backing_off = service_informer(client, index, backoff_base_seconds=60, backoff_cap_seconds=60)
    running.start(backing_off)
    await eventually(lambda: backing_off.stats.errors >= 1)
    started = time.monotonic()
    await running.stop(backing_off, timeout=1.0)
    assert time.monotonic() - started < 1.0


async def test_stop_before_run_and_run_twice(client: KubeClient) -> None:
    informer = service_informer(client, ClusterIndex())
    informer.stop()
    await asyncio.wait_for(informer.run(), 1.0)
    assert not informer.synced.is_set()


async def test_a_broken_callback_is_logged_and_the_informer_carries_on(
    api: FakeAPIServer, client: KubeClient, running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def upsert(service: Service) -> None:
        if service.name == "bad":
            raise RuntimeError("boom")
        seen.append(service.name)

    informer = Informer(
        "services",
        client=client,
        parse=service_from_json,
        on_replace=lambda items: None,
        on_upsert=upsert,
        on_delete=lambda ns, name: None,
        **FAST,
    )
    running.start(informer)
    await running.synced()
    await eventually(lambda: api.watches("services") == 1)
    with caplog.at_level(logging.ERROR, logger="clusterdns.kube"):
        await api.create(fakeapi.service("a", "bad", "10.96.0.1"))
        await api.create(fakeapi.service("a", "good", "10.96.0.2"))
        await eventually(lambda: seen == ["good"])
    assert "applying a watch event failed" in caplog.text


async def test_an_object_that_does_not_parse_is_skipped(
    api: FakeAPIServer, client: KubeClient, running: Running
) -> None:
    await api.create(fakeapi.service("a", "ok", "10.96.0.1"))
    broken = fakeapi.service("a", "broken", "10.96.0.2")
    broken["spec"]["ports"] = [{"port": "not-a-number"}]
    await api.create(broken)
    index = ClusterIndex()
    running.start(service_informer(client, index))
    await running.synced()
    assert set(index.services) == {("a", "ok")}


def test_backoff_is_exponential_full_jitter_and_capped() -> None:
    top = Backoff(base_seconds=0.5, cap_seconds=4, rng=lambda: 0.999999)
    assert [round(top.next_delay(), 2) for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    bottom = Backoff(base_seconds=0.5, cap_seconds=4, rng=lambda: 0.0)
    assert {bottom.next_delay() for _ in range(5)} == {0.0}
    top.reset()
    assert round(top.next_delay(), 2) == 0.5
    many = Backoff(base_seconds=1, cap_seconds=30)
    for _ in range(100):
        assert 0 <= many.next_delay() <= 30
