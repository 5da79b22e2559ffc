"""Replayed answers (clusterdns/server/replay.py) are the chain's answers, and only when safe.

Real servers on loopback with the kubeadm chain in front of the sample cluster (and a fake
API server where data must change): a repeated query is answered from the kept reply with the
asker's ID and name case, byte for byte what the chain wrote; its metrics are counted as if
the chain had run; the TTL keeps counting down; a data change is answered at once; and chains
whose answers must not be repeated (log in front of the cache, shuffled replies, no cache)
never keep anything.
"""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path
from typing import Final

import dns.message
import dns.rdatatype
from clusterdns.metrics import REGISTRY

from clusterdns.server.runtime import Runtime
from clusterdns.testing import fakeapi, query, query_raw_tcp, query_raw_udp, run_corefile
from clusterdns.testing.fakeapi import FakeAPIServer

SAMPLE: Final = Path(__file__).resolve().parents[2] / "examples" / "cluster"
WEB: Final = "web.demo.svc.cluster.local."
KUBEADM_CACHE: Final = "cache 30 {\n        disable success cluster.local\n        disable denial cluster.local\n    }"


def corefile(*, before_cache: str = "", cache: str = "cache 30", source: str = f"manifests {SAMPLE}") -> str:
    return (
        ".:0 {\n"
        "    bind 127.0.0.1\n"
        "    errors\n"
        f"    {before_cache}\n"
        "    kubernetes cluster.local in-addr.arpa ip6.arpa {\n"
        f"        {source}\n"
        "        pods insecure\n"
        "        fallthrough in-addr.arpa ip6.arpa\n"
        "    }\n"
        "    prometheus 127.0.0.1:0\n"
        f"    {cache}\n"
        "    loadbalance\n"
        "}\n"
    )


def kept(runtime: Runtime) -> int:
    return sum(
        len(table.entries) for listener in runtime.listeners.values() for table in listener.mux.replays.values()
    )


def raw_query(name: str, qid: int, *, qtype: int = 1, edns: bool = True) -> bytes:
    message = dns.message.make_query(name, qtype, use_edns=0 if edns else False, payload=1232)
    message.id = qid
    return message.to_wire()


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_repeated_query_is_replayed_with_its_id_and_case_byte_for_byte() -> None:
    async with run_corefile(corefile()) as srv:
        first = await query_raw_udp(srv.port, raw_query(WEB, 1))  # a cache miss
        second = await query_raw_udp(srv.port, raw_query(WEB, 2))  # a hit, the first: noted
        assert first is not None and second is not None
        assert kept(srv.runtime) == 0
        second = await query_raw_udp(srv.port, raw_query(WEB, 2))  # the second hit: kept
        assert second is not None and kept(srv.runtime) == 1
        replayed = await query_raw_udp(srv.port, raw_query(WEB, 0xBEEF))
        assert replayed is not None
        assert replayed[:2] == b"\xbe\xef" and replayed[2:] == second[2:]
        # another case is another question: answered by the chain with that case, then kept
        for n in (3, 4):
            upper = await query_raw_udp(srv.port, raw_query(WEB.upper(), n))
            assert upper is not None
            assert dns.message.from_wire(upper).question[0].name.to_text() == WEB.upper()
        assert kept(srv.runtime) == 2


async def test_replays_over_tcp_are_framed_and_kept_apart_from_udp() -> None:
    async with run_corefile(corefile()) as srv:
        frames = [raw_query(WEB, n) for n in (1, 2, 3, 4)]
        replies = await query_raw_tcp(srv.port, frames, expect=4)
        by_id = {struct.unpack("!H", r[:2])[0]: r for r in replies}
        assert by_id[3][2:] == by_id[2][2:] and by_id[4][2:] == by_id[2][2:]
        udp = await query_raw_udp(srv.port, raw_query(WEB, 9))
        assert udp is not None and dns.message.from_wire(udp).answer


