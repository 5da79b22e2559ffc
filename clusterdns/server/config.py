"""What one server block of a Corefile becomes: its zones, listen addresses and plugin chain.

All keys of a block share one set of plugin instances (CoreDNS ``firstConfigInBlock``), so
the block, not the key, owns the chain. Setup functions add plugin factories; ``compile``
stacks them in registry order, innermost last, exactly like CoreDNS's ``NewServer``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import registry
from . import replay
from ..corefile.address import ZoneAddress
from ..plugin import Handler, PluginFactory


@dataclass(frozen=True, slots=True, order=True)
class ListenAddress:
    """Where a listener binds: transport, host ('' for every address) and port."""

    transport: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}://{host}:{self.port}"


@dataclass(eq=False)
class BlockConfig:
    """One server block: its zone keys, where it listens, and its compiled chain."""

    index: int
    zones: list[ZoneAddress]
    listen_hosts: list[str] = field(default_factory=lambda: [""])
    #: (directive, factory) in setup order; compiled in registry order.
    factories: list[tuple[str, PluginFactory]] = field(default_factory=list)
    handlers: dict[str, Handler] = field(default_factory=dict)
    chain: Handler | None = None
    #: directives used in the block, for ``coredns_plugin_enabled``.
    directives: list[str] = field(default_factory=list)
    #: log tracebacks of recovered failures at ERROR (*errors* ``stacktrace``)
    stacktrace: bool = False
    #: the handlers whose answers the server may replay (server/replay.py)
    replay_producers: frozenset[str] = frozenset()

    def add_plugin(self, directive: str, factory: PluginFactory) -> None:
        """Register a link of the chain (CoreDNS ``Config.AddPlugin``)."""
        self.factories.append((directive, factory))

    def compile(self) -> None:
        """Stack the registered factories, the first in registry order outermost."""
        ordered = sorted(self.factories, key=lambda item: registry.ORDER[item[0]])
        chain: Handler | None = None
        for _, factory in reversed(ordered):
            chain = factory(chain)
            self.handlers[chain.name] = chain
        self.chain = chain
        self.replay_producers = replay.producers([name for name, _ in ordered])

    def handler(self, name: str) -> Handler | None:
        """The handler of directive ``name`` in this block, if loaded."""
        return self.handlers.get(name)

    def listen_addresses(self) -> list[tuple[ListenAddress, ZoneAddress]]:
        """Every (listener, zone) pair this block serves."""
        pairs = []
        for zone in self.zones:
            for host in self.listen_hosts:
                pairs.append((ListenAddress(zone.transport, host, int(zone.port)), zone))
        return pairs
