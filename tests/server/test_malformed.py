"""Malformed and hostile input through a real server, over UDP and TCP.

What miekg/dns and CoreDNS do with it (coredns-features.md 3.1, 3.2; miekg ``server.go``
``serveDNS``/``serveTCPConn``, ``acceptfunc.go``; CoreDNS ``core/dnsserver/server.go``
``ServeDNS``, ``plugin/pkg/edns`` ``Version``): no reply for what cannot be a query, FORMERR or
NOTIMP for what is a bad one, REFUSED for a class other than IN, BADVERS for EDNS above version
0, SERVFAIL when a plugin blows up. After every case the server must still answer a normal
query, which ``assert_serving`` checks with dnspython over both transports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import AsyncIterator

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest

from clusterdns import metrics, wire
from clusterdns.server import tcp as tcp_module
from clusterdns.testing import RunningServer, query, query_raw_tcp, query_raw_udp, run_corefile

COREFILE = ". {\n    whoami\n}\n"
NO_REPLY_SECONDS = 0.3  # how long "no reply" is waited for
TIMEOUT_SECONDS = 2.0  # every other wait

QR, AA, TC, RD, RA, Z, AD, CD = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0040, 0x0020, 0x0010


# --- building queries ---------------------------------------------------------------------


def header(qid: int, flags: int = RD, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0) -> bytes:
    return struct.pack("!6H", qid, flags, qd, an, ns, ar)


def wname(name: str) -> bytes:
    return dns.name.from_text(name).to_wire()


def question(name: str = "example.org.", qtype: int = 1, qclass: int = 1) -> bytes:
    return wname(name) + struct.pack("!HH", qtype, qclass)


def opt(udp: int = 1232, ttl: int = 0, options: bytes = b"", owner: bytes = b"\x00") -> bytes:
    return owner + struct.pack("!HHIH", 41, udp, ttl, len(options)) + options


def good_query(qid: int, name: str = "example.org.") -> bytes:
    return header(qid) + question(name)


def frame(message: bytes) -> bytes:
    return struct.pack("!H", len(message)) + message


def reply_id(data: bytes) -> int:
    return struct.unpack_from("!H", data)[0]


def assert_whoami_answer(reply: dns.message.Message, name: str, proto: str) -> None:
    assert reply.rcode() == dns.rcode.NOERROR, reply
    assert reply.question[0].name == dns.name.from_text(name)
    address, srv_record = reply.additional
    assert address.rdtype == dns.rdatatype.A and address[0].address == "127.0.0.1"
    assert srv_record.name == dns.name.from_text(f"_{proto}.{name}")


async def assert_serving(port: int) -> None:
    """A normal query from dnspython is answered right, over UDP and over TCP."""
    for tcp in (False, True):
        reply = await query(port, "alive.example.org", "A", tcp=tcp, timeout=TIMEOUT_SECONDS)
        assert_whoami_answer(reply, "alive.example.org.", "tcp" if tcp else "udp")


@pytest.fixture
async def srv() -> AsyncIterator[RunningServer]:
    async with run_corefile(COREFILE) as running:
        yield running


# --- raw clients ---------------------------------------------------------------------------


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.replies.put_nowait(data)


@contextlib.asynccontextmanager
async def udp_socket(port: int) -> AsyncIterator[tuple[asyncio.DatagramTransport, _Datagrams]]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        _Datagrams, remote_addr=("127.0.0.1", port), family=socket.AF_INET
    )
    try:
        yield transport, protocol
    finally:
        transport.close()


async def udp_only_reply_is_the_good_one(port: int, datagrams: list[bytes]) -> None:
    """Send ``datagrams`` then a good query from one socket: only the good one is answered."""
    async with udp_socket(port) as (transport, protocol):
        for datagram in datagrams:
            transport.sendto(datagram)
        transport.sendto(good_query(0x600D))
        first = await asyncio.wait_for(protocol.replies.get(), TIMEOUT_SECONDS)
        assert reply_id(first) == 0x600D, first
        with pytest.raises(TimeoutError):
            stray = await asyncio.wait_for(protocol.replies.get(), NO_REPLY_SECONDS)
            pytest.fail(f"unexpected reply {stray!r}")


class TCPClient:
    """One raw TCP connection to the server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), TIMEOUT_SECONDS)

    async def recv(self, timeout: float = TIMEOUT_SECONDS) -> bytes:
        length = struct.unpack("!H", await asyncio.wait_for(self.reader.readexactly(2), timeout))[0]
        return await asyncio.wait_for(self.reader.readexactly(length), timeout)

    async def assert_nothing_more(self) -> None:
        with pytest.raises(TimeoutError):
            data = await asyncio.wait_for(self.reader.read(1), NO_REPLY_SECONDS)
            pytest.fail(f"unexpected data or close from the server: {data!r}")

    async def closed_by_server(self, timeout: float = TIMEOUT_SECONDS) -> bool:
        try:
            return await asyncio.wait_for(self.reader.read(1), timeout) == b""
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True


