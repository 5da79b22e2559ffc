"""The stub resolver model: resolv.conf parsing, candidate order and each libc's rules.

Tables for ``parse_resolv_conf``, ``pod_resolv_conf`` and ``candidates``, and ``walk`` against
scripted answers for the corners a real server rarely produces (inconsistent A/AAAA rcodes,
SERVFAIL on one type, timeouts, REFUSED, a CNAME without addresses). The walks against a real
server are in tests/integration/test_search_path.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from clusterdns import stub
from clusterdns.stub import ResolvConf, candidates, parse_resolv_conf, pod_resolv_conf

# --- parse_resolv_conf -------------------------------------------------------------------------

KUBELET_FILE = """\
nameserver 10.96.0.10
search shop.svc.cluster.local svc.cluster.local cluster.local ec2.internal
options ndots:5
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            KUBELET_FILE,
            ResolvConf(
                ("shop.svc.cluster.local", "svc.cluster.local", "cluster.local", "ec2.internal"),
                5, ("10.96.0.10",),
            ),
            id="kubelet-clusterfirst",
        ),
        pytest.param("", ResolvConf((), 1, ()), id="empty-defaults"),
        pytest.param("search a b\nsearch c\n", ResolvConf(("c",), 1, ()), id="last-search-wins"),
        pytest.param("search a b\ndomain d\n", ResolvConf(("d",), 1, ()), id="domain-after-search"),
        pytest.param("domain d e\nsearch a b\n", ResolvConf(("a", "b"), 1, ()), id="search-after-domain"),
        pytest.param("search a. b.example. .\n", ResolvConf(("a", "b.example", "."), 1, ()), id="trailing-dots"),
        pytest.param("options ndots:20\n", ResolvConf((), 15, ()), id="ndots-capped-15"),
        pytest.param("options ndots:2 ndots:3\n", ResolvConf((), 3, ()), id="later-option-wins"),
        pytest.param(
            "options ndots:2\noptions timeout:1 attempts:3 edns0\n",
            ResolvConf((), 2, (), timeout=1, attempts=3, options=("edns0",)),
            id="options-lines-accumulate",
        ),
        pytest.param("options ndots:x\n", ResolvConf((), 1, (), options=("ndots:x",)), id="bad-ndots-ignored"),
        pytest.param(
            "# comment\n; also\nnameserver 1.1.1.1\nnameserver 2.2.2.2\nnameserver 3.3.3.3\n"
            "nameserver 4.4.4.4\n",
            ResolvConf((), 1, ("1.1.1.1", "2.2.2.2", "3.3.3.3")),
            id="comments-and-three-nameservers",
        ),
        pytest.param(
            "search   a\tb  \noptions single-request no-tld-query\n",
            ResolvConf(("a", "b"), 1, (), options=("single-request", "no-tld-query")),
            id="whitespace-and-flags",
        ),
    ],
)  # fmt: skip
def test_parse_resolv_conf(text: str, expected: ResolvConf) -> None:
    assert parse_resolv_conf(text) == expected


# --- pod_resolv_conf -----------------------------------------------------------------------------


def test_pod_resolv_conf_is_the_file_kubelet_writes() -> None:
    """spec Part 3.3's example: ClusterFirst pod in "shop", node search "ec2.internal"."""
    conf = pod_resolv_conf("shop", node_search=("ec2.internal",))
    assert conf.text() == KUBELET_FILE
    assert parse_resolv_conf(conf.text()) == conf


@pytest.mark.parametrize(
    ("namespace", "zone", "node_search", "search"),
    [
        ("app", "cluster.local", (), ("app.svc.cluster.local", "svc.cluster.local", "cluster.local")),
        ("app", "cluster.local.", (), ("app.svc.cluster.local", "svc.cluster.local", "cluster.local")),
        ("x", "corp.k8s", ("c.proj.internal.", "google.internal"),
         ("x.svc.corp.k8s", "svc.corp.k8s", "corp.k8s", "c.proj.internal", "google.internal")),
        ("app", "cluster.local", ("cluster.local", "ec2.internal", "ec2.internal"),
         ("app.svc.cluster.local", "svc.cluster.local", "cluster.local", "ec2.internal")),
    ],
    ids=["plain", "zone-trailing-dot", "gce-node-domains", "duplicates-omitted"],
)  # fmt: skip
def test_pod_resolv_conf_search(
    namespace: str, zone: str, node_search: tuple[str, ...], search: tuple[str, ...]
) -> None:
    conf = pod_resolv_conf(namespace, zone, node_search)
    assert conf.search == search
    assert conf.ndots == 5


# --- candidates ----------------------------------------------------------------------------------

POD = pod_resolv_conf("app")
S = ("app.svc.cluster.local.", "svc.cluster.local.", "cluster.local.")