async def test_replayed_answers_are_counted_in_the_metrics_as_the_chain_counts_them() -> None:
    async with run_corefile(corefile()) as srv:
        await query(srv.port, WEB)
        await query(srv.port, WEB)  # kept from here
        server = "dns://127.0.0.1:0"  # the configured port, as CoreDNS labels it
        requests = dict(server=server, zone=".", view="", proto="udp", family="1", type="A")
        responses = dict(server=server, zone=".", view="", rcode="NOERROR", plugin="cache")
        hits = dict(server=server, type="success", zones=".", view="")
        before = (
            sample("coredns_dns_requests_total", **requests),
            sample("coredns_dns_responses_total", **responses),
            sample("coredns_cache_hits_total", **hits),
            sample("coredns_dns_response_size_bytes_count", server=server, zone=".", view="", proto="udp"),
        )
        for _ in range(5):
            await query(srv.port, WEB)
        after = (
            sample("coredns_dns_requests_total", **requests),
            sample("coredns_dns_responses_total", **responses),
            sample("coredns_cache_hits_total", **hits),
            sample("coredns_dns_response_size_bytes_count", server=server, zone=".", view="", proto="udp"),
        )
        assert [b - a for a, b in zip(before, after)] == [5, 5, 5, 5]


async def test_replays_counted_in_batches_land_in_the_same_buckets_and_survive_a_reload(tmp_path: Path) -> None:
    """Replays are counted on their kept entry and added to the series when the metrics are
    read; the histograms get the same buckets one ``observe`` per query would give, and a
    reload (which drops the kept replies) loses none of the counts."""
    async with run_corefile(corefile(), directory=str(tmp_path)) as srv:
        await query(srv.port, WEB)
        reply = await query_raw_udp(srv.port, raw_query(WEB, 1, edns=False))  # kept from here
        assert reply is not None
        size = len(reply)
        server = "dns://127.0.0.1:0"
        labels = dict(server=server, zone=".", view="", proto="udp")
        le = next(b for b in (0, 100, 200, 300, 400, 511, 1023) if size <= b)
        bucket = dict(labels, le=f"{float(le)}")
        duration_first = dict(server=server, zone=".", view="", le="0.00025")
        before = (
            sample("coredns_dns_response_size_bytes_bucket", **bucket),
            sample("coredns_dns_response_size_bytes_sum", **labels),
            sample("coredns_dns_request_duration_seconds_bucket", **duration_first),
            sample("coredns_dns_requests_total", server=server, zone=".", view="", proto="udp", family="1", type="A"),
        )
        for n in range(7):
            assert await query_raw_udp(srv.port, raw_query(WEB, n, edns=False)) is not None
        srv.write_corefile(corefile().replace("errors", "errors\n    any"))
        await srv.runtime.reload()
        after = (
            sample("coredns_dns_response_size_bytes_bucket", **bucket),
            sample("coredns_dns_response_size_bytes_sum", **labels),
            sample("coredns_dns_request_duration_seconds_bucket", **duration_first),
            sample("coredns_dns_requests_total", server=server, zone=".", view="", proto="udp", family="1", type="A"),
        )
        assert after[0] - before[0] == 7
        assert after[1] - before[1] == 7 * size
        assert after[2] - before[2] >= 7  # each replay takes microseconds
        assert after[3] - before[3] == 7


async def test_the_ttl_keeps_counting_down_while_answers_are_replayed() -> None:
    async with run_corefile(corefile()) as srv:
        first = await query(srv.port, WEB)
        start_ttl = first.answer[0].ttl
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 4.0
        while True:
            reply = await query(srv.port, WEB)
            if reply.answer[0].ttl < start_ttl:
                break
            assert loop.time() < deadline, "the TTL froze at its first value"
            await asyncio.sleep(0.05)  # pacing the queries, not synchronisation


async def test_a_data_change_drops_every_kept_reply_at_once() -> None:
    async with FakeAPIServer() as api:
        api.load([fakeapi.namespace("demo"), fakeapi.service("demo", "web", "10.96.100.10")])
        async with run_corefile(corefile(source=f"endpoint {api.url}")) as srv:
            for _ in range(3):
                await query(srv.port, WEB)
            assert kept(srv.runtime) == 1
            await api.update(fakeapi.service("demo", "web", "10.96.100.99"))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5.0
            while kept(srv.runtime):  # dropped when the informer applies the change
                assert loop.time() < deadline, "kept replies survived the change"
                await asyncio.sleep(0.01)
            reply = await query(srv.port, WEB)
            assert [rr.address for rr in reply.answer[0]] == ["10.96.100.99"]


