"""Informers under faults: 410 Gone, API server restarts, cut streams, 5xx, slow lists.

The invariant checked after every fault is the one DNS needs: once the informers settle, the
index equals the server's state — no lost update, no object resurrected by a stale replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

from kube_test_support import (  # noqa: F401  (fixtures)
    Running,
    api,
    client,
    eventually,
    fast,
    index_state,
    informers_for,
    running,
    server_state,
)

from clusterdns.kube.client import KubeClient
from clusterdns.kube.index import ClusterIndex
from clusterdns.kube.informer import Informer
from clusterdns.testing import fakeapi
from clusterdns.testing.fakeapi import FakeAPIServer

SETTLE_SECONDS = 10.0


async def populate(api: FakeAPIServer, count: int = 6) -> None:
    await api.create(fakeapi.namespace("shop"))
    for i in range(count):
        await api.create(fakeapi.service("shop", f"svc-{i}", f"10.96.0.{i + 1}"))
        await api.create(
            fakeapi.endpoint_slice("shop", f"svc-{i}-x", f"svc-{i}", [f"10.244.0.{i + 1}"])
        )
        await api.create(fakeapi.pod("shop", f"pod-{i}", f"10.244.0.{i + 1}"))


async def start_synced(
    api: FakeAPIServer, client: KubeClient, running: Running, **options: object
) -> tuple[ClusterIndex, list[Informer[object]]]:
    index = ClusterIndex()
    informers = fast(informers_for(index, client, **options))  # type: ignore[arg-type]
    running.start(*informers)
    await running.synced()
    await eventually(lambda: api.watches() == len(informers), what="all watches open")
    return index, informers


async def settled(api: FakeAPIServer, index: ClusterIndex) -> None:
    await eventually(
        lambda: index_state(index) == server_state(api),
        timeout=SETTLE_SECONDS,
        what="index equals server",
    )


async def test_410_on_open_watches_relists(
    api: FakeAPIServer, client: KubeClient, running: Running
) -> None:
    await populate(api)
    index, informers = await start_synced(api, client, running)
    await api.expire_watches()
    await api.update(fakeapi.service("shop", "svc-0", "10.96.5.5"))
    await api.delete("pods", "shop", "pod-1")
    await settled(api, index)
    await eventually(lambda: all(i.stats.relists == 1 for i in informers))
    assert all("Expired" in i.stats.last_error for i in informers)


async def test_relist_keeps_the_instances_of_unchanged_objects(
    api: FakeAPIServer, client: KubeClient, running: Running
) -> None:
    """A relist must not hold a second copy of everything until the swap."""
    await populate(api)
    index, informers = await start_synced(api, client, running)
    unchanged, changed = index.services[("shop", "svc-1")], index.services[("shop", "svc-0")]
    pod = index.pods[("shop", "pod-3")]
    await api.expire_watches()  # 410: everything is listed again
    await api.update(fakeapi.service("shop", "svc-0", "10.96.5.5"))
    await eventually(lambda: all(i.stats.relists == 1 for i in informers))
    await settled(api, index)
    assert index.services[("shop", "svc-1")] is unchanged
    assert index.pods[("shop", "pod-3")] is pod
    assert index.services[("shop", "svc-0")] is not changed
    assert index.services[("shop", "svc-0")].cluster_ips == ("10.96.5.5",)


async def test_other_error_events_rewatch_without_relisting(
    api: FakeAPIServer, client: KubeClient, running: Running
) -> None:
    await populate(api)
    index, informers = await start_synced(api, client, running)
    await api.expire_watches(code=500)
    await api.create(fakeapi.service("shop", "after-error", "10.96.6.1"))
    await settled(api, index)
    await eventually(lambda: all(i.stats.watch_restarts >= 1 for i in informers))
    assert all(i.stats.relists == 0 for i in informers)
    assert all("InternalError" in i.stats.last_error for i in informers)


async def test_delete_while_disconnected_then_410_does_not_resurrect(
    api: FakeAPIServer, client: KubeClient, running: Running
) -> None:
    await populate(api)
    index, informers = await start_synced(api, client, running)
    await api.stop()
    await api.delete("services", "shop", "svc-2")
    await api.delete("endpointslices", "shop", "svc-2-x")
    await api.delete("pods", "shop", "pod-2")
    await api.create(fakeapi.service("shop", "late", "10.96.7.7"))
    await api.compact()  # the history of those changes is gone: resuming must get 410
    await api.start()
    await settled(api, index)
    assert ("shop", "svc-2") not in index.services and ("shop", "late") in index.services
    # kinds that did not change may reconnect a little later; each relists exactly once
    await eventually(lambda: all(i.stats.relists == 1 for i in informers))


async def test_changes_while_disconnected_are_replayed_on_resume(
    api: FakeAPIServer, client: KubeClient, running: Running
) -> None:
    await populate(api)
    index, informers = await start_synced(api, client, running)
    await api.stop()
    await api.delete("services", "shop", "svc-3")
    await api.update(fakeapi.pod("shop", "pod-0", "10.244.9.9"))
    await api.create(fakeapi.namespace("late"))
    await api.start()
    await settled(api, index)
    await eventually(lambda: all(i.stats.watch_restarts >= 1 for i in informers))
    assert all(i.stats.relists == 0 for i in informers)


async def test_gone_as_http_status_relists(
    api: FakeAPIServer, client: KubeClient, running: Running
) -> None:
    api.gone_as_http = True
    await populate(api)
    index, informers = await start_synced(api, client, running)
    await api.stop()
    await api.delete("services", "shop", "svc-0")
    await api.compact()
    await api.start()
    await settled(api, index)
    assert informers[0].stats.relists == 1


async def test_restarts_under_a_stream_of_changes(
    api: FakeAPIServer, client: KubeClient, running: Running
) -> None:
    await populate(api, count=10)
    index, informers = await start_synced(api, client, running)
    rng = random.Random(7)
    stop_churn = asyncio.Event()

    async def churn() -> int:
        changes = 0
        while not stop_churn.is_set():
            i = rng.randrange(20)
            name = f"churn-{i}"
            if api.get("services", "shop", name) is None:
                await api.create(fakeapi.service("shop", name, f"10.96.1.{i + 1}"))
                await api.create(
                    fakeapi.endpoint_slice("shop", f"{name}-x", name, [f"10.245.0.{i + 1}"])
                )
            elif rng.random() < 0.5:
                await api.update(fakeapi.service("shop", name, f"10.96.2.{rng.randrange(1, 250)}"))
                await api.update(
                    fakeapi.endpoint_slice(
                        "shop", f"{name}-x", name, [f"10.245.1.{rng.randrange(1, 250)}"]
                    )
                )
            else:
                await api.delete("services", "shop", name)
                await api.delete("endpointslices", "shop", f"{name}-x")
            pod = f"pod-{rng.randrange(10)}"
            await api.update(
                fakeapi.pod(
                    "shop",
                    pod,
                    f"10.244.3.{rng.randrange(1, 250)}",
                    rng.choice(["Running", "Running", "Succeeded"]),
                )
            )
            changes += 1
            await asyncio.sleep(0.002)
        return changes

    worker = asyncio.create_task(churn())
    try:
        for round_ in range(3):
            await asyncio.sleep(0.05 * (round_ + 1))  # let changes flow over open watches
            await api.restart()
            await asyncio.sleep(0.02)
            if round_ == 1:
                await api.close_watches(mid_event=True)
    finally:
        stop_churn.set()
        changes = await asyncio.wait_for(worker, 5)
    assert changes > 20
    await settled(api, index)
    assert sum(i.stats.watch_restarts for i in informers) >= 3


async def test_cut_mid_event_resumes_without_relist(
    api: FakeAPIServer, client: KubeClient, running: Running
) -> None:
    await populate(api)
    index, informers = await start_synced(api, client, running)
    for i in range(5):
        await api.create(fakeapi.service("shop", f"cut-{i}", f"10.96.3.{i + 1}"))
        await api.close_watches(mid_event=True)
        await api.update(fakeapi.pod("shop", "pod-0", f"10.244.4.{i + 1}"))
    await settled(api, index)
    assert all(i.stats.relists == 0 for i in informers)


async def test_server_errors_back_off_then_sync(
    api: FakeAPIServer, client: KubeClient, running: Running
) -> None:
    await populate(api)
    await api.fail_next(3, 500, kind="services")
    await api.fail_next(2, 503, kind="namespaces")
    index = ClusterIndex()
    informers = fast(informers_for(index, client))
    running.start(*informers)
    await running.synced(timeout=SETTLE_SECONDS)
    assert index_state(index) == server_state(api)
    services, _, namespaces, _ = informers
    assert services.stats.errors == 3 and "InternalError" in services.stats.last_error
    assert namespaces.stats.errors == 2 and "ServiceUnavailable" in namespaces.stats.last_error
    # failures on watch start are retried from the same version: no relist
    await eventually(lambda: api.watches() == 4)
    await api.fail_next(2, 500, kind="services")
    await api.close_watches()
    await api.create(fakeapi.service("shop", "after", "10.96.6.6"))
    await settled(api, index)
    assert services.stats.relists == 0 and services.stats.errors >= 4


async def test_slow_lists_time_out_back_off_and_sync(api: FakeAPIServer, running: Running) -> None:
    await populate(api)
    impatient = KubeClient.create(endpoint=api.url, request_timeout_seconds=0.2)
    try:
        await api.slow_list(0.5)
        index = ClusterIndex()
        informers = fast(informers_for(index, impatient))
        running.start(*informers)
        await eventually(lambda: all(i.stats.errors >= 1 for i in informers))
        assert not any(i.synced.is_set() for i in informers)
        assert "timed out" in informers[0].stats.last_error
        await api.slow_list(0.05)  # slow, but within the client's timeout
        await running.synced(timeout=SETTLE_SECONDS)
        assert index_state(index) == server_state(api)
    finally:
        with contextlib.suppress(Exception):
            await running.stop()
        impatient.close()


async def test_continue_token_expiring_mid_list_restarts_the_list(
    api: FakeAPIServer, client: KubeClient, running: Running
) -> None:
    for i in range(10):
        await api.create(fakeapi.namespace(f"ns-{i}"))
    await api.slow_list(0.1)
    index = ClusterIndex()
    informer = fast(informers_for(index, client, page_size=3))[2]  # namespaces
    running.start(informer)
    await eventually(lambda: any(r.query.get("continue") for r in api.requests))
    await api.compact()
    await api.create(fakeapi.namespace("ns-late"))
    await api.slow_list(0)
    await running.synced(informer, timeout=SETTLE_SECONDS)
    await eventually(
        lambda: set(index.namespaces) == {n["metadata"]["name"] for n in api.objects("namespaces")}
    )
    assert informer.stats.lists == 1 and "Expired" in informer.stats.last_error


async def test_watch_timeout_rewatches_from_the_last_version(
    api: FakeAPIServer, client: KubeClient, running: Running
) -> None:
    await populate(api)
    index, informers = await start_synced(api, client, running, watch_timeout_seconds=1)
    services = informers[0]
    await eventually(lambda: services.stats.watch_restarts >= 1, timeout=SETTLE_SECONDS)
    await api.create(fakeapi.service("shop", "later", "10.96.4.4"))
    await settled(api, index)
    assert services.stats.relists == 0 and services.stats.errors == 0
    resumed = [r for r in api.requests if r.watch and r.path == "/api/v1/services"][1]
    assert int(resumed.query["resourceVersion"]) >= 1000
