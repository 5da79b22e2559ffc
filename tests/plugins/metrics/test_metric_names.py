"""The metric catalogue: names, types, label names and buckets are CoreDNS's.

Dashboards and alerts written for CoreDNS must work unchanged against clusterdns. The table
below is coredns-features.md section 6 (CoreDNS 1.14.7 ``plugin/metrics/vars/vars.go`` and the
plugins' ``metrics.go``), transcribed row by row. A live server is started, queried, and its
``/metrics`` scraped; the text is parsed here by hand (not with prometheus_client, which wrote
it) and every catalogued family it exposes must match its row. The core families and *health*'s
must be exposed; the other plugins' rows are checked whenever those plugins are loaded in the
process (their families are registered on import).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from clusterdns.testing import query, run_corefile

ADDRESS = "127.0.0.1:0"


@dataclass(frozen=True)
class Row:
    type: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] | None = None  # None: not catalogued (or not a histogram)


TIME_BUCKETS = tuple(0.00025 * 2**k for k in range(16))  # 0.25 ms .. 8.192 s
SIZE_BUCKETS = (0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16e3, 32e3, 48e3, 64e3)
SLIM_TIME_BUCKETS = (0.00025, 0.0025, 0.025, 0.25, 2.5)
PROGRAMMING_BUCKETS = tuple(0.001 * 2**k for k in range(20))
DEFAULT_PROMETHEUS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
ZONE = ("server", "zone", "view")
CACHE = ("server", "zones", "view")

CATALOGUE: dict[str, Row] = {
    # core (plugin/metrics/vars)
    "coredns_build_info": Row("gauge", ("version", "revision", "goversion")),
    "coredns_panics_total": Row("counter"),
    "coredns_dns_requests_total": Row("counter", (*ZONE, "proto", "family", "type")),
    "coredns_dns_request_duration_seconds": Row("histogram", ZONE, TIME_BUCKETS),
    "coredns_dns_request_size_bytes": Row("histogram", (*ZONE, "proto"), SIZE_BUCKETS),
    "coredns_dns_response_size_bytes": Row("histogram", (*ZONE, "proto"), SIZE_BUCKETS),
    "coredns_dns_do_requests_total": Row("counter", ZONE),
    "coredns_dns_responses_total": Row("counter", (*ZONE, "rcode", "plugin")),
    "coredns_plugin_enabled": Row("gauge", (*ZONE, "name")),
    "coredns_dns_https_responses_total": Row("counter", ("server", "status")),
    "coredns_dns_https3_responses_total": Row("counter", ("server", "status")),
    "coredns_dns_quic_responses_total": Row("counter", ("server", "status")),
    # cache
    "coredns_cache_entries": Row("gauge", ("server", "type", "zones", "view")),
    "coredns_cache_requests_total": Row("counter", CACHE),
    "coredns_cache_hits_total": Row("counter", ("server", "type", "zones", "view")),
    "coredns_cache_misses_total": Row("counter", CACHE),
    "coredns_cache_prefetch_total": Row("counter", CACHE),
    "coredns_cache_drops_total": Row("counter", CACHE),
    "coredns_cache_served_stale_total": Row("counter", CACHE),
    "coredns_cache_evictions_total": Row("counter", ("server", "type", "zones", "view")),
    # forward and its proxies
    "coredns_forward_healthcheck_broken_total": Row("counter"),
    "coredns_forward_max_concurrent_rejects_total": Row("counter"),
    "coredns_proxy_request_duration_seconds": Row(
        "histogram", ("proxy_name", "to", "rcode"), TIME_BUCKETS
    ),
    "coredns_proxy_healthcheck_failures_total": Row("counter", ("proxy_name", "to")),
    "coredns_proxy_conn_cache_hits_total": Row("counter", ("proxy_name", "to", "proto")),
    "coredns_proxy_conn_cache_misses_total": Row("counter", ("proxy_name", "to", "proto")),
    # health
    "coredns_health_request_duration_seconds": Row("histogram", (), SLIM_TIME_BUCKETS),
    "coredns_health_request_failures_total": Row("counter"),
    # reload
    "coredns_reload_failed_total": Row("counter"),
    "coredns_reload_version_info": Row("gauge", ("hash", "value")),
    # hosts
    "coredns_hosts_entries": Row("gauge", ("hostsfile",)),
    "coredns_hosts_reload_timestamp_seconds": Row("gauge"),
    # autopath
    "coredns_autopath_success_total": Row("counter", ("server",)),
    # template
    "coredns_template_matches_total": Row("counter", (*ZONE, "class", "type")),
    "coredns_template_template_failures_total": Row(
        "counter", (*ZONE, "class", "type", "section", "template")
    ),
    "coredns_template_rr_failures_total": Row(
        "counter", (*ZONE, "class", "type", "section", "template")
    ),
    # acl
    "coredns_acl_blocked_requests_total": Row("counter", ZONE),
    "coredns_acl_filtered_requests_total": Row("counter", ZONE),
    "coredns_acl_dropped_requests_total": Row("counter", ZONE),
    "coredns_acl_allowed_requests_total": Row("counter", ("server", "view")),
    # kubernetes
    "coredns_kubernetes_dns_programming_duration_seconds": Row(
        "histogram", ("service_kind",), PROGRAMMING_BUCKETS
    ),
    "coredns_kubernetes_rest_client_request_duration_seconds": Row(
        "histogram", ("verb", "host"), DEFAULT_PROMETHEUS_BUCKETS
    ),
    "coredns_kubernetes_rest_client_rate_limiter_duration_seconds": Row(
        "histogram", ("verb", "host")
    ),
    "coredns_kubernetes_rest_client_requests_total": Row("counter", ("code", "method", "host")),
}

#: Families every clusterdns exposes as soon as *prometheus* (and *health*) are loaded.
REQUIRED = (
    "coredns_build_info",
    "coredns_panics_total",
    "coredns_dns_requests_total",
    "coredns_dns_request_duration_seconds",
    "coredns_dns_request_size_bytes",
    "coredns_dns_response_size_bytes",
    "coredns_dns_do_requests_total",
    "coredns_dns_responses_total",
    "coredns_plugin_enabled",
    "coredns_health_request_duration_seconds",
    "coredns_health_request_failures_total",
)

_TYPE = re.compile(r"^# TYPE (\S+) (\S+)$")
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \S+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass
class Family:
    type: str
    samples: list[tuple[str, dict[str, str]]]


def parse_exposition(text: str) -> dict[str, Family]:
    """Families by name from the Prometheus text format (TYPE lines and sample lines only)."""
    families: dict[str, Family] = {}
    current: Family | None = None
    current_name = ""
    for line in text.splitlines():
        typed = _TYPE.match(line)
        if typed:
            current_name = typed.group(1)
            current = families[current_name] = Family(typed.group(2), [])
            continue
        if not line or line.startswith("#"):
            continue
        sample = _SAMPLE.match(line)
        assert sample, f"unparseable exposition line: {line!r}"
        name, labels = sample.group(1), dict(_LABEL.findall(sample.group(2) or ""))
        histogram = current is not None and current.type == "histogram"
        suffixes = ("", "_bucket", "_sum", "_count") if histogram else ("",)
        assert current is not None and any(name == current_name + s for s in suffixes), (
            f"sample {name} outside its family {current_name}"
        )
        current.samples.append((name, labels))
    return families


def check_family(name: str, family: Family, row: Row) -> list[str]:
    """The ways ``family`` differs from its catalogue ``row`` (empty when it matches)."""
    problems = []
    if family.type != row.type:
        problems.append(f"{name}: type {family.type}, CoreDNS has {row.type}")
    label_names = {frozenset(k for k in labels if k != "le") for _, labels in family.samples}
    if label_names and label_names != {frozenset(row.labels)}:
        got = sorted(sorted(names) for names in label_names)
        problems.append(f"{name}: labels {got}, CoreDNS has {sorted(row.labels)}")
    if row.buckets is not None and family.type == "histogram":
        by_series: dict[tuple[tuple[str, str], ...], list[float]] = {}
        for sample_name, labels in family.samples:
            if sample_name.endswith("_bucket") and labels["le"] != "+Inf":
                key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
                by_series.setdefault(key, []).append(float(labels["le"]))
        for bounds in by_series.values():
            if tuple(bounds) != tuple(float(b) for b in row.buckets):
                problems.append(f"{name}: buckets {bounds}, CoreDNS has {list(row.buckets)}")
                break
    return problems


async def test_exposed_families_match_the_coredns_catalogue(get) -> None:
    text = f"names.test {{\n prometheus {ADDRESS}\n health 127.0.0.2:0\n whoami\n}}\n"
    async with run_corefile(text) as srv:
        await query(srv.port, "a.names.test", "A")
        await query(srv.port, "a.names.test", "AAAA", tcp=True)
        await query(srv.port, "a.names.test", "TXT", use_edns=True, want_dnssec=True)
        await query(srv.port, "outside.example", "A")  # REFUSED: recorded as zone "dropped"
        reply = await get(srv.runtime.http.port(ADDRESS), "/metrics")
    assert reply.status == 200
    families = parse_exposition(reply.body.decode())

    missing = [name for name in REQUIRED if name not in families]
    assert not missing, f"families not exposed: {missing}"
    for name in REQUIRED:
        assert families[name].samples, f"{name} has no samples after queries"
    problems = []
    for name, row in CATALOGUE.items():
        if name in families:
            problems.extend(check_family(name, families[name], row))
    assert not problems, "\n".join(problems)


async def test_counters_end_in_total(get) -> None:
    """Prometheus naming, which CoreDNS's test/metric_naming_test.go also enforces."""
    async with run_corefile(f"total.test {{\n prometheus {ADDRESS}\n whoami\n}}\n") as srv:
        reply = await get(srv.runtime.http.port(ADDRESS), "/metrics")
    families = parse_exposition(reply.body.decode())
    wrong = [
        name
        for name, family in families.items()
        if name.startswith("coredns_") and family.type == "counter" and not name.endswith("_total")
    ]
    assert not wrong


def test_catalogue_transcription_is_consistent() -> None:
    """Guard the table itself: required rows exist and histogram rows say histogram."""
    assert set(REQUIRED) <= set(CATALOGUE)
    for name, row in CATALOGUE.items():
        assert (row.buckets is None) or row.type == "histogram", name
        assert (row.type == "counter") == name.endswith("_total"), name