def under(name: str, domains: Sequence[str] = S) -> tuple[str, ...]:
    return tuple(f"{name}.{d}" for d in domains)


LONG = ".".join(["x" * 63] * 3)  # 191 characters
LONG_SEARCH = ResolvConf(("short.example", "d" * 60 + ".example", "b.example"), 5)
MANY = ResolvConf(tuple(f"search-domain-{i:02}.example.internal" for i in range(10)), 5)


@pytest.mark.parametrize(
    ("name", "conf", "glibc", "musl"),
    [
        pytest.param("web", POD, (*under("web"), "web."), (*under("web"), "web."), id="no-dots"),
        pytest.param("api.example.com", POD, (*under("api.example.com"), "api.example.com."),
                     (*under("api.example.com"), "api.example.com."), id="2-dots-lt-ndots"),
        pytest.param("a.b.c.d.e", POD, (*under("a.b.c.d.e"), "a.b.c.d.e."),
                     (*under("a.b.c.d.e"), "a.b.c.d.e."), id="4-dots-lt-ndots"),
        pytest.param("a.b.c.d.e.f", POD, ("a.b.c.d.e.f.", *under("a.b.c.d.e.f")),
                     ("a.b.c.d.e.f.",), id="5-dots-ge-ndots"),
        pytest.param("web.", POD, ("web.",), ("web.",), id="trailing-dot"),
        pytest.param("svc.ns.svc.cluster.local.", POD, ("svc.ns.svc.cluster.local.",),
                     ("svc.ns.svc.cluster.local.",), id="fqdn-trailing-dot"),
        pytest.param("db.otherns", ResolvConf(POD.search, 1), ("db.otherns.", *under("db.otherns")),
                     ("db.otherns.",), id="ndots-1-dotted"),
        pytest.param("web", ResolvConf(POD.search, 1), (*under("web"), "web."),
                     (*under("web"), "web."), id="ndots-1-dotless"),
        pytest.param("web", ResolvConf(POD.search, 0), ("web.", *under("web")), ("web.",),
                     id="ndots-0"),
        pytest.param("web", ResolvConf((), 5), ("web.",), ("web.",), id="no-search-list"),
        pytest.param("web", ResolvConf(("app.svc.cluster.local", "."), 5),
                     ("web.app.svc.cluster.local.", "web."), ("web.app.svc.cluster.local.", "web."),
                     id="root-search-domain"),
        pytest.param("web", ResolvConf(POD.search, 5, options=("no-tld-query",)), under("web"),
                     (*under("web"), "web."), id="no-tld-query-dotless"),
        pytest.param("a.b", ResolvConf(POD.search, 5, options=("no-tld-query",)),
                     (*under("a.b"), "a.b."), (*under("a.b"), "a.b."), id="no-tld-query-dotted"),
        pytest.param(LONG, LONG_SEARCH, (f"{LONG}.short.example.", f"{LONG}."),
                     (f"{LONG}.short.example.", f"{LONG}.b.example.", f"{LONG}."),
                     id="too-long-candidate"),
        pytest.param("web", MANY, (*under("web", [d + "." for d in MANY.search]), "web."),
                     ("web.",), id="musl-drops-a-long-search-line"),
    ],
)  # fmt: skip
def test_candidates(
    name: str, conf: ResolvConf, glibc: tuple[str, ...], musl: tuple[str, ...]
) -> None:
    assert candidates(name, conf, "glibc") == glibc
    assert candidates(name, conf, "musl") == musl


def test_candidates_rejects_an_unknown_libc() -> None:
    with pytest.raises(ValueError, match="glibc or musl"):
        candidates("web", POD, "bionic")  # type: ignore[arg-type]


# --- walk against scripted answers -----------------------------------------------------------


class Script:
    """An ``ask`` answering from a table (default NXDOMAIN), recording every call in order."""

    def __init__(self, table: dict[tuple[str, str], object] | None = None) -> None:
        self.table = table or {}
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, qname: str, qtype: str) -> tuple[str, list[str]]:
        self.calls.append((qname, qtype))
        entry = self.table.get((qname, qtype), ("NXDOMAIN", []))
        if isinstance(entry, BaseException):
            raise entry
        rcode, answers = entry  # type: ignore[misc]
        return rcode, list(answers)


def a(name: str, address: str) -> str:
    return f"{name} 30 IN A {address}"


def aaaa(name: str, address: str) -> str:
    return f"{name} 30 IN AAAA {address}"


NODATA = ("NOERROR", [])
WEB = "web.app.svc.cluster.local."
WEB2 = "web.svc.cluster.local."


async def test_a_and_aaaa_are_asked_per_candidate_in_order() -> None:
    script = Script()
    walk = await stub.walk("web", POD, "musl", script)
    assert script.calls == [(c, t) for c in (*under("web"), "web.") for t in ("A", "AAAA")]
    assert [(q.qname, q.qtype) for q in walk.queries] == script.calls
    assert walk.count == 8
    assert walk.result.error == "EAI_NONAME"
    assert walk.result.message == "Name does not resolve"