@contextlib.asynccontextmanager
async def tcp_client(port: int) -> AsyncIterator[TCPClient]:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT_SECONDS)
    try:
        yield TCPClient(reader, writer)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await asyncio.wait_for(writer.wait_closed(), TIMEOUT_SECONDS)


async def tcp_good_query_still_answered(client: TCPClient, qid: int = 0x600D) -> None:
    await client.send(frame(good_query(qid, "after.example.org.")))
    reply = await client.recv()
    assert reply_id(reply) == qid
    assert_whoami_answer(dns.message.from_wire(reply), "after.example.org.", "tcp")


async def one_reply(port: int, message: bytes, transport: str) -> bytes:
    if transport == "udp":
        reply = await query_raw_udp(port, message, timeout=TIMEOUT_SECONDS)
        assert reply is not None
        return reply
    (reply,) = await query_raw_tcp(port, [message], expect=1, timeout=TIMEOUT_SECONDS)
    return reply


TRANSPORTS = pytest.mark.parametrize("transport", ["udp", "tcp"])


# --- datagrams that get no reply ---------------------------------------------------------------


async def test_truncated_headers_get_no_reply_over_udp(srv: RunningServer) -> None:
    short = [header(0x1000 + n)[:n] for n in range(12)]
    await udp_only_reply_is_the_good_one(srv.port, short)
    await assert_serving(srv.port)


async def test_responses_get_no_reply_over_udp(srv: RunningServer) -> None:
    responses = [
        header(0x2001, flags=QR | RD) + question(),
        header(0x2002, flags=QR | (5 << 11), qd=0),  # QR wins over a bad opcode and counts
    ]
    await udp_only_reply_is_the_good_one(srv.port, responses)
    await assert_serving(srv.port)


async def test_truncated_headers_and_responses_get_no_reply_over_tcp(srv: RunningServer) -> None:
    async with tcp_client(srv.port) as client:
        frames = [frame(header(0x1000 + n)[:n]) for n in range(12)]
        frames.append(frame(header(0x2001, flags=QR | RD) + question()))
        await client.send(b"".join(frames))
        await tcp_good_query_still_answered(client)
        await client.assert_nothing_more()
    await assert_serving(srv.port)


# --- FORMERR and NOTIMP ---------------------------------------------------------------------


@TRANSPORTS
@pytest.mark.parametrize(
    "qname",
    [
        pytest.param(b"\xc0\x0c", id="pointer-to-itself"),
        pytest.param(b"\x01a\xc0\x0c", id="loop-through-a-label"),
        pytest.param(b"\xc0\xff", id="pointer-past-the-end"),
        pytest.param(b"\x40abc\x00", id="reserved-label-type"),
    ],
)
async def test_bad_question_name_gets_header_only_formerr(
    srv: RunningServer, transport: str, qname: bytes
) -> None:
    reply = await one_reply(srv.port, header(0x3001) + qname + b"\x00\x01\x00\x01", transport)
    assert reply == header(0x3001, flags=QR | RD | wire.FORMERR, qd=0)
    await assert_serving(srv.port)


@TRANSPORTS
async def test_pointer_loop_after_the_question_gets_formerr_with_the_question(
    srv: RunningServer, transport: str
) -> None:
    loop_at = 12 + len(question())
    message = header(0x3002, ar=1) + question() + opt(owner=struct.pack("!H", 0xC000 | loop_at))
    reply = await one_reply(srv.port, message, transport)
    assert reply == header(0x3002, flags=QR | RD | wire.FORMERR, qd=1) + question()
    await assert_serving(srv.port)


