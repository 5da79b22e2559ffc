"""log through a real server: CoreDNS's query log line, byte for byte, and which queries log.

Queries are built with dnspython (an implementation independent of the server's dnslib) and
sent from a socket of the test's own, so the client port and query ID in the line are known.
Expected reply sizes are computed with dnspython from the reply *whoami* is specified to give,
packed without compression (CoreDNS logs the size of the message as the plugin wrote it).
"""

from __future__ import annotations

import io
import re

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from log_test_support import exchange_tcp, exchange_udp

from clusterdns.testing import LogLines, query, run_corefile

DURATION = r"(0|[1-9][0-9]*)(\.[0-9]+)?s"


def uncompressed_size(msg: dns.message.Message) -> int:
    """The length of ``msg`` packed without name compression and without an OPT record."""
    size = 12
    for question in msg.question:
        size += len(question.name.to_wire()) + 4
    for section in (msg.answer, msg.authority, msg.additional):
        for rrset in section:
            buffer = io.BytesIO()
            rrset.to_wire(buffer)  # no compression table: names written in full
            size += len(buffer.getvalue())
    return size


def whoami_reply(query_msg: dns.message.Message, proto: str, client: str, port: int) -> dns.message.Message:
    """The reply CoreDNS's whoami gives: AA, no answer, client address and port in additional."""
    reply = dns.message.make_response(query_msg)
    reply.use_edns(False)
    reply.flags |= dns.flags.AA
    qname = query_msg.question[0].name
    rdtype = "AAAA" if ":" in client else "A"
    reply.additional.append(dns.rrset.from_text(qname, 0, "IN", rdtype, client))
    srv_name = dns.name.Name((f"_{proto}".encode(), *qname.labels))
    reply.additional.append(dns.rrset.from_text(srv_name, 0, "IN", "SRV", f"0 0 {port} ."))
    return reply


def expected_line(
    msg: dns.message.Message, *, port: int, proto: str, do: str, bufsize: int, rflags: str, rcode: str, rsize: int,
    client: str = "127.0.0.1",
) -> str:
    remote = f"[{client}]" if ":" in client else client
    question = msg.question[0]
    head = (
        f"[INFO] {remote}:{port} - {msg.id} "
        f'"{dns.rdatatype.to_text(question.rdtype)} IN {question.name.to_text().lower()} {proto} '
        f'{len(msg.to_wire())} {do} {bufsize}" {rcode} {rflags} {rsize} '
    )
    return re.escape(head) + DURATION


async def test_common_log_line_is_coredns_byte_for_byte(lines: LogLines) -> None:
    async with run_corefile(". {\n log\n whoami\n}\n") as srv:
        msg = dns.message.make_query("example.org.", "A", use_edns=False, id=4242)
        data, port = await exchange_udp(srv.port, msg)
        line = await lines.wait_for(lambda text: text.startswith("[INFO] 127.0.0.1:"))
    rsize = uncompressed_size(whoami_reply(msg, "udp", "127.0.0.1", port))
    assert rsize == 91  # 12 + question 17 + A 27 + SRV 35
    expected = (
        f'[INFO] 127.0.0.1:{port} - 4242 "A IN example.org. udp 29 false 512" '
        f"NOERROR qr,aa,rd {rsize} "
    )
    assert line.startswith(expected)
    assert re.fullmatch(DURATION, line[len(expected) :])
    reply = dns.message.from_wire(data)
    assert reply.id == 4242 and dns.flags.to_text(reply.flags) == "QR AA RD"
    assert len(data) == rsize  # it fitted, so it went out uncompressed and unchanged


