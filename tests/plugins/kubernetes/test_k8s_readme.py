"""The README's Corefile examples parse into the options they describe (starting them is
tests/meta/test_readmes.py's job once the directive is registered)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clusterdns.controller import Controller
from clusterdns.corefile.address import parse_key
from clusterdns.corefile.dispenser import Dispenser
from clusterdns.corefile.parser import parse as parse_corefile
from clusterdns.plugins.kubernetes.options import KubernetesOptions
from clusterdns.plugins.kubernetes.setup import parse
from clusterdns.server.config import BlockConfig

README = Path(__file__).resolve().parents[3] / "plugins" / "kubernetes" / "README.md"
FENCE = re.compile(r"```corefile\n(.*?)```", re.S)
EXAMPLES = FENCE.findall(README.read_text())
KNOWN = {"kubernetes", "errors", "health", "ready", "prometheus", "forward", "cache", "loop", "reload", "loadbalance"}


def _options(corefile: str) -> KubernetesOptions:
    (block,) = parse_corefile(corefile, "Corefile", known_directives=KNOWN)
    zones = [zone for key in block.keys for zone in parse_key(key.text, "53")]
    controller = Controller(
        directive="kubernetes",
        dispenser=Dispenser(block.tokens("kubernetes"), file="Corefile"),
        config=BlockConfig(index=0, zones=zones),
        instance=None,  # type: ignore[arg-type]
    )
    return parse(controller)


def test_readme_has_examples_and_the_man_page_sections() -> None:
    text = README.read_text()
    for section in ("## Name", "## Description", "## Syntax", "## Examples", "## Metrics", "## Differences from CoreDNS"):
        assert section in text
    assert "coredns_kubernetes_dns_programming_duration_seconds" in text
    assert len(EXAMPLES) == 2


def test_reverse_zone_example() -> None:
    options = _options(EXAMPLES[0])
    assert options.zones == ("cluster.local.", "in-addr.arpa.", "ip6.arpa.")
    assert options.manifests == ("cluster/",)
    assert options.pods == "verified"
    assert options.ttl_seconds == 30
    assert options.fall_zones == ("in-addr.arpa.", "ip6.arpa.")


def test_laptop_example() -> None:
    options = _options(EXAMPLES[1])
    assert options.zones == ("cluster.local.",)
    assert options.manifests == ("deploy/", "services.yaml")
    assert options.namespaces == ("shop", "payments")
    assert options.pods == "insecure"


@pytest.mark.parametrize("option", [
    "endpoint", "tls", "kubeconfig", "apiserver_qps", "apiserver_burst", "apiserver_max_inflight",
    "namespaces", "namespace_labels", "labels", "pods", "endpoint_pod_names", "ttl", "noendpoints",
    "fallthrough", "ignore empty_service", "startup_timeout", "manifests",
])  # fmt: skip
def test_every_option_is_documented(option: str) -> None:
    assert f"`{option}`" in README.read_text().split("## Startup")[0].split("## Syntax")[1]
