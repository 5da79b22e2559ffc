"""kubernetes setup: every option of the stanza and CoreDNS's exact setup errors
(``setup_test.go``, ``setup_ttl_test.go``; coredns-features.md 5.1.1).

Stanzas go through the real Corefile parser and dispenser; errors read as the server reports
them, ``plugin/kubernetes: Corefile:N - Error during parsing: ...`` when CoreDNS's error is
positioned (``c.ArgErr``, ``c.Errf``) and ``plugin/kubernetes: ...`` when it is a plain Go error.
"""

from __future__ import annotations

import logging

import importlib

import pytest
from types import SimpleNamespace
from k8s_harness import parse_block

from clusterdns.errors import PluginSetupError
from clusterdns.log import CoreDNSFormatter
k8s_setup = importlib.import_module("clusterdns.plugins.kubernetes.setup")
from clusterdns.plugins.kubernetes.options import KubernetesOptions, parse_label_selector

ZONE = ("coredns.local.",)


def _error(text: str, keys: str = "cluster.local") -> str:
    with pytest.raises(PluginSetupError) as info:
        parse_block(text, keys)
    return str(info.value)


def test_defaults_are_coredns_defaults() -> None:
    options = parse_block("kubernetes")
    assert options == KubernetesOptions(zones=("cluster.local.",))
    assert options.ttl_seconds == 5
    assert options.pods == "disabled"
    assert options.startup_timeout_seconds == 5.0
    assert options.fall_zones == ()
    assert options.primary_zone == "cluster.local."
    assert not options.watch_pods