@pytest.mark.parametrize(
    ("tcp", "edns", "payload", "dnssec", "do", "bufsize"),
    [
        (False, 0, 4096, False, "false", 4096),
        (False, 0, 1232, True, "true", 1232),
        (False, 0, 256, False, "false", 512),
        (False, 0, 512, True, "true", 512),
        (True, False, 0, False, "false", 65535),
        (True, 0, 4096, True, "true", 65535),
    ],
    ids=["udp-edns4096", "udp-do", "udp-small-bufsize", "udp-do-512", "tcp", "tcp-edns-do"],
)
async def test_edns_do_bufsize_and_transport_variants(
    lines: LogLines, tcp: bool, edns: int | bool, payload: int, dnssec: bool, do: str, bufsize: int
) -> None:
    async with run_corefile(". {\n log\n whoami\n}\n") as srv:
        msg = dns.message.make_query(
            "Www.Example.org.", "AAAA", use_edns=edns, payload=payload or 1232, want_dnssec=dnssec
        )
        exchange = exchange_tcp if tcp else exchange_udp
        _, port = await exchange(srv.port, msg)
        line = await lines.wait_for(lambda text: text.startswith("[INFO]"))
    proto = "tcp" if tcp else "udp"
    rsize = uncompressed_size(whoami_reply(msg, proto, "127.0.0.1", port))
    pattern = expected_line(
        msg, port=port, proto=proto, do=do, bufsize=bufsize, rflags="qr,aa,rd", rcode="NOERROR", rsize=rsize
    )
    assert re.fullmatch(pattern, line), line


@pytest.mark.parametrize(
    ("flags", "rflags"),
    [(dns.flags.RD | dns.flags.CD, "qr,aa,rd,cd"), (0, "qr,aa"), (dns.flags.AD, "qr,aa")],
)
async def test_reply_flags(lines: LogLines, flags: int, rflags: str) -> None:
    async with run_corefile(". {\n log\n whoami\n}\n") as srv:
        msg = dns.message.make_query("example.org.", "A", flags=flags)
        _, port = await exchange_udp(srv.port, msg)
        line = await lines.wait_for(lambda text: text.startswith("[INFO]"))
    assert f" NOERROR {rflags} 91 " in line


async def test_ipv6_client_is_bracketed(lines: LogLines) -> None:
    async with run_corefile(". {\n bind ::1\n log\n whoami\n}\n") as srv:
        msg = dns.message.make_query("example.org.", "A", use_edns=False, id=7)
        _, port = await exchange_udp(srv.port, msg, host="::1")
        line = await lines.wait_for(lambda text: text.startswith("[INFO]"))
    rsize = uncompressed_size(whoami_reply(msg, "udp", "::1", port))
    pattern = expected_line(
        msg, port=port, proto="udp", do="false", bufsize=512, rflags="qr,aa,rd", rcode="NOERROR",
        rsize=rsize, client="::1",
    )
    assert re.fullmatch(pattern, line), line


async def test_errors_and_log_without_an_answering_plugin(lines: LogLines) -> None:
    async with run_corefile("example.org {\n errors\n log\n}\n") as srv:
        msg = dns.message.make_query("example.org.", "A", use_edns=False, id=999)
        data, port = await exchange_udp(srv.port, msg)
        await lines.wait_for(lambda text: text.startswith("[ERROR]"))
    assert dns.message.from_wire(data).rcode() == dns.rcode.SERVFAIL
    info, error = lines.lines
    # The line describes the minimal reply: question echoed, QR and RD, nothing else.
    made_up = dns.message.make_response(msg)
    made_up.set_rcode(dns.rcode.SERVFAIL)
    pattern = expected_line(
        msg, port=port, proto="udp", do="false", bufsize=512, rflags="qr,rd", rcode="SERVFAIL",
        rsize=uncompressed_size(made_up),
    )
    assert re.fullmatch(pattern, info), info
    assert " SERVFAIL qr,rd 29 " in info
    assert error == "[ERROR] plugin/errors: 2 example.org. A: plugin/log: no next plugin found"


async def test_log_without_errors_still_logs_the_servfail(lines: LogLines) -> None:
    async with run_corefile("example.org {\n log\n}\n") as srv:
        reply = await query(srv.port, "example.org", "MX", tcp=True)
        line = await lines.wait_for(lambda text: text.startswith("[INFO]"))
    assert reply.rcode() == dns.rcode.SERVFAIL
    assert '"MX IN example.org. tcp ' in line and " SERVFAIL qr,rd 29 " in line
    assert len(lines.lines) == 1


