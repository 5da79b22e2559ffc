"""Truncation: replies fit the client's buffer over UDP and come whole over TCP.

Acceptance (issue 2, item 5): an answer larger than 512 bytes over UDP without EDNS comes back
with TC and fits; with EDNS 1232 it fits 1232; over TCP it is whole. Records are cut one by one
as miekg/dns's ``Truncate`` does (not whole RRsets): musl's resolver, which does not retry over
TCP before musl 1.2.4, uses the records that fit.
"""

from __future__ import annotations

import dns.flags
import dns.message
import pytest

from clusterdns.testing import query, query_raw_udp, run_corefile

NAME = "big.example.org"
# 150 IPv6 addresses: 150 x 28 bytes compressed, far over 1232 and under 65535.
ADDRESSES = [f"2001:db8::{i:x}" for i in range(1, 151)]
COREFILE = "example.org {\n hosts {\n" + "".join(f"  {a} {NAME}\n" for a in ADDRESSES) + " }\n}\n"


async def _raw(port: int, *, edns: int | None) -> tuple[int, dns.message.Message]:
    if edns is None:  # dnspython turns EDNS on whenever a payload is given
        message = dns.message.make_query(NAME, "AAAA", use_edns=False)
    else:
        message = dns.message.make_query(NAME, "AAAA", use_edns=edns, payload=1232)
    wire = await query_raw_udp(port, message.to_wire())
    assert wire is not None
    return len(wire), dns.message.from_wire(wire, ignore_trailing=False)


async def test_udp_without_edns_is_truncated_to_512() -> None:
    async with run_corefile(COREFILE) as srv:
        size, reply = await _raw(srv.port, edns=None)
        assert size <= 512
        assert reply.flags & dns.flags.TC
        kept = len(reply.answer[0]) if reply.answer else 0
        assert 0 < kept < len(ADDRESSES)  # as many records as fit, not zero
        assert reply.edns == -1  # no OPT without one in the query


async def test_udp_with_edns_fits_the_advertised_size_and_keeps_opt() -> None:
    async with run_corefile(COREFILE) as srv:
        size, reply = await _raw(srv.port, edns=0)
        assert 512 < size <= 1232
        assert reply.flags & dns.flags.TC
        assert reply.edns == 0 and reply.payload == 1232


@pytest.mark.parametrize("payload", [100, 511])
async def test_edns_sizes_below_512_count_as_512(payload: int) -> None:
    async with run_corefile(COREFILE) as srv:
        message = dns.message.make_query(NAME, "AAAA", use_edns=0, payload=payload)
        wire = await query_raw_udp(srv.port, message.to_wire())
        assert wire is not None and 400 < len(wire) <= 512


async def test_tcp_answer_is_whole() -> None:
    async with run_corefile(COREFILE) as srv:
        reply = await query(srv.port, NAME, "AAAA", tcp=True)
        assert not reply.flags & dns.flags.TC
        assert sorted(r.address for r in reply.answer[0]) == sorted(ADDRESSES)


async def test_small_answer_is_not_truncated_nor_compressed() -> None:
    async with run_corefile("example.org {\n hosts {\n  10.0.0.1 small.example.org\n }\n}\n") as srv:
        message = dns.message.make_query("small.example.org", "A", use_edns=False)
        wire = await query_raw_udp(srv.port, message.to_wire())
        assert wire is not None
        reply = dns.message.from_wire(wire)
        assert not reply.flags & dns.flags.TC
        # Uncompressed, as CoreDNS sends replies that fit: the owner name is written in full.
        assert wire.count(b"\x05small\x07example\x03org\x00") == 2