@pytest.mark.parametrize(
    ("table", "glibc", "musl"),
    [
        pytest.param(
            {(WEB, "A"): NODATA, (WEB, "AAAA"): NODATA, (WEB2, "A"): ("NOERROR", [a(WEB2, "10.0.0.2")])},
            (4, None, ("10.0.0.2",)), (2, "EAI_NODATA", ()), id="nodata-glibc-goes-on-musl-stops",
        ),
        pytest.param(
            {(WEB, "A"): NODATA, (WEB2, "A"): ("NOERROR", [a(WEB2, "10.0.0.2")]), (WEB2, "AAAA"): NODATA},
            (4, None, ("10.0.0.2",)), (4, None, ("10.0.0.2",)), id="a-nodata-aaaa-nxdomain-both-go-on",
        ),
        pytest.param(
            {(WEB, "AAAA"): ("NOERROR", [aaaa(WEB, "fd00::1")])},
            (2, None, ("fd00::1",)), (8, "EAI_NONAME", ()), id="a-nxdomain-aaaa-address",
        ),
        pytest.param(
            # musl looks at the rcodes before the records: one NXDOMAIN skips the candidate
            {(WEB, "A"): ("NOERROR", [a(WEB, "10.0.0.1")])},
            (2, None, ("10.0.0.1",)), (8, "EAI_NONAME", ()), id="a-address-aaaa-nxdomain",
        ),
        pytest.param(
            {(WEB, "A"): ("SERVFAIL", []), (WEB2, "A"): ("NOERROR", [a(WEB2, "10.0.0.2")])},
            (4, None, ("10.0.0.2",)), (2, "EAI_AGAIN", ()), id="a-servfail",
        ),
        pytest.param(
            {(WEB, "AAAA"): ("SERVFAIL", []), (WEB2, "A"): ("NOERROR", [a(WEB2, "10.0.0.2")]),
             (WEB2, "AAAA"): NODATA},
            (4, None, ("10.0.0.2",)), (4, None, ("10.0.0.2",)),
            id="a-nxdomain-aaaa-servfail-musl-skips",
        ),
        pytest.param(
            # glibc: TRY_AGAIN but hp->rcode (the A answer) is not SERVFAIL: the search list
            # ends, the name as is is still asked
            {(WEB, "A"): NODATA, (WEB, "AAAA"): ("SERVFAIL", []),
             (WEB2, "A"): ("NOERROR", [a(WEB2, "10.0.0.2")]), ("web.", "A"): ("NOERROR", [a("web.", "10.9.9.9")])},
            (4, None, ("10.9.9.9",)), (2, "EAI_AGAIN", ()), id="a-nodata-aaaa-servfail",
        ),
        pytest.param(
            {(WEB, "A"): ("REFUSED", []), (WEB, "AAAA"): ("REFUSED", [])},
            (4, "EAI_NONAME", ()), (2, "EAI_FAIL", ()), id="refused",
        ),
        pytest.param(
            {(WEB, "A"): ("NOERROR", [f"{WEB} 30 IN CNAME gone.example."]),
             (WEB, "AAAA"): ("NOERROR", [f"{WEB} 30 IN CNAME gone.example."])},
            (2, "EAI_NONAME", ()), (2, "EAI_NODATA", ()), id="cname-without-addresses",
        ),
        pytest.param(
            {(WEB, "A"): ("NOERROR", [a("other.example.", "10.0.0.7")]), (WEB, "AAAA"): NODATA},
            (2, "EAI_NONAME", ()), (2, None, ("10.0.0.7",)), id="address-of-another-owner",
        ),
        pytest.param(
            {(WEB, "A"): ("NOERROR", [f"{WEB} 30 IN CNAME t.example.", a("t.example.", "10.0.0.8")]),
             (WEB, "AAAA"): NODATA},
            (2, None, ("10.0.0.8",)), (2, None, ("10.0.0.8",)), id="cname-chain-followed",
        ),
        pytest.param(
            {(WEB2, "A"): ("SERVFAIL", []), (WEB2, "AAAA"): ("SERVFAIL", [])},
            (8, "EAI_AGAIN", ()), (4, "EAI_AGAIN", ()), id="servfail-then-nxdomain",
        ),
        pytest.param(
            {(WEB, "A"): TimeoutError(), ("web.", "A"): ("NOERROR", [a("web.", "10.9.9.9")])},
            (4, None, ("10.9.9.9",)), (2, "EAI_AGAIN", ()), id="timeout",
        ),
        pytest.param(
            {(WEB, "A"): ConnectionRefusedError(), (WEB, "AAAA"): ConnectionRefusedError()},
            (2, "EAI_AGAIN", ()), (2, "EAI_AGAIN", ()), id="connection-refused",
        ),
    ],
)  # fmt: skip
async def test_continuation_rules(
    table: dict[tuple[str, str], object],
    glibc: tuple[int, str | None, tuple[str, ...]],
    musl: tuple[int, str | None, tuple[str, ...]],
) -> None:
    """(queries sent, error, addresses) for the same answers, per libc."""
    for libc, (count, error, addresses) in (("glibc", glibc), ("musl", musl)):
        walk = await stub.walk("web", POD, libc, Script(table))  # type: ignore[arg-type]
        assert (walk.count, walk.result.error, walk.result.addresses) == (
            count,
            error,
            addresses,
        ), libc


