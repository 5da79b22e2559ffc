"""debug: [DEBUG] lines on, tracebacks of recovered failures printed, serving goes on."""

from __future__ import annotations

import logging

import dns.rcode
import pytest

from clusterdns.testing import query, run_corefile


async def test_debug_prints_traceback_and_server_keeps_answering(caplog: pytest.LogCaptureFixture) -> None:
    async with run_corefile(". {\n debug\n whoami\n}\n") as srv:
        assert logging.getLogger("clusterdns").isEnabledFor(logging.DEBUG)
        handler = srv.runtime.instance.blocks[0].handlers["whoami"]  # type: ignore[union-attr]

        async def broken(req, w):  # type: ignore[no-untyped-def]
            raise RuntimeError("boom")

        original = handler.serve_dns
        handler.serve_dns = broken  # type: ignore[method-assign]
        with caplog.at_level(logging.DEBUG, logger="clusterdns"):
            reply = await query(srv.port, "example.org")
        assert reply.rcode() == dns.rcode.SERVFAIL
        assert any("RuntimeError: boom" in r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)
        handler.serve_dns = original  # type: ignore[method-assign]
        assert (await query(srv.port, "example.org")).rcode() == dns.rcode.NOERROR


async def test_without_debug_no_debug_lines() -> None:
    async with run_corefile(". {\n whoami\n}\n"):
        assert not logging.getLogger("clusterdns").isEnabledFor(logging.DEBUG)


async def test_debug_takes_no_arguments() -> None:
    with pytest.raises(Exception) as info:
        async with run_corefile(". {\n debug on\n whoami\n}\n"):
            pass
    assert "plugin/debug: Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after 'on'" in str(info.value)
