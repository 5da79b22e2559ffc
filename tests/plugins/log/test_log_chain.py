"""log in front of a stub plugin, behind the real server mux: replies no plugin here gives yet.

NXDOMAIN, NODATA, delegations, errors written or left to the server, plugin errors: each goes
through the real ``Mux`` and ``ReplyWriter`` (so ``req.outcome`` is what the server records),
without sockets.
"""

from __future__ import annotations

import re

import dns.message
import dns.rcode
import pytest
from dnslib import NS, QTYPE, RR, SOA, TXT, A, DNSRecord
from log_test_support import Stub, serve_through

from clusterdns import wire
from clusterdns.errors import PluginError
from clusterdns.plugin import Handler, ResponseWriter
from clusterdns.plugins.log.log import Log
from clusterdns.plugins.log.options import LogOptions, Rule
from clusterdns.plugins.log.replacer import COMMON_LOG_FORMAT
from clusterdns.request import Request
from clusterdns.testing import LogLines

SHORT = "{rcode} {>rflags} {rsize}"


def reply(rcode: int = 0, *, answer: bool = False, soa: bool = False, ns: bool = False) -> Stub:
    def build(req: Request) -> DNSRecord:
        msg = req.reply(rcode, authoritative=True)
        if answer:
            msg.add_answer(RR(req.qname, QTYPE.A, rdata=A("192.0.2.1"), ttl=30))
        if soa:
            msg.add_auth(RR("example.org.", QTYPE.SOA, rdata=SOA("ns.example.org.", "h.example.org.", (1, 2, 3, 4, 5))))
        if ns:
            msg.add_auth(RR("sub.example.org.", QTYPE.NS, rdata=NS("ns.sub.example.org.")))
        return msg

    return Stub(build=build)


def logger(stub: Handler, *classes: str, fmt: str = SHORT) -> Log:
    rule = Rule(".", fmt, frozenset(classes or {"all"}))
    return Log(stub, options=LogOptions(rules=(rule,)))


QUERY = dns.message.make_query("www.example.org.", "A", use_edns=False, id=11)

NXDOMAIN = dict(rcode=3, soa=True)
NODATA = dict(soa=True)
ANSWER = dict(answer=True)
DELEGATION = dict(ns=True)
SERVFAIL = dict(rcode=2)


@pytest.mark.parametrize(
    ("kind", "classes", "logged"),
    [
        (NXDOMAIN, ("denial",), True),
        (NODATA, ("denial",), True),
        (ANSWER, ("denial",), False),
        (DELEGATION, ("denial",), False),
        (SERVFAIL, ("denial",), False),
        (NXDOMAIN, ("success",), False),
        (ANSWER, ("success",), True),
        (DELEGATION, ("success",), True),
        (dict(), ("success",), True),  # NOERROR, empty, no SOA: a plain success
        (SERVFAIL, ("error",), True),
        (dict(rcode=5), ("error",), True),
        (dict(rcode=3, answer=True), ("error",), True),  # NXDOMAIN with an answer
        (NODATA, ("error",), False),
        (NXDOMAIN, ("denial", "error"), True),
        (ANSWER, ("denial", "error"), False),
        (ANSWER, ("all", "denial"), True),
    ],
)
async def test_class_filter(lines: LogLines, kind: dict, classes: tuple[str, ...], logged: bool) -> None:  # type: ignore[type-arg]
    await serve_through(logger(reply(**kind), *classes), QUERY)
    assert bool(lines.lines) is logged


async def test_reply_written_by_the_plugin(lines: LogLines) -> None:
    sent = await serve_through(logger(reply(**NXDOMAIN)), QUERY)
    assert sent is not None
    assert lines.lines == [f"[INFO] NXDOMAIN qr,aa,rd {len(sent)}"]