@TRANSPORTS
@pytest.mark.parametrize(
    ("counts", "body"),
    [
        pytest.param((0, 0, 0, 0), b"", id="qdcount-0"),
        pytest.param((2, 0, 0, 0), question() + question(), id="qdcount-2"),
        pytest.param((1, 2, 0, 0), question(), id="ancount-2"),
        pytest.param((1, 0, 2, 0), question(), id="nscount-2"),
        pytest.param((1, 0, 0, 3), question(), id="arcount-3"),
    ],
)
async def test_wrong_counts_get_header_only_formerr(
    srv: RunningServer, transport: str, counts: tuple[int, int, int, int], body: bytes
) -> None:
    qd, an, ns, ar = counts
    reply = await one_reply(srv.port, header(0x3003, RD | CD, qd, an, ns, ar) + body, transport)
    assert reply == header(0x3003, flags=QR | RD | CD | wire.FORMERR, qd=0)
    await assert_serving(srv.port)


@TRANSPORTS
@pytest.mark.parametrize("opcode", [2, 5, 15])
async def test_other_opcodes_get_header_only_notimp(srv: RunningServer, transport: str, opcode: int) -> None:
    reply = await one_reply(srv.port, header(0x3004, flags=opcode << 11) + question(), transport)
    assert reply == header(0x3004, flags=QR | (opcode << 11) | wire.NOTIMP, qd=0)
    await assert_serving(srv.port)


@TRANSPORTS
async def test_bare_header_gets_servfail_without_question(srv: RunningServer, transport: str) -> None:
    reply = await one_reply(srv.port, header(0x3005, flags=RD | CD), transport)
    assert reply == header(0x3005, flags=QR | RD | CD | wire.SERVFAIL, qd=0)
    await assert_serving(srv.port)


# --- classes other than IN -----------------------------------------------------------------------


@TRANSPORTS
@pytest.mark.parametrize(
    "qclass",
    [
        pytest.param(dns.rdataclass.CH, id="CHAOS"),
        pytest.param(dns.rdataclass.HS, id="HESIOD"),
        pytest.param(0, id="class-0"),
        pytest.param(dns.rdataclass.NONE, id="NONE"),
        pytest.param(dns.rdataclass.ANY, id="ANY"),
    ],
)
async def test_non_in_class_is_refused_with_the_question(
    srv: RunningServer, transport: str, qclass: int
) -> None:
    message = header(0x4001) + question("version.bind.", dns.rdatatype.TXT, qclass)
    reply = await one_reply(srv.port, message, transport)
    assert reply == header(0x4001, flags=QR | RD | wire.REFUSED, qd=1) + question(
        "version.bind.", dns.rdatatype.TXT, qclass
    )
    await assert_serving(srv.port)


@TRANSPORTS
@pytest.mark.parametrize("version", [0, 1], ids=["edns0", "edns1-refused-before-badvers"])
async def test_non_in_class_refusal_carries_the_opt(srv: RunningServer, transport: str, version: int) -> None:
    message = header(0x4002, ar=1) + question("version.bind.", 16, 3) + opt(2048, (version << 16) | 0x8000)
    reply = dns.message.from_wire(await one_reply(srv.port, message, transport))
    assert reply.rcode() == dns.rcode.REFUSED
    assert reply.question[0].rdclass == dns.rdataclass.CH
    assert reply.edns == 0 and reply.payload == 2048
    assert reply.ednsflags & dns.flags.DO
    assert reply.answer == [] and reply.additional == []
    await assert_serving(srv.port)


async def test_question_cut_after_its_name_is_class_0_and_refused(srv: RunningServer) -> None:
    # miekg reads a missing type and class as 0; class 0 is not IN.
    reply = await one_reply(srv.port, header(0x4003) + wname("example.org."), "udp")
    assert reply == header(0x4003, flags=QR | RD | wire.REFUSED, qd=1) + wname("example.org.") + bytes(4)
    await assert_serving(srv.port)


# --- EDNS version -------------------------------------------------------------------------------


