"""Corefile syntax of *health*: ``health [ADDRESS] { lameduck DURATION }``.

*health* is not a link of the DNS chain (CoreDNS does not ``AddPlugin`` it either): it only
registers lifecycle hooks that mount ``/health`` on the process-wide HTTP server for its
address. Several blocks may each name an address; all of them report the same health.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from clusterdns.controller import Controller
from clusterdns.duration import parse_duration
from clusterdns.httpserver import address_argument

from .health import Health

DEFAULT_ADDRESS: Final = ":8080"
DEFAULT_LAMEDUCK_NS: Final = 0


@dataclass(frozen=True, slots=True)
class HealthOptions:
    """What a ``health`` directive configures."""

    address: str = DEFAULT_ADDRESS
    lameduck_ns: int = DEFAULT_LAMEDUCK_NS


def parse(c: Controller) -> HealthOptions:
    """Read every ``health`` line of the block; the last address and lameduck win (CoreDNS)."""
    d = c.dispenser
    address = DEFAULT_ADDRESS
    lameduck_ns = DEFAULT_LAMEDUCK_NS
    while d.next():
        address = address_argument(c, address)
        while d.next_block():
            if d.val() != "lameduck":
                raise d.errf("unknown property '%s'", d.val())
            values = d.remaining_args()
            if len(values) != 1:
                raise d.arg_err()
            try:
                lameduck_ns = parse_duration(values[0])
            except ValueError as exc:
                raise c.error(
                    f"unable to parse lameduck duration value: '{values[0]}' : {exc}"
                ) from None
    return HealthOptions(address=address, lameduck_ns=lameduck_ns)


def setup(c: Controller) -> None:
    options = parse(c)
    health = Health(c, address=options.address, lameduck_ns=options.lameduck_ns)
    c.on_startup(health.start)
    c.on_shutdown(health.stop)
    c.on_final_shutdown(health.final_shutdown)
