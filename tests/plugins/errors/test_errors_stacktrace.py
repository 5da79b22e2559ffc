"""errors ``stacktrace``: a recovered failure is logged with its traceback at ERROR."""

from __future__ import annotations

import dns.rcode

from clusterdns.testing import query, run_corefile


async def _raise(req, w):  # type: ignore[no-untyped-def]
    raise RuntimeError("boom")


async def test_stacktrace_logs_the_traceback_at_error(log_lines: list[str]) -> None:
    async with run_corefile(". {\n errors {\n  stacktrace\n }\n whoami\n}\n") as srv:
        srv.runtime.instance.blocks[0].handlers["whoami"].serve_dns = _raise  # type: ignore[union-attr,method-assign]
        reply = await query(srv.port, "example.org")
    assert reply.rcode() == dns.rcode.SERVFAIL
    [line] = [line for line in log_lines if "Recovered from panic" in line]
    assert line.startswith(f'[ERROR] Recovered from panic in server: "dns://:0" boom\nTraceback')
    assert "RuntimeError: boom" in line


async def test_without_stacktrace_only_the_error_line(log_lines: list[str]) -> None:
    async with run_corefile(". {\n errors\n whoami\n}\n") as srv:
        srv.runtime.instance.blocks[0].handlers["whoami"].serve_dns = _raise  # type: ignore[union-attr,method-assign]
        await query(srv.port, "example.org")
    assert '[ERROR] Recovered from panic in server: "dns://:0" boom' in log_lines