def _badvers_query(qid: int, version: int = 1) -> bytes:
    cookie = struct.pack("!HH", 10, 8) + b"abcdefgh"
    return header(qid, flags=RD | CD, ar=1) + question() + opt(4096, (version << 16) | 0x8000, cookie)


@TRANSPORTS
@pytest.mark.parametrize("version", [1, 255])
async def test_edns_version_above_0_gets_badvers(srv: RunningServer, transport: str, version: int) -> None:
    data = await one_reply(srv.port, _badvers_query(0x5001, version), transport)
    flags = struct.unpack_from("!H", data, 2)[0]
    assert flags & 0xF == 0  # BADVERS (16) lives in the OPT: header rcode 0
    assert flags & ~0xF == QR | RD | CD  # SetReply: RD and CD copied, no AA
    reply = dns.message.from_wire(data)
    assert reply.rcode() == dns.rcode.BADVERS
    assert reply.edns == 0  # the version we do speak
    assert not reply.ednsflags & dns.flags.DO
    assert reply.options == ()  # a fresh OPT: the query's cookie is not echoed
    assert reply.answer == [] and reply.additional == []  # the chain never ran
    await assert_serving(srv.port)


@TRANSPORTS
async def test_badvers_reply_echoes_the_question(srv: RunningServer, transport: str) -> None:
    # edns.Version builds the reply with SetReply, which copies the question (CoreDNS's own
    # TestVersion: "Expected question section, but got nil").
    reply = dns.message.from_wire(await one_reply(srv.port, _badvers_query(0x5002), transport))
    assert reply.rcode() == dns.rcode.BADVERS
    assert [(q.name, q.rdtype, q.rdclass) for q in reply.question] == [
        (dns.name.from_text("example.org."), dns.rdatatype.A, dns.rdataclass.IN)
    ]
    await assert_serving(srv.port)


# --- TCP framing ------------------------------------------------------------------------------------


async def test_zero_length_frame_is_ignored_and_the_connection_stays_usable(srv: RunningServer) -> None:
    async with tcp_client(srv.port) as client:
        await client.send(b"\x00\x00")
        await client.assert_nothing_more()
        await tcp_good_query_still_answered(client)
    await assert_serving(srv.port)


async def test_65535_octets_of_ff_are_dropped_as_a_response(srv: RunningServer) -> None:
    async with tcp_client(srv.port) as client:
        await client.send(frame(b"\xff" * 65535))  # flags 0xffff: QR set, so no reply
        await tcp_good_query_still_answered(client)
        await client.assert_nothing_more()
    await assert_serving(srv.port)


async def test_65535_octet_frame_of_garbage_after_a_header_gets_formerr(srv: RunningServer) -> None:
    # The qname starts with 0xff: a pointer to 0x3fff, itself 0xff, and so on until miekg's
    # limit of compression pointers: FORMERR, no question.
    async with tcp_client(srv.port) as client:
        await client.send(frame(header(0x6001, flags=0) + b"\xff" * (65535 - 12)))
        assert await client.recv() == header(0x6001, flags=QR | wire.FORMERR, qd=0)
        await tcp_good_query_still_answered(client)
    await assert_serving(srv.port)


async def test_valid_65535_octet_query_padded_with_edns_padding(srv: RunningServer) -> None:
    # The PADDING option is echoed, so the reply is as large as the query: its OPT takes all
    # the room left after the question and every whoami record is cut, with TC set (miekg's
    # Truncate keeps the OPT and reserves its length first).
    head = header(0x6002, ar=1) + question()
    padding = 65535 - len(head) - 11 - 4
    message = head + opt(4096, 0, struct.pack("!HH", 12, padding) + bytes(padding))
    assert len(message) == 65535
    async with tcp_client(srv.port) as client:
        await client.send(frame(message))
        data = await client.recv()
        assert len(data) == 65535
        reply = dns.message.from_wire(data)
        assert reply.id == 0x6002 and reply.rcode() == dns.rcode.NOERROR
        assert reply.flags & dns.flags.TC
        assert reply.question[0].name == dns.name.from_text("example.org.")
        assert reply.additional == []
        assert [(o.otype, len(o.to_wire())) for o in reply.options] == [(12, padding)]
        await tcp_good_query_still_answered(client)
    await assert_serving(srv.port)


