"""Changes made through the API server reach DNS answers: promptly, and through faults.

A real clusterdns follows a ``FakeAPIServer`` over HTTP list/watch. Services, EndpointSlices
and Namespaces created, changed and deleted through the fake are answered within one second
(polled with that deadline, never slept). A forced 410 (history compacted, open watches sent
``ERROR 410``) and API server restarts with changes made while it was down lose no update:
afterwards the plugin's index equals the server's objects, key by key and field by field, and
the answers show it; an object deleted while the watches were cut does not come back.
"""

from __future__ import annotations

import time
from contextlib import AbstractAsyncContextManager

import test_k8s_spec as spec_tables
from k8s_harness import (
    FOLLOW_SECONDS,
    RECOVER_SECONDS,
    ApiServed,
    api_contents,
    api_objects,
    api_served,
    eventually,
    index_contents,
    until_answered,
)

from clusterdns.testing import fakeapi

S = "svc.cluster.local."
EXAMPLE_COM = {
    "example.com": [
        "93.184.216.34 api.example.com",
        "2001:db8::5 quiet.example.com",
        "ttl 300",
    ]
}


def served_world() -> AbstractAsyncContextManager[ApiServed]:
    return api_served(api_objects(spec_tables.world()), others=dict(EXAMPLE_COM))


async def in_step(served: ApiServed, *, timeout: float = RECOVER_SECONDS) -> None:
    """Wait until the plugin's index equals the API server's objects (every kind it watches)."""
    await eventually(
        lambda: index_contents(served.index) == api_contents(served.api),
        timeout=timeout,
        what="the plugin's index equals the API server's objects",
    )


async def test_service_created_changed_and_deleted_is_answered_within_a_second() -> None:
    async with served_world() as served:
        api = served.api
        # an ExternalName service appears ...
        await api.create(fakeapi.service("shop", "late-ext", external_name="api.example.com", ports=[]))
        await until_answered(
            served, f"late-ext.shop.{S}", "A",
            answer=[f"late-ext.shop.{S} 5 IN CNAME api.example.com.", "api.example.com. 300 IN A 93.184.216.34"],
        )  # fmt: skip
        # ... its target changes ...
        await api.update(fakeapi.service("shop", "late-ext", external_name="web.shop.svc.cluster.local", ports=[]))
        await until_answered(
            served, f"late-ext.shop.{S}", "A",
            answer=[f"late-ext.shop.{S} 5 IN CNAME web.shop.svc.cluster.local.", f"web.shop.{S} 5 IN A 10.96.1.1"],
        )  # fmt: skip
        await until_answered(served, f"late-ext.shop.{S}", "CNAME", answer=[f"late-ext.shop.{S} 5 IN CNAME web.shop.svc.cluster.local."])
        # ... and it goes
        await api.delete("services", "shop", "late-ext")
        await until_answered(served, f"late-ext.shop.{S}", "CNAME", rcode="NXDOMAIN")

        # a ClusterIP service appears, with its PTR ...
        await api.create(fakeapi.service("shop", "late", "10.96.5.5", [("http", 80)]))
        await until_answered(served, f"late.shop.{S}", "A", answer=[f"late.shop.{S} 5 IN A 10.96.5.5"])
        await until_answered(served, "5.5.96.10.in-addr.arpa.", "PTR", answer=[f"5.5.96.10.in-addr.arpa. 5 IN PTR late.shop.{S}"])
        await until_answered(served, f"_metrics._tcp.late.shop.{S}", "SRV", rcode="NXDOMAIN")
        # ... gets a port added ...
        await api.update(fakeapi.service("shop", "late", "10.96.5.5", [("http", 80), ("metrics", 9090)]))
        await until_answered(
            served, f"_metrics._tcp.late.shop.{S}", "SRV",
            answer=[f"_metrics._tcp.late.shop.{S} 5 IN SRV 0 100 9090 late.shop.{S}"],
        )  # fmt: skip
        await until_answered(
            served, f"late.shop.{S}", "SRV",
            answer=[f"late.shop.{S} 5 IN SRV 0 50 80 late.shop.{S}", f"late.shop.{S} 5 IN SRV 0 50 9090 late.shop.{S}"],
        )  # fmt: skip
        # ... a new ClusterIP ...
        await api.update(fakeapi.service("shop", "late", "10.96.5.6", [("http", 80), ("metrics", 9090)]))
        await until_answered(served, f"late.shop.{S}", "A", answer=[f"late.shop.{S} 5 IN A 10.96.5.6"])
        await until_answered(served, "5.5.96.10.in-addr.arpa.", "PTR", rcode="NXDOMAIN")
        # ... and is deleted
        await api.delete("services", "shop", "late")
        await until_answered(served, f"late.shop.{S}", "A", rcode="NXDOMAIN")
        await until_answered(served, "6.5.96.10.in-addr.arpa.", "PTR", rcode="NXDOMAIN")


