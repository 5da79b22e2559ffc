"""prometheus through a real server: /metrics, per-query recording, zones, plugin_enabled.

The registry is process-wide (as CoreDNS's is), so every test uses zone names of its own and
reads the series of those zones only.
"""

from __future__ import annotations

import asyncio

import dns.message
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from clusterdns.testing import query, query_raw_udp, run_corefile

ADDRESS = "127.0.0.1:0"
SERVER = "dns://:0"  # the listener's name: zone keys without a port get port 0 in tests


async def scrape(get, port: int) -> str:
    reply = await get(port, "/metrics")
    assert reply.status == 200
    return reply.body.decode()


def value(text: str, metric: str, /, **labels: str) -> float:
    """The sum of the samples called ``metric`` whose labels include ``labels``."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == metric and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def label_sets(text: str, metric: str, /, **labels: str) -> list[dict[str, str]]:
    found = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == metric and all(sample.labels.get(k) == v for k, v in labels.items()):
                found.append(sample.labels)
    return found


def block(zone: str, *, extra: str = "whoami") -> str:
    return f"{zone} {{\n prometheus {ADDRESS}\n {extra}\n}}\n"


async def test_metrics_endpoint_content_type_and_404(get) -> None:
    async with run_corefile(block("endpoint.test")) as srv:
        port = srv.runtime.http.port(ADDRESS)
        metrics = await get(port, "/metrics")
        other = await get(port, "/")
    assert metrics.status == 200
    assert metrics.headers["content-type"] == CONTENT_TYPE_LATEST
    assert b"# TYPE coredns_build_info gauge" in metrics.body
    assert other.status == 404


async def test_every_query_is_recorded_with_its_labels(get) -> None:
    zone = "families.test."
    async with run_corefile(block("families.test")) as srv:
        await query(srv.port, "a.families.test", "A")
        await query(srv.port, "b.families.test", "AAAA", tcp=True)
        await query(srv.port, "c.families.test", "MX", use_edns=True, want_dnssec=True)
        await query(srv.port, "d.families.test", 99)  # SPF: not monitored, counted as "other"
        text = await scrape(get, srv.runtime.http.port(ADDRESS))
    common = {"server": SERVER, "zone": zone, "view": ""}
    requests = "coredns_dns_requests_total"
    assert value(text, requests, **common, proto="udp", family="1", type="A") == 1
    assert value(text, requests, **common, proto="tcp", family="1", type="AAAA") == 1
    assert value(text, requests, **common, proto="udp", family="1", type="MX") == 1
    assert value(text, requests, **common, proto="udp", family="1", type="other") == 1
    assert value(text, "coredns_dns_do_requests_total", **common) == 1
    responses = "coredns_dns_responses_total"
    assert value(text, responses, **common, rcode="NOERROR", plugin="whoami") == 4
    assert value(text, "coredns_dns_request_duration_seconds_count", **common) == 4
    assert value(text, "coredns_dns_request_size_bytes_count", **common, proto="udp") == 3
    assert value(text, "coredns_dns_request_size_bytes_count", **common, proto="tcp") == 1
    assert value(text, "coredns_dns_response_size_bytes_count", **common, proto="udp") == 3
    assert value(text, "coredns_dns_response_size_bytes_count", **common, proto="tcp") == 1


async def test_sizes_are_the_bytes_on_the_wire(get) -> None:
    zone = "sizes.test."
    async with run_corefile(block("sizes.test")) as srv:
        request = dns.message.make_query("a.sizes.test", "A").to_wire()
        reply = await query_raw_udp(srv.port, request)
        assert reply is not None
        text = await scrape(get, srv.runtime.http.port(ADDRESS))
    labels = {"server": SERVER, "zone": zone, "view": "", "proto": "udp"}
    assert value(text, "coredns_dns_request_size_bytes_sum", **labels) == len(request)
    assert value(text, "coredns_dns_response_size_bytes_sum", **labels) == len(reply)


async def test_zone_label_is_the_matched_server_block_key(get) -> None:
    text = block("zones-one.test") + block("zones-two.test") + block("sub.zones-two.test")
    async with run_corefile(text) as srv:
        await query(srv.port, "www.zones-one.test", "A")
        await query(srv.port, "www.zones-two.test", "A")
        await query(srv.port, "deep.www.zones-two.test", "A")
        await query(srv.port, "www.sub.zones-two.test", "A")
        # Three blocks name the same address: one listener serves them all.
        assert list(srv.runtime.http.servers) == [ADDRESS]
        scraped = await scrape(get, srv.runtime.http.port(ADDRESS))
    requests = "coredns_dns_requests_total"
    assert value(scraped, requests, zone="zones-one.test.") == 1
    assert value(scraped, requests, zone="zones-two.test.") == 2
    assert value(scraped, requests, zone="sub.zones-two.test.") == 1


async def test_refused_query_outside_every_zone_is_recorded_as_dropped(get) -> None:
    async with run_corefile(block("dropped.test")) as srv:
        before = await scrape(get, srv.runtime.http.port(ADDRESS))
        reply = await query(srv.port, "www.elsewhere-entirely.test", "A")
        after = await scrape(get, srv.runtime.http.port(ADDRESS))
    assert reply.rcode() == 5  # REFUSED
    responses = {"server": SERVER, "zone": "dropped", "view": "", "rcode": "REFUSED", "plugin": ""}
    name = "coredns_dns_responses_total"
    assert value(after, name, **responses) - value(before, name, **responses) == 1


async def test_server_failure_without_a_next_plugin_is_recorded(get) -> None:
    """Nothing written: rcode is what the chain returned, no plugin, size 0 (CoreDNS too)."""
    zone = "servfail.test."
    async with run_corefile("servfail.test {\n prometheus 127.0.0.1:0\n}\n") as srv:
        reply = await query(srv.port, "a.servfail.test", "A")
        text = await scrape(get, srv.runtime.http.port(ADDRESS))
    assert reply.rcode() == 2  # SERVFAIL
    common = {"server": SERVER, "zone": zone, "view": ""}
    assert value(text, "coredns_dns_responses_total", **common, rcode="SERVFAIL", plugin="") == 1
    assert value(text, "coredns_dns_response_size_bytes_count", **common, proto="udp") == 1
    assert value(text, "coredns_dns_response_size_bytes_sum", **common, proto="udp") == 0


async def test_plugin_enabled_names_each_handler_of_the_first_key(get) -> None:
    text = (
        "enabled-a.test enabled-b.test {\n prometheus 127.0.0.1:0\n"
        " health 127.0.0.1:0\n ready 127.0.0.1:0\n whoami\n}\n"
        "enabled-c.test {\n whoami\n}\n"
    )
    async with run_corefile(text) as srv:
        scraped = await scrape(get, srv.runtime.http.port(ADDRESS))
    name = "coredns_plugin_enabled"
    assert sorted(s["name"] for s in label_sets(scraped, name, zone="enabled-a.test.")) == [
        "prometheus",
        "whoami",
    ]
    assert label_sets(scraped, name, zone="enabled-a.test.")[0]["server"] == SERVER
    assert value(scraped, name, zone="enabled-a.test.", name="whoami") == 1
    assert label_sets(scraped, name, zone="enabled-b.test.") == []  # CoreDNS: first key only
    assert label_sets(scraped, name, zone="enabled-c.test.") == []  # no prometheus there


async def test_reload_keeps_counters_and_drops_stale_plugin_enabled(tmp_path, get) -> None:
    first = block("reload-a.test") + block("reload-b.test")
    async with run_corefile(first, directory=str(tmp_path)) as srv:
        port = srv.runtime.http.port(ADDRESS)
        await query(srv.port, "www.reload-a.test", "A")
        srv.write_corefile(block("reload-a.test"))
        await asyncio.wait_for(srv.runtime.reload(), timeout=3.0)
        await query(srv.port, "www.reload-a.test", "A")
        scraped = await scrape(get, port)  # the same listener across the reload
    assert value(scraped, "coredns_dns_requests_total", zone="reload-a.test.") == 2
    assert label_sets(scraped, "coredns_plugin_enabled", zone="reload-a.test.")
    assert label_sets(scraped, "coredns_plugin_enabled", zone="reload-b.test.") == []


async def test_queries_of_blocks_without_prometheus_are_not_recorded(get) -> None:
    text = block("recorded.test") + "unrecorded.test {\n whoami\n}\n"
    async with run_corefile(text) as srv:
        await query(srv.port, "www.unrecorded.test", "A")
        scraped = await scrape(get, srv.runtime.http.port(ADDRESS))
    assert label_sets(scraped, "coredns_dns_requests_total", zone="unrecorded.test.") == []
