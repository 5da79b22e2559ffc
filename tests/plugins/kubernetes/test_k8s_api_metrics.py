"""The kubernetes plugin's metrics, scraped from the process registry while a real clusterdns
follows a ``FakeAPIServer``: CoreDNS's DNS programming duration observes slice updates that
carry the EndpointSlice controller's trigger time, and the informer families count relists
after a forced 410 and resumed watches after cut streams."""

from __future__ import annotations

import datetime
import time
from typing import Any

import test_k8s_spec as spec_tables
from k8s_harness import FOLLOW_SECONDS, RECOVER_SECONDS, api_objects, api_served, eventually, until_answered
from prometheus_client.parser import text_string_to_metric_families

from clusterdns.metrics import exposition
from clusterdns.testing import fakeapi, run_corefile
from clusterdns.testing.fakeapi import FakeAPIServer

S = "svc.cluster.local."
PROGRAMMING = "coredns_kubernetes_dns_programming_duration_seconds"
RELISTS = "clusterdns_kubernetes_informer_relists_total"
RESTARTS = "clusterdns_kubernetes_informer_watch_restarts_total"
RESOURCES = ("services", "endpointslices", "namespaces")


def samples(name: str, **labels: str) -> list[float]:
    """Every value of the sample ``name`` with ``labels`` in a fresh scrape."""
    found = []
    for family in text_string_to_metric_families(exposition().decode()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                found.append(sample.value)
    return found


def value(name: str, **labels: str) -> float:
    """The one value of a series (0 when it has not been observed yet)."""
    found = samples(name, **labels)
    assert len(found) <= 1, f"{name}{labels} exposed {len(found)} times"
    return found[0] if found else 0.0


def rfc3339(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def web_slice(trigger_time: str | None = None, *, second_ready: bool = False) -> dict[str, Any]:
    return fakeapi.endpoint_slice(
        "shop", "web-a", "web", ["10.244.1.1", "10.244.1.2"],
        ports=[("http", 80), ("", 8080)], ready=[True, second_ready], trigger_time=trigger_time,
    )  # fmt: skip


async def test_programming_duration_observes_a_cluster_ip_slice_update_with_a_trigger_time() -> None:
    async with api_served(api_objects(spec_tables.world()), others={}) as served:
        api = served.api
        count = value(f"{PROGRAMMING}_count", service_kind="cluster_ip")
        total = value(f"{PROGRAMMING}_sum", service_kind="cluster_ip")
        fast = value(f"{PROGRAMMING}_bucket", service_kind="cluster_ip", le="0.128")
        triggered = time.time() - 0.25  # the EndpointSlice controller saw the change 250 ms ago
        await api.update(web_slice(rfc3339(triggered), second_ready=True))
        await eventually(
            lambda: value(f"{PROGRAMMING}_count", service_kind="cluster_ip") == count + 1,
            timeout=FOLLOW_SECONDS,
            what="one cluster_ip observation",
        )
        observed = value(f"{PROGRAMMING}_sum", service_kind="cluster_ip") - total
        assert 0.25 <= observed <= time.time() - triggered
        # in a bucket above 250 ms, not in one below
        assert value(f"{PROGRAMMING}_bucket", service_kind="cluster_ip", le="0.128") == fast
        await until_answered(
            served, f"10-244-1-2.web.shop.{S}", "A", answer=[f"10-244-1-2.web.shop.{S} 5 IN A 10.244.1.2"]
        )

        # a slice update without the annotation is applied but not observed
        await api.update(web_slice())
        await until_answered(served, f"10-244-1-2.web.shop.{S}", "A", rcode="NXDOMAIN")
        assert value(f"{PROGRAMMING}_count", service_kind="cluster_ip") == count + 1


async def test_programming_duration_of_a_headless_service_is_headless_with_selector() -> None:
    async with api_served(api_objects(spec_tables.world()), others={}) as served:
        count = value(f"{PROGRAMMING}_count", service_kind="headless_with_selector")
        slice_ = fakeapi.endpoint_slice(
            "shop", "db-c", "db", ["10.244.2.9"], ports=[("pg", 5432)], trigger_time=rfc3339(time.time())
        )
        await served.api.create(slice_)
        await eventually(
            lambda: value(f"{PROGRAMMING}_count", service_kind="headless_with_selector") == count + 1,
            timeout=FOLLOW_SECONDS,
            what="one headless_with_selector observation",
        )


async def test_relists_total_grows_after_a_forced_410() -> None:
    async with api_served(api_objects(spec_tables.world()), others={}) as served:
        api = served.api
        before = {r: value(RELISTS, resource=r) for r in RESOURCES}
        assert before == dict.fromkeys(RESOURCES, 0.0)  # only the first list so far
        await api.compact()
        await api.expire_watches()
        await eventually(
            lambda: all(value(RELISTS, resource=r) == 1.0 for r in RESOURCES),
            timeout=RECOVER_SECONDS,
            what="one relist per resource",
        )


async def test_watch_restarts_total_grows_after_cut_streams() -> None:
    async with api_served(api_objects(spec_tables.world()), others={}) as served:
        api = served.api
        await eventually(lambda: api.watches() == 3, timeout=FOLLOW_SECONDS, what="three watches open")
        before = {r: value(RESTARTS, resource=r) for r in RESOURCES}
        await api.close_watches()
        await eventually(
            lambda: all(value(RESTARTS, resource=r) > before[r] for r in RESOURCES),
            timeout=RECOVER_SECONDS,
            what="every watch resumed",
        )
        assert all(value(RELISTS, resource=r) == 0.0 for r in RESOURCES)  # resumed, not relisted


async def test_informer_series_are_unique_with_two_kubernetes_blocks() -> None:
    # Two server blocks, each with a kubernetes stanza, run two sets of informers (as do the
    # old and the new instance during a reload); each series must still be exposed once, or
    # the scrape is not valid exposition (Prometheus rejects duplicate series).
    async with FakeAPIServer() as api:
        api.load(api_objects(spec_tables.world()))
        blocks = "".join(
            f"{zone} {{\n bind 127.0.0.1\n kubernetes {zone} {{\n  endpoint {api.url}\n }}\n}}\n"
            for zone in ("cluster.local", "example.internal")
        )
        async with run_corefile(blocks):
            for resource in RESOURCES:
                assert len(samples(RELISTS, resource=resource)) == 1, exposition().decode()
                assert len(samples(RESTARTS, resource=resource)) == 1, exposition().decode()
