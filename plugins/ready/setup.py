"""Corefile syntax of *ready*: ``ready [ADDRESS] { monitor until-ready|continuously }``.

Once per server block. Like *health* it is not a link of the DNS chain; it registers hooks
that mount ``/ready`` on the process-wide HTTP server for its address.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from clusterdns.controller import Controller
from clusterdns.httpserver import address_argument

from .ready import Ready, readiness_list


class Monitor(enum.Enum):
    """How long plugins are asked for their readiness."""

    UNTIL_READY = "until-ready"
    CONTINUOUSLY = "continuously"


DEFAULT_ADDRESS: Final = ":8181"
DEFAULT_MONITOR: Final = Monitor.UNTIL_READY


@dataclass(frozen=True, slots=True)
class ReadyOptions:
    """What a ``ready`` directive configures."""

    address: str = DEFAULT_ADDRESS
    monitor: Monitor = DEFAULT_MONITOR


def parse(c: Controller) -> ReadyOptions:
    d = c.dispenser
    address = DEFAULT_ADDRESS
    monitor = DEFAULT_MONITOR
    seen = False
    while d.next():
        if seen:
            raise c.once_error()
        seen = True
        address = address_argument(c, address)
        while d.next_block():
            if d.val() != "monitor":
                raise d.errf("unknown property '%s'", d.val())
            values = d.remaining_args()
            if len(values) != 1:
                raise d.arg_err()
            try:
                monitor = Monitor(values[0])
            except ValueError:
                raise d.errf("monitor type '%s' not supported", values[0]) from None
    return ReadyOptions(address=address, monitor=monitor)


def setup(c: Controller) -> None:
    options = parse(c)
    readiness = readiness_list(c)
    readiness.keep_readiness = options.monitor is Monitor.CONTINUOUSLY
    ready = Ready(c, address=options.address, readiness=readiness)
    c.on_startup(ready.start)
    c.on_shutdown(ready.stop)
    c.on_final_shutdown(ready.stop)
