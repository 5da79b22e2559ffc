"""Corefile syntax of *any*: the directive alone (CoreDNS ``plugin/any/setup.go``).

As in CoreDNS, only the first token's line is checked: an argument, or a block (whose ``{``
reads as an argument), is an error.
"""

from __future__ import annotations

from clusterdns.controller import Controller

from .any import Any


def setup(c: Controller) -> None:
    d = c.dispenser
    d.next()  # 'any'
    if d.next_arg():
        raise d.arg_err()
    if d.next_block():
        raise d.errf("unknown property '%s'", d.val())
    c.add_plugin(Any)
