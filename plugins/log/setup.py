"""Corefile syntax of *log* (CoreDNS ``plugin/log/setup.go``).

::

    log
    log NAME
    log NAMES... FORMAT
    log [NAMES...] [FORMAT] {
        class all|success|denial|error...
    }

Several ``log`` lines make several rules, in order. With no argument the rule is for ``.`` in
the common format. **One** argument is always a name, even if it looks like a format. With two
or more, the last is the format if it contains ``{`` (``{common}`` and ``{combined}`` are
expanded in it), and each other argument is a name. The block's ``class`` lines (they add up)
apply to every rule of that ``log`` line; without any, the class is ``all``.
"""

from __future__ import annotations

import functools

from clusterdns.controller import Controller

from .log import Log
from .options import ALL, CLASSES, LogOptions, Rule
from .replacer import COMBINED_LOG_FORMAT, COMMON_LOG_FORMAT, DEFAULT_LOG_FORMAT


def fqdn(name: str) -> str:
    """miekg/dns ``Fqdn``: add the final dot unless one is there (and not escaped)."""
    if name.endswith("."):
        body = name[:-1]
        backslashes = len(body) - len(body.rstrip("\\"))
        if backslashes % 2 == 0:
            return name
    return name + "."


def parse(c: Controller) -> LogOptions:
    """Read every ``log`` line of the block into rules; raise CoreDNS's errors for bad ones."""
    d = c.dispenser
    rules: list[Rule] = []
    while d.next():
        args = d.remaining_args()
        if not args:
            line = [(".", DEFAULT_LOG_FORMAT)]
        elif len(args) == 1:
            line = [(fqdn(args[0]), DEFAULT_LOG_FORMAT)]
        else:
            format_text = DEFAULT_LOG_FORMAT
            if "{" in args[-1]:
                format_text = args[-1].replace("{common}", COMMON_LOG_FORMAT)
                format_text = format_text.replace("{combined}", COMBINED_LOG_FORMAT)
                args = args[:-1]
            line = [(fqdn(name), format_text) for name in args]
        classes: set[str] = set()
        while d.next_block():
            if d.val() != "class":
                raise d.errf("unknown property '%s'", d.val())
            names = d.remaining_args()
            if not names:
                raise d.arg_err()
            for name in names:
                if name not in CLASSES:
                    raise c.error(f"invalid Class: {name}")
                classes.add(name)
        frozen = frozenset(classes or {ALL})
        rules.extend(Rule(name_scope=name, format=text, classes=frozen) for name, text in line)
    return LogOptions(rules=tuple(rules))


def setup(c: Controller) -> None:
    options = parse(c)
    c.add_plugin(functools.partial(Log, options=options))

    async def find_metadata() -> None:
        # CoreDNS sets log/type and log/class only when the metadata plugin runs in the block.
        handler = c.config.handler(Log.name)
        if isinstance(handler, Log):
            handler.metadata = c.config.handler("metadata") is not None

    c.on_startup(find_metadata)
