"""The loop handler: what it counts, when it is fatal, and the exact FATAL line (CoreDNS loop_test.go)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import dns.message
from dnslib import DNSRecord

from clusterdns import wire
from clusterdns.plugin import Handler, ResponseWriter
from clusterdns.plugins.loop.loop import Loop
from clusterdns.request import Request

QNAME = "4547991504243258144.3688648895315093531."


class Writer:
    def __init__(self) -> None:
        self.msgs: list[DNSRecord] = []

    def written(self) -> bool:
        return bool(self.msgs)

    def write_msg(self, msg: DNSRecord) -> None:
        self.msgs.append(msg)


class Answer(Handler):
    """The rest of the chain: answers NOERROR and counts calls."""

    name = "answer"

    def __init__(self) -> None:
        super().__init__(None)
        self.calls = 0

    async def serve_dns(self, req: Request, w: ResponseWriter) -> int:
        self.calls += 1
        w.write_msg(req.reply())
        return wire.NOERROR


class Exits:
    """Records exit codes instead of leaving the test process."""

    def __init__(self) -> None:
        self.codes: list[int] = []

    def __call__(self, code: int) -> None:
        self.codes.append(code)


def request(qname: str, qtype: str = "HINFO", remote: str = "127.0.0.1", port: int = 55953) -> Request:
    query = wire.parse_query(dns.message.make_query(qname, qtype).to_wire())
    assert isinstance(query, wire.Query)
    return Request(query, "udp", remote, port, "127.0.0.1", 1053)


def loop_handler(zone: str = ".", *, hint: str = "") -> tuple[Loop, Answer, Exits]:
    answer, exits = Answer(), Exits()
    handler = Loop(answer, zone=zone, qname=QNAME if zone == "." else None, hint=hint, exit=exits)
    handler.address = ":1053"
    return handler, answer, exits


async def test_non_hinfo_passes_through_uncounted() -> None:
    handler, answer, _ = loop_handler()
    for _ in range(5):
        assert await handler.serve_dns(request(QNAME, "A"), Writer()) == wire.NOERROR
    assert handler.seen == 0 and answer.calls == 5


async def test_disabled_passes_the_probe_name_through_uncounted() -> None:
    handler, answer, exits = loop_handler()
    handler.disabled = True
    for _ in range(5):
        assert await handler.serve_dns(request(QNAME), Writer()) == wire.NOERROR
    assert handler.seen == 0 and answer.calls == 5 and exits.codes == []


async def test_hinfo_outside_the_zone_passes_uncounted() -> None:
    handler, answer, _ = loop_handler("example.org.")
    assert await handler.serve_dns(request("a.example.com.", "HINFO"), Writer()) == wire.NOERROR
    assert handler.seen == 0 and answer.calls == 1


async def test_other_hinfo_names_in_the_zone_are_not_counted() -> None:
    handler, answer, exits = loop_handler()
    for _ in range(5):
        await handler.serve_dns(request("1.2.example.org."), Writer())
    assert handler.seen == 0 and answer.calls == 5 and exits.codes == []


async def test_the_probe_name_is_counted_case_insensitively() -> None:
    handler, _, _ = loop_handler("example.org.")
    await handler.serve_dns(request(handler.qname.replace("example.org.", "EXAMPLE.org.")), Writer())
    assert handler.seen == 1


async def test_two_arrivals_are_tolerated_the_third_is_fatal(log_lines: list[str]) -> None:
    handler, answer, exits = loop_handler()
    for _ in range(2):
        assert await handler.serve_dns(request(QNAME), Writer()) == wire.NOERROR
    assert exits.codes == [] and not [line for line in log_lines if "FATAL" in line]
    assert await handler.serve_dns(request(QNAME), Writer()) == wire.SERVFAIL
    assert exits.codes == [1]
    assert answer.calls == 2  # the third arrival is not passed on (only matters if exit returns)
    assert log_lines == [
        '[FATAL] plugin/loop: Loop (127.0.0.1:55953 -> :1053) detected for zone ".", see '
        'https://coredns.io/plugins/loop#troubleshooting. Query: "HINFO '
        '4547991504243258144.3688648895315093531."'
    ]


async def test_a_forward_to_itself_is_stopped_on_the_third_arrival(log_lines: list[str]) -> None:
    """A next handler that sends the query back into the chain, as ``forward . <self>`` does."""
    exits = Exits()

    class Forward(Handler):
        name = "forward"

        async def serve_dns(self, req: Request, w: ResponseWriter) -> int:
            hop = request(req.qname, remote="::1", port=40000 + self.hops)
            self.hops += 1
            return await looping.serve_dns(hop, w)

    forward = Forward(None)
    forward.hops = 0  # type: ignore[attr-defined]
    looping = Loop(forward, zone=".", qname=QNAME, exit=exits)
    looping.address = "127.0.0.1:1053"
    assert await looping.serve_dns(request(QNAME), Writer()) == wire.SERVFAIL
    assert exits.codes == [1] and looping.seen == 3
    assert forward.hops == 2  # type: ignore[attr-defined]
    assert log_lines[0].startswith("[FATAL] plugin/loop: Loop ([::1]:40001 -> 127.0.0.1:1053) ")


async def test_the_fatal_line_keeps_coredns_text_and_appends_the_hint(log_lines: list[str]) -> None:
    handler, _, exits = loop_handler("example.org.", hint=" (the upstream 127.0.0.53 comes from X)")
    for _ in range(3):
        await handler.serve_dns(request(handler.qname), Writer())
    assert exits.codes == [1]
    assert log_lines == [
        f'[FATAL] plugin/loop: Loop (127.0.0.1:55953 -> :1053) detected for zone "example.org.", '
        f'see https://coredns.io/plugins/loop#troubleshooting. Query: "HINFO {handler.qname}"'
        " (the upstream 127.0.0.53 comes from X)"
    ]


async def test_reset_forgets_the_count() -> None:
    handler, _, exits = loop_handler()
    for _ in range(2):
        await handler.serve_dns(request(QNAME), Writer())
    handler.reset()
    for _ in range(2):
        await handler.serve_dns(request(QNAME), Writer())
    assert handler.seen == 2 and exits.codes == []


def test_the_default_exit_flushes_the_fatal_line_and_exits_1() -> None:
    """The real exit path (``os._exit(1)`` after flushing), in a child interpreter."""
    script = textwrap.dedent(
        f"""
        import asyncio, dns.message
        from clusterdns import wire
        from clusterdns.log import configure
        from clusterdns.plugins.loop.loop import Loop
        from clusterdns.request import Request

        configure()
        handler = Loop(None, zone=".", qname="{QNAME}")
        handler.address = ":1053"
        handler.seen = 2
        query = wire.parse_query(dns.message.make_query("{QNAME}", "HINFO").to_wire())
        asyncio.run(handler.serve_dns(Request(query, "udp", "127.0.0.1", 5, "127.0.0.1", 1053), None))
        print("not reached")
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # a buffered pipe
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, env=env
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        '[FATAL] plugin/loop: Loop (127.0.0.1:5 -> :1053) detected for zone ".", see '
        f'https://coredns.io/plugins/loop#troubleshooting. Query: "HINFO {QNAME}"'
    ]
