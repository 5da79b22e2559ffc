"""any: ANY gets the RFC 8482 HINFO (owner case kept, AA not set); other types pass through."""

from __future__ import annotations

import re
from pathlib import Path

import dns.flags
import dns.rcode
import dns.rdatatype
import pytest

from clusterdns.errors import PluginSetupError
from clusterdns.testing import query, run_corefile

README = Path(__file__).resolve().parents[3] / "plugins" / "any" / "README.md"


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_any_gets_hinfo(tcp: bool) -> None:
    async with run_corefile(". {\n any\n whoami\n}\n") as srv:
        reply = await query(srv.port, "ExAmple.Org.", "ANY", tcp=tcp)
        assert reply.rcode() == dns.rcode.NOERROR
        assert not reply.flags & dns.flags.AA
        assert reply.flags & dns.flags.RD  # copied from the query
        [rrset] = reply.answer
        assert rrset.name.to_text() == "ExAmple.Org."  # the query's case is kept
        assert rrset.rdtype == dns.rdatatype.HINFO and rrset.ttl == 8482
        assert [(r.cpu, r.os) for r in rrset] == [(b"ANY obsoleted", b"See RFC 8482")]
        assert reply.authority == [] and reply.additional == []


@pytest.mark.parametrize("qtype", ["A", "AAAA", "MX", "TXT", "CNAME", "HINFO"])
async def test_other_types_pass_through(qtype: str) -> None:
    async with run_corefile(". {\n any\n whoami\n}\n") as srv:
        reply = await query(srv.port, "example.org.", qtype)
        assert reply.answer == []
        assert reply.additional  # whoami answered


async def test_any_needs_no_next_plugin() -> None:
    async with run_corefile(". {\n any\n}\n") as srv:
        reply = await query(srv.port, "example.org.", "ANY")
        assert reply.rcode() == dns.rcode.NOERROR and len(reply.answer) == 1
        reply = await query(srv.port, "example.org.", "A")
        assert reply.rcode() == dns.rcode.SERVFAIL  # no next plugin


async def test_any_runs_before_hosts() -> None:
    async with run_corefile(". {\n hosts {\n 10.0.0.1 example.org\n }\n any\n}\n") as srv:
        reply = await query(srv.port, "example.org.", "ANY")
        assert reply.answer[0].rdtype == dns.rdatatype.HINFO


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("any example.org", "Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after 'example.org'"),
        # the block's brace is read as an argument, as in CoreDNS
        ("any {\nfoo\n}", "Corefile:2 - Error during parsing: Unexpected token '{', expecting argument"),
        ("any {\n}", "Corefile:2 - Error during parsing: Unexpected token '{', expecting argument"),
    ],
    ids=["argument", "block", "empty-block"],
)
async def test_setup_errors(lines: str, message: str) -> None:
    with pytest.raises(PluginSetupError) as info:
        async with run_corefile(f". {{\n{lines}\n}}\n"):
            pass
    assert str(info.value) == f"plugin/any: {message}"


async def test_readme_example() -> None:
    [corefile] = re.findall(r"```corefile\n(.*?)```", README.read_text(), re.S)
    async with run_corefile(corefile) as srv:
        reply = await query(srv.port, "example.org.", "ANY")
        assert reply.answer[0].to_text() == 'example.org. 8482 IN HINFO "ANY obsoleted" "See RFC 8482"'
