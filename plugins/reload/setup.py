"""Corefile syntax of *reload*: ``reload [INTERVAL [JITTER]]``.

INTERVAL (default 30s) must be at least 2s; JITTER (default 15s) must be 0 or at least 1s
and is capped at INTERVAL/2. The check interval is shifted once per setup (so anew on every
reload) by a uniform amount in [-JITTER/2, +JITTER/2): the CoreDNS code, not its README's
"+/- JITTER". The setting is process-wide: the runtime gets one poller, and the last block's
``reload`` decides its interval. Tests lower ``MIN_INTERVAL_NS``/``MIN_JITTER_NS`` (read at
parse time) to poll faster than CoreDNS allows.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final

from clusterdns.controller import Controller
from clusterdns.duration import SECOND, DurationError, format_duration, parse_duration

from .reload import poller_for

DEFAULT_INTERVAL_NS: Final = 30 * SECOND
DEFAULT_JITTER_NS: Final = 15 * SECOND
MIN_INTERVAL_NS = 2 * SECOND
MIN_JITTER_NS = 1 * SECOND


@dataclass(frozen=True, slots=True)
class ReloadOptions:
    """What one ``reload`` line configures (JITTER already capped at INTERVAL/2)."""

    interval_ns: int = DEFAULT_INTERVAL_NS
    jitter_ns: int = DEFAULT_JITTER_NS


def _duration(c: Controller, text: str) -> int:
    try:
        return parse_duration(text)
    except DurationError as exc:
        raise c.error(str(exc)) from None


def parse(c: Controller) -> ReloadOptions:
    """Read the block's ``reload`` line (CoreDNS reads only the first; it must be alone)."""
    d = c.dispenser
    d.next()  # 'reload'
    args = d.remaining_args()
    if len(args) > 2:
        raise d.arg_err()
    interval = _duration(c, args[0]) if args else DEFAULT_INTERVAL_NS
    if interval < MIN_INTERVAL_NS:
        raise c.error(
            f"interval value must be greater or equal to {format_duration(MIN_INTERVAL_NS)}"
        )
    jitter = _duration(c, args[1]) if len(args) > 1 else DEFAULT_JITTER_NS
    if jitter != 0 and jitter < MIN_JITTER_NS:
        raise c.error(
            f"jitter value must be 0 or greater or equal to {format_duration(MIN_JITTER_NS)}"
        )
    return ReloadOptions(interval_ns=interval, jitter_ns=min(jitter, interval // 2))


def jittered_interval_ns(options: ReloadOptions, rng: random.Random | None = None) -> int:
    """INTERVAL shifted by a uniform amount in [-JITTER/2, +JITTER/2) (CoreDNS ``setup.go``)."""
    if options.jitter_ns <= 0:
        return options.interval_ns
    draw = (rng or random).randrange(options.jitter_ns)
    return options.interval_ns + draw - options.jitter_ns // 2


def setup(c: Controller) -> None:
    options = parse(c)
    poller = poller_for(c.instance)
    if poller.interval_ns is None:  # the first block with reload registers the hooks
        c.on_startup(poller.start)
        c.on_shutdown(poller.stop)
    poller.interval_ns = jittered_interval_ns(options)  # the last block's value wins