# setup_test.go TestKubernetesParse (positive cases), plus every option of 5.1.1
@pytest.mark.parametrize(
    ("stanza", "expected"),
    [
        ("kubernetes coredns.local", KubernetesOptions(zones=ZONE)),
        ("kubernetes coredns.local test.local", KubernetesOptions(zones=("coredns.local.", "test.local."))),
        ("kubernetes coredns.local {\n}", KubernetesOptions(zones=ZONE)),
        (
            "kubernetes coredns.local {\n\tendpoint http://localhost:9090 http://localhost:9091\n}",
            KubernetesOptions(zones=ZONE, endpoint="http://localhost:9090"),
        ),
        ("kubernetes coredns.local {\n\tnamespaces demo\n}", KubernetesOptions(zones=ZONE, namespaces=("demo",))),
        (
            "kubernetes coredns.local {\n\tnamespaces demo test\n}",
            KubernetesOptions(zones=ZONE, namespaces=("demo", "test")),
        ),
        (
            "kubernetes coredns.local {\n    labels environment=prod\n}",
            KubernetesOptions(zones=ZONE, labels=parse_label_selector("environment=prod")),
        ),
        (
            "kubernetes coredns.local {\n    namespace_labels istio-injection=enabled\n}",
            KubernetesOptions(zones=ZONE, namespace_labels=parse_label_selector("istio-injection=enabled")),
        ),
        (
            "kubernetes coredns.local test.local {\n\tendpoint http://localhost:8080\n\tnamespaces demo test\n"
            "    labels environment in (production, staging, qa),application=nginx\n    fallthrough\n}",
            KubernetesOptions(
                zones=("coredns.local.", "test.local."),
                endpoint="http://localhost:8080",
                namespaces=("demo", "test"),
                labels=parse_label_selector("application=nginx,environment in (production,qa,staging)"),
                fall_zones=(".",),
            ),
        ),
        ("kubernetes coredns.local {\n\tpods disabled\n}", KubernetesOptions(zones=ZONE, pods="disabled")),
        ("kubernetes coredns.local {\n\tpods insecure\n}", KubernetesOptions(zones=ZONE, pods="insecure")),
        ("kubernetes coredns.local {\n\tpods verified\n}", KubernetesOptions(zones=ZONE, pods="verified")),
        (
            "kubernetes coredns.local {\n\tfallthrough ip6.arpa inaddr.arpa foo.com\n}",
            KubernetesOptions(zones=ZONE, fall_zones=("ip6.arpa.", "inaddr.arpa.", "foo.com.")),
        ),
        ("kubernetes coredns.local {\n\tkubeconfig file\n}", KubernetesOptions(zones=ZONE, kubeconfig="file")),
        (
            "kubernetes coredns.local {\n\tkubeconfig file context\n}",
            KubernetesOptions(zones=ZONE, kubeconfig="file", kubeconfig_context="context"),
        ),
        (
            "kubernetes coredns.local {\n        kubeconfig file context\n        startup_timeout 1s\n}",
            KubernetesOptions(zones=ZONE, kubeconfig="file", kubeconfig_context="context", startup_timeout_seconds=1.0),
        ),
        ("kubernetes coredns.local {\n\tendpoint_pod_names\n}", KubernetesOptions(zones=ZONE, endpoint_pod_names=True)),
        ("kubernetes coredns.local {\n\tnoendpoints\n}", KubernetesOptions(zones=ZONE, noendpoints=True)),
        ("kubernetes coredns.local {\n\tignore empty_service\n}", KubernetesOptions(zones=ZONE, ignore_empty_service=True)),
        (
            "kubernetes coredns.local {\n\tignore empty_service ixnay on the endpointsay\n}",
            KubernetesOptions(zones=ZONE, ignore_empty_service=True),
        ),
        ("kubernetes coredns.local {\n\tignore\n}", KubernetesOptions(zones=ZONE)),
        (
            "kubernetes coredns.local {\n\tapiserver_qps 50.0\n\tapiserver_burst 100\n\tapiserver_max_inflight 25\n}",
            KubernetesOptions(zones=ZONE, apiserver_qps=50.0, apiserver_burst=100, apiserver_max_inflight=25),
        ),
        ("kubernetes cluster.local {\n\t\t\tttl 56\n\t\t}", KubernetesOptions(zones=("cluster.local.",), ttl_seconds=56)),
        ("kubernetes cluster.local {\n ttl 0\n}", KubernetesOptions(zones=("cluster.local.",), ttl_seconds=0)),
        ("kubernetes cluster.local {\n ttl 3600\n}", KubernetesOptions(zones=("cluster.local.",), ttl_seconds=3600)),
        (
            "kubernetes coredns.local {\n\ttls cert key cacert\n}",
            KubernetesOptions(zones=ZONE, tls_cert="cert", tls_key="key", tls_ca="cacert"),
        ),
        ("kubernetes coredns.local {\n\tstartup_timeout 1m30s\n}", KubernetesOptions(zones=ZONE, startup_timeout_seconds=90.0)),
        (
            "kubernetes coredns.local {\n\tmanifests /etc/cluster ./more.yaml\n}",
            KubernetesOptions(zones=ZONE, manifests=("/etc/cluster", "./more.yaml")),
        ),
        (
            "kubernetes coredns.local {\n\tnamespaces a\n\tnamespaces b a\n}",
            KubernetesOptions(zones=ZONE, namespaces=("a", "b")),
        ),
    ],
    ids=[
        "one-zone", "two-zones", "empty-block", "endpoint-first-only", "namespaces-one", "namespaces-two",
        "labels", "namespace-labels", "combined", "pods-disabled", "pods-insecure", "pods-verified",
        "fallthrough-zones", "kubeconfig", "kubeconfig-context", "startup-timeout", "endpoint-pod-names",
        "noendpoints", "ignore-empty-service", "ignore-extra-args-ignored", "ignore-alone-does-nothing",
        "apiserver-rate-limits", "setup_ttl_test-56", "ttl-0", "ttl-3600", "tls", "startup-timeout-compound",
        "manifests", "namespaces-accumulate",
    ],
)  # fmt: skip
def test_parse(stanza: str, expected: KubernetesOptions) -> None:
    assert parse_block(stanza) == expected


def test_zones_default_to_the_block_keys_and_the_first_forward_zone_is_primary() -> None:
    options = parse_block("kubernetes", keys="10.0.0.0/17 Cluster.Local")
    assert options.zones[-1] == "cluster.local."
    assert all(z.endswith(".in-addr.arpa.") for z in options.zones[:-1])
    assert options.primary_zone == "cluster.local."


def test_reverse_zones_as_arguments() -> None:
    options = parse_block("kubernetes cluster.local in-addr.arpa ip6.arpa 10.0.0.0/24")
    assert options.zones == ("cluster.local.", "in-addr.arpa.", "ip6.arpa.", "0.0.10.in-addr.arpa.")
    assert options.primary_zone_index == 0


def test_bare_in_addr_arpa_counts_as_forward_like_coredns() -> None:
    # dnsutil.IsReverse tests for the ".in-addr.arpa." suffix, so the bare zone is "non-reverse"
    options = parse_block("kubernetes in-addr.arpa cluster.local")
    assert options.primary_zone == "in-addr.arpa."


P = "plugin/kubernetes: "
E = "plugin/kubernetes: Corefile:{line} - Error during parsing: "


