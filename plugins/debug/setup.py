"""Corefile syntax of *debug*: the directive alone. It switches on ``[DEBUG]`` log lines.

CoreDNS's *debug* also turns off panic recovery, so a panicking plugin crashes the process to
get a stack trace. Python gives the traceback without crashing, so here recovery stays on and
the traceback of a recovered failure is printed as ``[DEBUG]`` lines: the client still gets
SERVFAIL and the server keeps serving. The switch is process-wide, as in CoreDNS; it is set
when the instance starts and cleared when an instance without *debug* replaces it.
"""

from __future__ import annotations

from clusterdns.controller import Controller
from clusterdns.log import set_debug


def setup(c: Controller) -> None:
    d = c.dispenser
    while d.next():
        if d.next_arg():
            raise d.arg_err()

    async def enable() -> None:
        set_debug(True)

    async def disable() -> None:
        # On reload this runs after the new instance started: keep debug if that one loads it.
        current = c.process.instance
        if current is not None and current is not c.instance:
            if any("debug" in block.directives for block in current.blocks):
                return
        set_debug(False)

    c.on_startup(enable)
    c.on_shutdown(disable)