async def test_rcode_left_to_the_server_is_logged_as_coredns_makes_it_up(lines: LogLines) -> None:
    sent = await serve_through(logger(Stub(rcode=5), "error"), QUERY)
    assert sent is not None and dns.message.from_wire(sent).rcode() == dns.rcode.REFUSED
    assert lines.lines == ["[INFO] REFUSED qr,rd 33"]  # header, www.example.org. A IN


async def test_nothing_written_and_a_client_rcode_gives_dashes(lines: LogLines) -> None:
    # A plugin that returns NOERROR without writing: CoreDNS records no message at all.
    sent = await serve_through(logger(Stub(rcode=0)), QUERY)
    assert sent is None  # and, as in CoreDNS, the client gets no reply
    assert lines.lines == ["[INFO] - - 0"]


async def test_an_unanswered_query_counts_as_an_error(lines: LogLines) -> None:
    await serve_through(logger(Stub(rcode=0), "error"), QUERY)
    assert lines.lines == ["[INFO] - - 0"]


class Failing(Handler):
    name = "stub"

    async def serve_dns(self, req: Request, w: ResponseWriter) -> int:
        raise PluginError("stub", "upstream went away", rcode=2)


async def test_plugin_errors_are_logged_then_raised_on(lines: LogLines) -> None:
    chain = logger(Failing(None), fmt=COMMON_LOG_FORMAT)
    sent = await serve_through(chain, QUERY)
    assert sent is not None and dns.message.from_wire(sent).rcode() == dns.rcode.SERVFAIL
    (line,) = lines.lines
    assert re.fullmatch(
        r'\[INFO\] 192\.0\.2\.7:40000 - 11 "A IN www\.example\.org\. udp 33 false 512" '
        r"SERVFAIL qr,rd 33 (0|[1-9][0-9]*)(\.[0-9]+)?s",
        line,
    ), line


async def test_plugin_errors_propagate_after_the_line_is_written(lines: LogLines) -> None:
    with pytest.raises(PluginError, match="^plugin/stub: upstream went away$"):
        await logger(Failing(None)).serve_dns(_request(), _NullWriter())
    assert lines.lines == ["[INFO] SERVFAIL qr,rd 33"]


class _NullWriter:
    written = False

    def write_msg(self, msg: DNSRecord) -> None:
        raise AssertionError("nothing is written")


def _request() -> Request:
    parsed = wire.parse_query(QUERY.to_wire())
    assert isinstance(parsed, wire.Query)
    return Request(parsed, "udp", "192.0.2.7", 40000, "192.0.2.1", 53)


async def test_metadata_is_set_when_the_block_has_the_metadata_plugin(lines: LogLines) -> None:
    chain = logger(reply(**NODATA), fmt="{/log/type} {/log/class}")
    chain.metadata = True
    await serve_through(chain, QUERY)
    chain_off = logger(reply(**NODATA), fmt="{/log/type} {/log/class}")
    await serve_through(chain_off, QUERY)
    assert lines.lines == ["[INFO] NODATA denial", "[INFO] - -"]


async def test_rsize_is_the_message_as_written_before_the_opt_is_added(lines: LogLines) -> None:
    query = dns.message.make_query("www.example.org.", "A", use_edns=0, payload=1232)
    sent = await serve_through(logger(reply(**ANSWER)), query)
    assert sent is not None
    assert lines.lines == [f"[INFO] NOERROR qr,aa,rd {len(sent) - 11}"]  # the reply's OPT is 11 bytes


def big(req: Request) -> DNSRecord:
    msg = req.reply(authoritative=True)
    for index in range(40):
        msg.add_answer(RR(req.qname, QTYPE.TXT, rdata=TXT("x" * 40 + str(index)), ttl=30))
    return msg


async def test_truncated_udp_reply_logs_tc_and_the_full_size(lines: LogLines) -> None:
    sent = await serve_through(logger(Stub(build=big)), QUERY)
    assert sent is not None and dns.message.from_wire(sent).flags & 0x0200
    (line,) = lines.lines
    assert line.startswith("[INFO] NOERROR qr,aa,tc,rd ")
    assert int(line.rsplit(" ", 1)[1]) > 512
