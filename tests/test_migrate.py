"""``clusterdns migrate kube-dns``: kube-dns ConfigMaps to Corefiles, as tables.

Acceptance (issue 6, item 3): stub domains, upstreams (at most 3), IPv6 with ports, FQDN
nameservers (resolved, or rejected with a clear message, never dropped), invalid input with a
clear error. Host names go through an injected resolver: no test touches the network (the
system resolver is made to fail the test if anything reaches it).
"""

from __future__ import annotations

import io
import json
import re
import socket
import textwrap
from pathlib import Path

import pytest

from clusterdns import check, migrate
from clusterdns.server.instance import CorefileSource

RESOLVED = {
    "ns1.corp.example": ["192.0.2.11"],
    "ns.dual.example": ["192.0.2.12", "2001:db8::12"],
    "dns.kube-system.svc.cluster.local": ["10.96.5.5"],
}


def resolver(name: str) -> list[str]:
    if name not in RESOLVED:
        raise OSError(f"[Errno -2] Name or service not known: {name}")
    return RESOLVED[name]


@pytest.fixture(autouse=True)
def no_system_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the system resolver was asked")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def configmap(**data: object) -> str:
    """A kube-dns ConfigMap as ``kubectl get -o yaml`` prints it; values given as JSON."""
    document = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "kube-dns", "namespace": "kube-system"},
        "data": {
            key: value if isinstance(value, str) else json.dumps(value)
            for key, value in data.items()
        },
    }
    return json.dumps(document)


def forwards(corefile: str) -> dict[str, str]:
    """Server block key -> its forward line's TO list."""
    out = {}
    for key, body in re.findall(r"^(\S+) \{\n(.*?)^\}", corefile, re.S | re.M):
        match = re.search(r"^\s+forward \. (.*?)(?: \{)?$", body, re.M)
        out[key] = match.group(1) if match else ""
    return out


def migrated(text: str, **kwargs: object) -> str:
    result, _ = migrate.migrate_kube_dns(text, resolver=resolver, **kwargs)  # type: ignore[arg-type]
    return result


# --- tables ------------------------------------------------------------------------------

