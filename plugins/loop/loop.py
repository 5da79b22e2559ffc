"""The *loop* handler: counts how often its own probe query comes back (CoreDNS ``loop.go``).

At startup the probe (probe.py) sends ``HINFO <random>.<random>.<zone>`` to the server itself.
Without a loop the query arrives once and is answered. If a ``forward`` sends it back to us
(directly, or through a resolver that forwards to us), it arrives again and again; above two
arrivals the handler logs CoreDNS's FATAL line and the process exits 1, because a forwarding
loop otherwise eats memory and CPU until the host kills the process.

Once the probe got any reply, or 30 s after startup, the handler is disabled for good and
every query only passes through (a loop that appears later is not detected, as in CoreDNS).
The per-query cost is one type comparison.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
from collections.abc import Callable
from typing import Final

from clusterdns import wire
from clusterdns.corefile import is_subdomain
from clusterdns.log import ROOT, plugin_logger
from clusterdns.plugin import Handler, ResponseWriter, next_or_failure
from clusterdns.request import Request

TYPE_HINFO: Final = 13
#: Arrivals of the probe name tolerated before the loop is declared (CoreDNS: ``seen() > 2``).
MAX_ARRIVALS: Final = 2
#: The probe's random labels are integers below this (CoreDNS: 62-bit).
RANDOM_LABEL_LIMIT: Final = 1 << 62
TROUBLESHOOTING_URL: Final = "https://coredns.io/plugins/loop#troubleshooting"
EXIT_CODE: Final = 1
log = plugin_logger("loop")


def exit_process(code: int) -> None:
    """Go's ``log.Fatal``: flush what was logged, then leave at once without any cleanup.

    The handler looks this name up when it fires, so in-process tests replace it (pytest's
    ``monkeypatch``) instead of killing the test runner.
    """
    for handler in logging.getLogger(ROOT).handlers:
        handler.flush()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken stream must not keep us alive
            pass
    os._exit(code)


def probe_name(zone: str) -> str:
    """``<r1>.<r2>.<zone>`` with two secure random integers below 2^62 (CoreDNS ``qname``)."""
    first = secrets.randbelow(RANDOM_LABEL_LIMIT)
    second = secrets.randbelow(RANDOM_LABEL_LIMIT)
    return f"{first}.{second}." if zone == "." else f"{first}.{second}.{zone}"


def join_host_port(host: str, port: int | str) -> str:
    """Go's ``net.JoinHostPort``: brackets around IPv6 hosts."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def go_quote(text: str) -> str:
    """Go's ``%q`` for the ASCII names a zone is made of."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Loop(Handler):
    """Counts arrivals of the probe name; fatal above two while enabled."""

    name = "loop"

    def __init__(
        self,
        next: Handler | None,
        *,
        zone: str,
        qname: str | None = None,
        hint: str = "",
        exit: Callable[[int], object] | None = None,
    ) -> None:
        super().__init__(next)
        self.zone = zone
        self.qname = qname or probe_name(zone)
        #: appended to the FATAL line when the block forwards to a loopback resolv.conf upstream
        self.hint = hint
        #: the listen address as CoreDNS prints it (``:1053``), set when the probe starts
        self.address = ""
        self.seen = 0
        self.disabled = False
        self.tripped = False  # the FATAL line was logged (only observable when exit returns)
        self._exit = exit

    async def serve_dns(self, req: Request, w: ResponseWriter) -> int:
        if self.disabled or req.query.qtype != TYPE_HINFO:
            return await next_or_failure(self.name, self.next, req, w)
        if not is_subdomain(req.name, self.zone):
            return await self.serve_next(req, w)
        if req.name == self.qname:
            self.seen += 1
        if self.seen > MAX_ARRIVALS:
            if not self.tripped:
                self.fatal(req)
            # Only reached when the exit function returned (tests): break the loop here.
            return wire.SERVFAIL
        return await self.serve_next(req, w)

    def reset(self) -> None:
        """Forget the arrivals counted so far (after a failed probe, as CoreDNS does)."""
        self.seen = 0

    def fatal_message(self, client: str) -> str:
        """CoreDNS's line, unchanged up to its end, then the resolv.conf hint if any."""
        return (
            f"Loop ({client} -> {self.address}) detected for zone {go_quote(self.zone)}, "
            f'see {TROUBLESHOOTING_URL}. Query: "HINFO {self.qname}"{self.hint}'
        )

    def fatal(self, req: Request) -> None:
        self.tripped = True
        log.critical("%s", self.fatal_message(join_host_port(req.remote_ip, req.remote_port)))
        (self._exit or exit_process)(EXIT_CODE)
