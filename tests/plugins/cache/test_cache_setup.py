"""cache setup: what each Corefile form configures, and CoreDNS's setup errors with file:line.

Corefiles go through the real build path (parse, setup, chain) without opening sockets; the
block's handler carries the parsed ``CacheOptions``. Expected values follow CoreDNS's
``setup_test.go`` and ``setup.go``.
"""

from __future__ import annotations

import pytest
from cache_test_support import build, options

from clusterdns.errors import PluginSetupError
from clusterdns.plugins.cache.cache import Cache
from clusterdns.plugins.cache.item import Store
from clusterdns.plugins.cache.options import CacheOptions

D = CacheOptions()


@pytest.mark.parametrize(
    ("stanza", "expected"),
    [
        ("cache", D),
        ("cache 10", CacheOptions(success_max_ttl_seconds=10, denial_max_ttl_seconds=10)),
        ("cache +30", CacheOptions(success_max_ttl_seconds=30, denial_max_ttl_seconds=30)),
        ("cache example.nl", CacheOptions(zones=("example.nl.",))),
        ("cache 10 Example.NL dns://example.org:53", CacheOptions(
            zones=("example.nl.", "example.org."), success_max_ttl_seconds=10, denial_max_ttl_seconds=10)),
        ("cache 10.0.0.0/8", CacheOptions(zones=("10.in-addr.arpa.",))),
        ("cache {\nsuccess 10\n}", CacheOptions(success_capacity=10)),
        ("cache {\nsuccess 10 20\n}", CacheOptions(success_capacity=10, success_max_ttl_seconds=20)),
        ("cache {\nsuccess 10 20 0\n}", CacheOptions(
            success_capacity=10, success_max_ttl_seconds=20, success_min_ttl_seconds=0)),
        ("cache {\nsuccess 10 20 2 99\n}", CacheOptions(
            success_capacity=10, success_max_ttl_seconds=20, success_min_ttl_seconds=2)),
        ("cache 30 {\ndenial 500 10 1\n}", CacheOptions(
            success_max_ttl_seconds=30, denial_capacity=500, denial_max_ttl_seconds=10, denial_min_ttl_seconds=1)),
        ("cache {\nprefetch 10\n}", CacheOptions(prefetch_amount=10)),
        ("cache {\nprefetch 0\n}", D),
        ("cache {\nprefetch 2 10m\n}", CacheOptions(prefetch_amount=2, prefetch_duration_seconds=600)),
        ("cache {\nprefetch 2 10m 25%\n}", CacheOptions(
            prefetch_amount=2, prefetch_duration_seconds=600, prefetch_percentage=25)),
        ("cache {\nserve_stale\n}", CacheOptions(stale_seconds=3600)),
        ("cache {\nserve_stale 20m\n}", CacheOptions(stale_seconds=1200)),
        ("cache {\nserve_stale 1h immediate\n}", CacheOptions(stale_seconds=3600)),
        ("cache {\nserve_stale 1h VERIFY\n}", CacheOptions(stale_seconds=3600, verify_stale=True)),
        ("cache {\nserve_stale 1h verify 100ms\n}", CacheOptions(
            stale_seconds=3600, verify_stale=True, verify_timeout_seconds=0.1)),
        ("cache {\nserve_stale 1h verify 0 30s\n}", CacheOptions(
            stale_seconds=3600, verify_stale=True, stale_response_ttl_seconds=30)),
        ("cache {\nserve_stale 1h verify 100ms 30s 1m\n}", CacheOptions(
            stale_seconds=3600, verify_stale=True, verify_timeout_seconds=0.1,
            stale_response_ttl_seconds=30, stale_recheck_seconds=60)),
        ("cache {\nserve_stale 1h immediate 30s 30s\n}", CacheOptions(
            stale_seconds=3600, stale_response_ttl_seconds=30, stale_recheck_seconds=30)),
        ("cache {\nserve_stale 1h verify 1s\nserve_stale 5m\n}", CacheOptions(stale_seconds=300)),
        ("cache {\nserve_stale\nserve_stale_policy prefer_positive\n}", CacheOptions(
            stale_seconds=3600, prefer_positive=True)),
        ("cache {\nserve_stale_policy PREFER_POSITIVE\nserve_stale 1h verify\n}", CacheOptions(
            stale_seconds=3600, verify_stale=True, prefer_positive=True)),
        ("cache {\nservfail 0\n}", CacheOptions(servfail_seconds=0)),
        ("cache {\nservfail 5m\n}", CacheOptions(servfail_seconds=300)),
        ("cache {\nservfail 1.5s\n}", CacheOptions(servfail_seconds=1.5)),
        ("cache {\ndisable success\n}", CacheOptions(success_disabled_zones=(".",))),
        ("cache {\ndisable denial Example.org sub.example.NET.\n}", CacheOptions(
            denial_disabled_zones=("example.org.", "sub.example.net."))),
        ("cache {\ndisable success a.org\ndisable success b.org\n}", CacheOptions(success_disabled_zones=("b.org.",))),
        ("cache 30 {\ndisable success cluster.local\ndisable denial cluster.local\n}", CacheOptions(
            success_max_ttl_seconds=30, denial_max_ttl_seconds=30,
            success_disabled_zones=("cluster.local.",), denial_disabled_zones=("cluster.local.",))),
        ("cache {\nkeepttl\n}", CacheOptions(keepttl=True)),
    ],
)  # fmt: skip
def test_parse(stanza: str, expected: CacheOptions) -> None:
    assert options(stanza) == expected