@pytest.mark.parametrize(
    ("stanza", "message"),
    [
        (
            "kubernetes coredns.local {\n    namespaces foo bar\n    namespace_labels istio-injection=enabled\n}",
            E.format(line=5) + "namespaces and namespace_labels cannot both be set",
        ),
        (
            "kubernetes coredns.local {\n    endpoint\n}",
            E.format(line=3) + "Wrong argument count or unexpected line ending after 'endpoint'",
        ),
        (
            "kubernetes coredns.local {\n\tnamespaces\n}",
            E.format(line=3) + "Wrong argument count or unexpected line ending after 'namespaces'",
        ),
        (
            "kubernetes coredns.local {\n    labels\n}",
            E.format(line=3) + "Wrong argument count or unexpected line ending after 'labels'",
        ),
        (
            "kubernetes coredns.local {\n    labels environment in (production, qa\n}",
            P + "unable to parse label selector value: 'environment in (production, qa': couldn't parse the "
            "selector string \"environment in (production, qa\": unable to parse requirement: found '', "
            "expected: ',' or ')'",
        ),
        (
            "kubernetes coredns.local {\n    namespace_labels env!=prod\n}",
            P + "unable to parse namespace_label selector value: 'env!=prod': \"!=\" is not a valid label "
            "selector operator",
        ),
        (
            "kubernetes coredns.local {\n\tpods giant_seed\n}",
            P + "wrong value for pods: giant_seed,  must be one of: disabled, verified, insecure",
        ),
        ("kubernetes coredns.local {\n\tpods\n}", E.format(line=3) + "Wrong argument count or unexpected line ending after 'pods'"),
        (
            "kubernetes coredns.local {\n\tpods insecure verified\n}",
            E.format(line=3) + "Wrong argument count or unexpected line ending after 'verified'",
        ),
        ("kubernetes coredns.local\nkubernetes cluster.local", P + "this plugin can only be used once per Server Block"),
        (
            "kubernetes coredns.local {\n\tkubeconfig\n}",
            E.format(line=3) + "Wrong argument count or unexpected line ending after 'kubeconfig'",
        ),
        (
            "kubernetes coredns.local {\n\tkubeconfig file context extraarg\n}",
            E.format(line=3) + "Wrong argument count or unexpected line ending after 'extraarg'",
        ),
        (
            "kubernetes coredns.local {\n\tendpoint_pod_names giant_seed\n}",
            E.format(line=3) + "Wrong argument count or unexpected line ending after 'giant_seed'",
        ),
        (
            "kubernetes coredns.local {\n\tnoendpoints ixnay on the endpointsay\n}",
            E.format(line=3) + "Wrong argument count or unexpected line ending after 'endpointsay'",
        ),
        (
            "kubernetes coredns.local {\n\tignore ixnay on the endpointsay\n}",
            P + "unable to parse ignore value: 'ixnay'",
        ),
        ("kubernetes coredns.local {\n\tapiserver_qps -10\n}", E.format(line=3) + "apiserver_qps must be >= 0"),
        ("kubernetes coredns.local {\n\tapiserver_burst -5\n}", E.format(line=3) + "apiserver_burst must be >= 0"),
        ("kubernetes coredns.local {\n\tapiserver_max_inflight -1\n}", E.format(line=3) + "apiserver_max_inflight must be >= 0"),
        (
            "kubernetes coredns.local {\n\tapiserver_qps fast\n}",
            E.format(line=3) + 'invalid apiserver_qps "fast": strconv.ParseFloat: parsing "fast": invalid syntax',
        ),
        (
            "kubernetes coredns.local {\n\tapiserver_qps 1e39\n}",
            E.format(line=3) + 'invalid apiserver_qps "1e39": strconv.ParseFloat: parsing "1e39": value out of range',
        ),
        (
            "kubernetes coredns.local {\n\tapiserver_burst 1.5\n}",
            E.format(line=3) + 'invalid apiserver_burst "1.5": strconv.Atoi: parsing "1.5": invalid syntax',
        ),
        (
            "kubernetes coredns.local {\n\tapiserver_qps\n}",
            E.format(line=3) + "Wrong argument count or unexpected line ending after 'apiserver_qps'",
        ),
        ("kubernetes cluster.local {\n\t\t\tttl -1\n\t\t}", E.format(line=3) + "ttl must be in range [0, 3600]: -1"),
        ("kubernetes cluster.local {\n\t\t\tttl 3601\n\t\t}", E.format(line=3) + "ttl must be in range [0, 3600]: 3601"),
        ("kubernetes cluster.local {\n ttl\n}", E.format(line=3) + "Wrong argument count or unexpected line ending after 'ttl'"),
        ("kubernetes cluster.local {\n ttl abc\n}", P + 'strconv.Atoi: parsing "abc": invalid syntax'),
        (
            "kubernetes cluster.local {\n ttl 99999999999999999999\n}",
            P + 'strconv.Atoi: parsing "99999999999999999999": value out of range',
        ),
        (
            "kubernetes cluster.local {\n startup_timeout 5x\n}",
            P + 'failed to parse startup_timeout: 5x, time: unknown unit "x" in duration "5x"',
        ),
        (
            "kubernetes cluster.local {\n startup_timeout\n}",
            E.format(line=3) + "Wrong argument count or unexpected line ending after 'startup_timeout'",
        ),
        (
            "kubernetes cluster.local {\n tls cert key\n}",
            E.format(line=3) + "Wrong argument count or unexpected line ending after 'key'",
        ),
        ("kubernetes cluster.local {\n manifests\n}", E.format(line=3) + "Wrong argument count or unexpected line ending after 'manifests'"),
        ("kubernetes cluster.local {\n wildcards\n}", E.format(line=3) + "unknown property 'wildcards'"),
        ("kubernetes cluster.local {\n zonal\n}", E.format(line=3) + "unknown property 'zonal'"),
        (
            "kubernetes cluster.local clusterset.local {\n multicluster clusterset.local\n}",
            E.format(line=3) + "unknown property 'multicluster'",
        ),
        ("kubernetes 10.in-addr.arpa {\n bogus\n}", P + "non-reverse zone name must be used"),
    ],
    ids=[
        "namespaces-and-namespace-labels", "endpoint-no-args", "namespaces-no-args", "labels-no-args",
        "labels-bad-selector", "namespace-labels-not-equals", "pods-bad-value", "pods-no-args",
        "pods-two-args", "twice", "kubeconfig-no-args", "kubeconfig-three-args", "endpoint-pod-names-args",
        "noendpoints-args", "ignore-bad-value", "qps-negative", "burst-negative", "max-inflight-negative",
        "qps-not-a-number", "qps-float32-overflow", "burst-not-an-int", "qps-no-args",
        "setup_ttl_test-negative", "setup_ttl_test-too-big", "ttl-no-args", "ttl-not-a-number",
        "ttl-overflow", "startup-timeout-bad-unit", "startup-timeout-no-args", "tls-two-args",
        "manifests-no-args", "unknown-property", "zonal-not-implemented", "multicluster-not-implemented",
        "only-reverse-zones",
    ],
)  # fmt: skip
def test_parse_errors(stanza: str, message: str) -> None:
    assert _error(stanza) == message


