"""The ``labels`` and ``namespace_labels`` selectors applied by the API server (5.1.1).

The plugin's informers send the selectors with their lists and watches; the fake API server
filters as kube-apiserver does, and sends an object that starts or stops matching as ADDED or
DELETED. So DNS answers follow label changes within a second, with nothing filtered locally.
CoreDNS applies ``labels`` to the Service, EndpointSlice **and Pod** watches
(``controller.go``: ``podListFunc``/``podWatchFunc`` take ``dns.selector``).
"""

from __future__ import annotations

from typing import Any

from k8s_harness import api_served, until_answered

from clusterdns.testing import fakeapi

S = "svc.cluster.local."


def labelled(obj: dict[str, Any], **labels: str) -> dict[str, Any]:
    obj["metadata"].setdefault("labels", {}).update(labels)
    return obj


def cluster() -> list[dict[str, Any]]:
    return [
        fakeapi.namespace("shop"),
        labelled(fakeapi.service("shop", "front", "10.96.0.11"), tier="front"),
        labelled(fakeapi.endpoint_slice("shop", "front-a", "front", ["10.244.0.11"], hostnames=["f-0"]), tier="front"),
        fakeapi.service("shop", "back", "10.96.0.12"),
        fakeapi.endpoint_slice("shop", "back-a", "back", ["10.244.0.12"], hostnames=["b-0"]),
        fakeapi.pod("shop", "front-pod", "10.244.0.11", labels={"tier": "front"}),
        fakeapi.pod("shop", "back-pod", "10.244.0.12"),
    ]


async def test_labels_selector_filters_services_and_slices_and_follows_label_changes() -> None:
    async with api_served(cluster(), "labels tier=front", others={}) as served:
        api = served.api
        await until_answered(served, f"front.shop.{S}", "A", answer=[f"front.shop.{S} 5 IN A 10.96.0.11"])
        await until_answered(served, f"f-0.front.shop.{S}", "A", answer=[f"f-0.front.shop.{S} 5 IN A 10.244.0.11"])
        await until_answered(served, f"back.shop.{S}", "A", rcode="NXDOMAIN")
        await until_answered(served, "12.0.244.10.in-addr.arpa.", "PTR", rcode="NXDOMAIN")
        assert sorted(served.index.services) == [("shop", "front")]
        assert sorted(served.index.slices) == [("shop", "front-a")]
        # back starts matching: the watches send it as ADDED
        await api.update(labelled(fakeapi.service("shop", "back", "10.96.0.12"), tier="front"))
        await api.update(labelled(fakeapi.endpoint_slice("shop", "back-a", "back", ["10.244.0.12"], hostnames=["b-0"]), tier="front"))
        await until_answered(served, f"back.shop.{S}", "A", answer=[f"back.shop.{S} 5 IN A 10.96.0.12"])
        await until_answered(served, f"b-0.back.shop.{S}", "A", answer=[f"b-0.back.shop.{S} 5 IN A 10.244.0.12"])
        # front stops matching: sent as DELETED
        await api.update(fakeapi.service("shop", "front", "10.96.0.11"))
        await until_answered(served, f"front.shop.{S}", "A", rcode="NXDOMAIN")


async def test_labels_selector_applies_to_pods_as_in_coredns() -> None:
    async with api_served(cluster(), "labels tier=front\npods verified", others={}) as served:
        await until_answered(served, "10-244-0-11.shop.pod.cluster.local.", "A", answer=["10-244-0-11.shop.pod.cluster.local. 5 IN A 10.244.0.11"])
        assert sorted(served.index.pods) == [("shop", "front-pod")], "the pod watch is not label-filtered"
        await until_answered(served, "10-244-0-12.shop.pod.cluster.local.", "A", rcode="NXDOMAIN")


async def test_namespace_labels_follow_namespace_label_changes() -> None:
    objects = [
        fakeapi.namespace("shop", {"team": "web"}),
        fakeapi.namespace("vault", {"team": "secret"}),
        fakeapi.service("shop", "web", "10.96.0.21"),
        fakeapi.service("vault", "keys", "10.96.0.22"),
    ]
    async with api_served(objects, "namespace_labels team=web", others={}) as served:
        api = served.api
        await until_answered(served, f"web.shop.{S}", "A", answer=[f"web.shop.{S} 5 IN A 10.96.0.21"])
        await until_answered(served, f"keys.vault.{S}", "A", rcode="NXDOMAIN")
        await until_answered(served, f"vault.{S}", "A", rcode="NXDOMAIN")
        assert sorted(served.index.namespaces) == ["shop"]
        await api.update(fakeapi.namespace("vault", {"team": "web"}))
        await until_answered(served, f"keys.vault.{S}", "A", answer=[f"keys.vault.{S} 5 IN A 10.96.0.22"])
        await until_answered(served, f"vault.{S}", "A")
        await api.update(fakeapi.namespace("shop", {"team": "shop"}))
        await until_answered(served, f"web.shop.{S}", "A", rcode="NXDOMAIN")
