"""Hypothesis properties of the wire code under hostile input, extending tests/server/test_wire.py.

test_wire.py already feeds ``parse_query`` random bytes and single random mutations, and checks
``pack_reply`` round trips with a fixed set of small EDNS options. These properties add:

* the datagram fuzzer's structured mutations (compression loops and 100-300-hop chains, label
  lengths above 63, names above 255 octets, OPT twice, huge and tiny EDNS sizes, options cut
  short or overrunning, wrong counts, other opcodes) drawn by hypothesis: ``parse_query`` never
  raises, what it accepts is within the protocol's limits, whatever dnspython reads as a query it
  accepts too, and every rejection reply is a header dnspython reads with the query's ID;
* ``pack_reply`` over UDP with echoed EDNS options of any size (the client's own bytes, which
  CoreDNS sends back): the reply never exceeds the client's buffer, nor one datagram.
"""

from __future__ import annotations

import random
import struct
from typing import Final

import dns.flags
import dns.message
import dns.rdatatype
from dnslib import RR, A, DNSRecord
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from robustness_support import EDNS_NSID, EDNS_PADDING, packet

from clusterdns import wire
from clusterdns.wire import Edns, Query, Rejected, pack_reply, parse_query, rejection_reply

FUZZ_SETTINGS: Final = settings(
    max_examples=1500, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
PACK_SETTINGS: Final = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.generate, Phase.shrink],  # no explain phase: seconds per failure
)
MAX_UDP_PAYLOAD_IPV4: Final = 65507
MAX_UDP_PAYLOAD_IPV6: Final = 65527
EXPIRE, KEEPALIVE = 9, 11  # the other options CoreDNS echoes (COOKIE, 10, dnspython validates)


@FUZZ_SETTINGS
@given(st.integers(0, 2**64 - 1))
def test_parse_query_handles_every_structured_mutation(seed: int) -> None:
    data = packet(random.Random(seed))
    parsed = parse_query(data)
    assert isinstance(parsed, (Query, Rejected))
    if isinstance(parsed, Query):
        event("accepted")
        assert parsed.question_end <= len(data)
        assert all(0 < len(label) <= 63 for label in parsed.qname_labels)
        assert sum(len(label) + 1 for label in parsed.qname_labels) + 1 <= 255
        assert parsed.opcode in (wire.OPCODE_QUERY, wire.OPCODE_NOTIFY)
    else:
        event(f"rejected: {parsed.kind.value}")
        reply = rejection_reply(parsed)
        if reply is not None:
            assert reply[:2] == data[:2] and reply[2] & 0x80  # the query's ID, QR set
            message = dns.message.from_wire(reply)
            assert len(reply) <= 12 + 255 + 4
            assert message.answer == [] and message.authority == [] and message.additional == []
    # Whatever dnspython (stricter than miekg) reads as a well-formed query is accepted too.
    try:
        message = dns.message.from_wire(data, ignore_trailing=True)
    except Exception:  # noqa: BLE001 - most fuzz packets are not DNS messages
        return
    if message.flags & dns.flags.QR or message.opcode() not in (0, 4) or len(message.question) != 1:
        return
    # The counts from the header: dnspython merges identical records into one RRset.
    _, ancount, nscount, arcount = struct.unpack_from("!4H", data, 4)
    if ancount > 1 or nscount > 1 or arcount > 2:
        return
    event("dnspython reads it as a query")
    assert isinstance(parsed, Query), parsed
    assert parsed.qname_labels == message.question[0].name.labels[:-1]
    assert (parsed.edns is not None) == (message.edns >= 0)
    if parsed.edns is not None:
        assert parsed.edns.udp_size == message.payload


#: One to three options CoreDNS echoes, as (code, length): any size a query could carry.
echoed_options = st.lists(
    st.tuples(
        st.sampled_from([EDNS_PADDING, EDNS_PADDING, EDNS_NSID, EXPIRE, KEEPALIVE]),
        st.one_of(st.integers(0, 64), st.integers(0, 4200), st.integers(60_000, 65_400)),
    ),
    min_size=1,
    max_size=3,
).filter(lambda options: sum(4 + size for _, size in options) <= 65_400)  # fits in one query


def _reply(records: int) -> DNSRecord:
    reply = DNSRecord.question("web.demo.svc.cluster.local.", "A")
    reply.header.id = 0x4242
    reply.header.qr = 1
    for index in range(records):
        address = A(f"10.0.{index // 256}.{index % 256}")
        reply.add_answer(RR("web.demo.svc.cluster.local.", rdata=address, ttl=30))
    return reply


@PACK_SETTINGS
@given(
    records=st.integers(0, 300),
    udp_size=st.one_of(st.sampled_from([0, 511, 512, 1232, 4096, 65535]), st.integers(0, 65535)),
    options=echoed_options,
    ipv6=st.booleans(),
)
def test_udp_reply_with_echoed_options_never_exceeds_the_buffer(
    records: int, udp_size: int, options: list[tuple[int, int]], ipv6: bool
) -> None:
    limit = max(512, udp_size)
    data = b"".join(struct.pack("!HH", code, size) + bytes(size) for code, size in options)
    edns = Edns(udp_size=udp_size, version=0, do=False, flags_ttl=0, options=data)
    packed = pack_reply(_reply(records), query_edns=edns, limit=limit, udp=True, ipv6=ipv6)
    datagram = MAX_UDP_PAYLOAD_IPV6 if ipv6 else MAX_UDP_PAYLOAD_IPV4
    assert len(packed.wire) <= min(limit, datagram), (len(packed.wire), limit)
    message = dns.message.from_wire(packed.wire)
    assert message.id == 0x4242 and message.edns == 0 and message.payload == udp_size
    kept = sum(len(rrset) for rrset in message.answer)
    assert bool(message.flags & dns.flags.TC) == (kept < records) == packed.truncated
    assert all(rrset.rdtype == dns.rdatatype.A for rrset in message.answer)
    event("truncated" if packed.truncated else "whole")
