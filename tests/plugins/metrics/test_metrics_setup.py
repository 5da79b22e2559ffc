"""prometheus's Corefile syntax: accepted forms, defaults, and CoreDNS's exact errors."""

from __future__ import annotations

import pytest

from clusterdns.errors import PluginSetupError
from clusterdns.plugins.metrics.setup import DEFAULT_ADDRESS, MetricsOptions, parse
from clusterdns.server.instance import CorefileSource
from clusterdns.server.runtime import Runtime


def corefile(body: str) -> str:
    return f"example.org {{\n{body}\n}}\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("prometheus", MetricsOptions("localhost:9153")),
        ("prometheus localhost:53", MetricsOptions("localhost:53")),
        ("prometheus :9153", MetricsOptions(":9153")),
        (
            "prometheus {\n  runtime_metrics\n}",
            MetricsOptions("localhost:9153", runtime_metrics=True),
        ),
        (
            "prometheus localhost:53 {\n  runtime_metrics\n}",
            MetricsOptions("localhost:53", runtime_metrics=True),
        ),
    ],
    ids=["default", "address", "all-interfaces", "runtime-metrics", "address-runtime-metrics"],
)
def test_parse_accepts(controller, body: str, expected: MetricsOptions) -> None:
    assert parse(controller(corefile(body), "prometheus")) == expected


def test_default_address_is_loopback_only() -> None:
    assert DEFAULT_ADDRESS == "localhost:9153"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("prometheus {}", "plugin/prometheus: address {}: missing port in address"),
        (
            "prometheus {\n  runtime_metrics extra_arg\n}",
            "plugin/prometheus: Corefile:3 - Error during parsing: "
            "Wrong argument count or unexpected line ending after 'extra_arg'",
        ),
        ("prometheus /foo", "plugin/prometheus: address /foo: missing port in address"),
        (
            "prometheus a b c",
            "plugin/prometheus: Corefile:2 - Error during parsing: "
            "Wrong argument count or unexpected line ending after 'c'",
        ),
        (
            "prometheus {\n  histograms\n}",
            "plugin/prometheus: Corefile:3 - Error during parsing: unknown option: histograms",
        ),
        (
            "prometheus {\n  tls web.yml\n}",
            "plugin/prometheus: Corefile:3 - Error during parsing: "
            "tls is not supported by clusterdns",
        ),
        (
            "prometheus :9153\nprometheus :9154",
            "plugin/prometheus: this plugin can only be used once per Server Block",
        ),
    ],
    ids=["braces-as-address", "runtime-metrics-arg", "path", "three-args", "unknown-option",
         "tls", "twice"],
)
def test_setup_errors(body: str, message: str) -> None:
    runtime = Runtime(lambda: CorefileSource(corefile(body), "Corefile"), default_port="0")
    with pytest.raises(PluginSetupError) as caught:
        runtime.build()
    assert str(caught.value) == message
