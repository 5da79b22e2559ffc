"""forward serving: queries through a real server to real upstream DNS servers on loopback.

Protocol choice and TC handling, the query sent unchanged but for a random ID, replies
written as the upstream sent them, wrong IDs read past, mismatched questions answered FORMERR,
``except``, chained ``forward`` lines with ``next``, policies, ``failover``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import pytest

from clusterdns.testing import query, query_raw_udp, run_corefile
from clusterdns.testing.upstream import Upstream

Start = Callable[[], Awaitable[Upstream]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """Start upstreams that answer ``example.org. A 10.0.0.1``; all closed after the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def start_one() -> Upstream:
            up = await stack.enter_async_context(Upstream())
            up.add("example.org.", "A", "10.0.0.1")
            return up

        yield start_one


def corefile(*lines: str) -> str:
    return ". {\n" + "\n".join(lines) + "\n}\n"


def addresses(reply: dns.message.Message) -> list[str]:
    return [rdata.address for rrset in reply.answer for rdata in rrset]


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_forwards_over_the_clients_protocol(start: Start, tcp: bool) -> None:
    up = await start()
    async with run_corefile(corefile(f"forward . {up.addr}")) as srv:
        reply = await query(srv.port, "example.org", "A", tcp=tcp)
    assert reply.rcode() == dns.rcode.NOERROR
    assert addresses(reply) == ["10.0.0.1"]
    used, unused = ("tcp", "udp") if tcp else ("udp", "tcp")
    assert up.count(proto=used) == 1 and up.count(proto=unused) == 0


async def test_reply_is_written_as_the_upstream_sent_it(start: Start) -> None:
    up = await start()
    up.add("example.org.", "TXT", '"hello"')
    async with run_corefile(corefile(f"forward . {up.addr}")) as srv:
        reply = await query(srv.port, "Example.ORG", "TXT")
        missing = await query(srv.port, "nothing.example.net", "A")
    assert reply.flags & dns.flags.RA and not reply.flags & dns.flags.AA  # upstream's flags
    assert reply.answer[0].ttl == 300 and reply.answer[0][0].strings == (b"hello",)
    assert missing.rcode() == dns.rcode.NXDOMAIN  # the upstream's rcode, not rewritten


async def test_query_goes_upstream_unchanged_but_for_a_random_id(start: Start) -> None:
    up = await start()
    message = dns.message.make_query(
        "example.org.",
        "A",
        use_edns=0,
        want_dnssec=True,
        payload=1400,
        options=[dns.edns.ECSOption("192.0.2.0", 24)],
    )
    message.id = 4242
    sent = message.to_wire()
    async with run_corefile(corefile(f"forward . {up.addr}")) as srv:
        replies = [await query_raw_udp(srv.port, sent) for _ in range(4)]
    assert all(r is not None and r[:2] == sent[:2] for r in replies)  # the client's ID restored
    assert [r.data[2:] for r in up.received] == [sent[2:]] * 4  # byte for byte otherwise
    assert len({r.data[:2] for r in up.received}) > 1  # a fresh random ID per exchange


async def test_replies_with_a_wrong_id_are_read_past(start: Start) -> None:
    up = await start()
    up.mode = "wrong_id"
    async with run_corefile(corefile(f"forward . {up.addr} {{\nread_timeout 1s\n}}")) as srv:
        for tcp in (False, True):
            reply = await query(srv.port, "example.org", "A", tcp=tcp)
            assert addresses(reply) == ["10.0.0.1"]
    assert up.count() == 2  # one exchange each: the wrong reply was skipped, not retried


async def test_reply_to_another_question_is_formerr(start: Start) -> None:
    up = await start()
    up.mode = "wrong_question"
    async with run_corefile(corefile(f"forward . {up.addr}")) as srv:
        reply = await query(srv.port, "example.org", "A")
    assert reply.rcode() == dns.rcode.FORMERR
    assert reply.question[0].name.to_text() == "example.org."  # the client's question echoed
    assert reply.answer == []


# --- truncation and protocol options ----------------------------------------------------


@pytest.mark.parametrize(
    ("options", "tcp", "expect_tc", "udp_count", "tcp_count"),
    [
        ("", False, True, 1, 0),  # default: the TC reply goes to the client
        ("", True, False, 0, 1),  # a TCP client: TCP upstream
        ("prefer_udp", False, False, 1, 1),  # UDP, truncated, retried over TCP
        ("prefer_udp", True, False, 1, 1),  # UDP even for a TCP client, then TCP
        ("force_tcp", False, False, 0, 1),
        ("force_tcp\nprefer_udp", False, False, 0, 1),  # force_tcp wins
    ],
    ids=["default-udp", "default-tcp", "prefer-udp", "prefer-udp-tcp-client", "force-tcp", "both"],
)
async def test_truncation_and_protocol_options(
    start: Start, options: str, tcp: bool, expect_tc: bool, udp_count: int, tcp_count: int
) -> None:
    up = await start()
    up.mode = "truncate"
    async with run_corefile(corefile(f"forward . {up.addr} {{\n{options}\n}}")) as srv:
        reply = await query(srv.port, "example.org", "A", tcp=tcp)
    assert bool(reply.flags & dns.flags.TC) is expect_tc
    assert addresses(reply) == ([] if expect_tc else ["10.0.0.1"])
    assert (up.count(proto="udp"), up.count(proto="tcp")) == (udp_count, tcp_count)