async def test_endpoint_slices_and_namespaces_are_followed_within_a_second() -> None:
    async with served_world() as served:
        api = served.api
        await api.create(fakeapi.service("shop", "cache", None, [("redis", 6379)]))
        await until_answered(served, f"cache.shop.{S}", "A", rcode="NXDOMAIN")  # S-15: no endpoints
        await api.create(fakeapi.endpoint_slice("shop", "cache-a", "cache", ["10.244.7.1", "10.244.7.2"], ports=[("redis", 6379)], hostnames=["cache-0", None]))
        await until_answered(served, f"cache.shop.{S}", "A", answer=[f"cache.shop.{S} 5 IN A 10.244.7.1", f"cache.shop.{S} 5 IN A 10.244.7.2"])
        await until_answered(served, f"cache-0.cache.shop.{S}", "A", answer=[f"cache-0.cache.shop.{S} 5 IN A 10.244.7.1"])
        # a second slice of the same service is merged in
        await api.create(fakeapi.endpoint_slice("shop", "cache-b", "cache", ["10.244.7.3"], ports=[("redis", 6379)]))
        await until_answered(
            served, f"cache.shop.{S}", "A",
            answer=[f"cache.shop.{S} 5 IN A 10.244.7.{i}" for i in (1, 2, 3)],
        )  # fmt: skip
        # an endpoint stops being ready (S-5), then the other slice goes
        await api.update(fakeapi.endpoint_slice("shop", "cache-a", "cache", ["10.244.7.1", "10.244.7.2"], ports=[("redis", 6379)], hostnames=["cache-0", None], ready=[False, True]))
        await until_answered(served, f"cache-0.cache.shop.{S}", "A", rcode="NXDOMAIN")
        await until_answered(served, "1.7.244.10.in-addr.arpa.", "PTR", rcode="NXDOMAIN")
        await api.delete("endpointslices", "shop", "cache-b")
        await until_answered(served, f"cache.shop.{S}", "A", answer=[f"cache.shop.{S} 5 IN A 10.244.7.2"])
        await api.delete("endpointslices", "shop", "cache-a")
        await until_answered(served, f"cache.shop.{S}", "A", rcode="NXDOMAIN")

        # namespaces: ns.svc is NODATA once it exists, NXDOMAIN once it is gone
        await until_answered(served, f"late-ns.{S}", "A", rcode="NXDOMAIN")
        await api.create(fakeapi.namespace("late-ns"))
        await until_answered(served, f"late-ns.{S}", "A")
        await api.delete("namespaces", None, "late-ns")
        await until_answered(served, f"late-ns.{S}", "A", rcode="NXDOMAIN")
        await in_step(served, timeout=FOLLOW_SECONDS)


async def test_soa_serial_is_the_time_of_the_last_dns_change() -> None:
    # 5.1.6 SOA serial: Unix time of the last change that matters; namespaces do not move it
    async with served_world() as served:
        api = served.api
        first = (await served.ask("cluster.local.", "SOA")).answer[0][0].serial
        assert first == served.index.serial
        before = int(time.time())
        await api.create(fakeapi.service("shop", "tick", "10.96.6.6"))
        await until_answered(served, f"tick.shop.{S}", "A", answer=[f"tick.shop.{S} 5 IN A 10.96.6.6"])
        after = int(time.time())
        serial = (await served.ask("cluster.local.", "SOA")).answer[0][0].serial
        assert before <= serial <= after
        version = served.index.version
        await api.create(fakeapi.namespace("quiet-ns"))
        await eventually(lambda: served.index.version > version, timeout=FOLLOW_SECONDS, what="the namespace arrived")
        assert served.index.serial == serial  # a namespace change does not move it


