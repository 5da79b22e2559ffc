"""reload in a real clusterdns process (``-conf``): the SHA512 line follows the startup lines,
and an edited Corefile is reloaded by the poller at CoreDNS's minimum interval of 2 s."""

from __future__ import annotations

import re
import signal
from pathlib import Path

from clusterdns.testing import query
from clusterdns.testing.process import clusterdns_process

COREFILE = ".:0 {{\n    bind 127.0.0.1\n    reload 2s 0s\n    hosts {{\n        10.0.0.{last} www.example.org\n    }}\n}}\n"
SHA_LINE = r"^\[INFO\] plugin/reload: Running configuration SHA512 = ([0-9a-f]{128})$"


async def answer(port: int) -> list[str]:
    reply = await query(port, "www.example.org")
    return [r.to_text() for rrset in reply.answer for r in rrset]


async def test_process_announces_its_configuration_and_reloads_an_edit(tmp_path: Path) -> None:
    corefile = tmp_path / "Corefile"
    corefile.write_text(COREFILE.format(last=1))
    async with clusterdns_process("-conf", str(corefile)) as server:
        await server.wait_started()
        first = await server.wait_for_line(SHA_LINE)
        assert server.lines.index(first) > server.lines.index(next(
            line for line in server.lines if line.startswith("clusterdns-")
        ))  # after the startup lines, as CoreDNS's InstanceStartupEvent hook
        port = server.port
        assert await answer(port) == ["10.0.0.1"]

        corefile.write_text(COREFILE.format(last=2))
        second = await server.wait_for_line(SHA_LINE, timeout=10)
        first_hash = re.match(SHA_LINE, first)
        second_hash = re.match(SHA_LINE, second)
        assert first_hash and second_hash and first_hash.group(1) != second_hash.group(1)
        assert await answer(port) == ["10.0.0.2"]

        server.signal(signal.SIGTERM)
        assert await server.wait() == 0