async def test_tcp_connection_is_reused(start: Start) -> None:
    up = await start()
    async with run_corefile(corefile(f"forward . {up.addr} {{\nforce_tcp\n}}")) as srv:
        for _ in range(3):
            assert addresses(await query(srv.port, "example.org", "A")) == ["10.0.0.1"]
    assert up.count(proto="tcp") == 3 and up.tcp_connections == 1


# --- which queries are forwarded --------------------------------------------------------


async def test_except_passes_names_to_the_next_plugin(start: Start) -> None:
    up = await start()
    up.add("www.example.net.", "A", "10.0.0.2")
    text = corefile(
        f"forward example.org {up.addr} {{\nexcept example.org sub.example.org\n}}", "whoami"
    )
    async with run_corefile(text) as srv:
        apex = await query(srv.port, "example.org", "A")  # FROM itself is always forwarded
        below = await query(srv.port, "a.sub.example.org", "A")
        outside = await query(srv.port, "www.example.net", "A")
    assert addresses(apex) == ["10.0.0.1"]
    assert below.answer == [] and below.additional  # whoami answered
    assert outside.answer == [] and outside.additional  # not under FROM: whoami
    assert up.count() == 1


async def test_chained_forward_lines_in_corefile_order(start: Start) -> None:
    lab, local, rest = await start(), await start(), await start()
    for up in (lab, local, rest):
        up.add("host.lab.example.local.", "A", "10.20.0.1")
        up.add("host.example.local.", "A", "10.0.0.1")
        up.add("www.example.com.", "A", "10.9.9.9")
    text = corefile(
        f"forward lab.example.local {lab.addr}",
        f"forward example.local {local.addr}",
        f"forward . {rest.addr}",
    )
    async with run_corefile(text) as srv:
        for name in ("host.lab.example.local", "host.example.local", "www.example.com"):
            assert (await query(srv.port, name, "A")).rcode() == dns.rcode.NOERROR
    assert lab.count() == 1 and lab.count(name="host.lab.example.local") == 1
    assert local.count() == 1 and local.count(name="host.example.local") == 1
    assert rest.count() == 1 and rest.count(name="www.example.com") == 1


async def test_next_hands_the_query_to_the_next_forward(start: Start) -> None:
    first, second, third = await start(), await start(), await start()
    first.records.clear()
    second.records.clear()
    second.add("b.example.", "A", "10.0.0.2")
    third.records.clear()
    third.add("c.example.", "A", "10.0.0.3")
    text = corefile(
        f"forward . {first.addr} {{\nnext NXDOMAIN\n}}",
        f"forward . {second.addr} {{\nnext nxdomain SERVFAIL\n}}",
        f"forward . {third.addr}",
    )
    async with run_corefile(text) as srv:
        assert addresses(await query(srv.port, "b.example", "A")) == ["10.0.0.2"]
        assert addresses(await query(srv.port, "c.example", "A")) == ["10.0.0.3"]
        missing = await query(srv.port, "d.example", "A")
    assert missing.rcode() == dns.rcode.NXDOMAIN  # the last forward's answer
    assert (first.count(), second.count(), third.count()) == (3, 3, 2)


async def test_next_is_ignored_when_the_next_plugin_is_not_forward(start: Start) -> None:
    up = await start()
    text = corefile(f"forward . {up.addr} {{\nnext NXDOMAIN\n}}", "whoami")
    async with run_corefile(text) as srv:
        reply = await query(srv.port, "missing.example", "A")
    assert reply.rcode() == dns.rcode.NXDOMAIN and reply.additional == []


async def test_next_on_nodata(start: Start) -> None:
    first, second = await start(), await start()
    second.add("example.org.", "AAAA", "2001:db8::1")
    text = corefile(f"forward . {first.addr} {{\nnext_on_nodata\n}}", f"forward . {second.addr}")
    async with run_corefile(text) as srv:
        reply = await query(srv.port, "example.org", "AAAA")
    assert [r.address for r in reply.answer[0]] == ["2001:db8::1"]
    assert first.count() == 1 and second.count() == 1


# --- policies and failover --------------------------------------------------------------


async def test_sequential_policy_always_starts_with_the_first(start: Start) -> None:
    ups = [await start() for _ in range(3)]
    to = " ".join(up.addr for up in ups)
    async with run_corefile(corefile(f"forward . {to} {{\npolicy sequential\n}}")) as srv:
        for _ in range(4):
            await query(srv.port, "example.org", "A")
    assert [up.count() for up in ups] == [4, 0, 0]


