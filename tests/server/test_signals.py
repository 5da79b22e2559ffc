"""Signals: SIGUSR1 reloads the Corefile and keeps the old one when the new one is broken.

Acceptance (issue 2, item 8): SIGUSR1 with a broken Corefile keeps the old config answering
and logs the error. SIGTERM stops gracefully with exit code 0.
"""

from __future__ import annotations

import signal
from pathlib import Path

from clusterdns.testing import query
from clusterdns.testing.process import clusterdns_process

GOOD = """.:{port} {{
    hosts {{
        10.0.0.{last} www.example.org
    }}
}}
"""


def _answer(reply) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.to_text() for rrset in reply.answer for r in rrset]


async def test_sigusr1_with_broken_corefile_keeps_serving_then_reloads_a_good_one(
    tmp_path: Path,
) -> None:
    corefile = tmp_path / "Corefile"
    corefile.write_text(GOOD.format(port=0, last=1))
    async with clusterdns_process("-conf", str(corefile)) as server:
        await server.wait_started()
        port = server.port
        assert _answer(await query(port, "www.example.org")) == ["10.0.0.1"]

        corefile.write_text(".:0 {\n    hosts {\n        10.0.0.2 www.example.org\n    }\n    nosuchplugin\n}\n")
        server.signal(signal.SIGUSR1)
        error = await server.wait_for_line(r"^\[ERROR\] SIGUSR1: ")
        assert f"{corefile}:5 - Error during parsing: Unknown directive 'nosuchplugin'" in error
        assert _answer(await query(port, "www.example.org")) == ["10.0.0.1"]

        corefile.write_text(GOOD.format(port=0, last=3))  # port 0 names the same listener
        server.signal(signal.SIGUSR1)
        await server.wait_for_line(r"^\[INFO\] Reloading complete$")
        assert _answer(await query(port, "www.example.org")) == ["10.0.0.3"]

        server.signal(signal.SIGTERM)
        assert await server.wait() == 0
    assert "[INFO] SIGUSR1: Reloading" in server.lines
