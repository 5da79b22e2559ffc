"""Corefile syntax of *autopath* (CoreDNS ``plugin/autopath/setup.go``).

::

    autopath [ZONES...] RESOLV-CONF|@PLUGIN {
        infer_namespace
    }

The last argument is either a resolv.conf-like file, read once at setup for its search list
(CoreDNS reads it with miekg/dns ``ClientConfigFromFile``: the last ``search`` or ``domain``
line wins; every domain lower-cased and made fully qualified; the empty name appended for
the bare name), or ``@PLUGIN``, a handler of the same server block that implements
``AutoPather`` and gives a search list per query (``@kubernetes``). It is looked up at startup,
when every block is set up: no such handler leaves *autopath* without a search list (CoreDNS
says nothing either); a handler that is not an ``AutoPather`` fails the start with CoreDNS's
``plugin/autopath: NAME does not implement the AutoPather interface``. ZONES default to the
block's keys (CIDRs become reverse zones, invalid ones are dropped silently).

CoreDNS's errors are plain errors without a position (``plugin/autopath: no resolv-conf
specified``, ``plugin/autopath: failed to parse "FILE": open FILE: no such file or
directory``). As in CoreDNS the directive may be repeated in a block; the last one wins.

The block is clusterdns's own (CoreDNS takes no block, so a CoreDNS Corefile means the same
here). ``infer_namespace`` (needs ``@PLUGIN``) lets the plugin derive the search path from the
query name when it does not know the client: see README.md, "Beyond CoreDNS". Its errors come
from the dispenser and carry ``file:line``.
"""

from __future__ import annotations

import functools

from clusterdns.controller import Controller
from clusterdns.corefile.address import normalize_zones
from clusterdns.plugin import AutoPather
from clusterdns.stub import parse_resolv_conf

from .autopath import AutoPath
from .options import INFER_NAMESPACE, AutoPathOptions


def _go_quote(text: str) -> str:
    """Go's ``%q`` of printable text."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _go_errno_text(exc: OSError) -> str:
    """Go's ``syscall.Errno`` text: the C library's message starting in lower case."""
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


def read_search(path: str) -> list[str]:
    """The search list of a resolv.conf, as miekg/dns reads it; OSError if it cannot be opened.

    ``search`` replaces the list, ``domain`` sets it to that one domain (the last such line
    wins); every other line is ignored. A directory opens in Go and reads as nothing, so it
    gives an empty list here too.
    """
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as file:
            text = file.read()
    except IsADirectoryError:
        return []
    return list(parse_resolv_conf(text).search)


def normalize_search(domains: list[str]) -> tuple[str, ...]:
    """CoreDNS ``plugin.Zones.Normalize`` (lower-cased, fully qualified) plus the bare name."""
    return (*(d.lower() if d.endswith(".") else d.lower() + "." for d in domains), "")


def parse(c: Controller) -> AutoPathOptions:
    """Read the ``autopath`` directive(s) of a block into ``AutoPathOptions`` (the last wins)."""
    d = c.dispenser
    zones: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    plugin = ""
    infer = False
    while d.next():
        args = d.remaining_args()
        if not args:
            raise c.error("no resolv-conf specified")
        resolv = args[-1]
        if resolv.startswith("@"):
            plugin = resolv[1:]
        else:
            try:
                search = normalize_search(read_search(resolv))
            except OSError as exc:
                raise c.error(
                    f"failed to parse {_go_quote(resolv)}: open {resolv}: {_go_errno_text(exc)}"
                ) from None
        zones = tuple(normalize_zones(args[:-1], c.server_keys))
        while d.next_block():
            option = d.val()
            if option != INFER_NAMESPACE:
                raise d.errf("unknown property '%s'", option)
            if d.remaining_args():
                raise d.arg_err()
            if not resolv.startswith("@"):
                raise d.errf("%s needs a search path from a plugin (@PLUGIN), not %s", option, resolv)
            infer = True
    return AutoPathOptions(zones=zones, search=search, plugin=plugin, infer_namespace=infer)


def setup(c: Controller) -> None:
    """Parse, add the handler, and find the ``@PLUGIN`` handler once every block is set up."""
    options = parse(c)
    c.add_plugin(functools.partial(AutoPath, options=options))
    if not options.plugin:
        return
    config = c.config

    async def find_search_path() -> None:
        found = config.handler(options.plugin)
        if found is None:
            return  # as CoreDNS: no such plugin in the block, no search path
        if not isinstance(found, AutoPather):
            raise c.error(f"{options.plugin} does not implement the AutoPather interface")
        autopath = config.handler(AutoPath.name)
        assert isinstance(autopath, AutoPath)
        autopath.search_path_from(found)

    c.on_startup(find_search_path)


__all__ = ["AutoPathOptions", "INFER_NAMESPACE", "normalize_search", "parse", "read_search", "setup"]