async def test_round_robin_policy_rotates(start: Start) -> None:
    ups = [await start() for _ in range(3)]
    to = " ".join(up.addr for up in ups)
    order = []
    async with run_corefile(corefile(f"forward . {to} {{\npolicy round_robin\n}}")) as srv:
        for _ in range(4):
            await query(srv.port, "example.org", "A")
            order.append(next(i for i, up in enumerate(ups) if up.count() > order.count(i)))
    assert order == [1, 2, 0, 1]  # CoreDNS's counter is incremented before the first use


async def test_random_policy_uses_every_upstream(start: Start) -> None:
    ups = [await start() for _ in range(2)]
    async with run_corefile(corefile(f"forward . {ups[0].addr} {ups[1].addr}")) as srv:
        for _ in range(40):
            await query(srv.port, "example.org", "A")
    assert ups[0].count() + ups[1].count() == 40
    assert ups[0].count() > 0 and ups[1].count() > 0  # all on one: probability 2**-39


async def test_failover_tries_the_next_upstream_on_listed_rcodes(start: Start) -> None:
    failing, refusing, good = await start(), await start(), await start()
    failing.rcode = dns.rcode.SERVFAIL
    refusing.rcode = dns.rcode.REFUSED
    to = f"{failing.addr} {refusing.addr} {good.addr}"
    text = corefile(f"forward . {to} {{\npolicy sequential\nfailover SERVFAIL REFUSED\n}}")
    async with run_corefile(text) as srv:
        reply = await query(srv.port, "example.org", "A")
    assert addresses(reply) == ["10.0.0.1"]
    assert (failing.count(), refusing.count(), good.count()) == (1, 1, 1)


async def test_without_failover_the_rcode_is_returned(start: Start) -> None:
    failing, good = await start(), await start()
    failing.rcode = dns.rcode.SERVFAIL
    text = corefile(f"forward . {failing.addr} {good.addr} {{\npolicy sequential\n}}")
    async with run_corefile(text) as srv:
        reply = await query(srv.port, "example.org", "A")
    assert reply.rcode() == dns.rcode.SERVFAIL and reply.flags & dns.flags.RA  # the upstream's
    assert good.count() == 0


async def test_failover_returns_the_last_reply_when_all_fail(start: Start) -> None:
    first, second = await start(), await start()
    first.rcode = second.rcode = dns.rcode.SERVFAIL
    text = corefile(
        f"forward . {first.addr} {second.addr} {{\npolicy sequential\nfailover SERVFAIL\n}}"
    )
    async with run_corefile(text) as srv:
        reply = await query(srv.port, "example.org", "A")
    assert reply.rcode() == dns.rcode.SERVFAIL
    assert (first.count(), second.count()) == (1, 1)  # each tried once


async def test_failover_to_a_healthy_upstream_when_one_does_not_answer(start: Start) -> None:
    silent, good = await start(), await start()
    silent.mode = "silent"
    text = corefile(
        f"forward . {silent.addr} {good.addr} {{\npolicy sequential\nread_timeout 100ms\n}}"
    )
    async with run_corefile(text) as srv:
        reply = await query(srv.port, "example.org", "A")
    assert addresses(reply) == ["10.0.0.1"]
    assert silent.count(name="example.org") == 1 and good.count() == 1


async def test_other_classes_are_forwarded(start: Start) -> None:
    up = await start()
    up.add("version.bind.", "TXT", '"9.18"')
    async with run_corefile(corefile(f"forward . {up.addr}")) as srv:
        reply = await query(srv.port, "version.bind", "TXT", rdclass="CH")
    # the upstream's table is class-blind: what matters is that the CH query got through
    assert reply.rcode() == dns.rcode.NOERROR and up.count() == 1


async def test_undecodable_reply_is_an_upstream_error(start: Start, log_lines: list[str]) -> None:
    bad, good = await start(), await start()
    bad.mode = "garbage"
    text = corefile("errors", f"forward . {bad.addr} {good.addr} {{\npolicy sequential\n}}")
    async with run_corefile(text) as srv:
        reply = await query(srv.port, "example.org", "A")
    assert addresses(reply) == ["10.0.0.1"]  # the next upstream answered
    assert bad.count(name="example.org") == 1 and good.count(name="example.org") == 1
    assert not [line for line in log_lines if "plugin/errors" in line]


async def test_reply_larger_than_the_clients_buffer_becomes_empty_with_tc(start: Start) -> None:
    up = await start()
    up.add("big.example.", "TXT", *(f'"{i:03d}{"x" * 200}"' for i in range(5)))
    async with run_corefile(corefile(f"forward . {up.addr}")) as srv:
        small = await query(srv.port, "big.example", "TXT")  # no EDNS: 512 bytes
        large = await query(srv.port, "big.example", "TXT", use_edns=True, payload=4096)
    assert small.flags & dns.flags.TC and small.answer == []
    assert small.question[0].name.to_text() == "big.example."
    assert not large.flags & dns.flags.TC and len(large.answer[0]) == 5