CASES = [
    pytest.param({}, {".:53": "/etc/resolv.conf"}, id="empty: kubeadm's Corefile"),
    pytest.param(
        {"upstreamNameservers": ["8.8.8.8", "8.8.4.4"]},
        {".:53": "8.8.8.8 8.8.4.4"},
        id="upstreams replace resolv.conf",
    ),
    pytest.param(
        {"upstreamNameservers": ["8.8.8.8:53", "192.0.2.1:5353", "2001:4860:4860::8888"]},
        {".:53": "8.8.8.8:53 192.0.2.1:5353 2001:4860:4860::8888"},
        id="three upstreams, ports and IPv6",
    ),
    pytest.param(
        {"upstreamNameservers": ["[2001:db8::1]:5353", "2001:0db8:0000::0002"]},
        {".:53": "[2001:db8::1]:5353 2001:db8::2"},
        id="IPv6 upstream with a port, and a long IPv6 written short",
    ),
    pytest.param(
        {"stubDomains": {"acme.local": ["1.2.3.4"]}},
        {".:53": "/etc/resolv.conf", "acme.local:53": "1.2.3.4"},
        id="one stub domain",
    ),
    pytest.param(
        {
            "stubDomains": {
                "acme.local": ["1.2.3.4", "1.2.3.5:5353"], "Corp.Example.": ["[2001:db8::1]:5353"],
            },
            "upstreamNameservers": ["192.0.2.53"],
        },
        {".:53": "192.0.2.53", "acme.local:53": "1.2.3.4 1.2.3.5:5353",
         "corp.example:53": "[2001:db8::1]:5353"},
        id="stub domains with ports and IPv6, names normalised",
    ),
    pytest.param(
        {"stubDomains": {"corp.example": ["ns1.corp.example", "ns.dual.example:5300"]}},
        {".:53": "/etc/resolv.conf",
         "corp.example:53": "192.0.2.11 192.0.2.12:5300 [2001:db8::12]:5300"},
        id="FQDN nameservers resolved, ports kept",
    ),
    pytest.param(
        {"stubDomains": {"consul.local": ["dns.kube-system.svc.cluster.local"]}},
        {".:53": "/etc/resolv.conf", "consul.local:53": "10.96.5.5"},
        id="an FQDN in the cluster domain, when it resolves",
    ),
    pytest.param(
        {"stubDomains": {"acme.local": ["1.2.3.4", "1.2.3.4", "1.2.3.4:53"]}},
        {".:53": "/etc/resolv.conf", "acme.local:53": "1.2.3.4 1.2.3.4:53"},
        id="a repeated nameserver once",
    ),
    pytest.param(
        {"stubDomains": {"10.in-addr.arpa": ["192.0.2.9"]}},
        {".:53": "/etc/resolv.conf", "10.in-addr.arpa:53": "192.0.2.9"},
        id="a reverse stub zone",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("data", "expected"), CASES)
def test_migrate_table(data: dict[str, object], expected: dict[str, str], tmp_path: Path) -> None:
    corefile = migrated(configmap(**data))
    assert forwards(corefile) == expected
    # and the result is a Corefile clusterdns sets up (check never contacts anything)
    report = check.check(
        CorefileSource(corefile.replace("/etc/resolv.conf", _resolv(tmp_path)), "out")
    )
    assert report.errors == [] and report.warnings == [], report.findings


def _resolv(tmp_path: Path) -> str:
    path = tmp_path / "resolv.conf"
    path.write_text("nameserver 192.0.2.53\n")
    return str(path)


ERRORS = [
    pytest.param("kind: ConfigMap\ndata: [unclosed\n", "not valid YAML", id="bad YAML"),
    pytest.param(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: kube-dns}\n",
        "expected kind: ConfigMap, got 'Deployment'", id="not a ConfigMap",
    ),
    pytest.param("- a\n- b\n", "expected kind: ConfigMap, got 'list'", id="not a mapping"),
    pytest.param("", "expected one ConfigMap, found 0 documents", id="empty file"),
    pytest.param(
        configmap() + "\n---\n" + configmap(), "expected one ConfigMap, found 2 documents",
        id="two documents",
    ),
    pytest.param(
        configmap(stubDomains='{"acme.local": ["1.2.3.4"]'),
        "data.stubDomains is not valid JSON", id="bad JSON",
    ),
    pytest.param(
        configmap(upstreamNameservers='{"a": 1}'), "data.upstreamNameservers must be an array",
        id="upstreams not an array",
    ),
    pytest.param(
        configmap(stubDomains='["1.2.3.4"]'), "data.stubDomains must be an object",
        id="stub domains not an object",
    ),
    pytest.param(
        "kind: ConfigMap\ndata:\n  upstreamNameservers: [8.8.8.8]\n",
        "data.upstreamNameservers must be a JSON string", id="a YAML list instead of JSON text",
    ),
    pytest.param(
        configmap(upstreamNameservers=["8.8.8.8", "8.8.4.4", "1.1.1.1", "9.9.9.9"]),
        "at most 3 nameservers (as kube-dns), got 4", id="four upstreams",
    ),
    pytest.param(
        configmap(upstreamNameservers=["1.2.3.456"]),
        "data.upstreamNameservers[0]: '1.2.3.456' is not an IP address, IP:PORT or [IPv6]:PORT",
        id="bad IPv4",
    ),
    pytest.param(
        configmap(upstreamNameservers=["dns.google"]),
        "data.upstreamNameservers[0]: 'dns.google' is not an IP address, IP:PORT or [IPv6]:PORT",
        id="a host name as upstream (kube-dns takes addresses there)",
    ),
    pytest.param(
        configmap(upstreamNameservers=["8.8.8.8:99999"]), "'99999' is not a port", id="bad port",
    ),
    pytest.param(
        configmap(upstreamNameservers=["2001:db8::1:53:x"]), "is not an IP address", id="bad IPv6",
    ),
    pytest.param(
        configmap(stubDomains={"acme.local": ["[192.0.2.1]:53"]}),
        "in brackets is not an IPv6 address", id="IPv4 in brackets",
    ),
    pytest.param(
        configmap(stubDomains={"acme.local": ["[2001:db8::1]"]}), "is not an IP address",
        id="brackets without a port",
    ),
    pytest.param(
        configmap(stubDomains={"acme.local": ["ns.nowhere.example"]}),
        "data.stubDomains['acme.local'][0]: cannot resolve nameserver 'ns.nowhere.example'",
        id="an FQDN that does not resolve",
    ),
    pytest.param(
        configmap(stubDomains={"acme.local": ["ns.svc.cluster.local"]}),
        "write the Service's ClusterIP instead", id="an unresolvable name in the cluster domain",
    ),
    pytest.param(
        configmap(stubDomains={"acme.local": []}), "must be a non-empty array of nameservers",
        id="a stub domain without servers",
    ),
    pytest.param(
        configmap(stubDomains={"Bad_Domain": ["1.2.3.4"]}),
        "'Bad_Domain' is not a valid domain name", id="bad domain",
    ),
    pytest.param(
        configmap(stubDomains={"cluster.local": ["1.2.3.4"]}),
        "a stub domain may not be the cluster domain", id="the cluster domain as a stub",
    ),
    pytest.param(
        configmap(stubDomains={"acme.local": ["1.2.3.4"], "ACME.local.": ["1.2.3.5"]}),
        "acme.local is given twice", id="a domain twice",
    ),
    pytest.param(
        configmap(stubDomains={"acme.local": [f"192.0.2.{i}" for i in range(1, 17)]}),
        "16 addresses; forward takes at most 15", id="too many stub servers",
    ),
    pytest.param(
        configmap(federations={"foo": "foo.feddomain.com"}),
        "data.federations: federation has no equivalent", id="federations",
    ),
    pytest.param(
        configmap(stubDomains={"acme.local": [1234]}), "a nameserver must be a string",
        id="a number",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_invalid_input_is_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(migrate.MigrationError) as caught:
        migrated(text)
    assert message in str(caught.value)


def test_a_resolver_that_returns_nothing_is_an_error() -> None:
    with pytest.raises(migrate.MigrationError, match="resolved to no address"):
        migrate.migrate_kube_dns(
            configmap(stubDomains={"acme.local": ["ns.acme.local"]}), resolver=lambda name: []
        )


# --- the whole Corefile ------------------------------------------------------------------


def test_the_corefile_in_full() -> None:
    text = textwrap.dedent(
        """\
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: kube-dns
          namespace: kube-system
        data:
          stubDomains: |
            {"acme.local": ["1.2.3.4"], "corp.example": ["ns1.corp.example"]}
          upstreamNameservers: |
            ["8.8.8.8", "8.8.4.4"]
        """
    )
    result, _ = migrate.migrate_kube_dns(text, resolver=resolver, origin="kube-dns.yaml")
    assert result == textwrap.dedent(
        """\
        # Made by clusterdns migrate kube-dns from kube-dns.yaml
        # ns1.corp.example resolved to 192.0.2.11 by clusterdns migrate
        .:53 {
            errors
            health {
               lameduck 5s
            }
            ready
            kubernetes cluster.local in-addr.arpa ip6.arpa {
               pods insecure
               fallthrough in-addr.arpa ip6.arpa
               ttl 30
            }
            prometheus :9153
            forward . 8.8.8.8 8.8.4.4 {
               max_concurrent 1000
            }
            cache 30 {
               disable success cluster.local
               disable denial cluster.local
            }
            loop
            reload
            loadbalance
        }
        acme.local:53 {
            errors
            prometheus :9153
            cache 30
            forward . 1.2.3.4
        }
        corp.example:53 {
            errors
            prometheus :9153
            cache 30
            forward . 192.0.2.11
        }
        """
    )


def test_another_cluster_domain() -> None:
    result = migrated(
        configmap(stubDomains={"cluster.local": ["1.2.3.4"]}), cluster_domain="k8s.internal"
    )
    assert "kubernetes k8s.internal in-addr.arpa ip6.arpa {" in result
    assert "disable denial k8s.internal" in result
    assert forwards(result)["cluster.local:53"] == "1.2.3.4"


def test_the_default_resolver_uses_getaddrinfo(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake(host, port, family=0, type=0, proto=0, flags=0):  # type: ignore[no-untyped-def]
        calls.append((host, type))
        return [
            (socket.AF_INET, socket.SOCK_DGRAM, 17, "", ("192.0.2.7", 0)),
            (socket.AF_INET6, socket.SOCK_DGRAM, 17, "", ("fe80::7%eth0", 0, 0, 2)),
            (socket.AF_INET, socket.SOCK_DGRAM, 17, "", ("192.0.2.7", 0)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    assert migrate.system_resolver("ns.example") == ["192.0.2.7", "fe80::7"]
    assert calls == [("ns.example", socket.SOCK_DGRAM)]


# --- the command -------------------------------------------------------------------------


def cli(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = migrate.main(argv, resolver=resolver, stdin=io.StringIO(stdin), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_prints_or_writes_the_corefile(tmp_path: Path) -> None:
    source = tmp_path / "kube-dns.yaml"
    source.write_text(configmap(stubDomains={"acme.local": ["1.2.3.4"]}))
    code, out, err = cli(["kube-dns", "--configmap", str(source)])
    assert code == 0 and err == "" and "acme.local:53 {" in out
    target = tmp_path / "Corefile"
    code, out, err = cli(["kube-dns", "--configmap", str(source), "-o", str(target)])
    assert (code, out, err) == (0, "", "")
    assert "acme.local:53 {" in target.read_text()
    code, out, _ = cli(["kube-dns", "--configmap", "-"], stdin=source.read_text())
    assert code == 0 and out.startswith("# Made by clusterdns migrate kube-dns from stdin\n")


def test_errors_exit_1_with_the_message_on_stderr(tmp_path: Path) -> None:
    source = tmp_path / "kube-dns.yaml"
    source.write_text(configmap(upstreamNameservers=["a", "b", "c", "d"]))
    code, out, err = cli(["kube-dns", "--configmap", str(source)])
    assert (code, out) == (1, "")
    message = "data.upstreamNameservers: at most 3 nameservers (as kube-dns), got 4"
    assert err == f"clusterdns migrate: {message}\n"
    code, _, err = cli(["kube-dns", "--configmap", str(tmp_path / "missing.yaml")])
    assert code == 1 and "No such file or directory" in err


def test_other_keys_are_named_not_dropped_silently(tmp_path: Path) -> None:
    source = tmp_path / "kube-dns.yaml"
    source.write_text(configmap(upstreamNameservers=["8.8.8.8"], somethingElse="x"))
    code, _, err = cli(["kube-dns", "--configmap", str(source)])
    assert code == 0
    assert err == "clusterdns migrate: data.somethingElse is not a kube-dns setting; left out\n"


def test_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli([])[0] == 2
    assert cli(["kube-dns"])[0] == 2  # --configmap is required
    assert cli(["coredns", "--configmap", "x"])[0] == 2
    assert "--configmap" in capsys.readouterr().err