async def test_a_question_asked_once_is_not_kept_so_a_stream_of_new_names_leaves_the_table_alone() -> None:
    """Pod names asked once each (as by a scan, or workload 4 of bench/run.py) are only noted;
    the table keeps what is asked again."""
    async with run_corefile(corefile(cache=KUBEADM_CACHE)) as srv:
        for n in range(50):
            assert await query_raw_udp(srv.port, raw_query(f"10-0-0-{n}.demo.pod.cluster.local.", n)) is not None
        assert kept(srv.runtime) == 0
        for n in (1, 2):
            await query_raw_udp(srv.port, raw_query("10-0-0-7.demo.pod.cluster.local.", n))
        assert kept(srv.runtime) == 1


async def test_chains_whose_answers_must_not_repeat_keep_nothing() -> None:
    cases = {
        "log in front of the cache": corefile(before_cache="log"),
        "prefetch": corefile(cache="cache 30 {\n        prefetch 1\n    }"),
        "hosts between the cache and kubernetes, cluster names not cached": corefile(
            before_cache=f"hosts {SAMPLE.parent / 'hosts'} example.com {{\n        fallthrough\n    }}",
            cache=KUBEADM_CACHE,
        ),
    }
    for label, text in cases.items():
        async with run_corefile(text) as srv:
            for n in range(3):
                assert await query_raw_udp(srv.port, raw_query(WEB, n)) is not None
            assert kept(srv.runtime) == 0, label


async def test_kubernetes_answers_the_cache_does_not_store_are_replayed_with_the_miss_counted() -> None:
    """kubeadm's Corefile keeps cluster names out of the cache: every query is a miss answered
    by kubernetes from its index, so that answer is kept, and replays count cache misses."""
    async with run_corefile(corefile(cache=KUBEADM_CACHE)) as srv:
        first = await query_raw_udp(srv.port, raw_query(WEB, 1))
        assert first is not None and kept(srv.runtime) == 0  # asked once: noted, not kept
        first = await query_raw_udp(srv.port, raw_query(WEB, 1))
        assert first is not None and kept(srv.runtime) == 1
        server = "dns://127.0.0.1:0"
        misses = dict(server=server, zones=".", view="")
        before = sample("coredns_cache_misses_total", **misses)
        replayed = await query_raw_udp(srv.port, raw_query(WEB, 2))
        assert replayed is not None and replayed[2:] == first[2:]
        assert sample("coredns_cache_misses_total", **misses) == before + 1
        missing = "nope.demo.svc.cluster.local."  # NXDOMAIN with the SOA: kept too
        for n in (3, 4):
            negative = await query_raw_udp(srv.port, raw_query(missing, n))
            assert negative is not None and dns.message.from_wire(negative).rcode() == 3
        assert kept(srv.runtime) == 2


async def test_an_externalname_answer_that_asked_the_server_again_is_not_kept() -> None:
    """search.shop points outside the cluster: its answer includes what the rest of the server
    (here nothing: no forward) said about www.example.com, which is not kubernetes's to repeat."""
    async with run_corefile(corefile(cache="")) as srv:
        for n in range(3):
            await query_raw_udp(srv.port, raw_query("search.shop.svc.cluster.local.", n))
        assert kept(srv.runtime) == 0
        for n in (9, 10):
            await query_raw_udp(srv.port, raw_query(WEB, n))  # in-cluster data alone: kept
        assert kept(srv.runtime) == 1


async def test_shuffled_replies_are_replayed_in_a_fresh_order_each_time() -> None:
    """The headless db service has three endpoints: loadbalance orders them per query, and so
    does the replay of its kept reply; the records themselves never change."""
    async with run_corefile(corefile(cache=KUBEADM_CACHE)) as srv:
        name = "db.shop.svc.cluster.local."
        first = await query(srv.port, name)
        await query(srv.port, name)
        addresses = sorted(rr.address for rr in first.answer[0])
        assert len(addresses) == 3 and kept(srv.runtime) == 1
        orders = set()
        for _ in range(40):
            reply = await query(srv.port, name)
            order = tuple(rr.address for rr in reply.answer[0])
            assert sorted(order) == addresses
            orders.add(order)
        assert kept(srv.runtime) == 1
        assert len(orders) > 1, "every replay had the same order"


async def test_loadbalance_prefer_is_never_replayed() -> None:
    text = corefile(cache=KUBEADM_CACHE).replace("    loadbalance\n", "    loadbalance {\n        prefer 10.244.1.0/24\n    }\n")
    async with run_corefile(text) as srv:
        for _ in range(3):
            await query(srv.port, "db.shop.svc.cluster.local.")
        assert kept(srv.runtime) == 0
