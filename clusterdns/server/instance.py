"""An instance: one Corefile parsed, every block set up, chains compiled, muxes built.

Building an instance binds nothing and starts nothing, so a reload can build the new one
completely while the old one keeps serving, and throw it away if anything fails. The
``Runtime`` (runtime.py) starts an instance's hooks, opens its listeners and swaps it in.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import registry
from ..controller import Controller, Hook
from ..corefile import Dispenser, parse, parse_key
from ..errors import ConfigError, CorefileError, PluginSetupError
from ..plugin import DataChangeNotifier
from .config import BlockConfig, ListenAddress
from .mux import Mux

if TYPE_CHECKING:
    from .runtime import Runtime

#: Plugins whose presence lets a listener accept classes other than IN (CoreDNS EnableChaos).
_ANY_CLASS_PLUGINS = frozenset({"chaos", "forward", "proxy"})


@dataclass(frozen=True, slots=True)
class CorefileSource:
    """The Corefile text and the name errors and imports are relative to."""

    text: str
    path: str


@dataclass(eq=False)
class Instance:
    """Everything one Corefile configures; replaced as a whole on reload."""

    process: Runtime
    source: CorefileSource
    checksum: str = ""
    blocks: list[BlockConfig] = field(default_factory=list)
    muxes: dict[ListenAddress, Mux] = field(default_factory=dict)
    startup_hooks: list[Hook] = field(default_factory=list)
    shutdown_hooks: list[Hook] = field(default_factory=list)
    final_shutdown_hooks: list[Hook] = field(default_factory=list)
    #: set once this instance answers queries (listeners open, or swapped in by a reload)
    serving: asyncio.Event = field(default_factory=asyncio.Event)

    def handlers(self, name: str) -> list[object]:
        """Every handler of directive ``name`` across blocks (capability discovery)."""
        return [b.handlers[name] for b in self.blocks if name in b.handlers]


def checksum(blocks: list) -> str:  # type: ignore[type-arg]
    """SHA-512 of the parsed Corefile (imports expanded, env substituted, no comments)."""
    canonical = json.dumps([block.canonical() for block in blocks], sort_keys=True)
    return hashlib.sha512(canonical.encode()).hexdigest()


def build(source: CorefileSource, *, process: Runtime, default_port: str) -> Instance:
    """Parse and set up a Corefile; raise CorefileError/ConfigError/PluginSetupError."""
    server_blocks = parse(source.text, source.path, known_directives=registry.names())
    instance = Instance(process=process, source=source, checksum=checksum(server_blocks))
    seen: set[str] = set()
    for index, block in enumerate(server_blocks):
        zones = []
        for key in block.keys:
            try:
                zones.extend(parse_key(key.text, default_port))
            except ConfigError as exc:
                raise ConfigError(f"error inspecting server blocks: {exc}") from exc
        for zone in zones:
            if str(zone) in seen:
                raise ConfigError(f"cannot serve {zone} - it is already defined")
            seen.add(str(zone))
        instance.blocks.append(BlockConfig(index=index, zones=zones))
    # As caddy does: each directive is set up in every block before the next directive, so
    # hooks run in directive order across blocks (all of ready's before health's lameduck).
    for directive in registry.names():
        for block, config in zip(server_blocks, instance.blocks):
            if directive not in block.directive_names():
                continue
            dispenser = Dispenser(block.tokens(directive), file=source.path)
            controller = Controller(
                directive=directive, dispenser=dispenser, config=config, instance=instance
            )
            try:
                registry.setup_function(directive)(controller)
            except CorefileError as exc:
                raise PluginSetupError(directive, str(exc)) from exc
            config.directives.append(directive)
    for config in instance.blocks:
        config.compile()
    instance.muxes = _muxes(instance.blocks)
    _forget_replies_on_change(instance)
    return instance


def _forget_replies_on_change(instance: Instance) -> None:
    """A data change drops every kept reply (replay.py), as it drops the cache's entries."""
    muxes = list(instance.muxes.values())

    def forget() -> None:
        for mux in muxes:
            mux.forget_replies()

    for config in instance.blocks:
        for handler in config.handlers.values():
            if isinstance(handler, DataChangeNotifier):
                handler.on_change(forget)


def _muxes(blocks: list[BlockConfig]) -> dict[ListenAddress, Mux]:
    """Group the blocks' zones by listen address into one mux each."""
    zones_by_address: dict[ListenAddress, dict[str, BlockConfig]] = defaultdict(dict)
    for config in blocks:
        for address, zone in config.listen_addresses():
            zones_by_address[address][zone.zone] = config
    muxes = {}
    for address, zones in sorted(zones_by_address.items()):
        any_class = any(_ANY_CLASS_PLUGINS & set(c.handlers) for c in zones.values())
        muxes[address] = Mux(address, zones, accept_any_class=any_class)
    return muxes
