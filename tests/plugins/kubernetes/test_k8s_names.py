"""The query-name grammar (CoreDNS ``parse_test.go``, coredns-features.md 5.1.2), endpoint
labels (``kubernetes_test.go`` ``TestEndpointHostname``), reverse names and label selectors."""

from __future__ import annotations

import pytest

from clusterdns.kube.objects import Endpoint
from clusterdns.plugins.kubernetes.names import RecordRequest, parse_request, question_for
from clusterdns.plugins.kubernetes.options import SelectorError, parse_label_selector
from clusterdns.plugins.kubernetes.records import address_from_reverse, endpoint_hostname

ZONE = "inter.webs.tests."


def _left(name: str, zone: str = ZONE) -> list[str]:
    assert name.endswith(zone)
    stem = name[: len(name) - len(zone)].rstrip(".")
    return stem.split(".") if stem else []


def _string(r: RecordRequest) -> str:
    """CoreDNS ``recordRequest.String`` (without the multicluster field)."""
    return ".".join([r.port, r.protocol, r.endpoint, r.service, r.namespace, r.pod_or_svc])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("_http._tcp.webs.mynamespace.svc.inter.webs.tests.", "http.tcp..webs.mynamespace.svc"),
        ("1-2-3-4.webs.mynamespace.svc.inter.webs.tests.", "..1-2-3-4.webs.mynamespace.svc"),
        ("inter.webs.tests.", "....."),
        ("svc.inter.webs.tests.", "....."),
        ("pod.inter.webs.tests.", "....."),
        # 5.1.2: the underscore is stripped when present, not required
        ("http.tcp.webs.mynamespace.svc.inter.webs.tests.", "http.tcp..webs.mynamespace.svc"),
        ("_http.tcp.webs.mynamespace.svc.inter.webs.tests.", "http.tcp..webs.mynamespace.svc"),
        ("mynamespace.svc.inter.webs.tests.", "....mynamespace.svc"),
        ("mynamespace.pod.inter.webs.tests.", "....mynamespace.pod"),
        ("webs.mynamespace.svc.inter.webs.tests.", "...webs.mynamespace.svc"),
        ("1-2-3-4.mynamespace.pod.inter.webs.tests.", "...1-2-3-4.mynamespace.pod"),
        # "*" and "any" are labels like any other (wildcards were removed in 1.9.0)
        ("*.mynamespace.svc.inter.webs.tests.", "...*.mynamespace.svc"),
        ("any.webs.mynamespace.svc.inter.webs.tests.", "..any.webs.mynamespace.svc"),
    ],
    ids=[
        "parse_test-srv", "parse_test-endpoint", "parse_test-bare-zone", "parse_test-bare-svc",
        "parse_test-bare-pod", "5.1.2-port-protocol-without-underscore",
        "5.1.2-port-underscore-protocol-without", "5.1.2-namespace-only-svc",
        "5.1.2-namespace-only-pod", "5.1.2-service", "5.1.2-pod-label", "5.1.2-star-is-a-label",
        "5.1.2-any-is-a-label",
    ],
)  # fmt: skip
def test_parse_request(query: str, expected: str) -> None:
    request = parse_request(_left(query))
    assert request is not None
    assert _string(request) == expected


@pytest.mark.parametrize(
    "query",
    [
        "webs.mynamespace.pood.inter.webs.tests.",
        "too.long.for.what.I.am.trying.to.pod.inter.webs.tests.",
        "us-west-2a.pin._zone.webs.mynamespace.svc.inter.webs.tests.",
        "foo.inter.webs.tests.",
        "dns-version.inter.webs.tests.",
        "a.b.c.webs.mynamespace.svc.inter.webs.tests.",
    ],
    ids=[
        "parse_test-not-pod-or-svc", "parse_test-too-long", "parse_test-zonal-shape-without-zonal",
        "5.1.2-last-label-not-svc-or-pod", "5.1.2-dns-version-is-not-a-service-name",
        "5.1.2-three-extra-labels-too-long",
    ],
)
def test_parse_invalid_request(query: str) -> None:
    assert parse_request(_left(query)) is None


def test_question_keeps_the_query_case_of_the_zone() -> None:
    labels = (b"_HtTp", b"_TcP", b"sVc1", b"TeStNs", b"SvC", b"cLuStEr", b"LoCaL")
    q = question_for("_HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL.", labels, 33, 2)
    assert q.name == "_http._tcp.svc1.testns.svc.cluster.local."
    assert q.zone == "cLuStEr.LoCaL."
    assert q.zone_labels == (b"cLuStEr", b"LoCaL")
    assert q.left == ["_http", "_tcp", "svc1", "testns", "svc"]
    assert str(q.owner) == "_HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL."