async def test_length_prefix_without_body_then_close(srv: RunningServer) -> None:
    async with tcp_client(srv.port) as client:
        await client.send(b"\x00\x40")
    async with tcp_client(srv.port) as client:  # and one cut inside the body
        await client.send(frame(good_query(0x6003))[:20])
    await assert_serving(srv.port)


async def test_pipelined_queries_on_one_connection_are_all_answered(srv: RunningServer) -> None:
    names = {0x7000 + i: f"q{i}.example.org." for i in range(20)}
    async with tcp_client(srv.port) as client:
        await client.send(b"".join(frame(good_query(qid, name)) for qid, name in names.items()))
        answered = {}
        for _ in names:
            data = await client.recv()
            answered[reply_id(data)] = dns.message.from_wire(data)
        assert answered.keys() == names.keys()
        for qid, reply in answered.items():
            assert_whoami_answer(reply, names[qid], "tcp")
        await client.assert_nothing_more()
    await assert_serving(srv.port)


# --- TCP timeouts ------------------------------------------------------------------------------------


async def test_connection_idle_after_an_answer_is_closed(
    srv: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tcp_module, "IDLE_TIMEOUT_SECONDS", 0.2)
    monkeypatch.setattr(tcp_module, "READ_TIMEOUT_SECONDS", 60.0)
    async with tcp_client(srv.port) as client:
        await tcp_good_query_still_answered(client)
        assert await client.closed_by_server()
    await assert_serving(srv.port)


async def test_client_that_sends_nothing_is_closed(
    srv: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tcp_module, "IDLE_TIMEOUT_SECONDS", 0.2)
    monkeypatch.setattr(tcp_module, "READ_TIMEOUT_SECONDS", 0.2)
    async with tcp_client(srv.port) as client:
        assert await client.closed_by_server()
    await assert_serving(srv.port)


async def test_client_that_sends_nothing_is_closed_after_the_read_timeout(
    srv: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # miekg's serveTCPConn waits for the first query with the read timeout (3 s in CoreDNS)
    # and only for later ones with the idle timeout (10 s).
    monkeypatch.setattr(tcp_module, "READ_TIMEOUT_SECONDS", 0.2)
    monkeypatch.setattr(tcp_module, "IDLE_TIMEOUT_SECONDS", 60.0)
    async with tcp_client(srv.port) as client:
        assert await client.closed_by_server()
    await assert_serving(srv.port)


async def test_query_cut_short_is_closed_after_the_read_timeout(
    srv: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tcp_module, "READ_TIMEOUT_SECONDS", 0.2)
    monkeypatch.setattr(tcp_module, "IDLE_TIMEOUT_SECONDS", 0.2)
    async with tcp_client(srv.port) as client:
        await tcp_good_query_still_answered(client)
        await client.send(frame(good_query(0x6004))[:10])
        assert await client.closed_by_server()
    await assert_serving(srv.port)


# --- a plugin that raises -------------------------------------------------------------------------------


async def test_plugin_exception_is_servfail_counted_as_panic(
    srv: RunningServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert srv.runtime.instance is not None
    handler = srv.runtime.instance.blocks[0].handlers["whoami"]

    async def explode(req: object, w: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(handler, "serve_dns", explode)
    before = metrics.PANICS._value.get()
    with caplog.at_level(logging.ERROR, logger="clusterdns"):
        for tcp in (False, True):
            reply = await query(srv.port, "panic.example.org", "A", tcp=tcp, use_edns=True, payload=1400)
            assert reply.rcode() == dns.rcode.SERVFAIL
            assert reply.question[0].name == dns.name.from_text("panic.example.org.")
            assert not reply.flags & dns.flags.AA
            assert reply.edns == 0 and reply.payload == 1400  # the server's error reply has the OPT
    assert metrics.PANICS._value.get() == before + 2
    assert b"coredns_panics_total " in metrics.exposition()
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(messages) == 2
    assert all(m.startswith('Recovered from panic in server: "') and m.endswith(" boom") for m in messages)

    monkeypatch.undo()
    await assert_serving(srv.port)
