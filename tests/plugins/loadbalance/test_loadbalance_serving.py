"""loadbalance through a real server, in front of hosts and whoami."""

from __future__ import annotations

import dns.rdatatype

from clusterdns.testing import query, run_corefile

ATTEMPTS = 200  # bound on queries when waiting for a random order to show up
ADDRESSES = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]

COREFILE = """. {{
    loadbalance {options}
    hosts {{
        10.0.0.1 web.example.org
        10.0.0.2 web.example.org
        10.0.0.3 web.example.org
        10.0.0.4 web.example.org
        192.168.1.1 web.example.org
        10.0.0.5 one.example.org
        fallthrough
    }}
    whoami
}}
"""


async def test_same_records_first_address_varies() -> None:
    async with run_corefile(COREFILE.format(options="")) as srv:
        first: set[str] = set()
        for _ in range(ATTEMPTS):
            reply = await query(srv.port, "web.example.org.", "A")
            [rrset] = reply.answer
            assert sorted(r.address for r in rrset) == sorted([*ADDRESSES, "192.168.1.1"])
            first.add(rrset[0].address)
            if len(first) > 1:
                break
        assert len(first) > 1


async def test_single_answer_unchanged() -> None:
    async with run_corefile(COREFILE.format(options="")) as srv:
        reply = await query(srv.port, "one.example.org.", "A", tcp=True)
        assert [r.address for r in reply.answer[0]] == ["10.0.0.5"]


async def test_other_types_move_before_addresses() -> None:
    # whoami writes A then SRV in the additional section; loadbalance puts SRV first.
    async with run_corefile(COREFILE.format(options="")) as srv:
        reply = await query(srv.port, "missing.example.org.", "A")
        assert [r.rdtype for r in reply.additional] == [dns.rdatatype.SRV, dns.rdatatype.A]


async def test_prefer_puts_the_subnet_first() -> None:
    options = "{\n prefer 192.168.0.0/16\n }"
    async with run_corefile(COREFILE.format(options=options)) as srv:
        rest: set[str] = set()
        for _ in range(ATTEMPTS):
            reply = await query(srv.port, "web.example.org.", "A")
            [rrset] = reply.answer
            assert rrset[0].address == "192.168.1.1"
            rest.add(rrset[1].address)
            if len(rest) > 1:
                break
        assert len(rest) > 1  # the others are still shuffled