async def test_forced_410_relists_and_loses_no_update() -> None:
    async with served_world() as served:
        api = served.api
        informers = served.informers
        relists = {i.kind: i.stats.relists for i in informers}
        # updates delivered by the watches, then the history is compacted and every watch
        # gets ERROR 410, and more updates come before the informers have listed again
        await api.update(fakeapi.service("shop", "web", "10.96.1.101", [("http", 80), ("", 8080)]))
        await api.compact()
        await api.expire_watches()
        await api.delete("services", "shop", "noports")
        await api.delete("endpointslices", "shop", "db-b")
        await api.create(fakeapi.service("shop", "after-410", "10.96.4.10"))
        await api.create(fakeapi.namespace("after-410"))
        await in_step(served)
        assert all(i.stats.relists > relists[i.kind] for i in informers), {i.kind: i.stats.relists for i in informers}
        await until_answered(served, f"web.shop.{S}", "A", answer=[f"web.shop.{S} 5 IN A 10.96.1.101"])
        await until_answered(served, f"noports.shop.{S}", "A", rcode="NXDOMAIN")
        await until_answered(served, f"after-410.shop.{S}", "A", answer=[f"after-410.shop.{S} 5 IN A 10.96.4.10"])
        await until_answered(served, f"after-410.{S}", "A")
        await until_answered(served, f"db.shop.{S}", "A", answer=[f"db.shop.{S} 5 IN A 10.244.2.{i}" for i in (1, 2)])
        # and the informers watch again: a later change still arrives within a second
        await api.create(fakeapi.service("shop", "later", "10.96.4.11"))
        await until_answered(served, f"later.shop.{S}", "A", answer=[f"later.shop.{S} 5 IN A 10.96.4.11"])


async def test_api_restart_with_changes_during_the_outage_loses_no_update() -> None:
    async with served_world() as served:
        api = served.api
        informers = served.informers
        errors = {i.kind: i.stats.errors for i in informers}
        await api.stop()
        # while the API server is down (every watch cut), the cluster changes
        await api.update(fakeapi.service("shop", "ext", external_name="quiet.example.com", ports=[]))
        await api.create(fakeapi.service("shop", "outage", "10.96.3.3"))
        await api.create(fakeapi.endpoint_slice("shop", "outage-a", "outage", ["10.244.3.3"]))
        await api.delete("services", "shop", "web6")
        await api.delete("endpointslices", "shop", "web6-a")
        await api.delete("namespaces", None, "hidden")
        await api.start()
        await api.create(fakeapi.service("shop", "after-restart", "10.96.3.4"))
        await in_step(served)
        await eventually(
            lambda: all(i.stats.errors > errors[i.kind] for i in informers),
            timeout=RECOVER_SECONDS,
            what="every informer saw the outage",
        )
        await until_answered(served, f"ext.shop.{S}", "A", answer=[f"ext.shop.{S} 5 IN CNAME quiet.example.com."])
        await until_answered(served, f"outage.shop.{S}", "A", answer=[f"outage.shop.{S} 5 IN A 10.96.3.3"])
        await until_answered(served, "3.3.244.10.in-addr.arpa.", "PTR", answer=[f"3.3.244.10.in-addr.arpa. 5 IN PTR 10-244-3-3.outage.shop.{S}"])
        await until_answered(served, f"web6.shop.{S}", "AAAA", rcode="NXDOMAIN")
        await until_answered(served, f"vault.hidden.{S}", "A", rcode="NXDOMAIN")
        await until_answered(served, f"after-restart.shop.{S}", "A", answer=[f"after-restart.shop.{S} 5 IN A 10.96.3.4"])