def test_question_of_an_escaped_label_keeps_it_one_label() -> None:
    labels = (b"1.2.3.4", b"ns", b"pod", b"cluster", b"local")
    q = question_for("1\\.2\\.3\\.4.ns.pod.cluster.local.", labels, 1, 2)
    assert q.left == ["1\\.2\\.3\\.4", "ns", "pod"]
    assert q.zone == "cluster.local."


@pytest.mark.parametrize(
    ("ip", "hostname", "pod", "pod_names", "expected"),
    [
        ("10.11.12.13", "", "", False, "10-11-12-13"),
        ("10.11.12.13", "epname", "", False, "epname"),
        ("10.11.12.13", "", "hello-abcde", False, "10-11-12-13"),
        ("10.11.12.13", "epname", "hello-abcde", False, "epname"),
        ("10.11.12.13", "epname", "hello-abcde", True, "epname"),
        ("10.11.12.13", "", "hello-abcde", True, "hello-abcde"),
        ("2001:db8:3333:4444:5555:6666:7777:8888", "", "", False, "2001-db8-3333-4444-5555-6666-7777-8888"),
        ("2001:db8:3333:4444:5555:6666::", "", "", False, "2001-db8-3333-4444-5555-6666--0"),
        ("fd00::", "", "", False, "fd00--0"),
        ("10.11.12.13", "", "p" * 64, True, "10-11-12-13"),
        ("10.11.12.13", "", "p" * 63, True, "p" * 63),
    ],
    ids=[
        "dashed-ip", "hostname", "pod-name-needs-option", "hostname-over-pod", "hostname-over-pod-with-option",
        "pod-name", "ipv6", "ipv6-trailing-dash-gets-0", "ipv6-fd00", "pod-name-64-too-long",
        "pod-name-63-ok",
    ],
)  # fmt: skip
def test_endpoint_hostname(ip: str, hostname: str, pod: str, pod_names: bool, expected: str) -> None:
    endpoint = Endpoint(addresses=(ip,), ready=True, hostname=hostname, target_pod=pod)
    assert endpoint_hostname(ip, endpoint, pod_names) == expected


@pytest.mark.parametrize(
    ("name", "ip"),
    [
        ("100.0.0.10.in-addr.arpa.", "10.0.0.100"),
        ("10.in-addr.arpa.", ""),
        ("0.10.in-addr.arpa.", ""),
        ("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa.", "1234:abcd::1"),
        ("6.a.b.9.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.7.7.0.0.0.0.d.f.ip6.arpa.", "fd00:77:30::2:9ba6"),
        ("0.0.ip6.arpa.", ""),
        ("example.org.", ""),
        ("100.0.0.010.in-addr.arpa.", ""),
    ],
    ids=["ipv4", "ipv4-partial", "ipv4-zone", "ipv6", "ipv6-canonical-form", "ipv6-partial", "forward", "leading-zero"],
)
def test_address_from_reverse(name: str, ip: str) -> None:
    assert address_from_reverse(name) == ip


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("environment=prod", "environment=prod"),
        (
            "environment in (production, staging, qa),application=nginx",
            "application=nginx,environment in (production,qa,staging)",
        ),
        ("istio-injection=enabled", "istio-injection=enabled"),
        ("a==b", "a=b"),
        ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
        ("!legacy,tier", "!legacy,tier"),
        ("example.com/team = dns", "example.com/team=dns"),
    ],
    ids=["equals", "setup_test-set-based", "namespace-labels", "double-equals", "selector-go-doc", "not-exists", "prefix-key"],
)
def test_label_selector_canonical_form(text: str, canonical: str) -> None:
    assert str(parse_label_selector(text)) == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "environment in (production, qa",
            "couldn't parse the selector string \"environment in (production, qa\": "
            "unable to parse requirement: found '', expected: ',' or ')'",
        ),
        ("env!=prod", '"!=" is not a valid label selector operator'),
        ("replicas>1", '"gt" isn\'t supported in label selectors'),
        ("a=b c", "couldn't parse the selector string \"a=b c\": found 'c', expected: ',' or 'end of string'"),
        (",", "couldn't parse the selector string \",\": found ',', expected: !, identifier, or 'end of string'"),
    ],
    ids=["unclosed-set", "not-equals-refused", "gt-refused", "two-values", "leading-comma"],
)
def test_label_selector_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_label_selector(text)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("text", "labels", "matches"),
    [
        ("env=prod", {"env": "prod"}, True),
        ("env=prod", {"env": "dev"}, False),
        ("env=prod", {}, False),
        ("env in (a,b)", {"env": "b"}, True),
        ("env notin (a,b)", {}, True),
        ("env notin (a,b)", {"env": "a"}, False),
        ("env", {"env": ""}, True),
        ("!env", {"env": ""}, False),
        ("!env", {"other": "x"}, True),
        ("env=prod,tier", {"env": "prod"}, False),
    ],
)
def test_label_selector_matches(text: str, labels: dict[str, str], matches: bool) -> None:
    assert parse_label_selector(text).matches(labels) is matches