def test_zones_default_to_the_block_keys() -> None:
    assert options("cache", keys="Example.org example.NET:53 10.0.0.0/24").zones == (
        "example.org.",
        "example.net.",
        "0.0.10.in-addr.arpa.",
    )


def test_a_large_number_is_a_zone_as_in_go() -> None:
    # strconv.Atoi fails on it, so CoreDNS takes it for the first zone
    assert options("cache 99999999999999999999").zones == ("99999999999999999999.",)


def _error(stanza: str) -> str:
    with pytest.raises(PluginSetupError) as info:
        build(f". {{\n{stanza}\n}}\n")
    return str(info.value)


P = "plugin/cache: Corefile:3 - Error during parsing: "
P2 = "plugin/cache: Corefile:2 - Error during parsing: "


@pytest.mark.parametrize(
    ("stanza", "message"),
    [
        ("cache 0", P2 + "cache TTL can not be zero or negative: 0"),
        ("cache -1 example.org", P2 + "cache TTL can not be zero or negative: -1"),
        ("cache {\nsuccess\n}", P + "Wrong argument count or unexpected line ending after 'success'"),
        ("cache {\nsuccess abc\n}", P + 'strconv.Atoi: parsing "abc": invalid syntax'),
        ("cache {\nsuccess 10 1h\n}", P + 'strconv.Atoi: parsing "1h": invalid syntax'),
        ("cache {\nsuccess 10 0\n}", P + "cache TTL can not be zero or negative: 0"),
        ("cache {\nsuccess 10 20 -1\n}", P + "cache min TTL can not be negative: -1"),
        ("cache {\nsuccess 10 20 x\n}", P + 'strconv.Atoi: parsing "x": invalid syntax'),
        ("cache {\ndenial\n}", P + "Wrong argument count or unexpected line ending after 'denial'"),
        ("cache {\ndenial 99999999999999999999\n}", P + 'strconv.Atoi: parsing "99999999999999999999": value out of range'),
        ("cache {\ndenial 10 -5\n}", P + "cache TTL can not be zero or negative: -5"),
        ("cache {\nprefetch\n}", P + "Wrong argument count or unexpected line ending after 'prefetch'"),
        ("cache {\nprefetch 1 1m 10% 4\n}", P + "Wrong argument count or unexpected line ending after '4'"),
        ("cache {\nprefetch -1\n}", P + "prefetch amount should be positive: -1"),
        ("cache {\nprefetch many\n}", P + 'strconv.Atoi: parsing "many": invalid syntax'),
        ("cache {\nprefetch 1 10\n}", P + 'time: missing unit in duration "10"'),
        ("cache {\nprefetch 1 1m 10\n}", P + "last character of percentage should be `%`, but is: '0'"),
        ("cache {\nprefetch 1 1m 5%\n}", P + "percentage should fall in range [10, 90]: 5"),
        ("cache {\nprefetch 1 1m 91%\n}", P + "percentage should fall in range [10, 90]: 91"),
        ("cache {\nprefetch 1 1m %\n}", P + 'strconv.Atoi: parsing "": invalid syntax'),
        ("cache {\nserve_stale 1h verify 1s 0 0 x\n}", P + "Wrong argument count or unexpected line ending after 'x'"),
        ("cache {\nserve_stale 1h immediate 0 0 0\n}", P + "Wrong argument count or unexpected line ending after '0'"),
        ("cache {\nserve_stale 1y\n}", P + 'time: unknown unit "y" in duration "1y"'),
        ("cache {\nserve_stale -1s\n}", P + "invalid negative duration for serve_stale"),
        ("cache {\nserve_stale 1h later\n}", P + "invalid value for serve_stale refresh mode: later"),
        ("cache {\nserve_stale 1h verify soon\n}", P + 'invalid serve_stale verify timeout: time: invalid duration "soon"'),
        ("cache {\nserve_stale 1h verify -1s\n}", P + "invalid negative timeout for serve_stale verify"),
        ("cache {\nserve_stale 1h immediate 1500ms\n}", P + "serve_stale response TTL must be a whole number of seconds"),
        ("cache {\nserve_stale 1h immediate -30s\n}", P + "invalid negative response TTL for serve_stale"),
        ("cache {\nserve_stale 1h immediate x\n}", P + 'invalid serve_stale response TTL: time: invalid duration "x"'),
        ("cache {\nserve_stale 1h immediate 1193047h\n}", P + "serve_stale response TTL exceeds the DNS TTL range"),
        ("cache {\nserve_stale 1h verify 1s 30s 6m\n}", P + "serve_stale failure recheck cannot exceed 5 minutes"),
        ("cache {\nserve_stale 1h verify 1s 30s -1s\n}", P + "invalid negative failure recheck for serve_stale"),
        ("cache {\nserve_stale 1h immediate 30s x\n}", P + 'invalid serve_stale failure recheck: time: invalid duration "x"'),
        ("cache {\nservfail\n}", P + "Wrong argument count or unexpected line ending after 'servfail'"),
        ("cache {\nservfail 1s 2s\n}", P + "Wrong argument count or unexpected line ending after '2s'"),
        ("cache {\nservfail 5\n}", P + 'time: missing unit in duration "5"'),
        ("cache {\nservfail -1s\n}", P + "invalid negative ttl for servfail"),
        ("cache {\nservfail 5m1s\n}", P + "caching SERVFAIL responses over 5 minutes is not permitted"),
        ("cache {\ndisable\n}", P + "Wrong argument count or unexpected line ending after 'disable'"),
        ("cache {\ndisable both example.org\n}", P + 'cache type for disable must be "success" or "denial"'),
        ("cache {\nkeepttl 10\n}", P + "Wrong argument count or unexpected line ending after '10'"),
        ("cache {\nserve_stale_policy prefer_positive\n}",
         "plugin/cache: Corefile:4 - Error during parsing: serve_stale_policy requires serve_stale"),
        ("cache {\nserve_stale\nserve_stale_policy prefer_positive\nserve_stale_policy prefer_positive\n}",
         "plugin/cache: Corefile:5 - Error during parsing: serve_stale_policy can only be specified once"),
        ("cache {\nserve_stale\nserve_stale_policy\n}",
         "plugin/cache: Corefile:4 - Error during parsing: Wrong argument count or unexpected line ending after 'serve_stale_policy'"),
        ("cache {\nserve_stale\nserve_stale_policy prefer_negative\n}",
         "plugin/cache: Corefile:4 - Error during parsing: invalid serve_stale_policy: prefer_negative"),
        ("cache {\nunknown\n}", P + "Wrong argument count or unexpected line ending after 'unknown'"),
        ("cache\ncache", "plugin/cache: this plugin can only be used once per Server Block"),
    ],
)  # fmt: skip
def test_setup_errors(stanza: str, message: str) -> None:
    assert _error(stanza) == message


def test_error_lines_follow_the_offending_line() -> None:
    stanza = "cache 30 {\n    success 100\n    denial 100\n\n    prefetch 1 1m 95%\n}"
    assert _error(stanza) == (
        "plugin/cache: Corefile:6 - Error during parsing: percentage should fall in range [10, 90]: 95"
    )


@pytest.mark.parametrize(
    ("capacity", "per_shard", "total"),
    [(10000, 39, 9984), (5000, 19, 4864), (1024, 4, 1024), (1, 4, 1024), (0, 4, 1024), (-300, 4, 1024), (2600, 10, 2560)],
)  # fmt: skip
def test_capacity_is_split_over_256_shards(capacity: int, per_shard: int, total: int) -> None:
    store = Store(capacity)
    assert (store.shard_entries, store.capacity) == (per_shard, total)


def test_the_handler_gets_its_stores_from_the_options() -> None:
    handler = build(". {\ncache {\nsuccess 5000\ndenial 2500\n}\n}\n").blocks[0].handlers["cache"]
    assert isinstance(handler, Cache)
    assert (handler.positive.capacity, handler.denial.capacity) == (4864, 2304)
