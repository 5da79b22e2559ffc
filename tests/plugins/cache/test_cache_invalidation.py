"""Answers under a ``DataChangeNotifier``'s zones are dropped as soon as its data changes.

First with a stand-in notifier behind the cache (the rules: which entries go, which stay, that a
change costs no cache scan, that an answer computed before a change is not kept), then end to end
with the real kubernetes plugin reading manifest files: a Service created a moment after a
negative answer resolves at once, not after the denial TTL (users.md B.5).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import dns.message
import dns.rcode
from cache_test_support import WAIT_SECONDS, Clock, metric, options

from dnslib import RR

from clusterdns import wire
from clusterdns.corefile.address import ZoneAddress, matches
from clusterdns.plugin import DataChangeNotifier, Handler, ResponseWriter
from clusterdns.plugins.cache.cache import Cache
from clusterdns.request import Request
from clusterdns.server.config import BlockConfig, ListenAddress
from clusterdns.server.mux import Mux
from clusterdns.testing import query, run_corefile

# --- a stand-in notifier -------------------------------------------------------------------------


class Cluster(Handler):
    """Answers names under ``cluster.local.`` from ``data``; anything else gets 192.0.2.99.

    The data is read before the optional ``gate``, so a test can change it mid-answer.

    ``change()`` edits the data and tells the listeners, as the kubernetes plugin does.
    """

    name = "cluster"
    zones = ("cluster.local.",)

    def __init__(self) -> None:
        super().__init__(None)
        self.data: dict[str, str] = {}
        self.listeners: list[Callable[[], None]] = []
        self.asked = 0
        self.arrived = asyncio.Event()
        self.gate: asyncio.Event | None = None

    def on_change(self, callback: Callable[[], None]) -> None:
        self.listeners.append(callback)

    def change(self, name: str, address: str | None) -> None:
        if address is None:
            self.data.pop(name, None)
        else:
            self.data[name] = address
        for listener in self.listeners:
            listener()

    async def serve_dns(self, req: Request, w: ResponseWriter) -> int:
        self.asked += 1
        self.arrived.set()
        address = self.data.get(req.name)  # read first: a change may come while answering
        if self.gate is not None:
            await self.gate.wait()
        reply = req.reply(authoritative=True)
        if matches(self.zones, req.name):
            if address is None:
                reply.header.rcode = wire.NXDOMAIN
                reply.auth = RR.fromZone(
                    "cluster.local. 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 30"
                )
            else:
                reply.rr = RR.fromZone(f"{req.qname} 30 IN A {address}")
        else:
            reply.rr = RR.fromZone(f"{req.qname} 30 IN A 192.0.2.99")
        w.write_msg(reply)
        return reply.header.rcode


def stand(stanza: str = "cache 30") -> tuple[Cache, Cluster, Clock, Mux]:
    cluster = Cluster()
    clock = Clock()
    cache = Cache(cluster, options=options(stanza), now=clock)
    config = BlockConfig(index=0, zones=[ZoneAddress("dns", ".", "53")])
    config.chain = cache
    config.handlers = {"cache": cache, "cluster": cluster}
    cache.watch(config.handlers.values())
    return cache, cluster, clock, Mux(ListenAddress("dns", "", 53), {".": config})


async def ask(mux: Mux, name: str) -> dns.message.Message:
    sent: list[bytes] = []
    msg = dns.message.make_query(name, "A")
    await mux.serve(msg.to_wire(), "tcp", ("10.0.0.9", 4000), ("10.0.0.1", 53), sent.append)
    return dns.message.from_wire(sent[0])


def test_the_stand_in_is_a_notifier_and_the_cache_is_not() -> None:
    cache, cluster, _, _ = stand()
    assert isinstance(cluster, DataChangeNotifier)
    assert not isinstance(cache, DataChangeNotifier)


async def test_a_negative_answer_is_dropped_when_the_data_changes() -> None:
    cache, cluster, clock, mux = stand()
    assert (await ask(mux, "web.demo.svc.cluster.local.")).rcode() == dns.rcode.NXDOMAIN
    assert (await ask(mux, "web.demo.svc.cluster.local.")).rcode() == dns.rcode.NXDOMAIN
    assert cluster.asked == 1  # the denial is cached
    cluster.change("web.demo.svc.cluster.local.", "10.96.0.10")
    reply = await ask(mux, "web.demo.svc.cluster.local.")
    assert reply.rcode() == dns.rcode.NOERROR
    assert [r.to_text() for r in reply.answer] == ["web.demo.svc.cluster.local. 30 IN A 10.96.0.10"]
    assert cluster.asked == 2


async def test_a_positive_answer_is_dropped_too_and_names_elsewhere_stay() -> None:
    cache, cluster, clock, mux = stand()
    cluster.change("web.demo.svc.cluster.local.", "10.96.0.10")
    await ask(mux, "web.demo.svc.cluster.local.")
    await ask(mux, "www.example.org.")
    assert cluster.asked == 2
    cluster.change("web.demo.svc.cluster.local.", "10.96.0.11")
    moved = await ask(mux, "web.demo.svc.cluster.local.")
    await ask(mux, "www.example.org.")  # outside cluster.local: still cached
    assert [r.to_text() for r in moved.answer] == ["web.demo.svc.cluster.local. 30 IN A 10.96.0.11"]
    assert cluster.asked == 3


async def test_a_change_costs_no_scan_and_entries_go_when_looked_up() -> None:
    cache, cluster, clock, mux = stand()
    for n in range(50):
        await ask(mux, f"svc{n}.demo.svc.cluster.local.")
    assert len(cache.denial) == 50
    cluster.change("other.demo.svc.cluster.local.", "10.96.0.1")
    assert len(cache.denial) == 50  # nothing scanned, nothing removed yet
    before = metric("coredns_cache_entries", type="denial", server="dns://:53")
    await ask(mux, "svc0.demo.svc.cluster.local.")
    assert cluster.asked == 51
    assert len(cache.denial) == 50  # svc0 dropped, then stored again
    assert metric("coredns_cache_entries", type="denial", server="dns://:53") == before


async def test_an_answer_computed_before_a_change_is_not_kept() -> None:
    cache, cluster, clock, mux = stand()
    cluster.gate = asyncio.Event()
    first = asyncio.create_task(ask(mux, "web.demo.svc.cluster.local."))
    await asyncio.wait_for(cluster.arrived.wait(), WAIT_SECONDS)
    cluster.change("web.demo.svc.cluster.local.", "10.96.0.10")  # while the answer is made
    cluster.gate.set()
    assert (await asyncio.wait_for(first, WAIT_SECONDS)).rcode() == dns.rcode.NXDOMAIN
    cluster.gate = None
    assert (await ask(mux, "web.demo.svc.cluster.local.")).rcode() == dns.rcode.NOERROR


async def test_an_invalidated_entry_is_not_served_stale() -> None:
    cache, cluster, clock, mux = stand("cache 30 {\nserve_stale\n}")
    await ask(mux, "web.demo.svc.cluster.local.")
    clock.advance(60)  # expired, within the stale window
    cluster.change("web.demo.svc.cluster.local.", "10.96.0.10")
    reply = await ask(mux, "web.demo.svc.cluster.local.")
    assert reply.rcode() == dns.rcode.NOERROR and cluster.asked == 2


# --- the real kubernetes plugin --------------------------------------------------------------------

NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n"
SERVICE = (
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: demo\n"
    "spec:\n  clusterIP: 10.96.0.10\n  ports:\n  - {name: http, port: 80, protocol: TCP}\n"
)


def corefile(directory: Path, kubernetes_lines: str = "") -> str:
    return (
        "cluster.local:0 {\n"
        "    cache 30\n"
        "    kubernetes cluster.local {\n"
        f"        manifests {directory}\n"
        f"{kubernetes_lines}"
        "    }\n"
        "}\n"
    )


async def test_a_new_service_resolves_at_once_after_a_cached_nxdomain(tmp_path: Path) -> None:
    (tmp_path / "namespaces.yaml").write_text(NAMESPACE)
    async with run_corefile(corefile(tmp_path)) as srv:
        server = "dns://:0"
        hits = metric("coredns_cache_hits_total", type="denial", server=server, zones="cluster.local.")
        missing = await query(srv.port, "web.demo.svc.cluster.local.", "A")
        assert missing.rcode() == dns.rcode.NXDOMAIN
        again = await query(srv.port, "web.demo.svc.cluster.local.", "A")
        assert again.rcode() == dns.rcode.NXDOMAIN
        assert metric("coredns_cache_hits_total", type="denial", server=server, zones="cluster.local.") == hits + 1
        (tmp_path / "web.yaml").write_text(SERVICE)
        kubernetes = srv.runtime.instance.blocks[0].handlers["kubernetes"]
        source = kubernetes.synced.__self__.source  # the manifest source behind the handler
        assert await asyncio.wait_for(source.reload(), WAIT_SECONDS)
        found = await query(srv.port, "web.demo.svc.cluster.local.", "A")
        assert found.rcode() == dns.rcode.NOERROR
        assert [r.to_text() for r in found.answer] == ["web.demo.svc.cluster.local. 5 IN A 10.96.0.10"]


async def test_the_manifest_poller_alone_beats_the_denial_ttl(tmp_path: Path) -> None:
    # kubernetes ttl 30: without invalidation the NXDOMAIN would be served for 30 s
    (tmp_path / "namespaces.yaml").write_text(NAMESPACE)
    async with run_corefile(corefile(tmp_path, "        ttl 30\n")) as srv:
        missing = await query(srv.port, "web.demo.svc.cluster.local.", "A")
        assert missing.rcode() == dns.rcode.NXDOMAIN
        assert [rrset.ttl for rrset in missing.authority] == [30]
        (tmp_path / "web.yaml").write_text(SERVICE)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10.0  # the poller checks every second
        while True:
            reply = await query(srv.port, "web.demo.svc.cluster.local.", "A")
            if reply.rcode() == dns.rcode.NOERROR:
                break
            assert loop.time() < deadline, "the new Service never resolved"
            await asyncio.sleep(0.05)  # the poll interval of this bounded wait
        assert [r.to_text() for r in reply.answer] == ["web.demo.svc.cluster.local. 30 IN A 10.96.0.10"]
