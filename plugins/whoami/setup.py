"""Corefile syntax of *whoami*: the directive alone, no arguments."""

from __future__ import annotations

from clusterdns.controller import Controller

from .whoami import Whoami


def setup(c: Controller) -> None:
    d = c.dispenser
    while d.next():
        if d.next_arg():
            raise d.arg_err()
    c.add_plugin(Whoami)
