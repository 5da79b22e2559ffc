"""The one ordered list of directives: this project's ``plugin.cfg``.

Queries run through a server block's plugins in this order, never in the order the Corefile
lists them (CoreDNS ``plugin.cfg`` at 1.14.7, shared/reference/coredns-features.md section 4).
A directive is known when it is listed here; its module is imported only when a Corefile uses
it. Each module is a package under ``clusterdns.plugins`` exposing ``setup(controller)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from .controller import Controller

#: (directive, module) in CoreDNS 1.14.7 ``plugin.cfg`` order.
DIRECTIVES: Final[tuple[tuple[str, str], ...]] = (
    ("reload", "clusterdns.plugins.reload"),
    ("bind", "clusterdns.plugins.bind"),
    ("debug", "clusterdns.plugins.debug"),
    ("ready", "clusterdns.plugins.ready"),
    ("health", "clusterdns.plugins.health"),
    ("prometheus", "clusterdns.plugins.metrics"),
    ("errors", "clusterdns.plugins.errors"),
    ("log", "clusterdns.plugins.log"),
    ("any", "clusterdns.plugins.any"),
    ("loadbalance", "clusterdns.plugins.loadbalance"),
    ("autopath", "clusterdns.plugins.autopath"),
    ("cache", "clusterdns.plugins.cache"),
    ("hosts", "clusterdns.plugins.hosts"),
    ("kubernetes", "clusterdns.plugins.kubernetes"),
    ("loop", "clusterdns.plugins.loop"),
    ("forward", "clusterdns.plugins.forward"),
    ("whoami", "clusterdns.plugins.whoami"),
)

ORDER: Final[dict[str, int]] = {name: index for index, (name, _) in enumerate(DIRECTIVES)}
_MODULES: Final[dict[str, str]] = dict(DIRECTIVES)


def names() -> list[str]:
    """The directive names, in chain order."""
    return [name for name, _ in DIRECTIVES]


def module(directive: str) -> ModuleType:
    """The plugin package of a directive, imported on first use."""
    return importlib.import_module(_MODULES[directive])


def setup_function(directive: str) -> Callable[[Controller], None]:
    """The ``setup(controller)`` of a directive."""
    setup: Callable[[Controller], None] = module(directive).setup
    return setup
