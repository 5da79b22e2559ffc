"""whoami: every type answered, client address, port and transport reflected."""

from __future__ import annotations

import dns.rcode
import dns.rdatatype
import pytest

from clusterdns.testing import query, run_corefile


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
@pytest.mark.parametrize("qtype", ["A", "AAAA", "MX", "TXT"])
async def test_reflects_client_for_every_type(tcp: bool, qtype: str) -> None:
    async with run_corefile(". {\n whoami\n}\n") as srv:
        reply = await query(srv.port, "Example.org", qtype, tcp=tcp)
        assert reply.rcode() == dns.rcode.NOERROR
        assert reply.flags & 0x0400  # AA
        assert reply.answer == []
        address, srv_record = reply.additional
        assert address.name.to_text() == "Example.org."  # the query's case is kept
        assert address.rdtype == dns.rdatatype.A and address[0].address == "127.0.0.1"
        assert address.ttl == 0
        proto = "tcp" if tcp else "udp"
        assert srv_record.name.to_text() == f"_{proto}.Example.org."
        assert srv_record[0].target.to_text() == "." and srv_record[0].port > 0


async def test_root_name_gets_proto_label_only() -> None:
    async with run_corefile(". {\n whoami\n}\n") as srv:
        reply = await query(srv.port, ".", "NS")
        assert reply.additional[1].name.to_text() == "_udp."


async def test_ipv6_client_gets_aaaa() -> None:
    async with run_corefile(". {\n bind ::1\n whoami\n}\n") as srv:
        reply = await query(srv.port, "example.org", "A", host="::1")
        assert reply.additional[0].rdtype == dns.rdatatype.AAAA
        assert reply.additional[0][0].address == "::1"


async def test_arguments_are_rejected() -> None:
    with pytest.raises(Exception) as info:
        async with run_corefile(". {\n whoami extra\n}\n"):
            pass
    assert "plugin/whoami: Corefile:2 - Error during parsing: Wrong argument count" in str(info.value)
