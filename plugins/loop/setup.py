"""Corefile syntax of *loop*: the directive alone, once per server block.

It watches the block's first zone (CoreDNS: the first server-block key, normalised; ``.``
when there is none). Besides CoreDNS, setup reads the block's own ``forward`` lines (from the
Corefile, never from the forward plugin) to know whether an upstream is a loopback resolver
taken from a resolv.conf file, so that a detected loop can name that cause and its fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from clusterdns import registry
from clusterdns.controller import Controller
from clusterdns.corefile import parse as parse_corefile
from clusterdns.errors import ClusterDNSError

from .hint import hint_text, loopback_upstreams
from .loop import Loop, probe_name
from .probe import Probe

DEFAULT_ZONE: Final = "."


@dataclass(frozen=True, slots=True)
class LoopOptions:
    """What a ``loop`` directive configures: only the zone it watches."""

    zone: str = DEFAULT_ZONE


def parse(c: Controller) -> LoopOptions:
    """``loop`` takes no arguments and may appear once per block."""
    d = c.dispenser
    seen = False
    while d.next():
        if seen:
            raise c.once_error()
        seen = True
        if d.next_arg():
            raise d.arg_err()
    zones = c.server_keys
    return LoopOptions(zone=zones[0] if zones else DEFAULT_ZONE)


def _resolv_conf_hint(c: Controller, qname: str) -> str:
    """The troubleshooting hint for this block's forwards, or '' (see hint.py)."""
    source = c.instance.source
    try:
        blocks = parse_corefile(source.text, source.path, known_directives=registry.names())
        block = blocks[c.config.index]
    except (ClusterDNSError, OSError, IndexError):  # the Corefile just parsed; be safe anyway
        return ""
    upstreams = loopback_upstreams(block, qname, file=source.path)
    return hint_text(upstreams[0]) if upstreams else ""


def setup(c: Controller) -> None:
    options = parse(c)
    qname = probe_name(options.zone)
    handler = Loop(None, zone=options.zone, qname=qname, hint=_resolv_conf_hint(c, qname))

    def link(next_handler):  # type: ignore[no-untyped-def]
        handler.next = next_handler
        return handler

    c.add_plugin(link)
    probe = Probe(handler, c.instance, c.config)
    c.on_startup(probe.start)
    c.on_shutdown(probe.stop)
