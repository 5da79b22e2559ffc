"""Serving: one listener for several blocks, zone dispatch, REFUSED outside every zone.

Acceptance (issue 2, item 2): a server started from a Corefile with two blocks on one port
answers each zone from its own chain and REFUSED for a zone in neither, over UDP and TCP,
checked with dnspython and with dig.
"""

from __future__ import annotations

import asyncio
import shutil

import dns.rcode
import dns.rdatatype
import pytest

from clusterdns.testing import query, run_corefile

# Two blocks on one port; each chain is recognisable by what it answers:
# example.org. is served by hosts, example.net. by whoami; nothing serves the rest.
TWO_BLOCKS = """
example.org {
    hosts {
        10.1.1.1 www.example.org
    }
}
example.net {
    whoami
}
"""


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_each_zone_is_answered_by_its_own_chain(tcp: bool) -> None:
    async with run_corefile(TWO_BLOCKS) as srv:
        org = await query(srv.port, "www.example.org", "A", tcp=tcp)
        assert [r.to_text() for r in org.answer[0]] == ["10.1.1.1"]
        net = await query(srv.port, "host.example.net", "A", tcp=tcp)
        assert net.answer == []
        assert net.additional[0].to_text().endswith("IN A 127.0.0.1")  # whoami's reflection


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_zone_in_no_block_is_refused(tcp: bool) -> None:
    async with run_corefile(TWO_BLOCKS) as srv:
        reply = await query(srv.port, "www.example.com", "A", tcp=tcp)
        assert reply.rcode() == dns.rcode.REFUSED
        assert reply.flags & 0x0400 == 0  # no AA on server-written errors


async def test_most_specific_zone_wins() -> None:
    corefile = """
    . {
        whoami
    }
    sub.example.org {
        hosts {
            10.2.2.2 a.sub.example.org
        }
    }
    """
    async with run_corefile(corefile) as srv:
        deep = await query(srv.port, "a.sub.example.org", "A")
        assert [r.to_text() for r in deep.answer[0]] == ["10.2.2.2"]
        shallow = await query(srv.port, "a.example.org", "A")
        assert shallow.answer == [] and shallow.additional  # whoami, from the root block


async def test_no_fallback_from_a_block_to_the_root_block() -> None:
    # hosts without fallthrough returns SERVFAIL for an unknown name; the query must not be
    # retried in the "." block (CoreDNS: only the most specific block's chain runs).
    corefile = """
    . {
        whoami
    }
    example.org {
        hosts {
            10.1.1.1 www.example.org
        }
    }
    """
    async with run_corefile(corefile) as srv:
        reply = await query(srv.port, "nothere.example.org", "A")
        assert reply.rcode() == dns.rcode.SERVFAIL


async def test_block_without_plugins_is_refused() -> None:
    async with run_corefile("example.org {\n}\n. {\n whoami\n}\n") as srv:
        reply = await query(srv.port, "www.example.org", "A")
        assert reply.rcode() == dns.rcode.REFUSED


async def test_chain_that_runs_out_is_servfail() -> None:
    # any passes every non-ANY query on; with nothing after it the chain runs out.
    async with run_corefile(". {\n any\n}\n") as srv:
        reply = await query(srv.port, "example.org", "A")
        assert reply.rcode() == dns.rcode.SERVFAIL


async def test_chain_order_is_the_registry_not_the_corefile() -> None:
    # whoami is written first, any second; the registry puts any before whoami, so ANY
    # queries get the RFC 8482 answer and other types reach whoami.
    async with run_corefile(". {\n whoami\n any\n}\n") as srv:
        reply = await query(srv.port, "example.org", "ANY")
        assert reply.answer[0].rdtype == dns.rdatatype.HINFO
        other = await query(srv.port, "example.org", "A")
        assert other.additional[0].rdtype == dns.rdatatype.A


async def test_query_case_is_kept_in_the_question() -> None:
    async with run_corefile(". {\n whoami\n}\n") as srv:
        reply = await query(srv.port, "WwW.ExAmPlE.oRg", "A")
        assert reply.question[0].name.to_text() == "WwW.ExAmPlE.oRg."


async def _dig(*args: str) -> str:
    dig = shutil.which("dig")
    assert dig, "dig is needed for this test (Debian package dnsutils; .ci/run installs it)"
    process = await asyncio.create_subprocess_exec(
        dig, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), 10)
    return stdout.decode()


@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
async def test_dig_sees_each_zone_and_the_refusal(transport: str) -> None:
    async with run_corefile(TWO_BLOCKS) as srv:
        common = ["@127.0.0.1", "-p", str(srv.port), transport, "+tries=1", "+time=2"]
        org = await _dig(*common, "www.example.org", "A", "+short")
        assert org.strip() == "10.1.1.1"
        net = await _dig(*common, "host.example.net", "A")
        assert "status: NOERROR" in net and "_" in net and "IN\tSRV" in net
        refused = await _dig(*common, "www.example.com", "A")
        assert "status: REFUSED" in refused