async def test_glibc_reports_the_as_is_error_first() -> None:
    """ndots reached: the name as is is asked first, and its h_errno is what is reported, even
    when a search candidate had NODATA (``saved_herrno`` wins over ``got_nodata``)."""
    conf = ResolvConf(("app.svc.cluster.local", "svc.cluster.local"), 1)
    nodata_later = Script(
        {("db.x.svc.cluster.local.", "A"): NODATA, ("db.x.svc.cluster.local.", "AAAA"): NODATA}
    )
    walk = await stub.walk("db.x", conf, "glibc", nodata_later)
    assert [q.qname for q in walk.queries][::2] == [
        "db.x.",
        "db.x.app.svc.cluster.local.",
        "db.x.svc.cluster.local.",
    ]
    assert walk.result.error == "EAI_NONAME"
    nodata_first = Script({("db.x.", "A"): NODATA, ("db.x.", "AAAA"): NODATA})
    walk = await stub.walk("db.x", conf, "glibc", nodata_first)
    assert walk.count == 6
    assert walk.result.error == "EAI_NODATA"
    assert walk.result.message == "No address associated with hostname"


async def test_glibc_reports_nodata_seen_in_the_search_list() -> None:
    """The namespace ``redis`` case: NODATA on one candidate, NXDOMAIN after: EAI_NODATA."""
    script = Script(
        {("redis.svc.cluster.local.", "A"): NODATA, ("redis.svc.cluster.local.", "AAAA"): NODATA}
    )
    walk = await stub.walk("redis", POD, "glibc", script)
    assert walk.count == 8
    assert walk.result.error == "EAI_NODATA"
    assert walk.result.reason == "glibc reports the NODATA of redis.svc.cluster.local."
    musl = await stub.walk("redis", POD, "musl", Script(script.table))
    assert musl.count == 4
    assert musl.result.error == "EAI_NODATA"
    assert musl.result.message == "Name has no usable address"


async def test_glibc_skips_the_search_list_for_an_absolute_name() -> None:
    script = Script({("svc.ns.svc.cluster.local.", "A"): ("SERVFAIL", [])})
    walk = await stub.walk("svc.ns.svc.cluster.local.", POD, "glibc", script)
    assert walk.count == 2
    assert walk.result.error == "EAI_AGAIN"


@pytest.mark.parametrize("libc", stub.LIBCS)
async def test_ip_literal_sends_nothing(libc: stub.Libc) -> None:
    script = Script()
    walk = await stub.walk("10.96.0.1", POD, libc, script)
    assert script.calls == []
    assert walk.result.addresses == ("10.96.0.1",)


@pytest.mark.parametrize("libc", stub.LIBCS)
@pytest.mark.parametrize("name", ["web..", ".", ""])
async def test_empty_label_is_no_name(libc: stub.Libc, name: str) -> None:
    script = Script()
    walk = await stub.walk(name, POD, libc, script)
    assert script.calls == []
    assert walk.result.error == "EAI_NONAME"


async def test_walk_records_a_decision_per_candidate() -> None:
    script = Script({(WEB2, "A"): ("NOERROR", [a(WEB2, "10.0.0.2")]), (WEB2, "AAAA"): NODATA})
    walk = await stub.walk("web", POD, "musl", script)
    assert [(s.candidate, s.decision) for s in walk.steps] == [
        (WEB, "next: A NXDOMAIN"),
        (WEB2, "stop: answered"),
    ]
    assert walk.result.canonical == WEB2
    assert walk.sequence == [(WEB, "A", "NXDOMAIN"), (WEB, "AAAA", "NXDOMAIN"),
                             (WEB2, "A", "NOERROR"), (WEB2, "AAAA", "NOERROR")]  # fmt: skip


async def test_integer_rcodes_are_named() -> None:
    async def ask(qname: str, qtype: str) -> tuple[int, list[str]]:
        return 3, []

    walk = await stub.walk("web.", POD, "glibc", ask)
    assert walk.sequence == [("web.", "A", "NXDOMAIN"), ("web.", "AAAA", "NXDOMAIN")]
