"""The *ready* endpoint: ``/ready`` is 200 once every plugin that reports readiness is ready.

Readiness is per instance, not per address (CoreDNS ``plugin/ready/list.go``): every block that
uses *ready* adds the handlers of its chain that implement ``clusterdns.plugin.Readiness``
(kubernetes, until its informers synced) to one list, keyed by plugin name, and every ``/ready``
of the instance answers from that list. In ``until-ready`` mode a plugin that once said ready is
never asked again; ``continuously`` asks on every request. Once the process starts its final
shutdown ``/ready`` answers 503 ``Shutting down``, before *health*'s lameduck ends, so
Kubernetes takes the pod out of the Service while it still answers queries.
"""

from __future__ import annotations

import weakref
from typing import Final

from clusterdns.controller import Controller
from clusterdns.httpserver import Response
from clusterdns.log import plugin_logger
from clusterdns.plugin import Readiness

_TEXT: Final = "text/plain; charset=utf-8"
log = plugin_logger("ready")


def _go_quote(text: str) -> str:
    """Go's ``%q`` for a list of plugin names (plain ASCII, but stay exact)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ReadinessList:
    """The readiness reporters of one instance, by plugin name (the last one named wins)."""

    def __init__(self) -> None:
        self.reporters: dict[str, Readiness | None] = {}
        #: ``continuously``: keep asking plugins that were ready once. The last block's wins.
        self.keep_readiness = False

    def append(self, name: str, reporter: Readiness) -> None:
        self.reporters[name] = reporter

    def ready(self) -> tuple[bool, str]:
        """(True, "") or (False, the sorted comma-separated names of plugins not ready)."""
        not_ready = []
        for name, reporter in self.reporters.items():
            if reporter is None:
                continue  # said ready once, in until-ready mode
            if reporter.ready():
                if not self.keep_readiness:
                    self.reporters[name] = None
                continue
            not_ready.append(name)
        if not not_ready:
            return True, ""
        return False, ",".join(sorted(not_ready))


#: One list per instance, shared by its blocks; a reload builds a fresh one.
_LISTS: Final[weakref.WeakKeyDictionary[object, ReadinessList]] = weakref.WeakKeyDictionary()


def readiness_list(c: Controller) -> ReadinessList:
    """The readiness list of the instance ``c`` is setting up."""
    found = _LISTS.get(c.instance)
    if found is None:
        found = _LISTS[c.instance] = ReadinessList()
    return found


class Ready:
    """One ``ready`` directive of one block: discovers its block's reporters, serves /ready."""

    def __init__(self, c: Controller, *, address: str, readiness: ReadinessList) -> None:
        self.process = c.process
        self.config = c.config
        self.address = address
        self.readiness = readiness

    async def route(self) -> Response:
        if self.process.shutting_down:
            return 503, b"Shutting down", _TEXT
        ok, not_ready = self.readiness.ready()
        if ok:
            return 200, b"OK", _TEXT
        log.info("Plugins not ready: %s", _go_quote(not_ready))
        return 503, not_ready.encode(), _TEXT

    async def start(self) -> None:
        """Add this block's Readiness handlers (the chain is compiled by now), then serve."""
        for handler in self.config.handlers.values():
            if isinstance(handler, Readiness):
                self.readiness.append(handler.name, handler)
        await self.process.http.mount(self.address, "/ready", self.route, self)

    async def stop(self) -> None:
        await self.process.http.unmount(self)