async def test_objects_deleted_while_watches_are_cut_are_not_resurrected() -> None:
    # resumed from the old resourceVersion: the DELETED events are replayed from history
    async with served_world() as served:
        api = served.api
        informers = served.informers
        restarts = {i.kind: i.stats.watch_restarts for i in informers}
        await api.stop()
        await api.delete("services", "shop", "web")
        await api.delete("endpointslices", "shop", "web-a")
        await api.delete("services", "kube-system", "kube-dns")
        await api.start()
        await in_step(served)
        await eventually(
            lambda: all(i.stats.watch_restarts > restarts[i.kind] for i in informers),
            timeout=RECOVER_SECONDS,
            what="every informer resumed its watch",
        )
        assert all(i.stats.relists == 0 for i in informers), "relisted instead of resuming"
        await until_answered(served, f"web.shop.{S}", "A", rcode="NXDOMAIN")
        await until_answered(served, "1.1.244.10.in-addr.arpa.", "PTR", rcode="NXDOMAIN")
        await until_answered(served, f"kube-dns.kube-system.{S}", "A", rcode="NXDOMAIN")


async def test_objects_deleted_while_watches_are_cut_and_history_compacted_are_not_resurrected() -> None:
    # resuming gets 410 (the history is gone): the relist must drop what the list lacks
    async with served_world() as served:
        api = served.api
        informers = served.informers
        await api.stop()
        await api.delete("services", "shop", "web")
        await api.delete("endpointslices", "shop", "web-a")
        await api.delete("endpointslices", "shop", "db-a")
        await api.delete("namespaces", None, "hidden")
        await api.compact()
        await api.start()
        await in_step(served)
        await eventually(
            lambda: all(i.stats.relists == 1 for i in informers), timeout=RECOVER_SECONDS, what="every informer relisted"
        )
        await until_answered(served, f"web.shop.{S}", "A", rcode="NXDOMAIN")
        await until_answered(served, "1.1.244.10.in-addr.arpa.", "PTR", rcode="NXDOMAIN")
        await until_answered(served, f"db-0.db.shop.{S}", "A", rcode="NXDOMAIN")
        await until_answered(served, f"db.shop.{S}", "A", answer=[f"db.shop.{S} 5 IN A 10.244.2.{i}" for i in (2, 3)])
        await until_answered(served, f"hidden.{S}", "A", rcode="NXDOMAIN")


async def test_a_watch_cut_in_the_middle_of_an_event_loses_no_update() -> None:
    async with served_world() as served:
        api = served.api
        await eventually(lambda: api.watches() == 3, timeout=FOLLOW_SECONDS, what="three watches open")
        await api.close_watches(mid_event=True)
        await api.update(fakeapi.service("shop", "web", "10.96.1.77", [("http", 80), ("", 8080)]))
        await api.delete("endpointslices", "shop", "db-a")
        await in_step(served)
        await until_answered(served, f"web.shop.{S}", "A", answer=[f"web.shop.{S} 5 IN A 10.96.1.77"])
        await until_answered(served, f"db-0.db.shop.{S}", "A", rcode="NXDOMAIN")


async def test_a_cluster_listed_in_pages_is_complete() -> None:
    # 1,200 services and slices: the informers list 500 a page with continue tokens
    objects = [fakeapi.namespace("big")]
    for i in range(1200):
        address = f"10.{100 + i // 250}.{i % 250}.1"
        objects.append(fakeapi.service("big", f"s{i}", address))
        objects.append(fakeapi.endpoint_slice("big", f"s{i}-a", f"s{i}", [f"10.244.{i // 250}.{i % 250 + 1}"]))
    async with api_served(objects, others={}) as served:
        api = served.api
        assert index_contents(served.index) == api_contents(api)
        assert len(served.index.services) == 1200
        continued = [r for r in api.requests if not r.watch and r.query.get("continue")]
        assert {r.path for r in continued} >= {"/api/v1/services", "/apis/discovery.k8s.io/v1/endpointslices"}
        await until_answered(served, f"s1199.big.{S}", "A", answer=[f"s1199.big.{S} 5 IN A 10.104.199.1"])
        await until_answered(served, "1.199.104.10.in-addr.arpa.", "PTR", answer=[f"1.199.104.10.in-addr.arpa. 5 IN PTR s1199.big.{S}"])