def test_only_reverse_block_keys_fail() -> None:
    assert _error("kubernetes", keys="10.0.0.0/8") == P + "non-reverse zone name must be used"


def test_multiple_endpoints_warn(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="clusterdns")
    parse_block("kubernetes {\n endpoint https://a:6443 https://b:6443\n}")
    formatter = CoreDNSFormatter()
    lines = [formatter.format(r) for r in caplog.records]
    assert lines == [
        "[WARNING] plugin/kubernetes: Multiple endpoints have been deprecated, only the first "
        "specified endpoint 'https://a:6443' is used"
    ]


def test_setup_without_any_api_configuration_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    # Not in a cluster, no endpoint, no kubeconfig: CoreDNS fails setup, so the process exits.
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
    with pytest.raises(PluginSetupError) as info:
        _run_setup("kubernetes")
    assert str(info.value).startswith(P)
    assert str(info.value) == P + (
        "no kubeconfig or endpoint configured, and no in-cluster service account: "
        "Service host/port is not set."
    )


def test_setup_with_manifests_adds_the_handler(tmp_path) -> None:  # type: ignore[no-untyped-def]
    c = _run_setup(f"kubernetes {{\n manifests {tmp_path}\n}}")
    [(directive, _)] = c.config.factories
    assert directive == "kubernetes"


def _run_setup(text: str):  # type: ignore[no-untyped-def]
    from clusterdns.controller import Controller
    from clusterdns.corefile.address import ZoneAddress
    from clusterdns.corefile.dispenser import Dispenser
    from clusterdns.corefile.parser import parse as parse_corefile
    from clusterdns.server.config import BlockConfig

    blocks = parse_corefile(f"cluster.local {{\n{text}\n}}\n", "Corefile", known_directives={"kubernetes"})
    config = BlockConfig(index=0, zones=[ZoneAddress("dns", "cluster.local.", "53")])
    c = Controller(
        directive="kubernetes",
        dispenser=Dispenser(blocks[0].tokens("kubernetes"), file="Corefile"),
        config=config,
        instance=SimpleNamespace(startup_hooks=[], shutdown_hooks=[], final_shutdown_hooks=[], process=SimpleNamespace(shared={})),  # type: ignore[arg-type]
    )
    k8s_setup.setup(c)
    return c
