"""Before the first sync, and after the API server goes away (coredns-features.md 5.1.7).

A real clusterdns reads a ``FakeAPIServer`` whose lists are held back (``slow_list``) or
failing for one kind (``fail_next``), with ``startup_timeout 100ms`` so that the listeners
open unsynced: names that do not exist are SERVFAIL with the zone's SOA and AA set, never
NXDOMAIN, and ``/ready`` answers 503 ``kubernetes``; once the lists complete, ``/ready`` is 200
``OK`` and the same names are NXDOMAIN. An API server that goes away later leaves the last
data it sent serving, unchanged, and a change made once it is back is served.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import dns.flags
import dns.rcode
import test_k8s_api_tables as api_tables
import test_k8s_spec as spec_tables
from k8s_harness import (
    FOLLOW_SECONDS,
    RECOVER_SECONDS,
    SERIAL,
    ApiServed,
    api_contents,
    api_objects,
    api_served,
    eventually,
    index_contents,
    soa,
    until_answered,
)

from clusterdns.testing import Case, check, fakeapi
from clusterdns.testing.fakeapi import FakeAPIServer

S = "svc.cluster.local."
Get = Callable[..., Awaitable[Any]]  # conftest's http_get
#: Names that exist in the spec world (positive once synced) and names that do not.
EXISTING = [(f"web.shop.{S}", "A"), (f"db.shop.{S}", "SRV"), (f"shop.{S}", "A"), ("1.1.96.10.in-addr.arpa.", "PTR")]
MISSING = [
    (f"nope.shop.{S}", "A", "cluster.local."),
    (f"x.nope.{S}", "AAAA", "cluster.local."),
    ("foo.cluster.local.", "TXT", "cluster.local."),
    (f"empty.shop.{S}", "SRV", "cluster.local."),
    (f"_grpc._tcp.web.shop.{S}", "SRV", "cluster.local."),
    ("9.9.9.9.in-addr.arpa.", "PTR", "in-addr.arpa."),
    ("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", "PTR", "ip6.arpa."),
]


def world_objects() -> list[dict[str, Any]]:
    objects = api_objects(spec_tables.world())
    api_tables.web6_ready_unset(objects)
    return objects


async def api_status(api: FakeAPIServer, path: str) -> int:
    """The status of one GET to the fake API server (its own connection, closed after)."""

    async def exchange() -> bytes:
        reader, writer = await asyncio.open_connection(api.host, api.port)
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {api.host}\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            return await reader.read()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    head = await asyncio.wait_for(exchange(), 3.0)
    return int(head.split(b" ", 2)[1])


async def ready(get: Get, served: ApiServed) -> tuple[int, bytes]:
    reply = await get(served.ready_port, "/ready")
    return reply.status, reply.body


async def check_missing(served: ApiServed, rcode: str) -> None:
    """Every MISSING name is ``rcode`` with exactly its zone's SOA in authority, AA set."""
    for qname, qtype, zone in MISSING:
        for tcp in (False, True):
            reply = await served.ask(qname, qtype, tcp=tcp)
            expected = soa(zone).replace(f" {SERIAL} ", f" {served.index.serial} ")
            check(reply, Case(qname, qtype, rcode=rcode, ns=[expected]))
            assert reply.flags & dns.flags.AA, f"{qname} {qtype}: AA not set\n{reply}"