async def test_class_filters(lines: LogLines) -> None:
    corefile = (
        "success.example {\n log . {\n  class success\n }\n whoami\n}\n"
        "error.example {\n log . {\n  class error\n }\n}\n"
        "denial.example {\n log . {\n  class denial\n }\n whoami\n}\n"
        "both.example {\n log . {\n  class denial\n  class error\n }\n whoami\n}\n"
        "all.example {\n log . {\n  class denial all\n }\n}\n"
    )
    async with run_corefile(corefile) as srv:
        for name in ("success", "error", "denial", "both", "all", "error"):
            await query(srv.port, f"{name}.example", "A")
        await lines.wait_for(lambda text: "all.example" in text)
    logged = [re.search(r'"A IN (\S+) ', line).group(1) for line in lines.lines]  # type: ignore[union-attr]
    assert logged == ["success.example.", "error.example.", "all.example.", "error.example."]


async def test_only_the_first_matching_rule_applies(lines: LogLines) -> None:
    corefile = (
        ". {\n"
        ' log EXAMPLE.org "first {name}"\n'
        ' log . "second {name}" {\n  class error\n }\n'
        ' log . "third {name}"\n'
        " whoami\n}\n"
        "example.net {\n"
        ' log . "catch-all {name}"\n'
        ' log example.net "never {name}"\n'
        " whoami\n}\n"
    )
    async with run_corefile(corefile) as srv:
        for name in ("a.Example.ORG", "example.org", "badexample.org", "example.net", "x.example.net", "end.example.org"):
            await query(srv.port, name, "A")
        await lines.wait_for(lambda text: "end.example.org" in text)
    # "second" matches first for other names but filters on errors, so nothing is logged for
    # them: later rules are never consulted.
    assert lines.lines == [
        "[INFO] first a.example.org.",
        "[INFO] first example.org.",
        "[INFO] catch-all example.net.",
        "[INFO] catch-all x.example.net.",
        "[INFO] first end.example.org.",
    ]


async def test_queries_matching_no_rule_are_not_logged(lines: LogLines) -> None:
    async with run_corefile(". {\n log example.org\n log example.com\n whoami\n}\n") as srv:
        await query(srv.port, "example.net", "A")
        await query(srv.port, "www.example.com", "A")
        await lines.wait_for(lambda text: "www.example.com" in text)
    assert len(lines.lines) == 1


async def test_custom_format(lines: LogLines) -> None:
    corefile = (
        '. {\n log . "{proto} Request: {name} {type} {>id} {unknown} {/log/class} '
        '{local} {>opcode} {class} { {rcode} } {size}"\n whoami\n}\n'
    )
    async with run_corefile(corefile) as srv:
        msg = dns.message.make_query("Example.org.", "TXT", use_edns=False, id=77)
        await exchange_tcp(srv.port, msg)
        line = await lines.wait_for(lambda text: text.startswith("[INFO]"))
    # No metadata plugin in the block: {/log/class} is "-", as in CoreDNS. Over TCP {local} is
    # the connection's address (over UDP CoreDNS reports the listening socket's, e.g. [::]).
    assert line == "[INFO] tcp Request: example.org. TXT 77 {unknown} - 127.0.0.1 0 IN { NOERROR } 29"


async def test_combined_format(lines: LogLines) -> None:
    async with run_corefile(". {\n log . {combined}\n whoami\n}\n") as srv:
        await query(srv.port, "example.org", "A", tcp=True)
        line = await lines.wait_for(lambda text: text.startswith("[INFO]"))
    assert re.fullmatch(
        r'\[INFO\] 127\.0\.0\.1:\d+ - \d+ "A IN example\.org\. tcp \d+ (true|false) 65535" '
        rf'NOERROR qr,aa,rd \d+ {DURATION} "0"',
        line,
    ), line


async def test_a_lone_format_argument_is_a_name(lines: LogLines) -> None:
    async with run_corefile(". {\n log {combined}\n whoami\n}\n") as srv:
        await query(srv.port, "example.org", "A")
        await query(srv.port, "{combined}.", "A")
        line = await lines.wait_for(lambda text: text.startswith("[INFO]"))
    assert '"A IN {combined}. udp ' in line and not line.endswith('"0"')
    assert len(lines.lines) == 1


async def test_every_block_has_its_own_rules(lines: LogLines) -> None:
    corefile = 'example.org {\n log . "org {name}"\n whoami\n}\nexample.net {\n whoami\n}\n'
    async with run_corefile(corefile) as srv:
        await query(srv.port, "example.net", "A")
        await query(srv.port, "example.org", "A")
        await lines.wait_for(lambda text: "example.org" in text)
    assert lines.lines == ["[INFO] org example.org."]
