"""The Controller: what a plugin's ``setup`` gets to read its options and hook into the server.

It carries the directive's tokens (a ``Dispenser``), the server block's config (to add the
plugin to the chain, or change listen hosts as *bind* does), and the lifecycle hooks of the
instance being built: ``on_startup`` (after every block is set up, before listeners open),
``on_shutdown`` (when this instance is replaced by a reload or the process stops) and
``on_final_shutdown`` (only when the process stops; *health*'s lameduck). Process-wide things
(the HTTP servers shared by health, ready and prometheus; the debug switch) sit in ``process``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from .corefile.dispenser import Dispenser
from .errors import PluginSetupError
from .plugin import PluginFactory
from .server.config import BlockConfig

if TYPE_CHECKING:
    from .server.instance import Instance

Hook = Callable[[], Awaitable[None]]


class Controller:
    """Handed to ``setup(c)`` of each directive present in a server block."""

    def __init__(
        self, *, directive: str, dispenser: Dispenser, config: BlockConfig, instance: Instance
    ) -> None:
        self.directive = directive
        self.dispenser = dispenser
        self.config = config
        self.instance = instance

    @property
    def process(self):  # type: ignore[no-untyped-def]
        """State that outlives reloads (HTTP servers, switches)."""
        return self.instance.process

    @property
    def server_keys(self) -> list[str]:
        """The block's zones, normalised (``example.org.``)."""
        return [zone.zone for zone in self.config.zones]

    def add_plugin(self, factory: PluginFactory) -> None:
        self.config.add_plugin(self.directive, factory)

    def on_startup(self, hook: Hook) -> None:
        self.instance.startup_hooks.append(hook)

    def on_shutdown(self, hook: Hook) -> None:
        self.instance.shutdown_hooks.append(hook)

    def on_final_shutdown(self, hook: Hook) -> None:
        self.instance.final_shutdown_hooks.append(hook)

    def error(self, message: str) -> PluginSetupError:
        """An error for this plugin, formatted ``plugin/<name>: message``."""
        return PluginSetupError(self.directive, message)

    def once_error(self) -> PluginSetupError:
        """CoreDNS's ``plugin.ErrOnce`` for plugins allowed once per block."""
        return self.error("this plugin can only be used once per Server Block")