async def test_before_the_first_sync_missing_names_are_servfail_never_nxdomain(get: Get, log_lines: list[str]) -> None:
    async with FakeAPIServer() as api:
        await api.slow_list(60)  # every list is held back: nothing has synced
        async with api_served(world_objects(), "startup_timeout 100ms", api=api, ready=True) as served:
            assert not served.controller.synced()
            assert "[WARNING] plugin/kubernetes: starting server with unsynced Kubernetes API" in log_lines
            assert await ready(get, served) == (503, b"kubernetes")
            await check_missing(served, "SERVFAIL")
            for qname, qtype in EXISTING:  # the index is still empty: these are missing too
                reply = await served.ask(qname, qtype)
                assert dns.rcode.to_text(reply.rcode()) == "SERVFAIL", reply.to_text()
            assert await ready(get, served) == (503, b"kubernetes")

            # the lists complete (the held ones are cut by a restart and retried)
            await api.slow_list(0)
            await api.restart()
            await eventually(
                lambda: _is_ready(get, served), timeout=RECOVER_SECONDS, what="/ready answers 200 OK"
            )
            assert served.controller.synced()
            assert index_contents(served.index) == api_contents(api)
            await check_missing(served, "NXDOMAIN")
            for qname, qtype in EXISTING:
                reply = await served.ask(qname, qtype)
                assert dns.rcode.to_text(reply.rcode()) == "NOERROR", reply.to_text()
            check(await served.ask(f"web.shop.{S}", "A"), Case("", answer=[f"web.shop.{S} 5 IN A 10.96.1.1"]))


async def _is_ready(get: Get, served: ApiServed) -> bool:
    return await ready(get, served) == (200, b"OK")


async def test_before_the_first_sync_what_has_listed_is_served(get: Get) -> None:
    # Services and Namespaces have listed, EndpointSlices keep failing: the spec table's
    # before-sync rows (positive answers and NODATA from what is known, SERVFAIL otherwise)
    async with FakeAPIServer() as api:
        await api.fail_next(100, 503, kind="endpointslices")
        async with api_served(world_objects(), "startup_timeout 100ms", api=api, ready=True) as served:
            informers = {i.kind: i for i in served.informers}
            await asyncio.wait_for(
                asyncio.gather(informers["services"].synced.wait(), informers["namespaces"].synced.wait()),
                RECOVER_SECONDS,
            )
            assert not informers["endpointslices"].synced.is_set()
            assert not served.controller.synced()
            assert await ready(get, served) == (503, b"kubernetes")
            rows = api_tables.marked_cases(spec_tables.test_before_sync)
            table = api_tables.Table("before-sync", spec_tables.world, lambda: rows)
            failures = await api_tables.run_cases(served, table)
            assert not failures, "\n\n".join(failures)

            # the failures run out (each GET here takes one) and the slices list
            for _ in range(101):
                if await api_status(api, "/apis/discovery.k8s.io/v1/endpointslices") == 200:
                    break
            await eventually(lambda: _is_ready(get, served), timeout=RECOVER_SECONDS, what="/ready answers 200 OK")
            for ident, case in rows:
                reply = await served.ask(case.qname, case.qtype)
                if case.rcode == "SERVFAIL":
                    assert dns.rcode.to_text(reply.rcode()) == "NXDOMAIN", f"{ident}: {reply}"
                else:
                    check(reply, api_tables.translate(case, {}, served.index.serial))


async def test_api_going_away_keeps_the_last_data_serving_and_recovers(get: Get) -> None:
    table = next(t for t in api_tables.TABLES if t.id == "S-1-to-S-19")
    async with api_served(
        world_objects(), zones=table.zones, hosts=table.hosts, others=table.others, ready=True
    ) as served:
        api = served.api
        informers = served.informers
        assert not await api_tables.run_cases(served, table)
        errors = {i.kind: i.stats.errors for i in informers}
        await api.stop()
        await eventually(
            lambda: all(i.stats.errors > errors[i.kind] for i in informers),
            timeout=FOLLOW_SECONDS,
            what="every informer noticed the API server is gone",
        )
        # while it is down: the same answers, still ready
        failures = await api_tables.run_cases(served, table)
        assert not failures, "answers changed while the API server was down:\n" + "\n\n".join(failures)
        assert await ready(get, served) == (200, b"OK")
        assert api.watches() == 0
        # back: a change made now is served
        await api.start()
        await api.create(fakeapi.service("shop", "back", "10.96.8.8"))
        await until_answered(served, f"back.shop.{S}", "A", answer=[f"back.shop.{S} 5 IN A 10.96.8.8"], timeout=RECOVER_SECONDS)
        await eventually(
            lambda: index_contents(served.index) == api_contents(api), timeout=RECOVER_SECONDS, what="in step again"
        )
        assert not await api_tables.run_cases(served, table)
