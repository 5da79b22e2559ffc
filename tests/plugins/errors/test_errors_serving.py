"""errors through a real server: the error line, the answer, and consolidation over time.

A block whose chain ends without a plugin that answers makes the last plugin fail with
``plugin/<name>: no next plugin found``: that is the error these tests make the server raise.
Consolidation periods are short (100 ms and up) and every wait is on the log line itself, with
a deadline; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import logging

import dns.flags
import dns.rcode
from clusterdns.plugins.errors.errors import Consolidator
from clusterdns.plugins.errors.goregexp import compile_go
from clusterdns.plugins.errors.options import ConsolidateRule
from clusterdns.testing import LogLines, query, run_corefile

NO_NEXT = "plugin/errors: no next plugin found"


def summary(line: str) -> bool:
    return "errors like" in line


async def test_error_line_and_servfail_for_a_chain_without_an_answer(lines: LogLines) -> None:
    async with run_corefile("example.org {\n errors\n log\n}\n") as srv:
        reply = await query(srv.port, "Example.ORG", "A")
        assert reply.rcode() == dns.rcode.SERVFAIL
        line = await lines.wait_for(lambda text: text.startswith("[ERROR]"))
    assert line == "[ERROR] plugin/errors: 2 example.org. A: plugin/log: no next plugin found"


async def test_errors_alone_logs_its_own_failure_with_the_qtype(lines: LogLines) -> None:
    async with run_corefile(". {\n errors\n}\n") as srv:
        reply = await query(srv.port, "a.Example.net", "MX", tcp=True)
        assert reply.rcode() == dns.rcode.SERVFAIL
        assert not reply.flags & dns.flags.AA
        line = await lines.wait_for(lambda text: text.startswith("[ERROR]"))
    assert line == f"[ERROR] plugin/errors: 2 a.example.net. MX: {NO_NEXT}"


async def test_answered_queries_log_nothing(lines: LogLines) -> None:
    async with run_corefile("example.org {\n errors\n whoami\n}\nexample.net {\n errors\n}\n") as srv:
        assert (await query(srv.port, "example.org", "A")).rcode() == dns.rcode.NOERROR
        await query(srv.port, "example.net", "A")
        await lines.wait_for(lambda text: "example.net." in text)
    assert lines.matching(lambda text: "example.org" in text) == []


async def test_consolidated_errors_are_counted_then_summarised(lines: LogLines) -> None:
    corefile = ". {\n errors {\n  consolidate 100ms \"no next plugin\"\n }\n}\n"
    async with run_corefile(corefile) as srv:
        for _ in range(3):
            assert (await query(srv.port, "example.org", "A")).rcode() == dns.rcode.SERVFAIL
        line = await lines.wait_for(summary)
    assert line == "[ERROR] plugin/errors: 3 errors like 'no next plugin' occurred in last 100ms"
    assert lines.lines == [line]  # the errors themselves were not logged


async def test_a_new_period_starts_after_the_summary(lines: LogLines) -> None:
    corefile = ". {\n errors {\n  consolidate 100ms ^plugin/errors\n }\n}\n"
    async with run_corefile(corefile) as srv:
        await query(srv.port, "example.org", "A")
        await lines.wait_for(summary)
        await query(srv.port, "example.org", "A")
        await query(srv.port, "example.org", "A")
        await lines.wait_for(lambda text: text.startswith("[ERROR] plugin/errors: 2 errors"))
    assert lines.lines == [
        "[ERROR] plugin/errors: 1 errors like '^plugin/errors' occurred in last 100ms",
        "[ERROR] plugin/errors: 2 errors like '^plugin/errors' occurred in last 100ms",
    ]


async def test_summary_level_is_configurable(lines: LogLines) -> None:
    corefile = (
        "a.example {\n errors {\n  consolidate 100ms next warning\n }\n}\n"
        "b.example {\n errors {\n  consolidate 150ms next info\n }\n}\n"
    )
    async with run_corefile(corefile) as srv:
        await query(srv.port, "a.example", "A")
        await query(srv.port, "b.example", "A")
        await lines.wait_for(lambda text: text.startswith("[INFO]"))
    assert lines.lines == [
        "[WARNING] plugin/errors: 1 errors like 'next' occurred in last 100ms",
        "[INFO] plugin/errors: 1 errors like 'next' occurred in last 150ms",
    ]


async def test_debug_summaries_need_debug_logging(lines: LogLines) -> None:
    corefile = (
        "a.example {\n errors {\n  consolidate 100ms next debug\n }\n}\n"
        "b.example {\n errors {\n  consolidate 200ms next\n }\n}\n"
    )
    async with run_corefile(corefile) as srv:
        await query(srv.port, "a.example", "A")
        await query(srv.port, "b.example", "A")
        await lines.wait_for(summary)  # b's period ends after a's
        assert lines.lines == ["[ERROR] plugin/errors: 1 errors like 'next' occurred in last 200ms"]
        logging.getLogger("clusterdns").setLevel(logging.DEBUG)
        await query(srv.port, "a.example", "A")
        line = await lines.wait_for(lambda text: text.startswith("[DEBUG]"))
    assert line == "[DEBUG] plugin/errors: 1 errors like 'next' occurred in last 100ms"


async def test_show_first_logs_the_first_error_at_once(lines: LogLines) -> None:
    corefile = ". {\n errors {\n  consolidate 100ms next warning show_first\n }\n}\n"
    async with run_corefile(corefile) as srv:
        await query(srv.port, "example.org", "A")
        first = await lines.wait_for(lambda text: "example.org." in text)
        assert first == f"[WARNING] plugin/errors: 2 example.org. A: {NO_NEXT}"
        await query(srv.port, "example.org", "AAAA")
        await query(srv.port, "example.org", "TXT")
        line = await lines.wait_for(summary)
    assert line == "[WARNING] plugin/errors: 3 errors like 'next' occurred in last 100ms"
    assert len(lines.lines) == 2


async def test_show_first_with_a_single_error_prints_no_summary(lines: LogLines) -> None:
    corefile = (
        "a.example {\n errors {\n  consolidate 100ms next show_first\n }\n}\n"
        "b.example {\n errors {\n  consolidate 300ms next\n }\n}\n"
    )
    async with run_corefile(corefile) as srv:
        await query(srv.port, "a.example", "A")
        await query(srv.port, "b.example", "A")
        await lines.wait_for(summary)  # b's 300 ms period ends long after a's 100 ms one
    assert lines.lines == [
        f"[ERROR] plugin/errors: 2 a.example. A: {NO_NEXT}",
        "[ERROR] plugin/errors: 1 errors like 'next' occurred in last 300ms",
    ]


async def test_first_matching_pattern_wins_and_others_log_plainly(lines: LogLines) -> None:
    corefile = (
        "example.org {\n errors {\n  consolidate 1h ^plugin/log warning\n"
        "  consolidate 1h next\n }\n log\n}\n"
        "example.net {\n errors {\n  consolidate 1h ^plugin/log warning\n }\n}\n"
    )
    async with run_corefile(corefile) as srv:
        await query(srv.port, "example.org", "A")
        await query(srv.port, "example.org", "A")
        await query(srv.port, "example.net", "A")  # "plugin/errors: ..." matches no pattern
        await lines.wait_for(lambda text: text.startswith("[ERROR]"))
    # Pending summaries were written when the server stopped.
    assert [line for line in lines.lines if line.startswith("[") and "INFO" not in line] == [
        f"[ERROR] plugin/errors: 2 example.net. A: {NO_NEXT}",
        "[WARNING] plugin/errors: 2 errors like '^plugin/log' occurred in last 1h0m0s",
    ]


async def test_pending_summaries_are_flushed_at_shutdown(lines: LogLines) -> None:
    corefile = ". {\n errors {\n  consolidate 5m \"no next plugin found$\"\n }\n}\n"
    async with run_corefile(corefile) as srv:
        await query(srv.port, "example.org", "A")
        await query(srv.port, "example.org", "A")
        assert lines.lines == []
    assert lines.lines == [
        "[ERROR] plugin/errors: 2 errors like 'no next plugin found$' occurred in last 5m0s"
    ]


async def test_reload_flushes_the_old_instance(lines: LogLines, tmp_path) -> None:  # type: ignore[no-untyped-def]
    corefile = ". {\n errors {\n  consolidate 5m next\n }\n}\n"
    async with run_corefile(corefile, directory=str(tmp_path)) as srv:
        await query(srv.port, "example.org", "A")
        srv.write_corefile(". {\n errors\n}\n")
        await srv.runtime.reload()
        assert lines.lines == ["[ERROR] plugin/errors: 1 errors like 'next' occurred in last 5m0s"]
        await query(srv.port, "example.org", "A")
        line = await lines.wait_for(lambda text: "example.org." in text)
    assert line == f"[ERROR] plugin/errors: 2 example.org. A: {NO_NEXT}"


async def test_after_stop_errors_are_logged_at_their_pattern_level(lines: LogLines) -> None:
    rule = ConsolidateRule(period_ns=60_000_000_000, regexp_text="x", regexp=compile_go("x"), level="info")
    consolidator = Consolidator((rule,))
    pattern = consolidator.patterns[0]
    assert consolidator.consolidate(pattern) is True  # counted, timer started
    await consolidator.stop()
    assert lines.lines == ["[INFO] plugin/errors: 1 errors like 'x' occurred in last 1m0s"]
    assert consolidator.consolidate(pattern) is False  # the caller logs it now
    assert pattern.timer is None and pattern.count == 0


async def test_zero_period_summarises_on_the_next_loop_turn(lines: LogLines) -> None:
    rule = ConsolidateRule(period_ns=0, regexp_text="x", regexp=compile_go("x"))
    consolidator = Consolidator((rule,))
    consolidator.consolidate(consolidator.patterns[0])
    line = await lines.wait_for(summary)
    assert line == "[ERROR] plugin/errors: 1 errors like 'x' occurred in last 0s"
    await asyncio.wait_for(consolidator.stop(), 1)


async def test_stacktrace_block_still_serves_and_logs_errors(lines: LogLines) -> None:
    corefile = "example.org {\n errors {\n  stacktrace\n }\n whoami\n}\nexample.net {\n errors {\n  stacktrace\n }\n}\n"
    async with run_corefile(corefile) as srv:
        assert (await query(srv.port, "example.org", "A")).rcode() == dns.rcode.NOERROR
        assert (await query(srv.port, "example.net", "A")).rcode() == dns.rcode.SERVFAIL
        line = await lines.wait_for(lambda text: text.startswith("[ERROR]"))
    assert line == f"[ERROR] plugin/errors: 2 example.net. A: {NO_NEXT}"
