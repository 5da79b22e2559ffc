"""autopath's walk: CoreDNS's autopath_test.go cases (on the handler with Go's next handler, and
through a real server), and every rule of the walk with a search list from a resolv.conf.

Server tests put *hosts* (which, like Go's test handler, returns SERVFAIL without writing for
names it does not have) or *forward* to a loopback upstream behind autopath.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dns.message
import dns.rcode
import dns.rdataclass
import pytest
from dnslib import A, CLASS, QTYPE, RR, SOA, DNSLabel, DNSRecord, EDNS0

from clusterdns import wire
from clusterdns.errors import PluginError
from clusterdns.metrics import REGISTRY
from clusterdns.plugin import Handler, ResponseWriter, client_wrote
from clusterdns.plugins.autopath.autopath import AutoPath, cnamer, first_in_search_path
from clusterdns.plugins.autopath.options import AutoPathOptions
from clusterdns.request import Request
from clusterdns.server.mux import MAX_LOOKUP_DEPTH
from clusterdns.testing import Case, check, query, rr, run_corefile
from clusterdns.testing.upstream import Upstream

SUCCESS = "coredns_autopath_success_total"


def successes() -> float:
    """The success counter summed over servers (each test's server has its own label)."""
    total = 0.0
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name == SUCCESS:
                total += sample.value
    return total


# --- the handler, with CoreDNS's test handler behind it ---------------------------------------


class Capture:
    """The client's writer: keeps what autopath writes."""

    def __init__(self) -> None:
        self.msg: DNSRecord | None = None

    @property
    def written(self) -> bool:
        return self.msg is not None

    def write_msg(self, msg: DNSRecord) -> None:
        assert self.msg is None, "autopath wrote twice"
        self.msg = msg


class GoNext(Handler):
    """CoreDNS autopath_test.go ``nextHandler``: NXDOMAIN with an SOA, or one A record
    ``<qname> 3600 IN A 127.0.0.53``; names it does not know: SERVFAIL, nothing written."""

    name = "next"

    def __init__(self, rcodes: dict[str, int], *, raises: str = "") -> None:
        super().__init__(None)
        self.rcodes = rcodes
        self.raises = raises
        self.seen: list[Request] = []

    async def serve_dns(self, req: Request, w: ResponseWriter) -> int:
        self.seen.append(req)
        if req.name == self.raises:
            raise PluginError("next", "boom")
        rcode = self.rcodes.get(req.name)
        if rcode is None:
            return wire.SERVFAIL
        reply = req.reply(rcode)
        if rcode == wire.NXDOMAIN:
            reply.add_auth(RR("example.org.", QTYPE.SOA, CLASS.IN, 1800, SOA(
                "example.org.", "example.org.", (1502165581, 14400, 3600, 604800, 14400))))
        else:
            reply.add_answer(RR(DNSLabel(list(req.query.qname_labels)), QTYPE.A, CLASS.IN, 3600, A("127.0.0.53")))
        w.write_msg(reply)
        return rcode


GO_NEXT = {"b.example.org.": wire.NXDOMAIN, "b.com.": wire.NOERROR, "a.example.com.": wire.NOERROR}
GO_SEARCH = ("example.org.", "example.com.", "com.", "")


def autopath(next: Handler, search: tuple[str, ...] = GO_SEARCH, zones: tuple[str, ...] = (".",)) -> AutoPath:
    return AutoPath(next, options=AutoPathOptions(zones=zones, search=search))


def request(name: str, qtype: str = "A", *, edns: bool = False, qclass: str = "IN") -> Request:
    query_msg = DNSRecord.question(name, qtype, qclass)
    query_msg.header.id = 4242
    if edns:
        query_msg.add_ar(EDNS0(udp_len=1232, flags="do"))
    parsed = wire.parse_query(bytes(query_msg.pack()))
    assert isinstance(parsed, wire.Query)
    return Request(parsed, "udp", "127.0.0.1", 40000, "127.0.0.1", 53, server="dns://:53")


def as_dnspython(msg: DNSRecord) -> dns.message.Message:
    return dns.message.from_wire(wire.pack(msg))


async def test_go_search_path_expansion() -> None:
    # autopathTestCases[0]: b.example.org. -> CNAME to b.com., the CNAME first.
    w = Capture()
    rcode = await autopath(GoNext(GO_NEXT)).serve_dns(request("b.example.org."), w)
    assert rcode == wire.NOERROR and w.msg is not None
    reply = as_dnspython(w.msg)
    check(reply, Case("b.example.org.", answer=["b.example.org. 3600 IN CNAME b.com.", "b.com. 3600 IN A 127.0.0.53"]))
    assert [rrset.rdtype for rrset in reply.answer] == [5, 1]  # CNAME before the answer
    assert reply.question[0].name.to_text() == "b.example.org."


async def test_go_no_search_path_expansion() -> None:
    # autopathTestCases[1]: a.example.com. is not under the first element, example.org.
    w = Capture()
    await autopath(GoNext(GO_NEXT)).serve_dns(request("a.example.com."), w)
    assert w.msg is not None
    check(as_dnspython(w.msg), Case("a.example.com.", answer=["a.example.com. 3600 IN A 127.0.0.53"]))


async def test_go_no_answer_means_no_client_write() -> None:
    # autopathNoAnswerTestCases: every candidate returns SERVFAIL without writing.
    next = GoNext(GO_NEXT)
    w = Capture()
    rcode = await autopath(next).serve_dns(request("c.example.org."), w)
    assert not client_wrote(rcode) and w.msg is None
    assert [r.name for r in next.seen] == ["c.example.org.", "c.example.com.", "c.com.", "c."]


@pytest.mark.parametrize(
    ("qname", "expected"),
    [
        ("google.com", False),
        ("default.svc.cluster.local.", True),
        ("a.default.svc.cluster.local.", True),
        ("a.b.svc.cluster.local.", False),
        ("adefault.svc.cluster.local.", False),  # label-wise, not a string suffix
    ],
)
def test_go_in_search_path(qname: str, expected: bool) -> None:
    # TestInSearchPath, plus a string-suffix trap.
    assert first_in_search_path(qname, "default.svc.cluster.local.") is expected


def test_empty_or_root_first_element_covers_every_name() -> None:
    # dns.IsSubDomain("", name) and (".", name) hold for every name in Go.
    assert first_in_search_path("anything.example.", "")
    assert first_in_search_path("anything.example.", ".")


async def test_sub_queries_copy_the_query_but_the_name() -> None:
    next = GoNext(GO_NEXT)
    w = Capture()
    await autopath(next).serve_dns(request("Z.Example.ORG.", "AAAA", edns=True), w)
    names = [r.qname for r in next.seen]
    # base keeps the query's case; the search part is the search list's (lower case)
    assert names == ["Z.example.org.", "Z.example.com.", "Z.com.", "Z."]
    for sub in next.seen:
        assert (sub.id, sub.qtype, sub.qclass, sub.do, sub.size) == (4242, 28, 1, True, 1232)
        assert sub.remote_ip == "127.0.0.1" and sub.server == "dns://:53"


async def test_first_candidate_answer_gets_no_cname() -> None:
    # The reply for the query's own name (the first candidate) is owned by it: no CNAME.
    next = GoNext({"x.example.org.": wire.NOERROR})
    w = Capture()
    await autopath(next).serve_dns(request("X.example.ORG."), w)
    assert w.msg is not None
    reply = as_dnspython(w.msg)
    assert [rrset.rdtype for rrset in reply.answer] == [1]
    assert reply.question[0].name.to_text() == "X.example.ORG."  # the query's case restored


async def test_all_nxdomain_returns_the_first_reply_as_is() -> None:
    next = GoNext({n: wire.NXDOMAIN for n in ("d.example.org.", "d.example.com.", "d.com.", "d.")})
    w = Capture()
    before = successes()
    rcode = await autopath(next).serve_dns(request("D.example.org."), w)
    assert rcode == wire.NXDOMAIN and w.msg is not None
    assert w.msg.header.rcode == wire.NXDOMAIN
    assert str(w.msg.q.qname) == "D.example.org."
    assert len(next.seen) == 4
    assert successes() == before


async def test_error_from_a_sub_query_ends_the_walk() -> None:
    next = GoNext({"e.example.org.": wire.NXDOMAIN, "e.com.": wire.NOERROR}, raises="e.example.com.")
    w = Capture()
    with pytest.raises(PluginError, match="boom"):
        await autopath(next).serve_dns(request("e.example.org."), w)
    assert [r.name for r in next.seen] == ["e.example.org.", "e.example.com."]
    assert w.msg is None


async def test_query_equal_to_the_first_element_fails_like_coredns() -> None:
    # dnsutil.TrimZone overshoots: CoreDNS returns SERVFAIL with this error (no space before "for").
    with pytest.raises(PluginError) as info:
        await autopath(GoNext(GO_NEXT)).serve_dns(request("Example.org."), Capture())
    assert str(info.value) == "trimzone: overshot qname: Example.org.for zone example.org."
    assert info.value.rcode == wire.SERVFAIL


async def test_outside_the_zones_nothing_happens() -> None:
    next = GoNext(GO_NEXT)
    w = Capture()
    await autopath(next, zones=("example.net.",)).serve_dns(request("b.example.org."), w)
    assert [r.name for r in next.seen] == ["b.example.org."]


async def test_empty_search_list_passes_the_query_on() -> None:
    next = GoNext(GO_NEXT)
    handler = autopath(next, search=())
    handler.search_func = lambda req: None  # an AutoPather that does not know the client
    w = Capture()
    await handler.serve_dns(request("b.example.org."), w)
    assert [r.name for r in next.seen] == ["b.example.org."]
    assert w.msg is not None and w.msg.header.rcode == wire.NXDOMAIN


async def test_candidates_that_cannot_be_names_are_skipped() -> None:
    long_label = "l" * 63
    too_long = ".".join([long_label] * 3) + "."  # base + this passes 255 octets
    bad = "a..b."  # an empty label
    next = GoNext({"f.example.org.": wire.NXDOMAIN, "f.": wire.NOERROR})
    w = Capture()
    base = ".".join(["f" * 60] * 2)
    name = f"{base}.example.org."
    next.rcodes = {name: wire.NXDOMAIN, f"{base}.": wire.NOERROR}
    await autopath(next, search=("example.org.", too_long, bad, "")).serve_dns(request(name), w)
    assert [r.name for r in next.seen] == [name, f"{base}."]
    assert w.msg is not None and w.msg.header.rcode == wire.NOERROR


def test_cnamer_skips_answers_owned_by_the_query_name() -> None:
    msg = DNSRecord.question("other.example.", "A")
    msg.add_answer(RR("Q.example.", QTYPE.A, CLASS.IN, 10, A("192.0.2.1")))
    msg.add_answer(RR("other.example.", QTYPE.A, CLASS.IN, 20, A("192.0.2.2")))
    msg.add_answer(RR("third.example.", QTYPE.A, CLASS.IN, 30, A("192.0.2.3")))
    out = cnamer(msg, DNSLabel("q.EXAMPLE."))
    assert [(str(r.rname), QTYPE[r.rtype], r.ttl) for r in out.rr] == [
        ("q.EXAMPLE.", "CNAME", 20),
        ("Q.example.", "A", 10),
        ("other.example.", "A", 20),
        ("third.example.", "A", 30),
    ]
    assert str(out.rr[0].rdata.label) == "other.example."
    assert str(out.q.qname) == "q.EXAMPLE."
    # the plugin's message is left as it was
    assert len(msg.rr) == 3 and str(msg.q.qname) == "other.example."


# --- through a real server ---------------------------------------------------------------------


@pytest.fixture
def resolv(tmp_path: Path) -> Callable[[str], Path]:
    def write(search: str) -> Path:
        path = tmp_path / "resolv.conf"
        path.write_text(f"nameserver 10.0.0.10\nsearch {search}\noptions ndots:5\n")
        return path

    return write


def go_corefile(resolv_conf: Path) -> str:
    # hosts answers b.com and a.example.com; for other names it returns SERVFAIL unwritten,
    # as Go's test handler does for names it does not know.
    return f". {{\n autopath {resolv_conf}\n hosts {{\n  127.0.0.53 b.com a.example.com\n }}\n}}\n"


@pytest.mark.parametrize(
    "case",
    [
        Case("b.example.org.", answer=["b.example.org. 3600 IN CNAME b.com.", "b.com. 3600 IN A 127.0.0.53"]),
        Case("a.example.com.", answer=["a.example.com. 3600 IN A 127.0.0.53"]),
        Case("c.example.org.", rcode="SERVFAIL"),
    ],
    ids=["expansion", "no-expansion", "no-answer"],
)
async def test_go_cases_through_a_server(case: Case, resolv: Callable[[str], Path]) -> None:
    async with run_corefile(go_corefile(resolv("example.org example.com com"))) as srv:
        reply = await query(srv.port, case.qname, case.qtype)
        check(reply, case)
        assert [rrset.rdtype for rrset in reply.answer] == [rr(t).rdtype for t in case.answer]  # CNAME first


async def test_case_of_the_query_is_kept(resolv: Callable[[str], Path]) -> None:
    async with run_corefile(go_corefile(resolv("example.org example.com com"))) as srv:
        reply = await query(srv.port, "B.Example.ORG.", "A", tcp=True)
        assert reply.question[0].name.to_text() == "B.Example.ORG."
        assert reply.answer[0].name.to_text() == "B.Example.ORG."
        assert reply.answer[0].rdtype == 5


def forward_corefile(resolv_conf: Path, up: Upstream, extra: str = "") -> str:
    return f". {{\n autopath {resolv_conf}\n forward . {up.addr}\n{extra}}}\n"


async def test_all_nxdomain_through_a_server(resolv: Callable[[str], Path]) -> None:
    async with Upstream() as up, run_corefile(forward_corefile(resolv("example.org example.com"), up)) as srv:
        before = successes()
        reply = await query(srv.port, "X.Example.ORG.", "A")
        assert reply.rcode() == dns.rcode.NXDOMAIN
        asked = [r.message.question[0].name.to_text() for r in up.received if r.message]
        assert asked == ["X.example.org.", "X.example.com.", "X."]
        assert successes() == before


async def test_nodata_counts_as_success(resolv: Callable[[str], Path]) -> None:
    async with Upstream() as up, run_corefile(forward_corefile(resolv("example.org example.com"), up)) as srv:
        up.add("x.example.com", "TXT", '"only text"')
        up.add("x", "A", "192.0.2.1")
        before = successes()
        reply = await query(srv.port, "x.example.org.", "A")
        check(reply, Case("x.example.org.", rcode="NOERROR"))
        assert [r.name for r in up.received] == ["x.example.org.", "x.example.com."]
        assert successes() == before + 1


async def test_type_and_class_are_kept(resolv: Callable[[str], Path]) -> None:
    async with Upstream() as up, run_corefile(forward_corefile(resolv("example.org"), up)) as srv:
        up.add("mx.example.com", "AAAA", "2001:db8::1")
        reply = await query(srv.port, "mx.example.com.example.org.", "AAAA")
        check(reply, Case("mx.example.com.example.org.", "AAAA", answer=[
            "mx.example.com.example.org. 300 IN CNAME mx.example.com.",
            "mx.example.com. 300 IN AAAA 2001:db8::1",
        ]))
        chaos = await query(srv.port, "version.example.org.", "TXT", rdclass="CH")
        assert chaos.rcode() == dns.rcode.NXDOMAIN
        classes = {(r.message.question[0].rdtype, r.message.question[0].rdclass) for r in up.received if r.message}
        assert classes == {(28, 1), (16, dns.rdataclass.CH)}


async def test_success_is_counted_per_server(resolv: Callable[[str], Path]) -> None:
    async with run_corefile(go_corefile(resolv("example.org example.com com"))) as srv:
        server = next(iter(srv.runtime.instance.muxes.values())).server
        before = REGISTRY.get_sample_value(SUCCESS, {"server": server}) or 0.0
        await query(srv.port, "b.example.org.", "A")
        await query(srv.port, "a.example.com.", "A")  # not walked
        await query(srv.port, "c.example.org.", "A")  # walked, nothing found
        assert REGISTRY.get_sample_value(SUCCESS, {"server": server}) == before + 1


async def test_no_next_plugin_error_is_returned_at_once(resolv: Callable[[str], Path], log_lines: list[str]) -> None:
    async with run_corefile(f". {{\n errors\n autopath {resolv('example.org example.com')}\n}}\n") as srv:
        reply = await query(srv.port, "x.example.org.", "A")
        assert reply.rcode() == dns.rcode.SERVFAIL
    errors = [line for line in log_lines if "plugin/errors" in line]
    assert errors == ["[ERROR] plugin/errors: 2 x.example.org. A: plugin/autopath: no next plugin found"]


async def test_first_element_itself_is_servfail_with_coredns_error(
    resolv: Callable[[str], Path], log_lines: list[str]
) -> None:
    corefile = go_corefile(resolv("example.org")).replace(". {\n", ". {\n errors\n", 1)
    async with run_corefile(corefile) as srv:
        reply = await query(srv.port, "example.org.", "A")
        assert reply.rcode() == dns.rcode.SERVFAIL
    assert "[ERROR] plugin/errors: 2 example.org. A: trimzone: overshot qname: example.org.for zone example.org." in log_lines


async def test_walk_through_re_entering_lookups_ends(tmp_path: Path) -> None:
    # An ExternalName under the search path points back under the first element: each walk
    # re-enters the server through the target's lookup, until the mux's depth limit stops it.
    (tmp_path / "resolv.conf").write_text("search corp.internal shop.svc.cluster.local\n")
    (tmp_path / "cluster").mkdir()
    (tmp_path / "cluster" / "loop.yaml").write_text(
        "kind: Service\nmetadata: {name: loop, namespace: shop}\n"
        "spec: {type: ExternalName, externalName: loop.corp.internal}\n"
    )
    async with Upstream() as up:
        corefile = (
            f". {{\n autopath {tmp_path / 'resolv.conf'}\n"
            f" kubernetes cluster.local {{\n  manifests {tmp_path / 'cluster'}\n }}\n"
            f" forward . {up.addr}\n}}\n"
        )
        async with run_corefile(corefile) as srv:
            reply = await query(srv.port, "loop.corp.internal.", "A")
            assert reply.rcode() == dns.rcode.NOERROR
            assert reply.answer[0].to_text() == "loop.corp.internal. 5 IN CNAME loop.shop.svc.cluster.local."
            assert up.count(name="loop.corp.internal.") == MAX_LOOKUP_DEPTH + 1


async def test_sub_queries_go_through_the_cache_behind(resolv: Callable[[str], Path]) -> None:
    # CoreDNS 1.14.7 order: autopath before cache, so each candidate is cached on its own.
    async with Upstream() as up:
        up.add("x", "A", "192.0.2.1")
        corefile = forward_corefile(resolv("example.org example.com"), up, extra=" cache 30\n")
        async with run_corefile(corefile) as srv:
            block = srv.runtime.instance.blocks[0]
            assert block.chain is block.handlers["autopath"] and block.chain.next is block.handlers["cache"]
            for _ in range(2):
                reply = await query(srv.port, "x.example.org.", "A")
                assert [(r.name.to_text(), r.rdtype, r[0].to_text()) for r in reply.answer] == [
                    ("x.example.org.", 5, "x."),
                    ("x.", 1, "192.0.2.1"),
                ]
                assert all(rrset.ttl <= 30 for rrset in reply.answer)  # cache 30 caps them
            # the answer came from the cache the second time; the upstream's NXDOMAINs carry no
            # SOA, so they are not cached and were asked again
            assert [r.name for r in up.received] == [
                "x.example.org.", "x.example.com.", "x.", "x.example.org.", "x.example.com.",
            ]
